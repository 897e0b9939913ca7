//! A script that prints a lot: every line is stored, in order, and
//! delivered to a `WatchDag` subscriber as it is written, fast enough to
//! follow. The target package's upgrade checker prints `OBUP_BENCH_LINES`
//! lines (CI: 5,000 in debug; `scripts/bench`: 100,000 in release, target
//! >= 20,000 lines/s from the first line seen to the last).

mod common;

use std::time::Instant;

use obup_test_support::bench::{Figure, env_or, report};
use obup_test_support::{Compression, OB_HOME, RpmSpec};
use obup_upgrade_orchestrator::WatchItem;
use obup_upgrade_orchestrator::domain::state::State;
use obup_upgrade_orchestrator::domain::template::Mode;
use obup_upgrade_orchestrator::storage::EventBody;

const MARK: &str = "checker line ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_of_a_chatty_script_is_stored_and_delivered() {
    let lines: usize = env_or("OBUP_BENCH_LINES", 5_000);
    let checker = format!(
        "import sys\nfor i in range({lines}):\n    print('{MARK}%d' % i)\n    sys.stdout.flush()\n"
    );
    let path = format!("{OB_HOME}/etc/upgrade_checker.py");
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store_holding(
        &dir.path().join("store"),
        vec![
            RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7")
                .without(&path)
                .file(&path, checker.into_bytes()),
            RpmSpec::oceanbase_ce_libs("4.3.5.0", "100000202024123117.el7")
                .compression(Compression::Zstd),
        ],
    )
    .await;
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |_| {}).await;
    let o = &running.orchestrator;
    // The checker script runs in the upgrade (the check DAG stops before).
    let dag = o
        .start(&common::target(Some(Mode::Rolling)), None)
        .await
        .unwrap();

    // Subscribed before the script runs: every line arrives as an event.
    let mut events = o.watch(dag.id, 0, false).await.unwrap();
    let (mut seen, mut next) = (0usize, 0usize);
    let (mut first, mut last) = (None, None);
    let mut sub_task = None;
    while let Some(item) = events.recv().await {
        let WatchItem::Event(e) = item.unwrap() else {
            continue;
        };
        if let EventBody::Log {
            sub_task_id,
            content,
            ..
        } = &e.body
            && let Some(n) = content.split_once(MARK).map(|(_, n)| n)
        {
            assert_eq!(
                n.trim().parse::<usize>().ok(),
                Some(next),
                "in order: {content}"
            );
            next += 1;
            seen += 1;
            sub_task = Some(*sub_task_id);
            let now = Instant::now();
            first.get_or_insert(now);
            last = Some(now);
        }
    }
    let done = o.get(dag.id).await.unwrap();
    assert_eq!(done.state, State::Succeed, "{done:?}");
    assert_eq!(seen, lines, "every line delivered");
    let stored = o
        .logs(sub_task.unwrap())
        .await
        .unwrap()
        .iter()
        .filter(|l| l.content.contains(MARK))
        .count();
    assert_eq!(stored, lines, "every line stored");

    let seconds = (last.unwrap() - first.unwrap()).as_secs_f64().max(1e-3);
    let rate = lines as f64 / seconds;
    report(&[Figure::new(
        format!("{lines} script lines stored and delivered to a WatchDag subscriber"),
        format!("{rate:.0} lines/s"),
    )
    .note(format!(
        "{seconds:.2} s from the first line seen to the last"
    ))
    .target(">= 20,000 lines/s", rate >= 20_000.0)])
    .unwrap();
    cluster.stop().await.unwrap();
}
