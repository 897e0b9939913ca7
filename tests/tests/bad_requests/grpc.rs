//! Bad gRPC requests to both services: each gets its gRPC code and stable
//! error code, and nothing is created beyond what a resumable upload keeps.

use std::future::Future;
use std::pin::Pin;

use obup_proto::pb::orchestrator::v1 as opb;
use obup_proto::pb::packagestore::v1 as ppb;
use obup_test_support::RpmSpec;
use opb::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use ppb::package_store_client::PackageStoreClient;
use ppb::upload_request::Kind;
use tonic::{Code, Status};

use crate::common::{App, code, start};

/// One call, its result reduced to "ok or which status".
type Call = Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>;

/// (case, call, expected gRPC code, expected error code)
type Row = (&'static str, Call, Code, &'static str);

fn row<T, F>(case: &'static str, call: F, grpc: Code, err_code: &'static str) -> Row
where
    F: Future<Output = Result<T, Status>> + Send + 'static,
{
    (
        case,
        Box::pin(async move { call.await.map(drop) }),
        grpc,
        err_code,
    )
}

fn start_msg(s: ppb::UploadStart) -> ppb::UploadRequest {
    ppb::UploadRequest {
        kind: Some(Kind::Start(s)),
    }
}

fn start_with(upload_id: &str) -> ppb::UploadRequest {
    start_msg(ppb::UploadStart {
        file_name: "bad.rpm".into(),
        upload_id: upload_id.into(),
        ..Default::default()
    })
}

fn data(offset: u64, bytes: &[u8]) -> ppb::UploadRequest {
    ppb::UploadRequest {
        kind: Some(Kind::Data(ppb::UploadData {
            offset,
            data: bytes.to_vec().into(),
        })),
    }
}

fn upload(
    store: &PackageStoreClient<crate::common::Conn>,
    messages: Vec<ppb::UploadRequest>,
) -> impl Future<Output = Result<tonic::Response<ppb::Package>, Status>> + Send + 'static {
    let mut store = store.clone();
    async move { store.upload(futures::stream::iter(messages)).await }
}

fn upgrade(version: &str, release: &str, mode: opb::Mode) -> opb::UpgradeRequest {
    opb::UpgradeRequest {
        version: version.into(),
        release: release.into(),
        mode: mode as i32,
        ..Default::default()
    }
}

/// Upload sessions that a row leaves for a resume, with the bytes kept.
const RESUMABLE: [(&str, u64); 2] = [("gap", 1000), ("overlap", 1000)];

fn package_store_rows(
    s: &PackageStoreClient<crate::common::Conn>,
    stored: &ppb::Package,
) -> Vec<Row> {
    let rpm = RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").build();
    let first = &rpm[..1000];
    let huge = vec![0u8; 5 << 20];
    let mut huge_start = start_with("");
    if let Some(Kind::Start(st)) = &mut huge_start.kind {
        st.file_name = "x".repeat(5 << 20);
    }
    let declared = |size: u64| {
        start_msg(ppb::UploadStart {
            file_name: "bad.rpm".into(),
            total_size: Some(size),
            ..Default::default()
        })
    };
    let not_hex = start_msg(ppb::UploadStart {
        file_name: "bad.rpm".into(),
        sha256: "z".repeat(64),
        ..Default::default()
    });
    let (id, size) = (stored.id, stored.file_size);
    let get = |id: i64| {
        let mut s = s.clone();
        async move { s.get_package(ppb::GetPackageRequest { id }).await }
    };
    let download = |id: i64, offset: u64| {
        let mut s = s.clone();
        async move { s.download(ppb::DownloadRequest { id, offset }).await }
    };
    let status = |upload_id: &str| {
        let (mut s, upload_id) = (s.clone(), upload_id.to_owned());
        async move {
            s.get_upload_status(ppb::GetUploadStatusRequest { upload_id })
                .await
        }
    };
    let find = |name: &str, build: Option<ppb::find_package_request::Build>| {
        let mut s = s.clone();
        let request = ppb::FindPackageRequest {
            name: name.into(),
            version: "4.3.5.0".into(),
            architecture: "x86_64".into(),
            distribution: "el7".into(),
            build,
        };
        async move { s.find_package(request).await }
    };
    let release = |r: &str| Some(ppb::find_package_request::Build::Release(r.into()));
    use Code::*;
    vec![
        row(
            "find package: a 5 MiB request (limit 4 MiB)",
            find(&"x".repeat(5 << 20), None),
            OutOfRange,
            "Common.Request.TooLarge",
        ),
        row(
            "upload: no message at all",
            upload(s, vec![]),
            InvalidArgument,
            "Package.Upload.Empty",
        ),
        row(
            "upload: data before start",
            upload(s, vec![data(0, first)]),
            InvalidArgument,
            "Package.Upload.MisplacedStart",
        ),
        row(
            "upload: a second start",
            upload(s, vec![start_with(""), start_with("")]),
            InvalidArgument,
            "Package.Upload.MisplacedStart",
        ),
        row(
            "upload: first chunk at offset 7",
            upload(s, vec![start_with(""), data(7, first)]),
            FailedPrecondition,
            "Package.Upload.OffsetMismatch",
        ),
        row(
            "upload: gap after the first chunk",
            upload(
                s,
                vec![start_with("gap"), data(0, first), data(2000, first)],
            ),
            FailedPrecondition,
            "Package.Upload.OffsetMismatch",
        ),
        row(
            "upload: overlapping chunk",
            upload(
                s,
                vec![start_with("overlap"), data(0, first), data(500, first)],
            ),
            FailedPrecondition,
            "Package.Upload.OffsetMismatch",
        ),
        row(
            "upload: offset 2^64-1",
            upload(s, vec![start_with(""), data(u64::MAX, first)]),
            FailedPrecondition,
            "Package.Upload.OffsetMismatch",
        ),
        row(
            "upload: offset -1 as int64",
            upload(s, vec![start_with(""), data(-1i64 as u64, first)]),
            FailedPrecondition,
            "Package.Upload.OffsetMismatch",
        ),
        row(
            "upload: 5 MiB data message",
            upload(s, vec![start_with(""), data(0, &huge)]),
            OutOfRange,
            "Package.Upload.MessageTooLarge",
        ),
        row(
            "upload: 5 MiB start message",
            upload(s, vec![huge_start]),
            OutOfRange,
            "Package.Upload.MessageTooLarge",
        ),
        row(
            "upload: upload id with a path",
            upload(s, vec![start_with("../etc"), data(0, &rpm)]),
            InvalidArgument,
            "Common.IllegalArgument",
        ),
        row(
            "upload: upload id of 65 characters",
            upload(s, vec![start_with(&"u".repeat(65)), data(0, &rpm)]),
            InvalidArgument,
            "Common.IllegalArgument",
        ),
        row(
            "upload: sha256 not hex",
            upload(s, vec![not_hex, data(0, &rpm)]),
            InvalidArgument,
            "Common.IllegalArgument",
        ),
        row(
            "upload: declared total_size of 1 TiB",
            upload(s, vec![declared(1 << 40)]),
            InvalidArgument,
            "Package.Upload.TooLarge",
        ),
        row(
            "upload: declared total_size 0",
            upload(s, vec![declared(0)]),
            InvalidArgument,
            "Package.Upload.Empty",
        ),
        row(
            "upload: more than the declared total_size",
            upload(s, vec![declared(100), data(0, first)]),
            InvalidArgument,
            "Package.Upload.TooLarge",
        ),
        row(
            "upload status: unknown id",
            status("never-started"),
            NotFound,
            "Package.Upload.NotFound",
        ),
        row(
            "upload status: malformed id",
            status(".hidden"),
            InvalidArgument,
            "Common.IllegalArgument",
        ),
        row(
            "get package: unknown id",
            get(424242),
            NotFound,
            "Package.NotFound",
        ),
        row("get package: id 0", get(0), NotFound, "Package.NotFound"),
        row("get package: id -1", get(-1), NotFound, "Package.NotFound"),
        row(
            "download: unknown id",
            download(424242, 0),
            NotFound,
            "Package.NotFound",
        ),
        row(
            "download: offset past the end",
            download(id, size + 1),
            OutOfRange,
            "Package.Download.OffsetOutOfRange",
        ),
        row(
            "download: offset 2^64-1",
            download(id, u64::MAX),
            OutOfRange,
            "Package.Download.OffsetOutOfRange",
        ),
        row(
            "find package: no match",
            find("oceanbase-ce", release("99")),
            NotFound,
            "OB.Package.NotExist",
        ),
        row(
            "find package: empty name",
            find("", release("1")),
            InvalidArgument,
            "Common.IllegalArgument",
        ),
        row(
            "find package: no build selector",
            find("oceanbase-ce", None),
            InvalidArgument,
            "Common.IllegalArgument",
        ),
    ]
}

fn orchestrator_rows(o: &UpgradeOrchestratorClient<crate::common::Conn>) -> Vec<Row> {
    macro_rules! call {
        ($method:ident, $request:expr) => {{
            let mut o = o.clone();
            let request = $request;
            async move { o.$method(request).await }
        }};
    }
    let operate = |id: i64, operator: &str| {
        call!(
            operate_dag,
            opb::OperateDagRequest {
                id,
                operator: operator.into(),
            }
        )
    };
    let mut unknown_ids = upgrade("4.3.5.0", "100000202024123117.el7", opb::Mode::Rolling);
    unknown_ids.package_ids = vec![424242, -1];
    let mut relative_dir = upgrade("4.3.5.0", "1.el7", opb::Mode::Rolling);
    relative_dir.upgrade_dir = "tmp/upgrade".into();
    let mut unknown_mode = upgrade("4.3.5.0", "1.el7", opb::Mode::Rolling);
    unknown_mode.mode = 42;
    let mut huge = upgrade("4.3.5.0", "1.el7", opb::Mode::Rolling);
    huge.upgrade_dir = format!("/{}", "d".repeat(5 << 20));
    use Code::*;
    vec![
        row(
            "start upgrade: a 5 MiB request (limit 4 MiB)",
            call!(start_upgrade, huge),
            OutOfRange,
            "Common.Request.TooLarge",
        ),
        row(
            "get DAG: unknown id",
            call!(
                get_dag,
                opb::GetDagRequest {
                    id: 424242,
                    details: true
                }
            ),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "get DAG: id -1",
            call!(
                get_dag,
                opb::GetDagRequest {
                    id: -1,
                    details: false
                }
            ),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "operate DAG: unknown id",
            operate(424242, "RETRY"),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "operate DAG: unknown operator",
            operate(424242, "EXPLODE"),
            FailedPrecondition,
            "Task.Dag.Operator.NotSupport",
        ),
        row(
            "operate DAG: RUN is not an operator",
            operate(424242, "RUN"),
            FailedPrecondition,
            "Task.Dag.Operator.NotSupport",
        ),
        row(
            "operate DAG: empty operator",
            operate(1, ""),
            FailedPrecondition,
            "Task.Dag.Operator.NotSupport",
        ),
        row(
            "pass node: unknown id",
            call!(pass_node, opb::PassNodeRequest { node_id: 424242 }),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "get node: unknown id",
            call!(get_node, opb::GetNodeRequest { id: 424242 }),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "get sub-task: unknown id",
            call!(get_sub_task, opb::GetSubTaskRequest { id: 424242 }),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "get sub-task: id 0",
            call!(get_sub_task, opb::GetSubTaskRequest { id: 0 }),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "sub-task logs: unknown id",
            call!(get_sub_task_logs, opb::GetSubTaskRequest { id: 424242 }),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "watch DAG: unknown id",
            call!(
                watch_dag,
                opb::WatchDagRequest {
                    dag_id: 424242,
                    after_seq: 0,
                    follow: true
                }
            ),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "watch DAG: id -1",
            call!(
                watch_dag,
                opb::WatchDagRequest {
                    dag_id: -1,
                    after_seq: -5,
                    follow: false
                }
            ),
            NotFound,
            "Task.NotFound",
        ),
        row(
            "start upgrade: unknown package ids",
            call!(start_upgrade, unknown_ids),
            FailedPrecondition,
            "OB.Package.NotExist",
        ),
        row(
            "start upgrade: release without a dot",
            call!(
                start_upgrade,
                upgrade("4.3.5.0", "100000202024123117", opb::Mode::Rolling)
            ),
            InvalidArgument,
            "Package.ReleaseFormat.Invalid",
        ),
        row(
            "start upgrade: version not a version",
            call!(
                start_upgrade,
                upgrade("banana", "1.el7", opb::Mode::Rolling)
            ),
            InvalidArgument,
            "Agent.OBVersionNotSupported",
        ),
        row(
            "start upgrade: mode unspecified",
            call!(
                start_upgrade,
                upgrade("4.3.5.0", "1.el7", opb::Mode::Unspecified)
            ),
            InvalidArgument,
            "OB.Upgrade.Mode.NotSupported",
        ),
        row(
            "start upgrade: mode 42",
            call!(start_upgrade, unknown_mode),
            InvalidArgument,
            "OB.Upgrade.Mode.NotSupported",
        ),
        row(
            "list DAGs: filter 9",
            call!(
                list_dags,
                opb::ListDagsRequest {
                    filter: 9,
                    ..Default::default()
                }
            ),
            InvalidArgument,
            "Common.IllegalArgument",
        ),
        row(
            "start upgrade: relative upgrade dir",
            call!(start_upgrade, relative_dir),
            InvalidArgument,
            "Common.InvalidPath",
        ),
        row(
            "check upgrade: to a lower version",
            call!(
                check_upgrade,
                upgrade("4.2.0.0", "1.el7", opb::Mode::Unspecified)
            ),
            InvalidArgument,
            "OB.Upgrade.ToLowerVersion",
        ),
    ]
}

#[tokio::test]
async fn each_bad_call_gets_its_code_and_creates_nothing() {
    let mut app = start(|_| {}).await;
    // One good package, for the rows that need one to exist.
    let stored = app
        .upload(&RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7"))
        .await;
    let mut rows = package_store_rows(&app.store, &stored);
    rows.extend(orchestrator_rows(&app.orchestrator));
    assert!(rows.len() >= 15, "{} rows", rows.len());
    let mut failures = Vec::new();
    for (case, call, grpc, err_code) in rows {
        match call.await {
            Ok(()) => failures.push(format!("{case}: succeeded")),
            Err(s) if (s.code(), code(&s).as_str()) != (grpc, err_code) => failures.push(format!(
                "{case}: expected {grpc:?} {err_code}, got {:?} {:?}: {}",
                s.code(),
                code(&s),
                s.message()
            )),
            Err(s) => assert!(!s.message().is_empty(), "{case}: no message"),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    after_the_table(&mut app, &stored).await;
}

/// Nothing was created: the one package stored beforehand is all there is,
/// no DAG exists, and the only other objects are the bytes that resumable
/// sessions kept for a resume.
async fn after_the_table(app: &mut App, stored: &ppb::Package) {
    let ids: Vec<i64> = app.packages().await.iter().map(|p| p.id).collect();
    assert_eq!(ids, [stored.id], "packages");
    assert_eq!(app.dags().await, [], "no DAG was created");
    // An unknown id is not an error for DeletePackage: it reports false.
    let deleted = app
        .store
        .delete_package(ppb::DeletePackageRequest { id: 424242 })
        .await
        .unwrap()
        .into_inner();
    assert!(!deleted.deleted);

    let mut expected = vec![];
    for (id, kept) in RESUMABLE {
        let s = app
            .store
            .get_upload_status(ppb::GetUploadStatusRequest {
                upload_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s.received, kept, "{id}: the bytes before the bad offset");
        expected.push(format!("staging/{id}/000000"));
    }
    let objects = app.objects();
    let (packages, other): (Vec<&String>, Vec<&String>) =
        objects.iter().partition(|o| o.starts_with("packages/"));
    assert_eq!(packages.len(), 1, "{objects:?}");
    assert!(packages[0].ends_with(&stored.sha256), "{objects:?}");
    assert_eq!(other, expected.iter().collect::<Vec<_>>(), "{objects:?}");
}
