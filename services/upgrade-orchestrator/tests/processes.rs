//! The `obup-orchestrator` binary as real processes on PostgreSQL: two of
//! them sharing a database and a cluster under load, one killed with SIGKILL
//! mid-DAG; and one whose PostgreSQL server is stopped hard mid-DAG. No
//! sub-task that had finished runs again, and every DAG succeeds.

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use obup_proto::pb::orchestrator::v1 as opb;
use obup_test_support::bench::{Figure, MIB, report};
use obup_test_support::{PrivatePostgres, ServiceProcess, TestDb};
use opb::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_obup-orchestrator");
const CHECK_DAGS: usize = 20;

/// The secret key both orchestrators of a test share (32 zero bytes).
const SHARED_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// Sets `server_permanent_offline_time` on every server, over SQL to the
/// last zone's server (the first zone is the one being restarted).
async fn set_offline_time(cluster: &obup_local_cluster::LocalCluster, value: &str) {
    use sqlx::{Connection, Executor};
    let ep = *cluster.sim().sql_endpoints().last().unwrap();
    let options = sqlx::mysql::MySqlConnectOptions::new()
        .host(&ep.ip().to_string())
        .port(ep.port())
        .username("root@sys")
        .ssl_mode(sqlx::mysql::MySqlSslMode::Disabled)
        .pipes_as_concat(false)
        .no_engine_substitution(false)
        .timezone(None)
        .set_names(false)
        .statement_cache_capacity(0);
    let mut conn = sqlx::MySqlConnection::connect_with(&options).await.unwrap();
    let sql = format!("ALTER SYSTEM SET server_permanent_offline_time = '{value}'");
    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
        .await
        .unwrap();
}

/// An orchestrator on `data` (its secret key, shared by every orchestrator
/// given the same dir) and `database`, polling clusters every 50 ms.
fn orchestrator(id: &str, data: &Path, database: &str, store: &str, lease: &str) -> ServiceProcess {
    orchestrator_with(id, data, database, store, lease, &[])
}

fn orchestrator_with(
    id: &str,
    data: &Path,
    database: &str,
    store: &str,
    lease: &str,
    extra: &[(&str, OsString)],
) -> ServiceProcess {
    let mut env: Vec<(&str, OsString)> = vec![
        ("OBUP_DATA_DIR", data.into()),
        ("DATABASE_URL", database.into()),
        ("OBUP_PACKAGE_STORE_URL", store.into()),
        ("OBUP_ENGINE_ID", id.into()),
        ("OBUP_ENGINE_LEASE_SECS", lease.into()),
        ("OBUP_DRIVER_POLL_MS", "50".into()),
        // Tokens are the subject of `tokens_made_on_one_work_on_the_other`.
        ("OBUP_AUTH", "off".into()),
    ];
    env.extend(extra.iter().cloned());
    ServiceProcess::start(Path::new(BIN), &env).unwrap()
}

async fn client(url: &str) -> UpgradeOrchestratorClient<Channel> {
    UpgradeOrchestratorClient::connect(url.to_owned())
        .await
        .unwrap()
}

fn target() -> opb::UpgradeRequest {
    opb::UpgradeRequest {
        version: "4.3.5.0".into(),
        release: "100000202024123117.el7".into(),
        mode: opb::Mode::Rolling as i32,
        ..Default::default()
    }
}

/// Starts the rolling upgrade to the target; its DAG id.
async fn start_upgrade(url: &str) -> i64 {
    client(url)
        .await
        .start_upgrade(target())
        .await
        .unwrap()
        .into_inner()
        .id
}

/// The DAG with its sub-tasks; `None` while the service cannot answer
/// (its database is down).
async fn dag(url: &str, id: i64) -> Option<opb::Dag> {
    client(url)
        .await
        .get_dag(opb::GetDagRequest { id, details: true })
        .await
        .ok()
        .map(|r| r.into_inner())
}

async fn wait_for_dag(
    url: &str,
    id: i64,
    what: &str,
    cond: impl Fn(&opb::Dag) -> bool,
) -> opb::Dag {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let last = dag(url, id).await;
        if let Some(d) = &last
            && cond(d)
        {
            return last.unwrap();
        }
        if tokio::time::Instant::now() >= deadline {
            let state = match &last {
                Some(d) => format!("{}{}", describe(d), running_logs(url, d).await),
                None => "unreachable".into(),
            };
            panic!("timed out: {what} (DAG {id}): {state}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A DAG's state, stage and unfinished sub-tasks, for a timeout message.
fn describe(d: &opb::Dag) -> String {
    let open: Vec<String> = d
        .nodes
        .iter()
        .flat_map(|n| &n.sub_tasks)
        .filter(|t| t.state != "SUCCEED" && t.state != "READY")
        .map(|t| {
            format!(
                "{} on {:?}: {} ({}x)",
                t.name, t.agent, t.state, t.execute_times
            )
        })
        .collect();
    format!("{} at stage {}/{}; {open:?}", d.state, d.stage, d.max_stage)
}

fn finished(d: &opb::Dag) -> bool {
    d.state == "SUCCEED" || d.state == "FAILED"
}

/// `(state, execute_times)` of every sub-task, by id.
fn sub_tasks(d: &opb::Dag) -> HashMap<i64, (String, i32)> {
    d.nodes
        .iter()
        .flat_map(|n| &n.sub_tasks)
        .map(|t| (t.id, (t.state.clone(), t.execute_times)))
        .collect()
}

/// The failed sub-tasks of a DAG with their logs, for a failure message.
async fn failure(url: &str, d: &opb::Dag) -> String {
    logs_of(url, d, "FAILED").await
}

/// The running sub-tasks of a DAG with their logs, for a timeout message.
async fn running_logs(url: &str, d: &opb::Dag) -> String {
    logs_of(url, d, "RUNNING").await
}

async fn logs_of(url: &str, d: &opb::Dag, state: &str) -> String {
    let mut out = String::new();
    for t in d.nodes.iter().flat_map(|n| &n.sub_tasks) {
        if t.state == state {
            let logs = client(url)
                .await
                .get_sub_task_logs(opb::GetSubTaskRequest { id: t.id })
                .await
                .map(|r| {
                    let logs = r.into_inner().logs;
                    let n = logs.len();
                    logs.into_iter()
                        .skip(n.saturating_sub(6))
                        .map(|l| format!("\n    {} {}", l.created_at_ms % 1_000_000, l.content))
                        .collect::<String>()
                })
                .unwrap_or_else(|e| e.to_string());
            out += &format!(
                "\n{} on {:?} (ran {}x): {logs}",
                t.name, t.agent, t.execute_times
            );
        }
    }
    out
}

#[tokio::test]
async fn two_orchestrators_share_the_load_and_the_survivor_finishes_a_killed_ones_dags() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let store = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    // A short lease, so that the survivor takes the killed one's sub-tasks
    // over soon; renewed every second, which the load leaves time for. They
    // share no disk: each has a data dir of its own, and the key that opens
    // the cluster's password comes from the environment.
    let key = [("OBUP_SECRET_KEY", OsString::from(SHARED_KEY))];
    let a = orchestrator_with(
        "engine-a",
        &dir.path().join("a"),
        &db.url,
        &store,
        "3",
        &key,
    );
    let b = orchestrator_with(
        "engine-b",
        &dir.path().join("b"),
        &db.url,
        &store,
        "3",
        &key,
    );
    common::register(&a.url, &cluster).await;
    let offline_time =
        || cluster.sim().status().parameters["server_permanent_offline_time"].clone();
    let original = offline_time();

    // The upgrade first (it takes the maintenance lock), then 20 checks,
    // half sent to each orchestrator, all at once.
    let upgrade = start_upgrade(&a.url).await;
    let mut sent = Vec::new();
    for i in 0..CHECK_DAGS {
        let url = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        sent.push(tokio::spawn(async move {
            client(&url)
                .await
                .check_upgrade(target())
                .await
                .map(|r| r.into_inner().id)
        }));
    }
    let mut ids = vec![upgrade];
    for s in sent {
        ids.push(s.await.unwrap().expect("a check DAG was refused"));
    }

    // Kill A once the upgrade is in its per-zone stages (killed in the
    // pre script, B re-attaches to it: see
    // `an_orchestrator_killed_mid_script_is_replaced_and_the_script_runs_once`).
    wait_for_dag(&b.url, upgrade, "the upgrade to reach stage 13", |d| {
        d.stage >= 13
    })
    .await;
    a.kill();
    // What an upgrade changes after "Backup parameters" (stage 8): the
    // survivor's "Restore parameters" must put back what was saved, from the
    // database; it has no file of A's to read.
    set_offline_time(&cluster, "72h").await;
    assert_ne!(offline_time(), original);
    let mut at_kill = HashMap::new();
    for &id in &ids {
        at_kill.extend(sub_tasks(&dag(&b.url, id).await.unwrap()));
    }

    let mut reran = 0;
    for &id in &ids {
        let done = wait_for_dag(&b.url, id, "the survivor to finish", finished).await;
        if done.state != "SUCCEED" {
            panic!(
                "DAG {id} ({}) failed: {}",
                done.name,
                failure(&b.url, &done).await
            );
        }
        for (task, (state, times)) in sub_tasks(&done) {
            assert_eq!(state, "SUCCEED");
            let (before, times_before) = &at_kill[&task];
            match before.as_str() {
                // Finished before the kill: never again.
                "SUCCEED" => assert_eq!(times, *times_before, "sub-task {task} ran again"),
                // In flight on the dead engine: resumed once by the survivor.
                "RUNNING" => assert!(
                    times <= times_before + 1,
                    "sub-task {task} ran {times} times"
                ),
                // Not started at the kill: run exactly once.
                _ => assert_eq!(times, 1, "sub-task {task} ran {times} times"),
            }
            reran += usize::from(times > 1);
        }
    }
    assert_eq!(offline_time(), original, "the parameters were not restored");
    eprintln!(
        "{} DAGs succeeded; {reran} sub-tasks resumed after the kill",
        ids.len()
    );
}

#[tokio::test]
async fn a_dag_rides_out_a_database_restart_without_running_anything_twice() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PrivatePostgres::start().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    // A lease longer than the outage: the engine keeps its sub-tasks.
    let o = orchestrator("engine", &dir.path().join("data"), &pg.url(), &store, "10");
    common::register(&o.url, &cluster).await;
    let id = start_upgrade(&o.url).await;

    wait_for_dag(&o.url, id, "stage 10", |d| d.stage >= 10).await;
    pg.stop().unwrap();
    // Sub-tasks finish while the database is down; their outcomes wait.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.start_server().unwrap();

    let done = wait_for_dag(&o.url, id, "the DAG to finish", finished).await;
    assert_eq!(done.state, "SUCCEED", "{done:?}");
    for (task, (_, times)) in sub_tasks(&done) {
        assert_eq!(times, 1, "sub-task {task} ran {times} times");
    }
}

/// Load: 1,000 subscribers watch one upgrade from its start, over 20
/// connections. Every stream delivers the snapshot and then every change,
/// gap-free, to the same final sequence number, and the service stays
/// within the 64 MiB bound. `scripts/bench` runs this in release mode and
/// puts its figures in the project's benchmark table.
#[tokio::test]
async fn a_thousand_watchers_each_see_the_whole_upgrade_within_the_memory_bound() {
    const WATCHERS: usize = 1000;
    const CONNECTIONS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let store = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    let o = orchestrator("engine", &dir.path().join("data"), &db.url, &store, "10");
    common::register(&o.url, &cluster).await;
    let id = start_upgrade(&o.url).await;

    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(client(&o.url).await);
    }
    let started = Instant::now();
    let watchers: Vec<_> = (0..WATCHERS)
        .map(|i| {
            let mut c = channels[i % CONNECTIONS].clone();
            tokio::spawn(async move {
                let mut stream = c
                    .watch_dag(opb::WatchDagRequest {
                        dag_id: id,
                        after_seq: 0,
                        follow: false,
                    })
                    .await?
                    .into_inner();
                let mut seqs = Vec::new();
                while let Some(e) = stream.message().await? {
                    seqs.push(e.seq);
                }
                Ok::<_, tonic::Status>(seqs)
            })
        })
        .collect();
    let mut finals = std::collections::BTreeSet::new();
    let mut events = 0;
    let mut errors = Vec::new();
    for w in watchers {
        match w.await.unwrap() {
            Ok(seqs) => {
                // After the snapshot, every change once, in order, no gaps.
                assert!(
                    seqs.windows(2).skip(1).all(|p| p[1] == p[0] + 1),
                    "a gap or a repeat: {seqs:?}"
                );
                finals.insert(*seqs.last().unwrap());
                events += seqs.len();
            }
            Err(e) => errors.push(e),
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let peak = o.peak_rss().unwrap();
    report(&[
        Figure::new(
            format!("{WATCHERS} WatchDag subscribers: failed streams"),
            errors.len().to_string(),
        )
        .target("0", errors.is_empty()),
        Figure::new(
            format!("{WATCHERS} WatchDag subscribers: events delivered"),
            events.to_string(),
        )
        .note(format!("one 28-stage DAG, {wall:.1} s")),
        Figure::peak_rss(
            format!("{WATCHERS} WatchDag subscribers: orchestrator peak RSS"),
            peak,
            format!("{WATCHERS} streams"),
        ),
    ])
    .unwrap();
    assert!(
        errors.is_empty(),
        "{} streams failed: {errors:?}",
        errors.len()
    );
    assert_eq!(
        finals.len(),
        1,
        "streams ended at different points: {finals:?}"
    );
    let done = dag(&o.url, id).await.unwrap();
    assert_eq!(done.state, "SUCCEED");
    assert_eq!(finals.first(), Some(&done.seq));
    assert!(peak <= 64 * MIB, "peak RSS {} MiB", peak / MIB);
}

/// A subscriber of one orchestrator follows a DAG that another one runs:
/// the API-only replica B (`OBUP_ENGINE_CONCURRENCY=0`) creates the DAG and
/// serves the watch, A does all the work, and the stream still delivers
/// every change to the end (relayed through PostgreSQL NOTIFY).
#[tokio::test]
async fn a_watcher_on_one_orchestrator_follows_a_dag_another_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let store = common::package_store(&dir.path().join("store")).await;
    let data = dir.path().join("data");
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    let _a = orchestrator("engine-a", &data, &db.url, &store, "10");
    let api_only = [("OBUP_ENGINE_CONCURRENCY", OsString::from("0"))];
    let b = orchestrator_with("engine-b", &data, &db.url, &store, "10", &api_only);
    common::register(&b.url, &cluster).await;

    let id = start_upgrade(&b.url).await;
    let mut stream = client(&b.url)
        .await
        .watch_dag(opb::WatchDagRequest {
            dag_id: id,
            after_seq: 0,
            follow: false,
        })
        .await
        .unwrap()
        .into_inner();
    let seqs = tokio::time::timeout(Duration::from_secs(60), async {
        let mut seqs = Vec::new();
        while let Some(e) = stream.message().await.unwrap() {
            seqs.push(e.seq);
        }
        seqs
    })
    .await
    .expect("the watch on B never saw the end of the DAG A ran");
    assert!(
        seqs.windows(2).skip(1).all(|p| p[1] == p[0] + 1),
        "{seqs:?}"
    );
    let done = dag(&b.url, id).await.unwrap();
    assert_eq!(done.state, "SUCCEED");
    assert_eq!(seqs.last(), Some(&done.seq));
}

/// With tokens on (the default), each orchestrator makes its own admin
/// token on first start; a token made through one works on the other
/// (they share the database), its revocation too (within the 5 s cache),
/// and a call without one is refused with its stable code.
#[tokio::test]
async fn tokens_made_on_one_orchestrator_work_on_the_other() {
    use obup_proto::pb::auth::v1 as apb;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let on = [("OBUP_AUTH", OsString::from("tokens"))];
    let (a_data, b_data) = (dir.path().join("a"), dir.path().join("b"));
    let services = dir.path().join("service-tokens");
    let a_env = [
        on[0].clone(),
        ("OBUP_SERVICE_TOKENS_DIR", services.clone().into_os_string()),
    ];
    let a = orchestrator_with(
        "engine-a",
        &a_data,
        &db.url,
        "http://127.0.0.1:9",
        "10",
        &a_env,
    );
    let b = orchestrator_with(
        "engine-b",
        &b_data,
        &db.url,
        "http://127.0.0.1:9",
        "10",
        &on,
    );
    let admin = |data: &Path| {
        let file = data.join("tokens/admin.token");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        obup_kit::auth::read_token_file(&file).unwrap().unwrap()
    };
    let (a_admin, b_admin) = (admin(&a_data), admin(&b_data));
    assert_ne!(a_admin, b_admin, "each keeps its own");
    let with = |url: &str, token: Option<&obup_kit::auth::Token>| {
        let channel = Channel::from_shared(url.to_owned()).unwrap().connect_lazy();
        let bearer = obup_kit::auth::BearerInterceptor::new(token);
        (
            UpgradeOrchestratorClient::with_interceptor(channel.clone(), bearer.clone()),
            apb::tokens_client::TokensClient::with_interceptor(channel, bearer),
        )
    };

    // A made the services' tokens, each 0600, with its role.
    let listed = with(&b.url, Some(&b_admin))
        .1
        .list_tokens(apb::ListTokensRequest::default())
        .await
        .unwrap()
        .into_inner()
        .tokens;
    for (service, role) in [
        ("orchestrator", "viewer"),
        ("package-store", "viewer"),
        ("gateway", "admin"),
    ] {
        let file = services.join(format!("{service}.token"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        assert!(
            listed.iter().any(|t| t.name == service && t.role == role),
            "{service}: {listed:?}"
        );
    }

    let refused = with(&b.url, None)
        .0
        .list_dags(opb::ListDagsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        (
            refused.code(),
            obup_kit::status::error_code(&refused).as_deref()
        ),
        (tonic::Code::Unauthenticated, Some("Auth.Token.Missing"))
    );
    let made = with(&a.url, Some(&a_admin))
        .1
        .create_token(apb::CreateTokenRequest {
            name: "ci".into(),
            role: "viewer".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ci = obup_kit::auth::Token::parse(&made.secret).unwrap();
    let (mut on_b, _) = with(&b.url, Some(&ci));
    on_b.list_dags(opb::ListDagsRequest::default())
        .await
        .expect("a token made on A works on B");
    let denied = on_b.start_upgrade(target()).await.unwrap_err();
    assert_eq!(
        obup_kit::status::error_code(&denied).as_deref(),
        Some("Auth.Role.Insufficient")
    );
    with(&b.url, Some(&b_admin))
        .1
        .revoke_token(apb::RevokeTokenRequest { name: "ci".into() })
        .await
        .unwrap();
    // A caches for 5 s what it looked up; then it sees the revocation.
    let (mut on_a, _) = with(&a.url, Some(&ci));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        match on_a.list_dags(opb::ListDagsRequest::default()).await {
            Err(e) => {
                assert_eq!(
                    obup_kit::status::error_code(&e).as_deref(),
                    Some("Auth.Token.Revoked")
                );
                break;
            }
            Ok(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "A still takes the revoked token"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// The binary serves TLS from its environment: an `https://` address, a
/// token over TLS, a client certificate of `OBUP_TLS_CLIENT_CA` as the
/// caller instead of a token, and nothing for plaintext.
#[tokio::test]
async fn the_binary_serves_tls_and_takes_client_certificates_from_its_environment() {
    use obup_kit::tls::{ClientTls, DevCa};
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let ca = DevCa::generate("ops CA").unwrap();
    let server = ca
        .server(&obup_kit::tls::dev_server_names("127.0.0.1"))
        .unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        OsString::from(path)
    };
    let env = [
        ("OBUP_AUTH", OsString::from("tokens")),
        ("OBUP_TLS_CERT", file("server.pem", &server.cert)),
        ("OBUP_TLS_KEY", file("server-key.pem", &server.key)),
        ("OBUP_TLS_CLIENT_CA", file("ca.pem", &ca.cert_pem)),
    ];
    let data = dir.path().join("data");
    let o = orchestrator_with("tls", &data, &db.url, "http://127.0.0.1:9", "10", &env);
    assert!(o.url.starts_with("https://127.0.0.1:"), "{}", o.url);
    let admin = obup_kit::auth::read_token_file(&data.join("tokens/admin.token"))
        .unwrap()
        .unwrap();
    let list = |tls: ClientTls, token: Option<obup_kit::auth::Token>| {
        let url = o.url.clone();
        async move {
            let channel = tls
                .endpoint(&url)
                .unwrap()
                .connect()
                .await
                .map_err(|e| format!("{e:?}"))?;
            UpgradeOrchestratorClient::with_interceptor(
                channel,
                obup_kit::auth::BearerInterceptor::new(token.as_ref()),
            )
            .list_dags(opb::ListDagsRequest::default())
            .await
            .map(drop)
            .map_err(|e| format!("{e:?}"))
        }
    };
    let trusting = ClientTls::new(Some(ca.cert_pem.clone()), None).unwrap();
    list(trusting.clone(), Some(admin)).await.unwrap();
    let e = list(trusting, None).await.unwrap_err();
    assert!(e.contains("Auth.Token.Missing"), "{e}");
    let viewer = ca.user("vera", "viewer", None).unwrap();
    list(
        ClientTls::new(Some(ca.cert_pem.clone()), Some(viewer)).unwrap(),
        None,
    )
    .await
    .unwrap();
    // h2c to the TLS port: no answer.
    let plain = o.url.replace("https://", "http://");
    let e = async {
        let channel = Channel::from_shared(plain)
            .unwrap()
            .connect()
            .await
            .map_err(|e| format!("{e:?}"))?;
        UpgradeOrchestratorClient::new(channel)
            .list_dags(opb::ListDagsRequest::default())
            .await
            .map(drop)
            .map_err(|e| format!("{e:?}"))
    }
    .await;
    assert!(e.is_err(), "plaintext got an answer");
}

/// An orchestrator killed while the pre script runs on an agent: once its
/// lease runs out another takes the sub-task over and re-attaches to the
/// operation the agent kept running (same attempt), so the script runs
/// once and the upgrade succeeds.
#[tokio::test]
async fn an_orchestrator_killed_mid_script_is_replaced_and_the_script_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let store = common::package_store(&dir.path().join("store")).await;
    // The pre script's BEGIN UPGRADE takes 4 s: longer than the 2 s lease.
    let cluster = common::local_cluster(dir.path(), |c| {
        c.faults.push(obup_obsim::FaultSpec {
            pattern: "begin_upgrade".into(),
            action: obup_obsim::FaultAction::Delay { ms: 4000 },
        })
    })
    .await;
    let key = [("OBUP_SECRET_KEY", OsString::from(SHARED_KEY))];
    let a = orchestrator_with(
        "engine-a",
        &dir.path().join("a"),
        &db.url,
        &store,
        "2",
        &key,
    );
    common::register(&a.url, &cluster).await;
    let upgrade = start_upgrade(&a.url).await;
    let pre = "Execute upgrade pre script";
    let running = wait_for_dag(&a.url, upgrade, "the pre script to run", |d| {
        d.nodes
            .iter()
            .flat_map(|n| &n.sub_tasks)
            .any(|t| t.name == pre && t.state == "RUNNING")
    })
    .await;
    let task = running
        .nodes
        .iter()
        .flat_map(|n| &n.sub_tasks)
        .find(|t| t.name == pre)
        .unwrap()
        .id;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.kill();
    let b = orchestrator_with(
        "engine-b",
        &dir.path().join("b"),
        &db.url,
        &store,
        "2",
        &key,
    );

    let done = wait_for_dag(&b.url, upgrade, "the upgrade to end", finished).await;
    assert_eq!(done.state, "SUCCEED", "{}", failure(&b.url, &done).await);
    let script = done
        .nodes
        .iter()
        .flat_map(|n| &n.sub_tasks)
        .find(|t| t.id == task)
        .unwrap();
    assert_eq!(script.execute_times, 1, "taken over, not run again");
    let logs: Vec<String> = client(&b.url)
        .await
        .get_sub_task_logs(opb::GetSubTaskRequest { id: task })
        .await
        .unwrap()
        .into_inner()
        .logs
        .into_iter()
        .map(|l| l.content)
        .collect();
    assert!(logs.iter().any(|l| l.contains("attached to")), "{logs:#?}");
    let executed = |id: &str| {
        cluster
            .sim()
            .transcript(0)
            .iter()
            .filter(|e| e.id.as_deref() == Some(id))
            .count()
    };
    assert_eq!(executed("begin_upgrade"), 1);
    assert_eq!(executed("begin_rolling_upgrade"), 1);
    cluster.stop().await.unwrap();
}
