//! The attack table of obup's gRPC API: each row a caller who must not get
//! in (no token, a malformed, wrong, expired or revoked one, the wrong
//! role, another cluster's token, the token in the wrong header, an
//! oversized one) against calls that would change something. Each gets its
//! gRPC code and stable error code, nothing changes, and each refused
//! mutating call is in the audit trail with its code. Health and
//! reflection stay open (load balancers, tools); every other method of
//! every service is in a role table.

use std::collections::BTreeSet;

use obup_kit::auth::{Role, Token};
use obup_proto::pb::auth::v1 as apb;
use obup_proto::pb::orchestrator::v1 as opb;
use obup_proto::pb::packagestore::v1 as ppb;
use obup_test_support::RpmSpec;
use tonic::Code;
use tonic::metadata::{AsciiMetadataValue, MetadataKey};
use tonic::service::Interceptor;

use crate::audit::{ORCHESTRATOR, STORE, events, last_id};
use crate::common::{App, code, start};

/// What a caller sends: headers, verbatim.
#[derive(Debug, Clone)]
struct Headers(Vec<(&'static str, String)>);

impl Headers {
    fn bearer(t: &Token) -> Self {
        Headers(vec![("authorization", format!("Bearer {}", t.secret()))])
    }
}

impl Interceptor for Headers {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        for (k, v) in &self.0 {
            request.metadata_mut().insert(
                MetadataKey::from_static(k),
                AsciiMetadataValue::try_from(v.as_str()).unwrap(),
            );
        }
        Ok(request)
    }
}

/// A call that would change something, if it got in.
#[derive(Debug, Clone, Copy)]
enum Call {
    DeletePackage,
    RemoveCluster,
    StartUpgrade,
    CreateToken,
    /// Lists the DAGs of a cluster the caller is not limited to.
    ListOtherClustersDags,
}

impl Call {
    /// The journal and method name a refusal of this call is recorded
    /// under; `None` for a read (refused reads are not recorded).
    fn audited(self) -> Option<(&'static str, &'static str)> {
        match self {
            Call::DeletePackage => Some((STORE, "DeletePackage")),
            Call::RemoveCluster => Some((ORCHESTRATOR, "RemoveCluster")),
            Call::StartUpgrade => Some((ORCHESTRATOR, "StartUpgrade")),
            Call::CreateToken => Some((ORCHESTRATOR, "CreateToken")),
            Call::ListOtherClustersDags => None,
        }
    }
}

async fn attempt(
    app: &App,
    headers: &Headers,
    call: Call,
    package: i64,
) -> Result<(), tonic::Status> {
    use apb::tokens_client::TokensClient;
    use opb::upgrade_orchestrator_client::UpgradeOrchestratorClient;
    use ppb::package_store_client::PackageStoreClient;
    let ch = app.channel.clone();
    match call {
        Call::DeletePackage => PackageStoreClient::with_interceptor(ch, headers.clone())
            .delete_package(ppb::DeletePackageRequest { id: package })
            .await
            .map(drop),
        Call::RemoveCluster => UpgradeOrchestratorClient::with_interceptor(ch, headers.clone())
            .remove_cluster(opb::RemoveClusterRequest {
                name: obup_cli::dev::DEMO_CLUSTER.into(),
            })
            .await
            .map(drop),
        Call::StartUpgrade => UpgradeOrchestratorClient::with_interceptor(ch, headers.clone())
            .start_upgrade(opb::UpgradeRequest {
                version: "4.3.5.0".into(),
                release: "100000202024123117.el7".into(),
                mode: opb::Mode::Rolling as i32,
                cluster: "prod".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Call::CreateToken => TokensClient::with_interceptor(ch, headers.clone())
            .create_token(apb::CreateTokenRequest {
                name: "intruder".into(),
                role: "admin".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        Call::ListOtherClustersDags => {
            UpgradeOrchestratorClient::with_interceptor(ch, headers.clone())
                .list_dags(opb::ListDagsRequest {
                    cluster: "prod".into(),
                    ..Default::default()
                })
                .await
                .map(drop)
        }
    }
}

/// What an attack could have changed.
pub(crate) async fn snapshot(app: &mut App) -> (Vec<i64>, Vec<String>, usize, Vec<(String, i64)>) {
    let packages = app
        .store
        .list_packages(ppb::ListPackagesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .packages
        .iter()
        .map(|p| p.id)
        .collect();
    let clusters = app
        .orchestrator
        .list_clusters(opb::ListClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .clusters
        .into_iter()
        .map(|c| c.name)
        .collect();
    let dags = app
        .orchestrator
        .list_dags(opb::ListDagsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .dags
        .len();
    let tokens = app
        .tokens
        .list_tokens(apb::ListTokensRequest {
            include_revoked: true,
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .into_iter()
        .map(|t| (t.name, t.revoked_at_ms))
        .collect();
    (packages, clusters, dags, tokens)
}

async fn make(app: &mut App, name: &str, role: Role, cluster: &str, expires_at_ms: i64) -> Token {
    let made = app
        .tokens
        .create_token(apb::CreateTokenRequest {
            name: name.into(),
            role: role.as_str().into(),
            cluster: cluster.into(),
            expires_at_ms,
        })
        .await
        .unwrap()
        .into_inner();
    Token::parse(&made.secret).unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn no_one_without_the_right_token_changes_anything() {
    let mut app = start(|_| {}).await;
    let package = app
        .upload(&RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7"))
        .await
        .id;
    let viewer = make(&mut app, "viewer", Role::Viewer, "", 0).await;
    let operator = make(&mut app, "operator", Role::Operator, "", 0).await;
    let demo_admin = make(&mut app, "demo-admin", Role::Admin, "demo", 0).await;
    // Long enough to be made on a loaded machine; waited out below.
    let expires_at = now_ms() + 3_000;
    let expired = make(&mut app, "short", Role::Admin, "", expires_at).await;
    let revoked = make(&mut app, "gone", Role::Admin, "", 0).await;
    app.tokens
        .revoke_token(apb::RevokeTokenRequest {
            name: "gone".into(),
        })
        .await
        .unwrap();
    while now_ms() <= expires_at {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = snapshot(&mut app).await;

    use Call::*;
    let wrong = Token::generate();
    let t = |token: &Token| Headers::bearer(token);
    let raw = |v: String| Headers(vec![("authorization", v)]);
    let rows: Vec<(&str, Headers, Call, Code, &str)> = vec![
        (
            "no token",
            Headers(vec![]),
            DeletePackage,
            Code::Unauthenticated,
            "Auth.Token.Missing",
        ),
        (
            "no token",
            Headers(vec![]),
            CreateToken,
            Code::Unauthenticated,
            "Auth.Token.Missing",
        ),
        (
            "malformed",
            raw("Bearer abc".into()),
            RemoveCluster,
            Code::Unauthenticated,
            "Auth.Token.Malformed",
        ),
        (
            "wrong",
            t(&wrong),
            DeletePackage,
            Code::Unauthenticated,
            "Auth.Token.Invalid",
        ),
        (
            "wrong",
            t(&wrong),
            StartUpgrade,
            Code::Unauthenticated,
            "Auth.Token.Invalid",
        ),
        (
            "expired",
            t(&expired),
            DeletePackage,
            Code::Unauthenticated,
            "Auth.Token.Expired",
        ),
        (
            "revoked",
            t(&revoked),
            CreateToken,
            Code::Unauthenticated,
            "Auth.Token.Revoked",
        ),
        (
            "viewer deletes",
            t(&viewer),
            DeletePackage,
            Code::PermissionDenied,
            "Auth.Role.Insufficient",
        ),
        (
            "viewer starts",
            t(&viewer),
            StartUpgrade,
            Code::PermissionDenied,
            "Auth.Role.Insufficient",
        ),
        (
            "operator removes a cluster",
            t(&operator),
            RemoveCluster,
            Code::PermissionDenied,
            "Auth.Role.Insufficient",
        ),
        (
            "operator makes a token",
            t(&operator),
            CreateToken,
            Code::PermissionDenied,
            "Auth.Role.Insufficient",
        ),
        (
            "another cluster's token starts",
            t(&demo_admin),
            StartUpgrade,
            Code::PermissionDenied,
            "Auth.Cluster.Forbidden",
        ),
        (
            "another cluster's token lists",
            t(&demo_admin),
            ListOtherClustersDags,
            Code::PermissionDenied,
            "Auth.Cluster.Forbidden",
        ),
        (
            "a cluster's token makes tokens",
            t(&demo_admin),
            CreateToken,
            Code::PermissionDenied,
            "Auth.Cluster.Forbidden",
        ),
        (
            "token without a scheme",
            raw(app.admin_token.secret().to_owned()),
            DeletePackage,
            Code::Unauthenticated,
            "Auth.Token.Malformed",
        ),
        (
            "token as Basic",
            raw(format!("Basic {}", app.admin_token.secret())),
            DeletePackage,
            Code::Unauthenticated,
            "Auth.Token.Malformed",
        ),
        (
            "token in x-api-key",
            Headers(vec![("x-api-key", app.admin_token.secret().to_owned())]),
            DeletePackage,
            Code::Unauthenticated,
            "Auth.Token.Missing",
        ),
        (
            "oversized",
            raw(format!("Bearer obup_{}", "A".repeat(4096))),
            DeletePackage,
            Code::Unauthenticated,
            "Auth.Token.Malformed",
        ),
    ];
    let mut wrong_rows = Vec::new();
    for (case, headers, call, grpc, err) in &rows {
        let since = [
            (ORCHESTRATOR, last_id(&app, ORCHESTRATOR).await),
            (STORE, last_id(&app, STORE).await),
        ];
        let outcome = attempt(&app, headers, *call, package).await;
        for (journal, after) in since {
            let recorded: Vec<(String, String)> = events(&app, journal, after)
                .await
                .into_iter()
                .map(|e| (e.method, e.result))
                .collect();
            let expected: Vec<(String, String)> = match call.audited() {
                Some((j, method)) if j == journal => vec![(method.into(), (*err).into())],
                _ => vec![],
            };
            if recorded != expected {
                wrong_rows.push(format!(
                    "{case} / {call:?}: journal {journal} recorded {recorded:?}, expected {expected:?}"
                ));
            }
        }
        match outcome {
            Ok(()) => wrong_rows.push(format!("{case} / {call:?}: let in")),
            Err(s) if s.code() != *grpc || code(&s) != *err => wrong_rows.push(format!(
                "{case} / {call:?}: {:?} {} ({}), expected {grpc:?} {err}",
                s.code(),
                code(&s),
                s.message()
            )),
            Err(s) => {
                for (_, sent) in &headers.0 {
                    let secret = sent
                        .trim_start_matches("Bearer ")
                        .trim_start_matches("Basic ");
                    assert!(
                        secret.len() < 12 || !s.message().contains(secret),
                        "{case}: the message echoes what was sent: {}",
                        s.message()
                    );
                }
            }
        }
    }
    assert!(wrong_rows.is_empty(), "{}", wrong_rows.join("\n"));
    assert_eq!(
        snapshot(&mut app).await,
        before,
        "an attack changed something"
    );

    // The same calls with enough rights get past the gate (and the
    // cluster-limited token works on its own cluster).
    let mut demo_dags =
        opb::upgrade_orchestrator_client::UpgradeOrchestratorClient::with_interceptor(
            app.channel.clone(),
            t(&demo_admin),
        );
    let listed = demo_dags
        .list_dags(opb::ListDagsRequest::default())
        .await
        .expect("a token of demo lists demo's DAGs");
    drop(listed);
    let visible = demo_dags
        .list_clusters(opb::ListClustersRequest {})
        .await
        .unwrap()
        .into_inner()
        .clusters;
    assert_eq!(visible.len(), 1);
    attempt(&app, &t(&viewer), ListOtherClustersDags, package)
        .await
        .expect("a viewer of every cluster lists any cluster's DAGs");
    let deleted = attempt(&app, &t(&app.admin_token.clone()), DeletePackage, package).await;
    assert!(deleted.is_ok(), "{deleted:?}");

    // Health is open: probes carry no token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token");

    // Each token's last use is recorded, not its secret.
    let listed = app
        .tokens
        .list_tokens(apb::ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tokens;
    let used = |name: &str| {
        listed
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.last_used_at_ms)
    };
    assert!(used("viewer").is_some_and(|at| at > 0), "{listed:?}");
    assert!(!format!("{listed:?}").contains("obup_"));
}

#[tokio::test]
async fn a_revoked_token_stops_at_once_and_a_token_for_no_cluster_is_refused() {
    let mut app = start(|_| {}).await;
    let token = make(&mut app, "ci", Role::Operator, "", 0).await;
    let mut store = ppb::package_store_client::PackageStoreClient::with_interceptor(
        app.channel.clone(),
        Headers::bearer(&token),
    );
    store
        .list_packages(ppb::ListPackagesRequest::default())
        .await
        .unwrap();
    app.tokens
        .revoke_token(apb::RevokeTokenRequest { name: "ci".into() })
        .await
        .unwrap();
    let refused = store
        .list_packages(ppb::ListPackagesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "Auth.Token.Revoked");

    let e = app
        .tokens
        .create_token(apb::CreateTokenRequest {
            name: "x".into(),
            role: "viewer".into(),
            cluster: "nowhere".into(),
            expires_at_ms: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), code(&e).as_str()),
        (Code::NotFound, "Cluster.NotFound")
    );
    let e = app
        .tokens
        .create_token(apb::CreateTokenRequest {
            name: "x".into(),
            role: "root".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Common.IllegalArgument");
    // The name of a live token is taken; a revoked one's is free again.
    make(&mut app, "ci", Role::Viewer, "", 0).await;
    let e = app
        .tokens
        .create_token(apb::CreateTokenRequest {
            name: "ci".into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), code(&e).as_str()),
        (Code::AlreadyExists, "Token.AlreadyExists")
    );
}

/// Every method of the protos behind obup's gate (`/package.Service/Method`)
/// with its declared idempotency level. The agent is reached with mutual
/// TLS only, never through the gate.
fn gated_methods() -> Vec<(String, prost_types::method_options::IdempotencyLevel)> {
    use prost::Message;
    use prost_types::method_options::IdempotencyLevel;
    let set = prost_types::FileDescriptorSet::decode(obup_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = Vec::new();
    for file in set.file.iter().filter(|f| f.package() != "obup.agent.v1") {
        for service in &file.service {
            for m in &service.method {
                let level = m
                    .options
                    .as_ref()
                    .map_or(IdempotencyLevel::IdempotencyUnknown, |o| {
                        o.idempotency_level()
                    });
                let path = format!("/{}.{}/{}", file.package(), service.name(), m.name());
                methods.push((path, level));
            }
        }
    }
    methods
}

/// Every method of the services obup's gate guards has a role: a method
/// added to a proto without one would need admin, silently.
#[test]
fn every_method_has_a_role() {
    let methods: BTreeSet<String> = gated_methods().into_iter().map(|(p, _)| p).collect();
    let listed: BTreeSet<String> = obup_package_store::grpc::access::ACCESS
        .iter()
        .chain(obup_upgrade_orchestrator::grpc::access::ACCESS)
        .map(|(path, _)| (*path).to_owned())
        .collect();
    assert!(methods.len() >= 26, "{methods:?}");
    assert_eq!(methods, listed);
}

/// The methods whose calls are audited are exactly those the protos do not
/// mark `NO_SIDE_EFFECTS`: a new method that changes something is audited
/// (its refusals by the gate too) once it is listed, and the test says so.
#[test]
fn the_audited_methods_are_the_ones_with_side_effects() {
    use prost_types::method_options::IdempotencyLevel;
    let mutating: BTreeSet<String> = gated_methods()
        .into_iter()
        .filter(|(_, level)| *level != IdempotencyLevel::NoSideEffects)
        .map(|(p, _)| p)
        .collect();
    let listed: BTreeSet<String> = obup_package_store::grpc::access::MUTATING
        .iter()
        .chain(obup_upgrade_orchestrator::grpc::access::MUTATING)
        .map(|path| (*path).to_owned())
        .collect();
    assert_eq!(mutating, listed);
    assert_eq!(listed.len(), 10, "{listed:?}");
}

/// A package store on its own (as `obup-package-store` with
/// `OBUP_AUTH_URL`) checks its callers' tokens with the orchestrator that
/// stores them: roles hold, and a revocation reaches it within its cache.
#[tokio::test]
async fn a_package_store_on_its_own_checks_tokens_with_the_orchestrator() {
    use std::sync::Arc;

    use obup_kit::auth::{Gate, Policy, RemoteLookup, Verifier};
    use ppb::package_store_client::PackageStoreClient;

    let mut app = start(|_| {}).await;
    let own = make(&mut app, "store", Role::Viewer, "", 0).await;
    let ci = make(&mut app, "ci", Role::Operator, "", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = obup_package_store::Config::embedded(dir.path()).unwrap();
    let store = obup_package_store::startup::Application::build(config, "127.0.0.1:0")
        .await
        .unwrap()
        .with_gate(Arc::new(Gate {
            verifier: Some(Arc::new(Verifier::new(Arc::new(
                RemoteLookup::new(&app.url, &own, &Default::default()).unwrap(),
            )))),
            policy: Policy::of(&[obup_package_store::grpc::access::ACCESS]),
            audit: None,
        }));
    let url = format!("http://{}", store.local_addr());
    tokio::spawn(store.run_until_stopped(std::future::pending()));
    let channel = tonic::transport::Channel::from_shared(url)
        .unwrap()
        .connect_lazy();
    let client = |h: Headers| PackageStoreClient::with_interceptor(channel.clone(), h);

    let e = client(Headers(vec![]))
        .list_packages(ppb::ListPackagesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Auth.Token.Missing");
    let e = client(Headers::bearer(&Token::generate()))
        .list_packages(ppb::ListPackagesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Auth.Token.Invalid");
    let mut as_ci = client(Headers::bearer(&ci));
    as_ci
        .list_packages(ppb::ListPackagesRequest::default())
        .await
        .expect("an operator lists");
    let e = as_ci
        .delete_package(ppb::DeletePackageRequest { id: 1 })
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Auth.Role.Insufficient");

    app.tokens
        .revoke_token(apb::RevokeTokenRequest { name: "ci".into() })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        match as_ci
            .list_packages(ppb::ListPackagesRequest::default())
            .await
        {
            Err(e) => {
                assert_eq!(code(&e), "Auth.Token.Revoked");
                break;
            }
            Ok(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the store still takes a revoked token"
                );
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
    }
    // The store's own token's use is recorded where tokens live.
    let listed = app
        .tokens
        .list_tokens(apb::ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert!(
        listed
            .iter()
            .any(|t| t.name == "store" && t.last_used_at_ms > 0),
        "{listed:?}"
    );
}
