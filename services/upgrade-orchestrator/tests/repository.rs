//! DAG repository conformance: the same checks on SQLite and PostgreSQL.

use std::sync::Arc;

use obup_test_support::TestDb;
use obup_upgrade_orchestrator::clusters::{ClusterRecord, SslMode};
use obup_upgrade_orchestrator::domain::dag::Dag;
use obup_upgrade_orchestrator::domain::params::DagParams;
use obup_upgrade_orchestrator::domain::state::{Operator, State};
use obup_upgrade_orchestrator::domain::template::{DagSpec, NodeSpec, Script, TaskKind, check_dag};
use obup_upgrade_orchestrator::storage::{
    DagFilter, DagOp, DagRepository, EventBody, Outcome, SqlDagRepository,
};

async fn sqlite() -> (Arc<dyn DagRepository>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dags.db").display());
    (
        Arc::new(SqlDagRepository::connect(&url).await.unwrap()),
        dir,
    )
}

async fn postgres() -> (Arc<dyn DagRepository>, TestDb) {
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    (
        Arc::new(SqlDagRepository::connect(&db.url).await.unwrap()),
        db,
    )
}

fn upgrade_like() -> Dag {
    let spec = DagSpec {
        name: "OB rolling upgrade test".into(),
        maintenance: true,
        nodes: vec![
            NodeSpec {
                name: "Create upgrade dir".into(),
                kind: TaskKind::CreateUpgradeDir,
                agents: vec!["a:1".into(), "b:1".into()],
                hop: None,
                zone: None,
                freeze: None,
            },
            NodeSpec {
                name: "Execute upgrade checker script".into(),
                kind: TaskKind::ExecuteScript(Script::Checker),
                agents: vec![],
                hop: Some(0),
                zone: None,
                freeze: None,
            },
        ],
    };
    Dag::from_spec("c1", &spec, DagParams::empty())
}

async fn lifecycle(repo: &dyn DagRepository) {
    repo.ensure_cluster("c1").await.unwrap();
    repo.ensure_cluster("c1").await.unwrap();
    let created = repo.create(upgrade_like(), 100).await.unwrap();
    let dag = &created.dag;
    assert!(dag.id > 0);
    assert_eq!((dag.state, dag.stage), (State::Running, 1));
    assert!(
        dag.nodes
            .iter()
            .all(|n| n.id > 0 && n.tasks.iter().all(|t| t.id > 0 && t.node_id == n.id))
    );
    // Events are numbered from 1 without gaps and match the stored rows.
    let seqs: Vec<i64> = created.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let stored = repo.events_after(dag.id, 0, 100).await.unwrap();
    assert_eq!(stored, created.events);

    // A second maintenance DAG is refused while the first holds the lock.
    let second = repo.create(upgrade_like(), 101).await.unwrap_err();
    assert!(
        second
            .to_string()
            .contains("under maintenance by DAG: OB rolling upgrade test"),
        "{second}"
    );
    // A check DAG is not a maintenance DAG.
    let check = Dag::from_spec(
        "c1",
        &check_dag("4.3.5.0", "1.el7", &["a:1".into()]),
        DagParams::empty(),
    );
    repo.create(check, 102).await.unwrap();

    let ready = repo.ready_tasks(10).await.unwrap();
    let mine: Vec<i64> = ready
        .iter()
        .filter(|t| t.dag_id == dag.id)
        .map(|t| t.task_id)
        .collect();
    assert_eq!(mine.len(), 2);
    let claim = |task_id, owner: &str, until| DagOp::Claim {
        task_id,
        owner: owner.into(),
        lease_until_ms: until,
    };
    let a = repo
        .apply(dag.id, claim(mine[0], "e1", 1000), 110)
        .await
        .unwrap();
    assert_eq!(
        a.outcome,
        Outcome::Applied {
            interrupted: vec![]
        }
    );
    let again = repo
        .apply(dag.id, claim(mine[0], "e2", 1000), 111)
        .await
        .unwrap();
    assert_eq!(
        again.outcome,
        Outcome::Skipped,
        "a claimed task cannot be claimed again"
    );
    repo.apply(dag.id, claim(mine[1], "e2", 1000), 112)
        .await
        .unwrap();

    // Logs belong to the execution; only the lease owner writes them.
    let lines = ["hello".to_owned(), "world".to_owned()];
    let events = repo
        .append_logs(dag.id, mine[0], "e1", &lines, 113)
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "one event per line");
    assert_eq!(events[1].seq, events[0].seq + 1);
    let before = repo.get(dag.id).await.unwrap().unwrap().last_seq;
    assert_eq!(before, events[1].seq, "the DAG's last seq counts the lines");
    let intruder = repo
        .append_logs(dag.id, mine[0], "e2", &["intruder".to_owned()], 114)
        .await
        .unwrap();
    assert!(intruder.is_empty(), "only the lease owner writes logs");
    assert_eq!(repo.get(dag.id).await.unwrap().unwrap().last_seq, before);
    let logs = repo.logs(mine[0]).await.unwrap();
    assert_eq!(
        logs.iter()
            .map(|l| (l.content.as_str(), l.execute_times))
            .collect::<Vec<_>>(),
        [("hello", 1), ("world", 1)]
    );
    let stored = repo
        .events_after(dag.id, events[0].seq - 1, 10)
        .await
        .unwrap();
    assert_eq!(
        stored[..2],
        events[..],
        "the events returned are the ones stored"
    );

    // Engine e2 dies: its lease expires and the task is found orphaned.
    let orphans = repo.orphaned_tasks(2000, "nobody").await.unwrap();
    assert!(orphans.iter().any(|t| t.task_id == mine[1]));
    let own = repo.orphaned_tasks(0, "e1").await.unwrap();
    assert_eq!(
        own.iter().map(|t| t.task_id).collect::<Vec<_>>(),
        [mine[0]],
        "an engine finds its own tasks"
    );
    repo.apply(dag.id, DagOp::Recover { task_id: mine[1] }, 2001)
        .await
        .unwrap();
    let d = repo.get(dag.id).await.unwrap().unwrap();
    let t = d.task(mine[1]).unwrap();
    assert_eq!(
        (t.state, t.resume),
        (State::Ready, true),
        "resumable tasks come back READY"
    );

    // Finish both; the DAG moves to stage 2; fail it; lock kept.
    let finish = |task_id, owner: &str, outcome| DagOp::Finish {
        task_id,
        owner: owner.into(),
        outcome,
    };
    repo.apply(dag.id, finish(mine[0], "e1", Ok(None)), 2002)
        .await
        .unwrap();
    repo.apply(dag.id, claim(mine[1], "e1", 5000), 2003)
        .await
        .unwrap();
    let moved = repo
        .apply(dag.id, finish(mine[1], "e1", Ok(None)), 2004)
        .await
        .unwrap();
    assert_eq!(moved.dag.stage, 2);
    let script = moved.dag.nodes[1].tasks[0].id;
    repo.apply(dag.id, claim(script, "e1", 5000), 2005)
        .await
        .unwrap();
    let failed = repo
        .apply(
            dag.id,
            finish(script, "e1", Err("checker failed".into())),
            2006,
        )
        .await
        .unwrap();
    assert_eq!(failed.dag.state, State::Failed);
    assert!(
        failed.events.iter().any(
            |e| matches!(&e.body, EventBody::Log { content, .. } if content == "checker failed")
        )
    );
    let unfinished = repo.list(Some("c1"), DagFilter::Unfinished).await.unwrap();
    assert!(unfinished.iter().any(|d| d.id == dag.id));
    assert_eq!(
        repo.list(Some("c1"), DagFilter::Maintenance).await.unwrap()[0].id,
        dag.id
    );

    // Operators refused and applied, all persisted.
    let refused = repo
        .apply(dag.id, DagOp::Operate(Operator::Rollback), 2007)
        .await
        .unwrap();
    assert!(
        matches!(refused.outcome, Outcome::Refused(ref r) if r.code == "Task.Dag.Operator.RollbackNotAllowed")
    );
    repo.apply(dag.id, DagOp::Operate(Operator::Retry), 2008)
        .await
        .unwrap();
    repo.apply(dag.id, claim(script, "e1", 9000), 2009)
        .await
        .unwrap();
    let done = repo
        .apply(dag.id, finish(script, "e1", Ok(None)), 2010)
        .await
        .unwrap();
    assert_eq!((done.dag.state, done.dag.finished), (State::Succeed, true));
    let reloaded = repo.get(dag.id).await.unwrap().unwrap();
    assert_eq!(
        reloaded.nodes, done.dag.nodes,
        "what was returned is what was stored"
    );
    assert_eq!(reloaded.task(script).unwrap().execute_times, 2);
    // The lock is free again.
    repo.create(upgrade_like(), 3000).await.unwrap();

    let all = repo.events_after(dag.id, 0, 10_000).await.unwrap();
    for pair in all.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    assert_eq!(all.last().unwrap().seq, reloaded.last_seq);
}

#[tokio::test]
async fn sqlite_lifecycle() {
    let (repo, _dir) = sqlite().await;
    lifecycle(repo.as_ref()).await;
}

#[tokio::test]
async fn postgres_lifecycle() {
    let (repo, _db) = postgres().await;
    lifecycle(repo.as_ref()).await;
}

/// Many concurrent claims of the same tasks from two "engines": each task
/// is won exactly once.
async fn concurrent_claims(repo: Arc<dyn DagRepository>) {
    repo.ensure_cluster("c1").await.unwrap();
    let agents: Vec<String> = (0..20).map(|i| format!("10.0.0.{i}:2886")).collect();
    let dag = repo
        .create(
            Dag::from_spec(
                "c1",
                &check_dag("4.3.5.0", "1.el7", &agents),
                DagParams::empty(),
            ),
            1,
        )
        .await
        .unwrap()
        .dag;
    let ids: Vec<i64> = dag.nodes[0].tasks.iter().map(|t| t.id).collect();
    // Rounds of racing claims, as dispatchers retry: on PostgreSQL a claim
    // skips a DAG another engine holds (SKIP LOCKED) instead of waiting, so
    // one round need not place every task; no round may place one twice.
    let mut wins = std::collections::HashMap::new();
    for _round in 0..50 {
        if wins.len() == ids.len() {
            break;
        }
        let mut handles = Vec::new();
        for engine in ["e1", "e2", "e3", "e4"] {
            for &task_id in ids.iter().filter(|id| !wins.contains_key(*id)) {
                let repo = repo.clone();
                handles.push(tokio::spawn(async move {
                    let op = DagOp::Claim {
                        task_id,
                        owner: engine.into(),
                        lease_until_ms: 10_000,
                    };
                    (task_id, repo.apply(dag.id, op, 2).await.unwrap().outcome)
                }));
            }
        }
        for h in handles {
            let (task, outcome) = h.await.unwrap();
            if outcome
                == (Outcome::Applied {
                    interrupted: vec![],
                })
            {
                *wins.entry(task).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(wins.len(), ids.len());
    assert!(wins.values().all(|&n| n == 1), "{wins:?}");
    let d = repo.get(dag.id).await.unwrap().unwrap();
    assert!(d.nodes[0].tasks.iter().all(|t| t.execute_times == 1));
}

#[tokio::test]
async fn sqlite_claims_are_exclusive() {
    let (repo, _dir) = sqlite().await;
    concurrent_claims(repo).await;
}

#[tokio::test]
async fn postgres_claims_are_exclusive() {
    let (repo, _db) = postgres().await;
    concurrent_claims(repo).await;
}

async fn registrations(repo: &dyn DagRepository) {
    let record = ClusterRecord {
        name: "prod".into(),
        sql_endpoints: vec!["127.0.1.1:2881".into(), "127.0.1.2:2881".into()],
        sys_user: "root".into(),
        password_sealed: "sealed".into(),
        agents: vec!["127.0.1.1:2886".into()],
        ssl_mode: SslMode::Disabled,
        created_at_ms: 10,
    };
    repo.save_cluster(&record, None).await.unwrap();
    assert_eq!(repo.cluster("prod").await.unwrap(), Some(record.clone()));
    let changed = ClusterRecord {
        agents: vec!["127.0.1.1:2886".into(), "127.0.1.2:2886".into()],
        created_at_ms: 11,
        ..record.clone()
    };
    repo.save_cluster(&changed, None).await.unwrap();
    assert_eq!(
        repo.clusters().await.unwrap(),
        std::slice::from_ref(&changed)
    );

    // A DAG that is not finished keeps the cluster registered.
    let mut dag = upgrade_like();
    dag.cluster_id = "prod".into();
    repo.create(dag, 12).await.unwrap();
    assert!(matches!(
        repo.remove_cluster("prod", 13, None).await,
        Err(obup_upgrade_orchestrator::Error::ClusterBusy { .. })
    ));
    assert_eq!(repo.clusters().await.unwrap().len(), 1);

    // Removed, it is gone from the list, its DAGs stay; registered again,
    // it is back with them.
    repo.save_cluster(
        &ClusterRecord {
            name: "lab".into(),
            ..record.clone()
        },
        None,
    )
    .await
    .unwrap();
    assert!(repo.remove_cluster("lab", 14, None).await.unwrap());
    assert!(
        !repo.remove_cluster("lab", 15, None).await.unwrap(),
        "already removed"
    );
    assert_eq!(repo.cluster("lab").await.unwrap(), None);
    assert_eq!(repo.clusters().await.unwrap(), [changed]);
    assert_eq!(
        repo.list(Some("prod"), DagFilter::All).await.unwrap().len(),
        1
    );
    assert_eq!(repo.list(None, DagFilter::All).await.unwrap().len(), 1);
    assert!(
        repo.list(Some("lab"), DagFilter::All)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sqlite_registrations() {
    let (repo, _dir) = sqlite().await;
    registrations(repo.as_ref()).await;
}

#[tokio::test]
async fn postgres_registrations() {
    let (repo, _db) = postgres().await;
    registrations(repo.as_ref()).await;
}

/// A call's audit event is committed with its change, or neither is: with
/// the journal's table gone, no change can be made at all.
async fn audit_commits_with_the_change(url: &str) {
    use obup_kit::audit::{AuditEvent, AuditResult, AuditStore};

    let repo = SqlDagRepository::connect(url).await.unwrap();
    let journal = AuditStore::new(repo.pool(), repo.sqlite_writer());
    let event = AuditEvent {
        id: 0,
        at_ms: 100,
        actor: "ci-bot".into(),
        credential: "token".into(),
        role: Some(obup_kit::auth::Role::Operator),
        method: "StartUpgrade".into(),
        target: "cluster c1".into(),
        result: AuditResult::Ok,
        trace_id: "t-1".into(),
        source: "10.0.0.9:40000".into(),
        on_behalf_of: Some("root password".into()),
    };
    repo.ensure_cluster("c1").await.unwrap();
    let created = repo
        .create_audited(upgrade_like(), 100, Some(&event))
        .await
        .unwrap();
    let id = created.dag.id;
    let recorded = journal.list(0, 10).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0],
        AuditEvent {
            id: recorded[0].id,
            target: format!("dag {id}"),
            ..event.clone()
        }
    );
    // A refused operator changes nothing and records nothing here (its
    // caller records the refusal).
    let refused = repo
        .apply_audited(id, DagOp::Operate(Operator::Rollback), 101, Some(&event))
        .await
        .unwrap();
    assert!(matches!(refused.outcome, Outcome::Refused(_)));
    assert_eq!(journal.list(0, 10).await.unwrap().len(), 1);
    let before = repo.get(id).await.unwrap().unwrap();

    sqlx::query("DROP TABLE audit_event")
        .execute(&repo.pool())
        .await
        .unwrap();
    let mut check = upgrade_like();
    check.maintenance = false;
    assert!(
        repo.create_audited(check.clone(), 103, Some(&event))
            .await
            .is_err(),
        "a DAG whose event cannot be written"
    );
    assert_eq!(repo.list(None, DagFilter::All).await.unwrap().len(), 1);
    let cancel = AuditEvent {
        method: "OperateDag".into(),
        target: format!("dag {id} (CANCEL)"),
        ..event.clone()
    };
    assert!(
        repo.apply_audited(id, DagOp::Operate(Operator::Cancel), 104, Some(&cancel))
            .await
            .is_err()
    );
    assert_eq!(repo.get(id).await.unwrap().unwrap(), before);
    // Without an event to write, the same changes go through.
    repo.create(check, 105).await.unwrap();
    repo.apply(id, DagOp::Operate(Operator::Cancel), 106)
        .await
        .unwrap();
    assert!(repo.get(id).await.unwrap().unwrap().last_seq > before.last_seq);
}

#[tokio::test]
async fn sqlite_audit_commits_with_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dags.db").display());
    audit_commits_with_the_change(&url).await;
}

#[tokio::test]
async fn postgres_audit_commits_with_the_change() {
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    audit_commits_with_the_change(&db.url).await;
}
