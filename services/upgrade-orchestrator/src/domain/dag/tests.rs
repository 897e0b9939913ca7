//! The transition rules, driven without storage or an engine.

use super::*;
use crate::domain::params::DagParams;
use crate::domain::template::{DagSpec, NodeSpec, Script, TaskKind};

const ENGINE: &str = "engine-a";

/// A DAG of `kinds`, one stage each, parallel on two agents when `parallel`.
fn dag(kinds: &[(TaskKind, bool)], maintenance: bool) -> Dag {
    let spec = DagSpec {
        name: "test".into(),
        maintenance,
        nodes: kinds
            .iter()
            .map(|(k, parallel)| NodeSpec {
                name: k.key().into(),
                kind: *k,
                agents: if *parallel {
                    vec!["a:1".into(), "b:1".into()]
                } else {
                    vec![]
                },
                hop: None,
                zone: None,
                freeze: None,
            })
            .collect(),
    };
    let mut d = Dag::from_spec("c1", &spec, DagParams::empty());
    let mut id = 1;
    for node in &mut d.nodes {
        node.id = id;
        id += 1;
        for t in &mut node.tasks {
            t.id = id;
            t.node_id = node.id;
            id += 1;
        }
    }
    d
}

fn ready(d: &Dag) -> Vec<i64> {
    d.nodes
        .iter()
        .flat_map(|n| n.tasks.iter())
        .filter(|t| t.state == State::Ready)
        .map(|t| t.id)
        .collect()
}

/// Claims and finishes every ready task with `outcome(task)`.
fn run_ready(d: &mut Dag, outcome: impl Fn(&SubTask) -> Result<(), String>) {
    for id in ready(d) {
        assert!(d.claim(id, ENGINE, 1000, 1));
        let r = outcome(d.task(id).unwrap());
        assert!(d.finish(id, ENGINE, r.map(|()| None), 2));
    }
}

const KINDS: [(TaskKind, bool); 3] = [
    (TaskKind::CreateUpgradeDir, true),
    (TaskKind::ExecuteScript(Script::Checker), false),
    (TaskKind::RemoveUpgradeDir, true),
];

#[test]
fn runs_stage_by_stage_to_success() {
    let mut d = dag(&KINDS, true);
    d.advance(0);
    assert_eq!(d.state, State::Running);
    assert_eq!(
        ready(&d).len(),
        2,
        "the parallel first stage starts on both agents"
    );
    for stage in 1..=3 {
        assert_eq!(d.stage, stage);
        run_ready(&mut d, |_| Ok(()));
    }
    assert_eq!((d.state, d.finished), (State::Succeed, true));
    assert!(d.changes.contains(&Change::MaintenanceReleased));
    assert!(d.nodes.iter().all(|n| n.state == State::Succeed));
}

#[test]
fn a_failure_fails_the_dag_after_the_others_finish() {
    let mut d = dag(&KINDS, true);
    d.advance(0);
    let ids = ready(&d);
    for id in &ids {
        assert!(d.claim(*id, ENGINE, 1000, 1));
    }
    d.finish(ids[0], ENGINE, Err("disk full".into()), 2);
    assert_eq!(d.state, State::Running, "the other agent is still running");
    d.finish(ids[1], ENGINE, Ok(None), 3);
    assert_eq!(d.state, State::Failed);
    assert!(!d.finished, "a failed maintenance DAG stays unfinished");
    assert!(
        d.changes
            .iter()
            .any(|c| matches!(c, Change::Log { content, .. } if content == "disk full"))
    );
}

#[test]
fn retry_reruns_only_what_failed() {
    let mut d = dag(&KINDS, true);
    d.advance(0);
    let ids = ready(&d);
    run_ready(&mut d, |t| {
        if t.id == ids[0] {
            Err("boom".into())
        } else {
            Ok(())
        }
    });
    assert_eq!(d.state, State::Failed);
    d.retry(10).unwrap();
    assert_eq!(ready(&d), [ids[0]], "the successful sub-task is kept");
    run_ready(&mut d, |_| Ok(()));
    run_ready(&mut d, |_| Ok(()));
    run_ready(&mut d, |_| Ok(()));
    assert_eq!(d.state, State::Succeed);
    assert_eq!(d.task(ids[0]).unwrap().execute_times, 2);
    assert_eq!(d.task(ids[1]).unwrap().execute_times, 1);
}

#[test]
fn operators_refuse_with_obshell_codes() {
    let mut d = dag(&KINDS, true);
    d.advance(0);
    assert_eq!(
        d.retry(1).unwrap_err().code,
        "Task.Dag.Operator.RetryNotFailedDag"
    );
    assert_eq!(
        d.rollback(1).unwrap_err().code,
        "Task.Dag.Operator.RollbackNotFailedDag"
    );
    assert_eq!(
        d.pass(1).unwrap_err().code,
        "Task.Dag.Operator.PassNotFailedDag"
    );
    run_ready(&mut d, |_| Ok(()));
    // Stage 2 is the checker script: it may be retried but not rolled back,
    // passed or cancelled.
    run_ready(&mut d, |_| Err("checker failed".into()));
    assert_eq!(d.state, State::Failed);
    assert_eq!(
        d.rollback(1).unwrap_err().code,
        "Task.Dag.Operator.RollbackNotAllowed"
    );
    assert_eq!(
        d.pass(1).unwrap_err().code,
        "Task.Dag.Operator.PassNotAllowed"
    );
    assert_eq!(
        d.cancel(1).unwrap_err().code,
        "Task.Dag.Operator.CancelNotAllowed"
    );
    let node = d.nodes[1].id;
    assert_eq!(
        d.pass_node(node, 1).unwrap_err().code,
        "Task.Node.Operator.PassNotAllowed"
    );
    let first = d.nodes[0].id;
    assert_eq!(
        d.pass_node(first, 1).unwrap_err().code,
        "Task.Node.Operator.PassNotFailedNode"
    );
}

#[test]
fn rollback_undoes_what_ran_from_the_failed_stage_down() {
    let kinds = [
        (TaskKind::CreateUpgradeDir, true),
        (TaskKind::DownloadPackages, true),
        (TaskKind::UnpackPackages, true),
    ];
    let mut d = dag(&kinds, true);
    d.advance(0);
    run_ready(&mut d, |_| Ok(()));
    run_ready(&mut d, |t| {
        if t.agent.as_deref() == Some("a:1") {
            Err("no space".into())
        } else {
            Ok(())
        }
    });
    assert_eq!(d.state, State::Failed);
    assert_eq!(d.stage, 2);
    d.rollback(5).unwrap();
    // Stage 2 rolls back first (both agents ran), then stage 1.
    assert_eq!(d.stage, 2);
    let first = ready(&d);
    assert_eq!(first.len(), 2);
    assert!(
        first
            .iter()
            .all(|&id| d.task(id).unwrap().operator == Operator::Rollback)
    );
    run_ready(&mut d, |_| Ok(()));
    assert_eq!(d.stage, 1);
    run_ready(&mut d, |_| Ok(()));
    assert_eq!(
        (d.state, d.operator, d.finished),
        (State::Succeed, Operator::Rollback, true)
    );
    assert!(d.changes.contains(&Change::MaintenanceReleased));
    assert_eq!(
        d.nodes[2].state,
        State::Pending,
        "the never-run stage is untouched"
    );
}

#[test]
fn cancel_fails_active_tasks_and_the_dag() {
    let mut d = dag(&KINDS, false);
    d.advance(0);
    let ids = ready(&d);
    assert!(d.claim(ids[0], ENGINE, 1000, 1));
    let running = d.cancel(2).unwrap();
    assert_eq!(running, [ids[0]]);
    assert_eq!((d.state, d.operator), (State::Failed, Operator::Cancel));
    assert!(d.finished, "a failed non-maintenance DAG is finished");
    // The interrupted execution reporting back later changes nothing.
    assert!(!d.finish(ids[0], ENGINE, Ok(None), 3));
    assert_eq!(
        d.cancel(4).unwrap_err().code,
        "Task.Dag.Operator.CancelFinishedDag"
    );
}

#[test]
fn pass_finishes_the_dag_and_pass_node_continues_it() {
    // Every later stage must be passable too (a script stage is not).
    let passable = [
        (TaskKind::CreateUpgradeDir, true),
        (TaskKind::DownloadPackages, true),
        (TaskKind::RemoveUpgradeDir, true),
    ];
    let mut d = dag(&passable, true);
    d.advance(0);
    run_ready(&mut d, |_| Err("x".into()));
    d.pass(1).unwrap();
    assert_eq!(
        (d.state, d.operator, d.finished),
        (State::Succeed, Operator::Pass, true)
    );
    assert!(d.nodes.iter().all(|n| n.state == State::Succeed));

    let mut d = dag(&KINDS, true);
    d.advance(0);
    run_ready(&mut d, |_| Err("x".into()));
    let node = d.nodes[0].id;
    d.pass_node(node, 1).unwrap();
    assert_eq!((d.state, d.stage), (State::Running, 2));
    assert_eq!(ready(&d).len(), 1, "the next stage started");
}

#[test]
fn leases_decide_who_may_finish_and_crashes_resume_or_fail() {
    let mut d = dag(&KINDS, true);
    d.advance(0);
    let ids = ready(&d);
    assert!(d.claim(ids[0], ENGINE, 1000, 1));
    assert!(
        !d.claim(ids[0], "engine-b", 1000, 1),
        "a running task cannot be claimed twice"
    );
    assert!(
        !d.finish(ids[0], "engine-b", Ok(None), 2),
        "only the lease owner reports"
    );
    // The owner died: the task can resume (CreateUpgradeDir can continue).
    d.recover(ids[0], 3);
    let t = d.task(ids[0]).unwrap();
    assert_eq!((t.state, t.resume), (State::Ready, true));
    assert!(d.claim(ids[0], "engine-b", 2000, 4));
    assert!(d.finish(ids[0], "engine-b", Ok(None), 5));

    // The pre script cannot continue, but its work is the agent's: the
    // engine's death does not interrupt it, so it is re-attached to (the
    // agent says "cannot continue" only if it lost the operation).
    let mut d = dag(&[(TaskKind::ExecuteScript(Script::Pre), false)], true);
    d.advance(0);
    let id = ready(&d)[0];
    assert!(d.claim(id, ENGINE, 1000, 1));
    d.recover(id, 2);
    let t = d.task(id).unwrap();
    assert_eq!((t.state, t.resume), (State::Ready, true));
    assert!(d.claim(id, "engine-b", 2000, 3));
    let t = d.task(id).unwrap();
    assert_eq!(t.execute_times, 1, "the same attempt, re-attached");

    // Work of the orchestrator's own that cannot continue fails, as
    // obshell's does.
    assert!(
        TaskKind::ALL
            .iter()
            .all(|k| k.capabilities().resume || k.reattaches()),
        "today every kind either resumes or re-attaches"
    );
}
