//! The restart race of real-driver.md §1.4, end to end: OceanBase keeps a
//! killed server ACTIVE until its lease runs out, so obshell's check after
//! a restart ("every server ACTIVE") passes while the old process is dead
//! and the new one not yet serving. obup waits for the new build and a
//! `START_SERVICE_TIME` after the kill.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use obup_upgrade_orchestrator::domain::state::State;
use obup_upgrade_orchestrator::domain::template::Mode;

#[tokio::test]
async fn obup_waits_for_the_new_process_where_obshells_check_passes_too_early() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    // A 2 s lease; a new process serves 500 ms after it starts.
    let cluster = common::local_cluster(dir.path(), |c| {
        c.timing.lease_ms = 2000;
        c.timing.start_service_ms = 500;
    })
    .await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |_| {}).await;

    let dag = running
        .orchestrator
        .start(&common::target(Some(Mode::Rolling)), None)
        .await
        .unwrap();
    // What the sys tenant says while the upgrade runs, every 10 ms: a
    // sample with the server's observer not serving while DBA_OB_SERVERS
    // says ACTIVE is a moment obshell's check would pass.
    let mut early: HashSet<String> = HashSet::new();
    let mut events = running.orchestrator.watch(dag.id, 0, false).await.unwrap();
    let sim = cluster.sim();
    loop {
        for s in sim.status().servers {
            if s.status == "ACTIVE" && !s.serving {
                early.insert(s.ip.clone());
            }
        }
        tokio::select! {
            event = events.recv() => if event.is_none() { break },
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
    let done = running.orchestrator.get(dag.id).await.unwrap();
    assert_eq!(done.state, State::Succeed);

    // obshell's check would have passed on every restarted server...
    for s in cluster.sim().status().servers {
        assert!(
            early.contains(&s.ip),
            "{} was never ACTIVE while not serving",
            s.ip
        );
        // ... while obup finished each restart only once the new process
        // served.
        let reinstall = done
            .nodes
            .iter()
            .flat_map(|n| &n.tasks)
            .find(|t| {
                t.name == "Reinstall and restart observer"
                    && t.agent
                        .as_deref()
                        .is_some_and(|a| a.starts_with(&format!("{}:", s.ip)))
            })
            .expect("a reinstall per server");
        let served_at_ms = s.start_service_time_us.expect("serving") / 1000;
        assert!(
            served_at_ms > reinstall.start_ms,
            "{}: the new process served before its reinstall started",
            s.ip
        );
        assert!(
            reinstall.end_ms >= served_at_ms,
            "{}: the reinstall ended at {} before the new process served at {served_at_ms}",
            s.ip,
            reinstall.end_ms
        );
        assert_eq!(s.status, "ACTIVE");
    }
    cluster.stop().await.unwrap();
}
