//! Crash safety with a real process: `obup dev` is killed with SIGKILL at
//! several points of an upgrade and started again on the same data dir
//! each time. The DAG completes; sub-tasks that had finished are not run
//! again; the ones that were running resume.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{DevServer, OBUP};

use obup_proto::pb::orchestrator::v1 as opb;
use obup_test_support::{Compression, RpmSpec};
use opb::upgrade_orchestrator_client::UpgradeOrchestratorClient;

/// A client of `dev`, with the admin token it made (kept across restarts
/// in its data dir).
async fn client(
    dev: &DevServer,
) -> UpgradeOrchestratorClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        obup_kit::auth::BearerInterceptor,
    >,
> {
    let channel = tonic::transport::Channel::from_shared(dev.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    UpgradeOrchestratorClient::with_interceptor(
        channel,
        obup_kit::auth::BearerInterceptor::new(Some(&dev.admin_token())),
    )
}

async fn dag(dev: &DevServer, id: i64) -> opb::Dag {
    client(dev)
        .await
        .get_dag(opb::GetDagRequest { id, details: true })
        .await
        .unwrap()
        .into_inner()
}

/// DAG `id` once it has succeeded or failed; panics with [`stuck`]'s
/// account if it has not within `limit`.
async fn finished(dev: &DevServer, id: i64, limit: Duration) -> opb::Dag {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let d = dag(dev, id).await;
        if d.state == "SUCCEED" || d.state == "FAILED" {
            return d;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("the DAG did not finish: {}", stuck(dev, &d).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The log lines of sub-task `id`.
async fn logs_of(dev: &DevServer, id: i64) -> Vec<String> {
    client(dev)
        .await
        .get_sub_task_logs(opb::GetSubTaskRequest { id })
        .await
        .unwrap()
        .into_inner()
        .logs
        .into_iter()
        .map(|l| l.content)
        .collect()
}

/// Why a DAG is not where a test expected it: its state and stage, and the
/// last log lines of each sub-task that failed.
async fn stuck(dev: &DevServer, d: &opb::Dag) -> String {
    let mut out = format!("{} at stage {}/{}", d.state, d.stage, d.max_stage);
    for t in d.nodes.iter().flat_map(|n| &n.sub_tasks) {
        if t.state != "FAILED" {
            continue;
        }
        let logs = client(dev)
            .await
            .get_sub_task_logs(opb::GetSubTaskRequest { id: t.id })
            .await
            .map(|r| {
                let logs = r.into_inner().logs;
                let skip = logs.len().saturating_sub(6);
                logs.into_iter()
                    .skip(skip)
                    .map(|l| format!("\n    {}", l.content))
                    .collect::<String>()
            })
            .unwrap_or_else(|e| e.to_string());
        out += &format!("\n{} on {:?} failed:{logs}", t.name, t.agent);
    }
    out
}

/// Stages of the 28-stage rolling DAG at which `obup dev` is killed.
const KILL_AT_STAGES: [i32; 4] = [3, 10, 17, 24];

/// `obup dev` on `data` with the target packages uploaded and a rolling
/// upgrade started; returns the server and the DAG id.
async fn upgrade_started(dir: &Path, data: &Path, flags: &[String]) -> (DevServer, i64) {
    let libs = RpmSpec::oceanbase_ce_libs("4.3.5.0", "100000202024123117.el7");
    upgrade_started_with(dir, data, flags, libs).await
}

/// [`upgrade_started`] with `libs` as the target's libs package.
async fn upgrade_started_with(
    dir: &Path,
    data: &Path,
    flags: &[String],
    libs_spec: RpmSpec,
) -> (DevServer, i64) {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let ce = files.join("ce.rpm");
    let libs = files.join("libs.rpm");
    std::fs::write(
        &ce,
        RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7").build(),
    )
    .unwrap();
    std::fs::write(&libs, libs_spec.compression(Compression::Zstd).build()).unwrap();

    let dev = DevServer::start(data, flags);
    let up = Command::new(OBUP)
        .env("OBUP_TOKEN_DIR", &dev.token_dir)
        .env("XDG_CACHE_HOME", &dev.cache)
        .args(["upload", "--server", &dev.url])
        .args([&ce, &libs])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let started = client(&dev)
        .await
        .start_upgrade(opb::UpgradeRequest {
            version: "4.3.5.0".into(),
            release: "100000202024123117.el7".into(),
            mode: opb::Mode::Rolling as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    (dev, started.id)
}

#[tokio::test]
async fn a_killed_orchestrator_resumes_the_dag_without_rerunning_finished_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The demo cluster's realistic small delays: sub-tasks are caught
    // running more often than with one that reacts at once.
    let flags: Vec<String> = common::demo_flags(&common::random_prefix())
        .into_iter()
        .filter(|f| f != "--demo-instant")
        .collect();
    let (dev, dag_id) = upgrade_started(dir.path(), &data, &flags).await;

    // Kill it at several points of the DAG, restarting each time. Not while
    // the pre script runs: that one cannot continue, and the DAG fails as
    // obshell's does.
    let mut dev = dev;
    let tasks = |d: &opb::Dag| -> Vec<opb::SubTask> {
        d.nodes.iter().flat_map(|n| n.sub_tasks.clone()).collect()
    };
    let mut snapshots = Vec::new();
    for kill_at in KILL_AT_STAGES {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let before = loop {
            let d = dag(&dev, dag_id).await;
            let current = &d.nodes[(d.stage.max(1) - 1) as usize].name;
            if d.stage >= kill_at && !current.contains("pre script") {
                break d;
            }
            if tokio::time::Instant::now() >= deadline
                || d.state == "SUCCEED"
                || d.state == "FAILED"
            {
                panic!(
                    "the DAG did not reach stage {kill_at}: {}",
                    stuck(&dev, &d).await
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        dev.kill();
        assert_ne!(before.state, "SUCCEED");
        let running = tasks(&before)
            .iter()
            .filter(|t| t.state == "RUNNING")
            .count();
        eprintln!(
            "killed at stage {} with {running} sub-tasks running",
            before.stage
        );
        snapshots.push(before);
        dev = DevServer::start(&data, &flags);
    }

    let after = finished(&dev, dag_id, Duration::from_secs(60)).await;
    assert_eq!(after.state, "SUCCEED", "{}", stuck(&dev, &after).await);

    // After each kill, nothing that had finished ran again; at most what was
    // in flight ran once more (resumed).
    let after_tasks = tasks(&after);
    for before in &snapshots {
        for t in tasks(before) {
            let now = after_tasks.iter().find(|a| a.id == t.id).unwrap();
            match t.state.as_str() {
                "SUCCEED" => assert_eq!(now.execute_times, t.execute_times, "{} ran again", t.name),
                "RUNNING" => assert!(
                    now.execute_times <= t.execute_times + KILL_AT_STAGES.len() as i32,
                    "{}",
                    t.name
                ),
                _ => {}
            }
        }
    }
    // And the upgrade really happened: the sys tenant says so.
    let cluster = client(&dev)
        .await
        .get_cluster(opb::GetClusterRequest {
            name: "demo".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .topology
        .unwrap();
    assert_eq!(cluster.build_version, "4.3.5.0-100000202024123117");
    assert!(
        cluster.zones.iter().all(|z| z.status == "ACTIVE"),
        "{cluster:?}"
    );
}

/// The pre script cannot continue (obshell's flag): killed while it runs, it
/// is not run again behind the operator's back. The DAG fails with the
/// reason, and RETRY runs it again deliberately.
#[tokio::test]
async fn a_sub_task_that_cannot_continue_is_failed_not_rerun_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The pre script's statements are slow, so that the test catches it
    // running.
    let mut flags = common::demo_flags(&common::random_prefix());
    flags.extend(["--demo-delay".into(), "begin upgrade=400".into()]);
    let (dev, dag_id) = upgrade_started(dir.path(), &data, &flags).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let pre = loop {
        let d = dag(&dev, dag_id).await;
        let running = d
            .nodes
            .iter()
            .flat_map(|n| &n.sub_tasks)
            .find(|t| t.state == "RUNNING" && !t.can_continue);
        if let Some(t) = running {
            break t.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw the pre script run: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    dev.kill();

    let dev = DevServer::start(&data, &flags);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let d = dag(&dev, dag_id).await;
        if d.state == "FAILED" {
            break d;
        }
        assert_ne!(
            d.state, "SUCCEED",
            "the DAG went on past an interrupted pre script"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the DAG did not fail: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let task = failed
        .nodes
        .iter()
        .flat_map(|n| &n.sub_tasks)
        .find(|t| t.id == pre.id)
        .unwrap();
    assert_eq!(
        (task.state.as_str(), task.execute_times),
        ("FAILED", pre.execute_times)
    );
    let logs = logs_of(&dev, pre.id).await;
    assert!(
        logs.iter().any(|l| l.contains("cannot continue")),
        "{logs:?}"
    );

    client(&dev)
        .await
        .operate_dag(opb::OperateDagRequest {
            id: dag_id,
            operator: "RETRY".into(),
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = dag(&dev, dag_id).await;
        if d.state == "SUCCEED" {
            break;
        }
        assert!(
            d.state != "FAILED" && tokio::time::Instant::now() < deadline,
            "the retried DAG did not succeed: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A host's power cut in the middle of an install: `obup dev` (its agents
/// with it) killed while a 128 MiB library is half copied into an observer
/// home. Started again, the orchestrator re-attaches to the sub-task's agent
/// operations: the backup and the stop it had finished are not run again,
/// the interrupted install is (it may continue: done again whole), and the
/// upgrade ends with every home holding the whole library.
#[tokio::test]
async fn an_install_cut_half_way_is_done_again_whole_and_nothing_else_reruns() {
    const BIG: u64 = 128 << 20;
    const LIB: &str = "/home/admin/oceanbase/lib/libobup_big.so";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let flags = common::demo_flags(&common::random_prefix());
    // Constant bytes: the package stays small (zstd), the copy does not.
    let libs = RpmSpec::oceanbase_ce_libs("4.3.5.0", "100000202024123117.el7")
        .file(LIB, vec![0x5a; BIG as usize]);
    let (dev, dag_id) = upgrade_started_with(dir.path(), &data, &flags, libs).await;
    let hosts: Vec<std::path::PathBuf> = std::fs::read_dir(data.join("demo/hosts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!hosts.is_empty());
    let lib_on = |host: &Path| host.join(LIB.trim_start_matches('/'));
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);

    // Installing removes the old file, then copies: caught mid-copy.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (host, half) = 'caught: loop {
        for h in &hosts {
            let n = size(&lib_on(h));
            if n > 1 << 20 && n < BIG {
                break 'caught (h.clone(), n);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never caught an install mid-copy"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    dev.kill();
    let cut = size(&lib_on(&host));
    assert!(cut < BIG, "killed mid-copy: {half} then {cut} bytes");

    let dev = DevServer::start(&data, &flags);
    let after = finished(&dev, dag_id, Duration::from_secs(120)).await;
    assert_eq!(after.state, "SUCCEED", "{}", stuck(&dev, &after).await);

    // Every home holds the whole library, the cut one included.
    for h in &hosts {
        let bytes = std::fs::read(lib_on(h)).unwrap();
        assert_eq!(bytes.len() as u64, BIG, "{}", h.display());
        assert!(bytes.iter().all(|&b| b == 0x5a), "{}", h.display());
    }
    // The cut host's restart sub-task was resumed, not started over: its
    // finished agent operations were re-attached and not run again, the
    // install ran a second time.
    let ip = host.file_name().unwrap().to_string_lossy().into_owned();
    let mut found = false;
    for t in after.nodes.iter().flat_map(|n| &n.sub_tasks) {
        let logs = logs_of(&dev, t.id).await;
        // "[ip:port] attached to dag1/task9/install-hop0#1 (started 2 time(s))"
        let has = |op: &str, runs: u32| {
            logs.iter().any(|l| {
                l.contains(&format!("{ip}:"))
                    && l.contains(&format!("/{op}#"))
                    && l.ends_with(&format!("(started {runs} time(s))"))
            })
        };
        if !has("install-hop0", 2) {
            continue;
        }
        found = true;
        assert_eq!(t.execute_times, 1, "{}: {logs:#?}", t.name);
        assert!(has("backup-hop0", 1), "{logs:#?}");
        assert!(has("stop-hop0", 1), "{logs:#?}");
    }
    assert!(found, "no sub-task re-ran the install on {ip}");
}
