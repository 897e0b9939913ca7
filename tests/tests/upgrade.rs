//! Upgrades end to end on `obup dev --demo`: packages uploaded to the
//! package store, planned and run by the orchestrator through the real
//! driver (SQL to obsim's sys tenant) and the agents of the simulated
//! hosts, watched over gRPC.

mod common;

use common::{App, code, start};
use obup_proto::pb::orchestrator::v1 as opb;
use obup_test_support::{Compression, RpmSpec};

const TARGET: &str = "4.3.5.0";
const TARGET_RELEASE: &str = "100000202024123117.el7";
const TARGET_BUILD: &str = "4.3.5.0-100000202024123117";

impl App {
    /// Starts an upgrade to the target; panics if it is refused.
    async fn start_upgrade(&mut self, mode: opb::Mode) -> opb::Dag {
        self.orchestrator
            .start_upgrade(request(mode))
            .await
            .unwrap()
            .into_inner()
    }

    /// Watches a DAG to its end; its final state.
    async fn outcome(&mut self, dag_id: i64) -> Option<String> {
        last_dag_state(&self.watch(dag_id, 0).await)
    }

    /// The target, whose dep YAML routes from 4.2.1.0 through the 4.2.1.1
    /// barrier (`require_from_binary`), and a build of that barrier.
    async fn upload_two_hops(&mut self) {
        let dep = "/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml";
        let yaml = "- version: 4.2.1.0\n  can_be_upgraded_to: [4.2.1.1]\n\
                    - version: 4.2.1.1\n  can_be_upgraded_to: [4.3.5.0]\n  require_from_binary: true\n\
                    - version: 4.3.5.0\n  can_be_upgraded_to: []\n";
        self.upload(
            &RpmSpec::oceanbase_ce(TARGET, TARGET_RELEASE)
                .without(dep)
                .file(dep, yaml.as_bytes().to_vec()),
        )
        .await;
        self.upload(&RpmSpec::oceanbase_ce_libs(TARGET, TARGET_RELEASE))
            .await;
        // The barrier is a version-only hop: any build of 4.2.1.1 for el7.
        self.upload(&RpmSpec::oceanbase_ce("4.2.1.1", "100000052023110916.el7"))
            .await;
        self.upload(&RpmSpec::oceanbase_ce_libs(
            "4.2.1.1",
            "100000052023110916.el7",
        ))
        .await;
    }

    async fn upload_target(&mut self) {
        self.upload(&RpmSpec::oceanbase_ce(TARGET, TARGET_RELEASE))
            .await;
        self.upload(
            &RpmSpec::oceanbase_ce_libs(TARGET, TARGET_RELEASE).compression(Compression::Zstd),
        )
        .await;
    }
}

fn request(mode: opb::Mode) -> opb::UpgradeRequest {
    opb::UpgradeRequest {
        version: TARGET.into(),
        release: TARGET_RELEASE.into(),
        mode: mode as i32,
        ..Default::default()
    }
}

fn last_dag_state(events: &[opb::DagEvent]) -> Option<String> {
    events.iter().rev().find_map(|e| match &e.kind {
        Some(opb::dag_event::Kind::Dag(d)) => Some(d.state.clone()),
        _ => None,
    })
}

/// The build each demo host's installed `bin/observer -V` reports.
fn installed_builds(app: &App) -> Vec<String> {
    let mut out = Vec::new();
    for host in app.hosts() {
        let observer = host.join("home/admin/oceanbase/bin/observer");
        let run = std::process::Command::new(observer)
            .arg("-V")
            .output()
            .unwrap();
        assert!(run.stdout.is_empty(), "a real observer prints -V on stderr");
        let text = String::from_utf8_lossy(&run.stderr);
        let version = obup_types::ObserverVersion::parse(&text).unwrap();
        out.push(version.version_build());
    }
    out
}

/// The live observer process of each demo host: the pid its
/// `run/observer.pid` names, running with the home as its directory.
fn running_observers(app: &App) -> Vec<i32> {
    let mut out = Vec::new();
    for host in app.hosts() {
        let home = host.join("home/admin/oceanbase");
        let pid = std::fs::read_to_string(home.join("run/observer.pid")).unwrap();
        let pid: i32 = pid.trim().parse().unwrap();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
        assert_eq!(
            cwd.ok(),
            home.canonicalize().ok(),
            "observer {pid} runs in its home"
        );
        out.push(pid);
    }
    out
}

/// `<version>-<build>` of every server, as the sys tenant reports it.
async fn server_builds(app: &mut App) -> Vec<String> {
    app.cluster()
        .await
        .zones
        .iter()
        .flat_map(|z| z.servers.iter())
        .map(|s| {
            let (v, b) = obup_types::split_server_build_version(&s.build_version).unwrap();
            format!("{v}-{b}")
        })
        .collect()
}

#[tokio::test]
async fn rolling_upgrade_installs_the_target_on_every_server() {
    let mut app = start(|_| {}).await;
    app.upload_target().await;

    let plan = app
        .orchestrator
        .plan_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.current_build_version, "4.2.1.0-100000102023092807");
    assert_eq!(plan.hops.len(), 1);
    assert_eq!(plan.hops[0].packages.len(), 2, "oceanbase-ce and its libs");
    assert_eq!(plan.stages.len(), 28);
    assert_eq!(
        plan.dag_name,
        format!("OB rolling upgrade {TARGET}-{TARGET_RELEASE}")
    );

    let pids_before = running_observers(&app);
    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    assert_eq!(dag.max_stage, 28);
    let events = app.watch(dag.id, 0).await;
    assert!(
        matches!(events[0].kind, Some(opb::dag_event::Kind::Snapshot(_))),
        "a snapshot first"
    );
    for pair in events[1..].windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "no gaps, no duplicates");
    }
    assert_eq!(events[1].seq, events[0].seq + 1);
    assert_eq!(last_dag_state(&events).as_deref(), Some("SUCCEED"));

    let done = app.dag(dag.id).await;
    assert_eq!(done.state, "SUCCEED");
    assert!(done.finished);
    assert!(
        done.nodes.iter().all(|n| n.state == "SUCCEED"),
        "{:?}",
        done.nodes
    );
    let names: Vec<&str> = done.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names[11], "Stop zone1");
    assert_eq!(names[27], "Remove upgrade check task dir");

    // The new bits landed: every server's installed observer reports the target.
    let builds = installed_builds(&app);
    assert_eq!(builds.len(), 3);
    assert!(builds.iter().all(|b| b == TARGET_BUILD), "{builds:?}");
    // ... and runs: each server's observer was started anew and daemonized,
    // and the sys tenant reports the new build on every server.
    let pids = running_observers(&app);
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert!(
        pids.iter().all(|p| !pids_before.contains(p)),
        "{pids_before:?} -> {pids:?}"
    );
    let cluster = app.cluster().await;
    assert!(
        cluster.zones.iter().all(|z| z.status == "ACTIVE"),
        "{cluster:?}"
    );
    assert_eq!(cluster.build_version, TARGET_BUILD);
    assert!(
        server_builds(&mut app)
            .await
            .iter()
            .all(|b| b == TARGET_BUILD)
    );
    // Logs are stored per execution.
    let reinstall = &done.nodes[12].sub_tasks[0];
    let logs = app.logs(reinstall.id).await;
    assert!(
        logs.iter().any(|l| l.content.contains(TARGET_BUILD)),
        "{logs:?}"
    );
    // The package's upgrade scripts ran against the sys tenant and moved it
    // through upgrade mode, rolling upgrade, the UPGRADE_ALL job and back.
    let script_logs = |name: &str| {
        let node = done.nodes.iter().find(|n| n.name == name).unwrap();
        node.sub_tasks[0].id
    };
    for (script, statements) in [
        (
            "Execute upgrade pre script",
            &[
                "alter system begin upgrade",
                "alter system begin rolling upgrade",
                "upgrade pre script done",
            ][..],
        ),
        (
            "Execute upgrade post script",
            &[
                "alter system end rolling upgrade",
                "alter system run upgrade job 'UPGRADE_ALL'",
                "alter system end upgrade",
                "upgrade post script done",
            ][..],
        ),
    ] {
        let logs = app.logs(script_logs(script)).await;
        for s in statements {
            assert!(
                logs.iter().any(|l| l.content.contains(s)),
                "{script} did not log {s:?}: {logs:?}"
            );
        }
    }
    // The maintenance lock was released: the cluster is free again.
    let again = app
        .orchestrator
        .start_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap_err();
    assert_eq!(code(&again), "OB.Upgrade.ToLowerVersion", "{again:?}");
}

#[tokio::test]
async fn stop_service_upgrade_has_16_stages() {
    let mut app = start(|_| {}).await;
    app.upload_target().await;
    let dag = app.start_upgrade(opb::Mode::StopService).await;
    assert_eq!(dag.max_stage, 16);
    assert_eq!(
        dag.name,
        format!("OB stop service upgrade {TARGET}-{TARGET_RELEASE}")
    );
    let events = app.watch(dag.id, 0).await;
    assert_eq!(last_dag_state(&events).as_deref(), Some("SUCCEED"));
    assert!(installed_builds(&app).iter().all(|b| b == TARGET_BUILD));
    assert!(
        server_builds(&mut app)
            .await
            .iter()
            .all(|b| b == TARGET_BUILD)
    );
}

#[tokio::test]
async fn planning_errors_use_obshell_codes() {
    let mut app = start(|_| {}).await;
    // Nothing uploaded: the target package is missing.
    let e = app
        .orchestrator
        .plan_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "OB.Package.NotExist");
    assert!(
        e.message()
            .contains("oceanbase-ce-4.3.5.0-100000202024123117.el7.x86_64.rpm"),
        "{}",
        e.message()
    );

    // Only the server package: the libs are listed as missing.
    app.upload(&RpmSpec::oceanbase_ce(TARGET, TARGET_RELEASE))
        .await;
    let e = app
        .orchestrator
        .plan_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "OB.Package.NotExist");
    assert!(
        e.message().contains("oceanbase-ce-libs-4.3.5.0"),
        "{}",
        e.message()
    );

    let mut lower = request(opb::Mode::Rolling);
    lower.version = "4.2.0.0".into();
    let e = app.orchestrator.plan_upgrade(lower).await.unwrap_err();
    assert_eq!(code(&e), "OB.Upgrade.ToLowerVersion");

    let mut bad_release = request(opb::Mode::Rolling);
    bad_release.release = "100000202024123117".into();
    assert_eq!(
        code(
            &app.orchestrator
                .plan_upgrade(bad_release)
                .await
                .unwrap_err()
        ),
        "Package.ReleaseFormat.Invalid"
    );

    let mut bad_dir = request(opb::Mode::Rolling);
    bad_dir.upgrade_dir = "/tmp/../etc".into();
    assert_eq!(
        code(&app.orchestrator.plan_upgrade(bad_dir).await.unwrap_err()),
        "Common.InvalidPath"
    );

    let e = app
        .orchestrator
        .plan_upgrade(request(opb::Mode::Unspecified))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "OB.Upgrade.Mode.NotSupported");

    // A target version with no dep YAML.
    let bare = RpmSpec::oceanbase_ce("4.4.0.0", "1.el7")
        .without("/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml");
    app.upload(&bare).await;
    let mut no_yaml = request(opb::Mode::Rolling);
    no_yaml.version = "4.4.0.0".into();
    no_yaml.release = "1.el7".into();
    assert_eq!(
        code(&app.orchestrator.plan_upgrade(no_yaml).await.unwrap_err()),
        "OB.Upgrade.DepYamlMissing"
    );
}

#[tokio::test]
async fn rolling_needs_three_zones() {
    let mut app = start(|a| a.demo_zones = 2).await;
    app.upload_target().await;
    let e = app
        .orchestrator
        .start_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "OB.Upgrade.UnableToRollingUpgrade");
    // Stop-service works with two zones.
    assert!(
        app.orchestrator
            .plan_upgrade(request(opb::Mode::StopService))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_failed_upgrade_holds_the_lock_until_retried() {
    // The sys tenant refuses the second START ZONE (zone2's) once.
    let mut app = start(|a| a.demo_fail = vec![fail("start_zone@2")]).await;
    app.upload_target().await;
    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    let events = app.watch(dag.id, 0).await;
    assert_eq!(last_dag_state(&events).as_deref(), Some("FAILED"));
    let failed = app.dag(dag.id).await;
    assert!(!failed.finished, "a failed upgrade stays unfinished");
    let node = &failed.nodes[failed.stage as usize - 1];
    assert_eq!(node.name, "Start zone2");
    let logs = app.logs(node.sub_tasks[0].id).await;
    assert!(
        logs.iter()
            .any(|l| l.content.contains("start_zone failed: 4179")),
        "the sys tenant's error, with its code: {logs:?}"
    );
    // Zone 2 is down; rolling never takes a second zone down meanwhile.
    let cluster = app.cluster().await;
    let status: Vec<&str> = cluster.zones.iter().map(|z| z.status.as_str()).collect();
    assert_eq!(status, ["ACTIVE", "INACTIVE", "ACTIVE"]);

    let e = app
        .orchestrator
        .start_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "OB.Cluster.UnderMaintenanceWithDag");
    assert!(e.message().contains(&failed.name), "{}", e.message());
    // A check DAG is not a maintenance DAG: it runs alongside.
    let check = app
        .orchestrator
        .check_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(check.max_stage, 6);
    assert_eq!(app.outcome(check.id).await.as_deref(), Some("SUCCEED"));

    // Retry: the injected failure was the first execution only.
    let rollback = app.operate(dag.id, "rollback").await.unwrap_err();
    assert_eq!(code(&rollback), "Task.Dag.Operator.RollbackNotAllowed");
    let seen = events.last().unwrap().seq;
    app.operate(dag.id, "retry").await.unwrap();
    // Resuming the watch where it stopped sees the rest, and nothing twice.
    let rest = app.watch(dag.id, seen).await;
    assert_eq!(rest[0].seq, seen + 1);
    for pair in rest.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    assert_eq!(last_dag_state(&rest).as_deref(), Some("SUCCEED"));
    assert!(installed_builds(&app).iter().all(|b| b == TARGET_BUILD));
    assert!(
        server_builds(&mut app)
            .await
            .iter()
            .all(|b| b == TARGET_BUILD)
    );
}

/// Each statement the sys tenant refuses once fails the stage that sent it,
/// with the tenant's code in the sub-task's log, and nothing after it runs;
/// RETRY then finishes the upgrade. The scripts' statements fail the script
/// (mysql.connector raises, the script exits non-zero), the driver's fail
/// the driver's stage.
#[tokio::test]
async fn each_refused_statement_fails_its_stage_and_retry_finishes() {
    let table = [
        ("parameters@1", "Backup parameters"),
        ("begin_upgrade@1", "Execute upgrade pre script"),
        ("stop_zone@1", "Stop zone1"),
        ("end_rolling_upgrade@1", "Execute upgrade post script"),
        // The pre script's `enable_rebalance = 'False' tenant = 'sys'` is
        // the first; "Restore parameters" sends the second.
        ("set_parameter_for_tenant@1", "Execute upgrade pre script"),
        ("set_parameter_for_tenant@2", "Restore parameters"),
    ];
    for (fault, stage) in table {
        let mut app = start(|a| a.demo_fail = vec![fail(fault)]).await;
        app.upload_target().await;
        let dag = app.start_upgrade(opb::Mode::Rolling).await;
        assert_eq!(
            app.outcome(dag.id).await.as_deref(),
            Some("FAILED"),
            "{fault}"
        );
        let failed = app.dag(dag.id).await;
        let node = &failed.nodes[failed.stage as usize - 1];
        assert_eq!(node.name, stage, "{fault}");
        assert!(
            failed.nodes[failed.stage as usize..]
                .iter()
                .all(|n| n.state == "PENDING"),
            "{fault}: stages after the failed one ran"
        );
        let logs = app.logs(node.sub_tasks[0].id).await;
        assert!(
            logs.iter().any(|l| l.content.contains("4179")),
            "{fault}: the sys tenant's code in the log: {logs:?}"
        );
        app.operate(dag.id, "retry").await.unwrap();
        assert_eq!(
            app.outcome(dag.id).await.as_deref(),
            Some("SUCCEED"),
            "{fault}: RETRY after the fault"
        );
        assert!(
            installed_builds(&app).iter().all(|b| b == TARGET_BUILD),
            "{fault}"
        );
    }
}

/// An obsim fault from `obup dev --demo-fail`'s syntax.
fn fail(spec: &str) -> obup_obsim::FaultSpec {
    obup_cli::dev::parse_failure(spec).unwrap()
}

/// Flips a byte of the stored server package (same size, other bytes), as
/// bit rot or a bad disk would; returns its path and original bytes.
fn damage_server_package(app: &App) -> (std::path::PathBuf, Vec<u8>) {
    let objects = app.data.path().join("data/objects/packages/sha256");
    for dir in std::fs::read_dir(&objects).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = f.unwrap().path();
            let original = std::fs::read(&path).unwrap();
            if original.len() > 3000 {
                let mut bytes = original.clone();
                let n = bytes.len();
                bytes[n - 50] ^= 0xff;
                std::fs::write(&path, &bytes).unwrap();
                return (path, original);
            }
        }
    }
    panic!("no server package stored");
}

#[tokio::test]
async fn rollback_and_cancel() {
    // A package damaged in storage fails the download: everything before
    // it can be rolled back.
    let mut app = start(|_| {}).await;
    app.upload_target().await;
    let (object, original) = damage_server_package(&app);
    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    assert_eq!(app.outcome(dag.id).await.as_deref(), Some("FAILED"));
    let failed = app.dag(dag.id).await;
    assert_eq!(
        failed.nodes[failed.stage as usize - 1].name,
        "Download all required packages"
    );
    let task_dirs = |app: &App| -> usize {
        app.hosts()
            .iter()
            .filter_map(|h| std::fs::read_dir(h.join("home/admin/oceanbase/upgrade")).ok())
            .map(|d| d.count())
            .sum()
    };
    assert_eq!(task_dirs(&app), 3, "each host has the DAG's task dir");
    app.operate(dag.id, "ROLLBACK").await.unwrap();
    let events = app.watch(dag.id, 0).await;
    assert_eq!(last_dag_state(&events).as_deref(), Some("SUCCEED"));
    let rolled = app.dag(dag.id).await;
    assert_eq!(
        (rolled.operator.as_str(), rolled.finished),
        ("ROLLBACK", true)
    );
    // The rollback removed what the DAG made on every host and released
    // the lock; the cluster still runs the old build.
    assert_eq!(task_dirs(&app), 0, "the rollback removed the task dirs");
    assert!(
        installed_builds(&app)
            .iter()
            .all(|b| b.starts_with("4.2.1.0"))
    );

    // Repaired, the package passes a check DAG.
    std::fs::write(&object, original).unwrap();
    let check = app
        .orchestrator
        .check_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(app.outcome(check.id).await.as_deref(), Some("SUCCEED"),);

    let unknown = app.operate(check.id, "explode").await.unwrap_err();
    assert_eq!(code(&unknown), "Task.Dag.Operator.NotSupport");
    let finished = app.operate(check.id, "cancel").await.unwrap_err();
    assert_eq!(code(&finished), "Task.Dag.Operator.CancelFinishedDag");
    let missing = app
        .orchestrator
        .get_dag(opb::GetDagRequest {
            id: 9999,
            details: false,
        })
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "Task.NotFound");
}

/// A check DAG whose hosts' Python lacks mysql.connector fails at its
/// first stage with obshell's code; every stage of a check DAG can be
/// passed, so PASS ends it SUCCEED.
#[tokio::test]
async fn pass_skips_a_failed_passable_stage() {
    let mut app = start(|a| a.demo_python = Some("/usr/bin/python3".into())).await;
    app.upload_target().await;
    let check = app
        .orchestrator
        .check_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(app.outcome(check.id).await.as_deref(), Some("FAILED"));
    let d = app.dag(check.id).await;
    let node = &d.nodes[d.stage as usize - 1];
    assert_eq!(node.name, "Check the python environment");
    let logs = app.logs(node.sub_tasks[0].id).await;
    assert!(
        logs.iter()
            .any(|l| l.content.contains("Environment.WithoutModule")),
        "{logs:?}"
    );
    let dag = app.operate(check.id, "pass").await.unwrap();
    assert_eq!(
        (dag.state.as_str(), dag.operator.as_str()),
        ("SUCCEED", "PASS")
    );
    // An upgrade is refused at once: obshell's request-time check.
    let e = app
        .orchestrator
        .start_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Environment.WithoutModule");
}

#[tokio::test]
async fn several_hops_repeat_the_block_and_pass_through_the_barrier() {
    let mut app = start(|_| {}).await;
    app.upload_two_hops().await;

    let plan = app
        .orchestrator
        .plan_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap()
        .into_inner();
    let hops: Vec<(&str, &str)> = plan
        .hops
        .iter()
        .map(|h| (h.version.as_str(), h.build.as_str()))
        .collect();
    assert_eq!(hops, [("4.2.1.1", ""), ("4.3.5.0", "100000202024123117")]);
    assert!(plan.hops[0].require_from_binary);
    assert_eq!(plan.stages.len(), 7 + 2 * 20 + 1);

    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    let events = app.watch(dag.id, 0).await;
    assert_eq!(last_dag_state(&events).as_deref(), Some("SUCCEED"));
    // Each hop's reinstall reported the hop's build.
    let done = app.dag(dag.id).await;
    let reinstalls: Vec<&opb::Node> = done
        .nodes
        .iter()
        .filter(|n| n.name == "Reinstall and restart observer")
        .collect();
    assert_eq!(reinstalls.len(), 6);
    let first_hop_logs = app.logs(reinstalls[0].sub_tasks[0].id).await;
    assert!(
        first_hop_logs
            .iter()
            .any(|l| l.content.contains("serves 4.2.1.1-100000052023110916")),
        "{first_hop_logs:?}"
    );
    assert!(installed_builds(&app).iter().all(|b| b == TARGET_BUILD));
    assert!(
        server_builds(&mut app)
            .await
            .iter()
            .all(|b| b == TARGET_BUILD)
    );
}

/// Packages packed by the system's `rpmbuild` instead of obup's own writer,
/// carrying the stand-in observer that prints the real `-V` block: the
/// upgrade installs them and every server then runs the target.
#[tokio::test]
async fn rolling_upgrade_with_packages_built_by_rpmbuild() {
    use obup_test_support::rpmbuild::{have, rpmbuild};
    if !have("rpmbuild") {
        return;
    }
    let mut app = start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    for (i, spec) in [
        RpmSpec::oceanbase_ce(TARGET, TARGET_RELEASE),
        RpmSpec::oceanbase_ce_libs(TARGET, TARGET_RELEASE),
    ]
    .iter()
    .enumerate()
    {
        let build_dir = dir.path().join(i.to_string());
        let bytes = rpmbuild(spec, &build_dir, "w2.xzdio");
        let stored = app.upload_bytes(&spec.file_name(), bytes).await;
        assert_eq!(stored.name, spec.name);
    }
    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    assert_eq!(app.outcome(dag.id).await.as_deref(), Some("SUCCEED"));
    assert!(installed_builds(&app).iter().all(|b| b == TARGET_BUILD));
    assert_eq!(running_observers(&app).len(), 3);
}

#[tokio::test]
async fn business_edition_rolling_is_26_stages() {
    let mut app = start(|a| a.demo_edition = "business".into()).await;
    let business = RpmSpec::oceanbase_server(obup_types::Edition::Business, TARGET, TARGET_RELEASE);
    assert!(
        !business
            .files
            .iter()
            .any(|f| f.path.ends_with("bin/obshell"))
    );
    app.upload(&business).await;
    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    assert_eq!(dag.max_stage, 26);
    assert_eq!(app.outcome(dag.id).await.as_deref(), Some("SUCCEED"));
}

#[tokio::test]
async fn cancel_stops_a_running_upgrade_and_pass_node_continues_one() {
    // Slow downloads (1 KiB/s), so the DAG is caught downloading.
    let mut app = start(|a| a.demo_fetch_bytes_per_sec = 1024).await;
    app.upload_target().await;
    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    // Cancel while the prelude runs (its stages can be cancelled).
    let mut stream = app
        .orchestrator
        .watch_dag(opb::WatchDagRequest {
            dag_id: dag.id,
            after_seq: 0,
            follow: false,
        })
        .await
        .unwrap()
        .into_inner();
    while let Some(e) = stream.message().await.unwrap() {
        if matches!(&e.kind, Some(opb::dag_event::Kind::SubTask(t)) if t.state == "RUNNING" && t.name == "Download all required packages")
        {
            break;
        }
    }
    let cancelled = app.operate(dag.id, "CANCEL").await.unwrap();
    assert_eq!(
        (cancelled.state.as_str(), cancelled.operator.as_str()),
        ("FAILED", "CANCEL")
    );
    let rest: Vec<opb::DagEvent> = {
        let mut out = Vec::new();
        while let Some(e) = stream.message().await.unwrap() {
            out.push(e);
        }
        out
    };
    assert_eq!(last_dag_state(&rest).as_deref(), Some("FAILED"));
    let d = app.dag(dag.id).await;
    let node = &d.nodes[d.stage as usize - 1];
    assert_eq!(node.name, "Download all required packages");
    assert!(
        node.sub_tasks.iter().all(|t| t.state == "FAILED"),
        "{node:?}"
    );

    // The cancelled node can be passed; the DAG carries on and succeeds.
    app.orchestrator
        .pass_node(opb::PassNodeRequest { node_id: node.id })
        .await
        .unwrap();
    // Passing skipped the download, so the check fails: the DAG fails there.
    let after = app.watch(dag.id, 0).await;
    assert_eq!(last_dag_state(&after).as_deref(), Some("FAILED"));
    let d = app.dag(dag.id).await;
    assert_eq!(
        d.nodes[d.stage as usize - 1].name,
        "Check all required packages"
    );
    let logs = app
        .logs(d.nodes[d.stage as usize - 1].sub_tasks[0].id)
        .await;
    assert!(
        logs.iter().any(|l| l.content.contains("cannot open")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn a_package_damaged_in_storage_is_refused_at_download() {
    let mut app = start(|_| {}).await;
    app.upload_target().await;
    damage_server_package(&app);
    let check = app
        .orchestrator
        .check_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(app.outcome(check.id).await.as_deref(), Some("FAILED"));
    let d = app.dag(check.id).await;
    let node = &d.nodes[d.stage as usize - 1];
    assert_eq!(node.name, "Download all required packages");
    let logs = app.logs(node.sub_tasks[0].id).await;
    assert!(
        logs.iter().any(|l| l.content.contains("SHA-256")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn watch_dags_streams_every_dag() {
    let mut app = start(|_| {}).await;
    app.upload_target().await;
    let mut all = app
        .orchestrator
        .watch_dags(opb::WatchDagsRequest {})
        .await
        .unwrap()
        .into_inner();
    let check = app
        .orchestrator
        .check_upgrade(request(opb::Mode::Rolling))
        .await
        .unwrap()
        .into_inner();
    let mut last_seq = 0;
    loop {
        let e = all.message().await.unwrap().unwrap();
        assert_eq!(e.dag_id, check.id);
        assert_eq!(e.seq, last_seq + 1, "in order, from the DAG's first event");
        last_seq = e.seq;
        if matches!(&e.kind, Some(opb::dag_event::Kind::Dag(d)) if d.state == "SUCCEED") {
            break;
        }
    }
}

/// One REST GET, authenticated, over HTTP/1.0 so that the
/// body (an event stream included) ends when the server closes. Returns the
/// status code and the body.
async fn rest_get(url: &str, target: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let (_, secret) = common::http(url, b"GET /api/v1/secret HTTP/1.0\r\n\r\n").await;
    let secret: serde_json::Value = serde_json::from_slice(&secret).unwrap();
    // obup's own scheme (obup-gcm1); the SDK's v2 is covered by the SDK.
    let header = obup_gateway::security::gcm_header(
        secret["data"]["public_key"].as_str().unwrap(),
        "",
        target,
        &[7u8; 32],
    )
    .unwrap();
    let mut request = format!("GET {target} HTTP/1.0\r\nX-OBUP-Auth: {header}\r\n");
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    let (status, body) = common::http(url, request.as_bytes()).await;
    (status, String::from_utf8(body).unwrap())
}

/// `(id, event name, data)` of each event of a server-sent event stream.
fn sse_events(body: &str) -> Vec<(i64, String, serde_json::Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_owned)
            };
            Some((
                field("id:")?.trim().parse().unwrap(),
                field("event:")?.trim().to_owned(),
                serde_json::from_str(field("data:")?.trim()).unwrap(),
            ))
        })
        .collect()
}

#[tokio::test]
async fn rest_event_stream_follows_a_dag_and_resumes_after_last_event_id() {
    let mut app = start(|_| {}).await;
    app.upload_target().await;
    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    let grpc = app.watch(dag.id, 0).await;
    assert_eq!(last_dag_state(&grpc).as_deref(), Some("SUCCEED"));

    // A fresh stream opens with the whole DAG as of the latest event.
    let seqs: Vec<i64> = grpc.iter().map(|e| e.seq).collect();
    let last = *seqs.last().unwrap();
    let target = format!("/api/v1/task/dag/1{}/events", dag.id);
    let (status, body) = rest_get(&app.url, &target, &[]).await;
    assert_eq!(status, 200, "{body}");
    let events = sse_events(&body);
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!((events[0].0, events[0].1.as_str()), (last, "snapshot"));
    assert_eq!(events[0].2["id"], format!("1{}", dag.id));
    assert_eq!(events[0].2["state"], "SUCCEED");
    assert_eq!(events[0].2["nodes"].as_array().unwrap().len(), 28);

    // A reconnect with Last-Event-ID gets exactly what WatchDag had after
    // it: every change, logs included, up to the DAG's success.
    let middle = seqs[seqs.len() / 2];
    let (_, body) = rest_get(&app.url, &target, &[("Last-Event-ID", &middle.to_string())]).await;
    let resumed = sse_events(&body);
    let ids: Vec<i64> = resumed.iter().map(|e| e.0).collect();
    assert_eq!(ids, seqs[seqs.len() / 2 + 1..].to_vec());
    assert!(
        resumed
            .iter()
            .any(|e| e.1 == "log" && e.2["content"].is_string())
    );
    let last_dag = resumed.iter().rev().find(|e| e.1 == "dag").unwrap();
    assert_eq!(last_dag.2["state"], "SUCCEED");

    // Errors before the stream starts are envelopes.
    let (status, body) = rest_get(&app.url, "/api/v1/task/dag/199999/events", &[]).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, json["status"].as_u64()),
        (404, Some(404)),
        "{body}"
    );
    let (status, body) = rest_get(&app.url, &target, &[("Last-Event-ID", "x")]).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 400);
    assert_eq!(json["error"]["errCode"], "Request.Header.Param.Illegal");
}

/// `obup dev --demo`'s agents take mutual TLS only: the orchestrator's
/// client certificate from the demo's CA is accepted; plaintext and a
/// certificate from another CA are refused before any operation.
#[tokio::test]
async fn the_demo_agents_take_mutual_tls_only() {
    use obup_agent::AgentClient;
    use obup_kit::tls::{DevCa, KeyPairPem, client_config, read_pem};
    let app = start(|_| {}).await;
    let files = app.agent_tls.clone().expect("the demo agents use TLS");
    let ca = read_pem(&files.ca_cert).unwrap();
    let agent = &app.agents[0];

    let ours = KeyPairPem::read(&files.client_cert, &files.client_key).unwrap();
    let tls = client_config(&ca, Some(&ours), None).unwrap();
    let mut client = AgentClient::connect(&format!("https://{agent}"), Some(tls))
        .await
        .unwrap();
    let facts = client
        .facts()
        .await
        .expect("the orchestrator's certificate");
    assert_eq!(facts.observer.svr_ip, agent.rsplit_once(':').unwrap().0);

    let plaintext = async {
        AgentClient::connect(&format!("http://{agent}"), None)
            .await?
            .facts()
            .await
    };
    assert!(plaintext.await.is_err(), "plaintext was served");

    let stranger = DevCa::generate("another CA").unwrap();
    let theirs = stranger.client("intruder").unwrap();
    let tls = client_config(&ca, Some(&theirs), None).unwrap();
    let foreign = async {
        AgentClient::connect(&format!("https://{agent}"), Some(tls))
            .await?
            .facts()
            .await
    };
    assert!(
        foreign.await.is_err(),
        "a certificate of another CA was taken"
    );
}

/// With a root password, an upgrade never puts it where another user of the
/// host could read it: in no process's argv while the scripts run (sampled
/// from `/proc`), in no sub-task log line, in no file under the data dir
/// but the simulated cluster's own state.
#[tokio::test]
async fn the_root_password_is_in_no_argv_no_log_and_no_file() {
    const PASSWORD: &str = "Pw-7f3c9e!x";
    let mut app = start(|a| {
        a.root_password = PASSWORD.into();
        // The pre script waits on the tenant a little: long enough to be
        // seen running.
        a.demo_delay = vec![obup_cli::dev::parse_delay("begin upgrade=300").unwrap()];
    })
    .await;
    app.upload_target().await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let (mut leaks, mut scripts_seen) = (Vec::new(), 0usize);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                        continue;
                    };
                    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                    if text.contains(PASSWORD) {
                        leaks.push(text.replace(PASSWORD, "<password>"));
                    }
                    // The agent's script bootstrap (`python -u -c ...runpy...`).
                    scripts_seen += usize::from(text.contains("runpy.run_path"));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (leaks, scripts_seen)
        }
    });
    let dag = app.start_upgrade(opb::Mode::Rolling).await;
    assert_eq!(app.outcome(dag.id).await.as_deref(), Some("SUCCEED"));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (leaks, scripts_seen) = sampler.join().unwrap();
    assert!(scripts_seen > 0, "no upgrade script was seen running");
    assert!(leaks.is_empty(), "the password in argv: {leaks:?}");

    let done = app.dag(dag.id).await;
    for task in done.nodes.iter().flat_map(|n| &n.sub_tasks) {
        for line in app.logs(task.id).await {
            assert!(
                !line.content.contains(PASSWORD),
                "{}: {}",
                task.name,
                line.content
            );
        }
    }
    // Every file obup wrote: databases (the cluster's password is stored
    // sealed), agent journals, the hosts' files. obsim's own state holds the
    // simulated cluster's password, as the cluster itself does.
    let root = app.data.path().join("data");
    let obsim_state = [root.join("demo/state.json"), root.join("demo/obsim.json")];
    let mut files = vec![root.clone()];
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if path.is_file() && !obsim_state.contains(&path) {
            let bytes = std::fs::read(&path).unwrap();
            scanned += 1;
            assert!(
                !bytes
                    .windows(PASSWORD.len())
                    .any(|w| w == PASSWORD.as_bytes()),
                "the password in {}",
                path.display()
            );
        }
    }
    assert!(scanned > 10, "{scanned} files");
}

/// A cluster of 3 zones x 3 servers: nine agents, nine observers. The
/// upgrade in `mode` (through the 4.2.1.1 barrier when `two_hops`) ends
/// with every one of the nine a new process serving the target.
async fn nine_hosts(mode: opb::Mode, two_hops: bool) {
    let mut app = start(|a| a.demo_servers_per_zone = 3).await;
    assert_eq!(app.agents.len(), 9, "{:?}", app.agents);
    let hops = if two_hops {
        app.upload_two_hops().await;
        2
    } else {
        app.upload_target().await;
        1
    };
    let plan = app
        .orchestrator
        .plan_upgrade(request(mode))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(plan.hops.len(), hops);
    let pids_before = running_observers(&app);
    assert_eq!(pids_before.len(), 9);
    let dag = app.start_upgrade(mode).await;
    assert_eq!(app.outcome(dag.id).await.as_deref(), Some("SUCCEED"));

    // Every host-wide stage ran one sub-task per agent.
    let done = app.dag(dag.id).await;
    let reinstalls: Vec<&opb::Node> = done
        .nodes
        .iter()
        .filter(|n| n.name == "Reinstall and restart observer")
        .collect();
    let per_hop = match mode {
        // One stage per zone, each on that zone's three hosts.
        opb::Mode::Rolling => 3,
        // One stage for the whole cluster, on all nine.
        _ => 1,
    };
    assert_eq!(reinstalls.len(), per_hop * hops);
    for node in &reinstalls {
        assert_eq!(node.sub_tasks.len(), 9 / per_hop, "{}", node.name);
    }
    let builds = installed_builds(&app);
    assert_eq!(builds.len(), 9);
    assert!(builds.iter().all(|b| b == TARGET_BUILD), "{builds:?}");
    let pids = running_observers(&app);
    assert!(
        pids.iter().all(|p| !pids_before.contains(p)),
        "{pids_before:?} -> {pids:?}"
    );
    let served = server_builds(&mut app).await;
    assert_eq!(served.len(), 9);
    assert!(served.iter().all(|b| b == TARGET_BUILD), "{served:?}");
}

#[tokio::test]
async fn nine_hosts_rolling() {
    nine_hosts(opb::Mode::Rolling, false).await;
}

#[tokio::test]
async fn nine_hosts_stop_service() {
    nine_hosts(opb::Mode::StopService, false).await;
}

#[tokio::test]
async fn nine_hosts_through_two_hops() {
    nine_hosts(opb::Mode::Rolling, true).await;
}
