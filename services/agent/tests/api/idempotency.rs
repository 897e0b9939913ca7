//! `(op_id, attempt)` is the idempotency key: a second `Run` attaches,
//! never runs the work twice; stale attempts are refused; results stay
//! until `Forget`; an agent restart leaves running operations interrupted.

use obup_agent::domain::{FailureCode, OpKey, PrepareDir, RemoveDir, RunUpgradeScript, Work};

use crate::helpers::*;

const RPM_DIR: &str = "/home/admin/oceanbase/upgrade/rpm-1-1";

/// Appends a line to `runs` in its working directory (the side effect to
/// count), logs a few lines, and takes a while.
const COUNTING: &str = "import time\nopen('runs', 'a').write('run\\n')\nfor i in range(5):\n    print('line %d' % i, flush=True)\n    time.sleep(0.2)\n";

async fn counting_agent() -> Option<(TestAgent, tempfile::TempDir)> {
    let venv_dir = tempfile::tempdir().unwrap();
    let python = venv(venv_dir.path(), true)?;
    let agent = TestAgent::start_with(|c| c.python = Some(python)).await;
    let dir = agent.real(RPM_DIR);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("count.py"), COUNTING).unwrap();
    Some((agent, venv_dir))
}

fn counting(can_continue: bool) -> Work {
    Work::RunUpgradeScript(RunUpgradeScript {
        script: hp(&format!("{RPM_DIR}/count.py")),
        work_dir: hp(RPM_DIR),
        host: "127.0.0.1".into(),
        port: 2881,
        user: "root".into(),
        zone: None,
        timeout_secs: None,
        can_continue,
    })
}

fn runs(agent: &TestAgent) -> usize {
    std::fs::read_to_string(agent.real(RPM_DIR).join("runs"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[tokio::test]
async fn the_same_attempt_twice_runs_once_and_attaches() {
    let Some((mut agent, _venv)) = counting_agent().await else {
        return;
    };
    let spec = spec("count", 1, counting(true));
    // Two clients, the second while the first runs (a replica taking over).
    let mut other = agent.client.clone();
    let first = tokio::spawn({
        let mut client = agent.client.clone();
        let spec = spec.clone();
        async move { client.run_to_end(&spec).await.unwrap() }
    });
    eventually("the first run", 10, || runs(&agent) == 1).await;
    let second = other.run_to_end(&spec).await.unwrap();
    let first = first.await.unwrap();
    assert!(!first.accepted.attached && second.accepted.attached);
    assert_eq!(first.result, second.result);
    assert!(first.result.is_success(), "{:?}", first.result);
    assert_eq!(
        first.lines, second.lines,
        "the attached client gets every line"
    );
    let seqs: Vec<u64> = first.lines.iter().map(|l| l.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "dense from 1"
    );

    // After the end, a third attaches to the result; a replay from a
    // sequence number gets only what follows.
    let mut from_3 = spec.clone();
    from_3.after_log_seq = 3;
    let third = agent.try_run(from_3).await.unwrap();
    assert!(third.accepted.attached);
    assert_eq!(third.lines, first.lines[3..].to_vec());
    assert_eq!(runs(&agent), 1, "the work ran once");

    // Forgotten, the same key is new again.
    let key = OpKey::new("count", 1).unwrap();
    assert!(agent.client.forget(&key).await.unwrap());
    assert!(!agent.client.forget(&key).await.unwrap());
    let fourth = agent.try_run(spec).await.unwrap();
    assert!(!fourth.accepted.attached);
    assert_eq!(runs(&agent), 2);
}

#[tokio::test]
async fn stale_attempts_and_changed_work_are_refused() {
    let mut agent = TestAgent::start().await;
    let prepare = |p: &str| {
        Work::PrepareDir(PrepareDir {
            path: hp(p),
            require_empty: false,
        })
    };
    assert!(
        agent
            .run("dir", 2, prepare(RPM_DIR))
            .await
            .result
            .is_success()
    );
    let e = agent
        .try_run(spec("dir", 1, prepare(RPM_DIR)))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Task.Attempt.Stale", "{e}");
    let e = agent
        .try_run(spec("dir", 2, prepare(&format!("{RPM_DIR}/other"))))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Task.Work.Mismatch", "{e}");
    assert!(!agent.real(&format!("{RPM_DIR}/other")).exists());
    // A higher attempt is a new operation.
    let r = agent.run("dir", 3, prepare(RPM_DIR)).await;
    assert!(!r.accepted.attached && r.result.is_success());
    // A task dir that is not empty is refused, as obshell refuses it.
    std::fs::write(agent.real(RPM_DIR).join("leftover"), "x").unwrap();
    let r = agent
        .run(
            "fresh",
            1,
            Work::PrepareDir(PrepareDir {
                path: hp(RPM_DIR),
                require_empty: true,
            }),
        )
        .await;
    assert!(
        r.result
            .failure()
            .unwrap()
            .has_code(FailureCode::DirNotEmpty)
    );
}

#[tokio::test]
async fn an_agent_restart_interrupts_running_operations() {
    let Some((mut agent, _venv)) = counting_agent().await else {
        return;
    };
    // A script that runs until it is stopped.
    let dir = agent.real(RPM_DIR);
    std::fs::write(dir.join("count.py"), "import time\nopen('runs', 'a').write('run\\n')\nprint('up', flush=True)\ntime.sleep(600)\n").unwrap();
    let key = OpKey::new("long", 1).unwrap();
    let mut events = agent
        .client
        .run(&spec("long", 1, counting(false)))
        .await
        .unwrap();
    use tokio_stream::StreamExt;
    while let Some(e) = events.next().await {
        if matches!(e.unwrap(), obup_agent::domain::Event::Log(l) if l.line == "up") {
            break;
        }
    }
    // An operation that is running cannot be forgotten.
    let e = agent.client.forget(&key).await.unwrap_err();
    assert_eq!(code(&e), "Task.Running");

    agent.restart().await;
    // It cannot continue (can_continue = false): continue or not, it fails
    // as obshell's interrupted tasks do, and it is not run again.
    let mut again = spec("long", 1, counting(false));
    again.continue_ = true;
    let r = agent.try_run(again).await.unwrap();
    let f = r.result.failure().expect("interrupted");
    assert!(f.has_code(FailureCode::Interrupted), "{f}");
    assert_eq!(
        f.message,
        "task unexpectedly interrupted and cannot continue"
    );
    assert_eq!(r.accepted.runs, 1);
    assert_eq!(runs(&agent), 1);
    assert!(agent.client.forget(&key).await.unwrap());

    // One that can continue is run again through its continue path.
    std::fs::write(dir.join("count.py"), COUNTING).unwrap();
    let mut events = agent
        .client
        .run(&spec("short", 1, counting(true)))
        .await
        .unwrap();
    let _ = events.next().await;
    agent.restart().await;
    let mut again = spec("short", 1, counting(true));
    again.continue_ = true;
    let r = agent.try_run(again).await.unwrap();
    assert!(r.result.is_success(), "{:?}", r.result);
    assert_eq!((r.accepted.attached, r.accepted.runs), (true, 2));
    assert!(
        r.lines
            .iter()
            .any(|l| l.line == "continuing after an interruption")
    );
}

#[tokio::test]
async fn remove_dir_tolerates_a_missing_dir() {
    let mut agent = TestAgent::start().await;
    let r = agent
        .run("rm", 1, Work::RemoveDir(RemoveDir { path: hp(RPM_DIR) }))
        .await;
    assert_eq!(
        r.result.output(),
        Some(&obup_agent::domain::OpOutput::RemoveDir { existed: false })
    );
}

/// An operation the journal holds as running that no task of the agent runs
/// (its result could not be journaled, or spawning it failed after the
/// journal took it) is continued when asked for again, instead of being
/// attached to forever.
#[tokio::test]
async fn an_operation_journaled_as_running_but_not_running_is_continued() {
    let mut agent = TestAgent::start().await;
    let work = Work::PrepareDir(PrepareDir {
        path: hp(RPM_DIR),
        require_empty: false,
    });
    let first = agent.run("lost", 1, work.clone()).await;
    assert!(first.result.is_success(), "{:?}", first.result);

    // Make the journal say what a lost result leaves: running, no result.
    let url = format!(
        "sqlite://{}",
        agent.state_dir().join("journal.db").display()
    );
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let changed = sqlx::query(
        "UPDATE ops SET state = 'running', result = NULL WHERE op_id = 'lost' AND attempt = 1",
    )
    .execute(&db)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(changed, 1);
    db.close().await;

    let mut spec = spec("lost", 1, work);
    spec.continue_ = true;
    let again = agent.try_run(spec).await.expect("continued, not refused");
    assert!(again.accepted.attached, "the same operation");
    assert_eq!(again.accepted.runs, 2, "run once more");
    assert!(again.result.is_success(), "{:?}", again.result);
}
