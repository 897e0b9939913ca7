//! The whole system as `obup dev --demo` wires it (package store,
//! orchestrator and gateway on one port, embedded storage, a demo cluster:
//! obsim and an agent per simulated host, registered as `demo`), with typed
//! gRPC clients, a raw HTTP client, and views of what got stored.

#![allow(dead_code)] // each test binary uses a different part

use obup_cli::dev::{Dev, DevArgs};
use obup_proto::pb::orchestrator::v1 as opb;
use obup_proto::pb::packagestore::v1 as ppb;
use obup_test_support::RpmSpec;
use opb::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use ppb::package_store_client::PackageStoreClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry a token.
pub type Conn = InterceptedService<Channel, obup_kit::auth::BearerInterceptor>;

pub struct App {
    /// `http://host:port` (`https://` with `--tls`) of the dev server (gRPC
    /// and REST).
    pub url: String,
    /// Clients calling with the admin token `obup dev` made.
    pub orchestrator: UpgradeOrchestratorClient<Conn>,
    pub store: PackageStoreClient<Conn>,
    pub tokens: obup_proto::pb::auth::v1::tokens_client::TokensClient<Conn>,
    /// The channel itself, for clients with other tokens (or none).
    pub channel: Channel,
    pub admin_token: obup_kit::auth::Token,
    /// Holds `data/`, the server's data dir.
    pub data: tempfile::TempDir,
    /// `host:port` of the demo cluster's agents.
    pub agents: Vec<String>,
    /// The agents' mutual-TLS files (CA, the orchestrator's client
    /// certificate).
    pub agent_tls: Option<obup_kit::tls::DevPkiFiles>,
    /// With `--tls`: the CA the server's certificate is signed by.
    pub tls_ca: Option<std::path::PathBuf>,
    _stop: oneshot::Sender<()>,
}

/// The Python the demo agents run the upgrade scripts with: a virtualenv
/// with mysql-connector-python, made once per target dir.
pub fn python() -> std::path::PathBuf {
    obup_local_cluster::python::for_tests()
        .unwrap_or_else(|e| panic!("a Python with mysql-connector-python (pip from PyPI): {e:#}"))
}

/// Starts the system on a free port with `DevArgs::for_tests`'s defaults,
/// changed by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut DevArgs)) -> App {
    let data = tempfile::tempdir().unwrap();
    let mut args = DevArgs::for_tests(data.path().join("data"), python());
    std::fs::create_dir_all(&args.data_dir).unwrap();
    tweak(&mut args);
    let dev = Dev::bind(&args).await.unwrap();
    let url = dev.url();
    let dial = dev.tls().map(|t| t.client.clone()).unwrap_or_default();
    let tls_ca = dev.tls().map(|t| t.files.ca_cert.clone());
    let demo = dev.demo().expect("DevArgs::for_tests runs a demo cluster");
    let agents = demo.agents();
    let agent_tls = demo.tls().cloned();
    let admin_token = dev.admin_token().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(dev.serve(async {
        let _ = stopped.await;
    }));
    let channel = dial.endpoint(&url).unwrap().connect().await.unwrap();
    App {
        url,
        orchestrator: UpgradeOrchestratorClient::with_interceptor(
            channel.clone(),
            bearer(Some(&admin_token)),
        ),
        store: PackageStoreClient::with_interceptor(channel.clone(), bearer(Some(&admin_token))),
        tokens: obup_proto::pb::auth::v1::tokens_client::TokensClient::with_interceptor(
            channel.clone(),
            bearer(Some(&admin_token)),
        ),
        channel,
        admin_token,
        data,
        agents,
        agent_tls,
        tls_ca,
        _stop: stop,
    }
}

/// Sends `token` (or nothing) as `authorization: Bearer`.
pub fn bearer(token: Option<&obup_kit::auth::Token>) -> obup_kit::auth::BearerInterceptor {
    obup_kit::auth::BearerInterceptor::new(token)
}

impl App {
    pub async fn upload(&mut self, spec: &RpmSpec) -> ppb::Package {
        self.upload_bytes(&spec.file_name(), spec.build()).await
    }

    /// Uploads a package made elsewhere (e.g. by the system's `rpmbuild`).
    pub async fn upload_bytes(&mut self, file_name: &str, bytes: Vec<u8>) -> ppb::Package {
        let mut messages = vec![ppb::UploadRequest {
            kind: Some(ppb::upload_request::Kind::Start(ppb::UploadStart {
                file_name: file_name.into(),
                ..Default::default()
            })),
        }];
        messages.push(ppb::UploadRequest {
            kind: Some(ppb::upload_request::Kind::Data(ppb::UploadData {
                offset: 0,
                data: bytes.into(),
            })),
        });
        self.store
            .upload(futures::stream::iter(messages))
            .await
            .unwrap()
            .into_inner()
    }

    /// The demo cluster as the orchestrator reads it from its sys tenant.
    pub async fn cluster(&mut self) -> opb::ClusterTopology {
        self.orchestrator
            .get_cluster(opb::GetClusterRequest {
                name: obup_cli::dev::DEMO_CLUSTER.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .topology
            .expect("the demo cluster answers")
    }

    /// Every demo host's root (`<data>/demo/hosts/<ip>`).
    pub fn hosts(&self) -> Vec<std::path::PathBuf> {
        let mut out: Vec<_> = std::fs::read_dir(self.data.path().join("data/demo/hosts"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        out.sort();
        out
    }

    /// Every event of a DAG until the stream ends.
    pub async fn watch(&mut self, dag_id: i64, after_seq: i64) -> Vec<opb::DagEvent> {
        let mut stream = self
            .orchestrator
            .watch_dag(opb::WatchDagRequest {
                dag_id,
                after_seq,
                follow: false,
            })
            .await
            .unwrap()
            .into_inner();
        let mut out = Vec::new();
        while let Some(e) = stream.message().await.unwrap() {
            out.push(e);
        }
        out
    }

    /// The log lines of a sub-task, every execution.
    pub async fn logs(&mut self, sub_task_id: i64) -> Vec<opb::SubTaskLog> {
        self.orchestrator
            .get_sub_task_logs(opb::GetSubTaskRequest { id: sub_task_id })
            .await
            .unwrap()
            .into_inner()
            .logs
    }

    /// RETRY, ROLLBACK, CANCEL or PASS a DAG (`operator` in any case).
    pub async fn operate(&mut self, id: i64, operator: &str) -> Result<opb::Dag, tonic::Status> {
        self.orchestrator
            .operate_dag(opb::OperateDagRequest {
                id,
                operator: operator.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn dag(&mut self, id: i64) -> opb::Dag {
        self.orchestrator
            .get_dag(opb::GetDagRequest { id, details: true })
            .await
            .unwrap()
            .into_inner()
    }

    /// Every stored package, as the package store lists them.
    pub async fn packages(&mut self) -> Vec<ppb::Package> {
        self.store
            .list_packages(ppb::ListPackagesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .packages
    }

    /// Every DAG, finished or not.
    pub async fn dags(&mut self) -> Vec<opb::Dag> {
        self.orchestrator
            .list_dags(opb::ListDagsRequest {
                filter: opb::DagFilter::All as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .dags
    }

    /// Every file in the object store (`data/objects`), as relative paths.
    pub fn objects(&self) -> Vec<String> {
        obup_test_support::files_under(&self.data.path().join("data/objects"))
    }

    /// The gateway's public key (`GET /api/v1/secret`).
    pub async fn public_key(&self) -> String {
        let (status, body) = self.http(b"GET /api/v1/secret HTTP/1.0\r\n\r\n").await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        json["data"]["public_key"].as_str().unwrap().to_owned()
    }

    /// Sends one raw HTTP/1.0 request; returns the status and the body.
    pub async fn http(&self, request: &[u8]) -> (u16, Vec<u8>) {
        http(&self.url, request).await
    }
}

/// One raw HTTP/1.0 exchange with `url` (`http://host:port`): the request
/// is written while the response is read, so that a server answering
/// before the whole body arrived (413) is heard.
pub async fn http(url: &str, request: &[u8]) -> (u16, Vec<u8>) {
    let (status, _, body) = exchange(url, request).await;
    (status, body)
}

/// The same, with the response's head (status line and headers).
pub async fn exchange(url: &str, request: &[u8]) -> (u16, String, Vec<u8>) {
    let addr = url.trim_start_matches("http://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rx, mut tx) = tcp.into_split();
    let request = request.to_vec();
    let writer = tokio::spawn(async move {
        // The server may stop reading once it has answered.
        let _ = tx.write_all(&request).await;
        tx
    });
    let mut raw = Vec::new();
    if let Err(e) = rx.read_to_end(&mut raw).await {
        // A reset after the answer: keep what arrived.
        assert!(!raw.is_empty(), "no response: {e}");
    }
    drop(writer.await);
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[head_end + 4..].to_vec())
}

/// The stable error code on a status ("" without one).
pub fn code(s: &tonic::Status) -> String {
    obup_kit::status::error_code(s).unwrap_or_default()
}
