//! The audit trail through `obup dev`'s real gRPC surface, on its real
//! databases: each mutating call leaves exactly one event, with who, what,
//! on what and how it ended; an event and its change are committed
//! together; the trail is read by admins only, in pages.

use obup_kit::auth::{Role, Token};
use obup_proto::pb::audit::v1 as apb;
use obup_proto::pb::auth::v1 as tpb;
use obup_proto::pb::orchestrator::v1 as opb;
use obup_proto::pb::packagestore::v1 as ppb;
use obup_test_support::{Compression, RpmSpec};

use crate::common::{App, bearer, code, start};

pub(crate) const ORCHESTRATOR: &str = "orchestrator";
pub(crate) const STORE: &str = "package-store";

const TARGET: &str = "4.3.5.0";
const TARGET_RELEASE: &str = "100000202024123117.el7";

/// Every event of `journal` after `after_id`, read as the admin.
pub(crate) async fn events(app: &App, journal: &str, after_id: i64) -> Vec<apb::AuditEvent> {
    let mut client = apb::audit_client::AuditClient::with_interceptor(
        app.channel.clone(),
        bearer(Some(&app.admin_token)),
    );
    client
        .list_audit_events(apb::ListAuditEventsRequest {
            journal: journal.into(),
            after_id,
            limit: 1000,
            tail: false,
        })
        .await
        .unwrap()
        .into_inner()
        .events
}

/// The id of the newest event of `journal` (0: none).
pub(crate) async fn last_id(app: &App, journal: &str) -> i64 {
    events(app, journal, 0).await.last().map_or(0, |e| e.id)
}

/// What a call was answered: `OK` or its stable code.
fn result<T>(r: &Result<T, tonic::Status>) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(s) => code(s),
    }
}

/// One expected event: journal, method, target, result.
type Expected = (&'static str, &'static str, String, String);

#[tokio::test]
async fn each_mutating_call_leaves_one_event_with_its_change() {
    let mut app = start(|_| {}).await;
    let from_orchestrator = last_id(&app, ORCHESTRATOR).await;
    let from_store = last_id(&app, STORE).await;
    let mut expected: Vec<Expected> = Vec::new();

    let ce = app
        .upload(&RpmSpec::oceanbase_ce(TARGET, TARGET_RELEASE))
        .await;
    let ce_target = format!("package {} (oceanbase-ce {TARGET})", ce.id);
    expected.push((STORE, "Upload", ce_target.clone(), "OK".into()));
    let libs = app
        .upload(&RpmSpec::oceanbase_ce_libs(TARGET, TARGET_RELEASE).compression(Compression::Zstd))
        .await;
    expected.push((
        STORE,
        "Upload",
        format!("package {} (oceanbase-ce-libs {TARGET})", libs.id),
        "OK".into(),
    ));

    // A refused start: its event, and no DAG.
    let request = |version: &str| opb::UpgradeRequest {
        version: version.into(),
        release: TARGET_RELEASE.into(),
        mode: opb::Mode::Rolling as i32,
        ..Default::default()
    };
    let dags_before = app.dags().await.len();
    let refused = app.orchestrator.start_upgrade(request("4.4.9.9")).await;
    assert!(refused.is_err(), "no package for 4.4.9.9: {refused:?}");
    expected.push((
        ORCHESTRATOR,
        "StartUpgrade",
        "cluster (the only one)".into(),
        result(&refused),
    ));
    assert_eq!(
        app.dags().await.len(),
        dags_before,
        "a refused start left a DAG"
    );

    // A start: the DAG the caller is answered with is the event's target.
    let dag = app
        .orchestrator
        .start_upgrade(request(TARGET))
        .await
        .unwrap()
        .into_inner();
    expected.push((
        ORCHESTRATOR,
        "StartUpgrade",
        format!("dag {}", dag.id),
        "OK".into(),
    ));
    let node = app.dag(dag.id).await.nodes[0].id;
    let cancelled = app.operate(dag.id, "CANCEL").await;
    expected.push((
        ORCHESTRATOR,
        "OperateDag",
        format!("dag {} (CANCEL)", dag.id),
        result(&cancelled),
    ));
    let unknown_operator = app.operate(dag.id, "EXPLODE").await;
    assert_eq!(
        code(unknown_operator.as_ref().unwrap_err()),
        "Task.Dag.Operator.NotSupport"
    );
    expected.push((
        ORCHESTRATOR,
        "OperateDag",
        format!("dag {} (EXPLODE)", dag.id),
        result(&unknown_operator),
    ));
    let passed = app
        .orchestrator
        .pass_node(opb::PassNodeRequest { node_id: node })
        .await;
    // Refused or not, the event names what was asked; done, its DAG too.
    let pass_target = if passed.is_ok() {
        format!("node {node} of dag {}", dag.id)
    } else {
        format!("node {node}")
    };
    expected.push((ORCHESTRATOR, "PassNode", pass_target, result(&passed)));

    let removed = app
        .orchestrator
        .remove_cluster(opb::RemoveClusterRequest {
            name: "nowhere".into(),
        })
        .await;
    assert_eq!(code(removed.as_ref().unwrap_err()), "Cluster.NotFound");
    expected.push((
        ORCHESTRATOR,
        "RemoveCluster",
        "cluster nowhere".into(),
        result(&removed),
    ));
    let registered = app
        .orchestrator
        .register_cluster(opb::RegisterClusterRequest {
            name: "lab".into(),
            password: "s3cret-pw".into(),
            ..Default::default()
        })
        .await;
    assert!(registered.is_err(), "no endpoints: {registered:?}");
    expected.push((
        ORCHESTRATOR,
        "RegisterCluster",
        "cluster lab".into(),
        result(&registered),
    ));

    app.tokens
        .create_token(tpb::CreateTokenRequest {
            name: "ci-bot".into(),
            role: "operator".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    expected.push((
        ORCHESTRATOR,
        "CreateToken",
        "token ci-bot (operator)".into(),
        "OK".into(),
    ));
    let again = app
        .tokens
        .create_token(tpb::CreateTokenRequest {
            name: "ci-bot".into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(again.as_ref().unwrap_err()), "Token.AlreadyExists");
    expected.push((
        ORCHESTRATOR,
        "CreateToken",
        "token ci-bot (viewer)".into(),
        result(&again),
    ));
    app.tokens
        .revoke_token(tpb::RevokeTokenRequest {
            name: "ci-bot".into(),
        })
        .await
        .unwrap();
    expected.push((
        ORCHESTRATOR,
        "RevokeToken",
        "token ci-bot".into(),
        "OK".into(),
    ));

    app.store
        .delete_package(ppb::DeletePackageRequest { id: ce.id })
        .await
        .unwrap();
    expected.push((STORE, "DeletePackage", ce_target, "OK".into()));

    let mut got: Vec<Expected> = Vec::new();
    let mut all = Vec::new();
    for (journal, after) in [(ORCHESTRATOR, from_orchestrator), (STORE, from_store)] {
        for e in events(&app, journal, after).await {
            assert_eq!(e.journal, journal);
            got.push((
                if journal == ORCHESTRATOR {
                    ORCHESTRATOR
                } else {
                    STORE
                },
                leak(e.method.clone()),
                e.target.clone(),
                e.result.clone(),
            ));
            all.push(e);
        }
    }
    let by_journal = |v: &[Expected], j: &str| -> Vec<Expected> {
        v.iter().filter(|e| e.0 == j).cloned().collect()
    };
    for j in [ORCHESTRATOR, STORE] {
        assert_eq!(by_journal(&got, j), by_journal(&expected, j), "journal {j}");
    }
    for e in &all {
        assert_eq!(
            (e.actor.as_str(), e.role.as_str(), e.credential.as_str()),
            ("dev-admin", "admin", "token"),
            "{e:?}"
        );
        assert!(e.source.starts_with("127.0.0.1:"), "{e:?}");
        assert!(e.at_ms > 0 && e.on_behalf_of.is_empty(), "{e:?}");
    }
    let text = format!("{all:?}");
    assert!(
        !text.contains("s3cret-pw") && !text.contains("obup_"),
        "{text}"
    );

    // The started DAG and its event exist together, and name each other.
    assert!(app.dags().await.iter().any(|d| d.id == dag.id));
}

#[tokio::test]
async fn the_trail_is_read_by_admins_in_pages() {
    let mut app = start(|_| {}).await;
    let from = last_id(&app, ORCHESTRATOR).await;
    for name in ["t1", "t2", "t3"] {
        app.tokens
            .create_token(tpb::CreateTokenRequest {
                name: name.into(),
                role: "viewer".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut admin = apb::audit_client::AuditClient::with_interceptor(
        app.channel.clone(),
        bearer(Some(&app.admin_token)),
    );
    let page = |after_id: i64, limit: u32| apb::ListAuditEventsRequest {
        journal: ORCHESTRATOR.into(),
        after_id,
        limit,
        tail: false,
    };
    let first = admin
        .list_audit_events(page(from, 2))
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(first.len(), 2);
    let rest = admin
        .list_audit_events(page(first[1].id, 2))
        .await
        .unwrap()
        .into_inner()
        .events;
    let targets: Vec<_> = first
        .iter()
        .chain(&rest)
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(
        targets,
        [
            "token t1 (viewer)",
            "token t2 (viewer)",
            "token t3 (viewer)"
        ]
    );
    assert!(first[0].id < first[1].id && first[1].id < rest[0].id);
    let tail = admin
        .list_audit_events(apb::ListAuditEventsRequest {
            journal: ORCHESTRATOR.into(),
            limit: 1,
            tail: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(tail[0].id, rest[0].id);
    // `obup dev` keeps two journals: a listing names one.
    let unnamed = admin
        .list_audit_events(apb::ListAuditEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(code(&unnamed), "Common.IllegalArgument");
    let unknown = admin
        .list_audit_events(apb::ListAuditEventsRequest {
            journal: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code(&unknown), "Audit.Journal.NotFound");

    // An operator may not read it; a refused read is not recorded.
    let operator = Token::parse(
        &app.tokens
            .create_token(tpb::CreateTokenRequest {
                name: "op".into(),
                role: Role::Operator.as_str().into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .secret,
    )
    .unwrap();
    let before = last_id(&app, ORCHESTRATOR).await;
    let refused = apb::audit_client::AuditClient::with_interceptor(
        app.channel.clone(),
        bearer(Some(&operator)),
    )
    .list_audit_events(page(0, 10))
    .await
    .unwrap_err();
    assert_eq!(code(&refused), "Auth.Role.Insufficient");
    assert_eq!(last_id(&app, ORCHESTRATOR).await, before);
}

/// A REST caller is named as whom the gateway acted for, beside the
/// gateway's own token.
#[tokio::test]
async fn the_gateway_says_whom_it_acts_for() {
    let mut app = start(|_| {}).await;
    let package = app
        .upload(&RpmSpec::oceanbase_ce(TARGET, TARGET_RELEASE))
        .await;
    let from = last_id(&app, STORE).await;
    let request = format!(
        "DELETE /api/v1/upgrade/package/{} HTTP/1.0\r\nAuthorization: Bearer {}\r\n\r\n",
        package.id,
        app.admin_token.secret()
    );
    let (status, body) = app.http(request.as_bytes()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let got = events(&app, STORE, from).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (
            got[0].method.as_str(),
            got[0].actor.as_str(),
            got[0].on_behalf_of.as_str(),
            got[0].result.as_str()
        ),
        ("DeletePackage", "dev-internal", "token dev-admin", "OK")
    );
    assert!(!got[0].trace_id.is_empty(), "the REST trace id travels");
}

/// Methods are `&'static str` in [`Expected`]; a test's few leaks are fine.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
