//! A DAG with its nodes and sub-tasks, and every transition it can make.
//!
//! This is pure: storage loads a [`Dag`], calls one of the methods below,
//! and writes back what [`Dag::changes`] lists, with one event per change,
//! in the same transaction. The rules follow obshell's scheduler and
//! operators (spec §4.4-4.5); obup applies them as soon as something
//! happens instead of once a second.
//!
//! ```text
//! stage:   1 .. max_stage, one node each; RUN/RETRY move up, ROLLBACK down
//! node:    PENDING --start--> RUNNING --all sub-tasks SUCCEED--> SUCCEED
//!                                     --a sub-task FAILED, none active--> FAILED (DAG FAILED)
//! RETRY    (DAG FAILED, node retryable)   failed sub-tasks run again
//! ROLLBACK (DAG FAILED, run nodes roll back) executed sub-tasks undo, stage by stage down
//! CANCEL   (DAG unfinished, cancellable)  active sub-tasks fail, the DAG fails
//! PASS     (DAG FAILED, passable)         the rest is marked done; the DAG succeeds
//! ```

use super::output::TaskOutput;
use super::params::{DagParams, NodeParams};
use super::state::{Operator, State};
use super::template::{Capabilities, DagSpec, TaskKind};

/// A sub-task: one execution unit on one agent (or the coordinator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubTask {
    pub id: i64,
    pub node_id: i64,
    pub name: String,
    pub kind: TaskKind,
    /// `ip:port`, or `None` for the coordinator.
    pub agent: Option<String>,
    pub state: State,
    pub operator: Operator,
    pub execute_times: i32,
    pub caps: Capabilities,
    /// Engine holding the execution, and until when.
    pub lease_owner: Option<String>,
    pub lease_until_ms: i64,
    /// The next execution resumes one that was interrupted (crash).
    pub resume: bool,
    pub start_ms: i64,
    pub end_ms: i64,
    /// What the last execution produced (or has produced so far).
    pub output: Option<TaskOutput>,
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: i64,
    pub stage: i32,
    pub name: String,
    pub kind: TaskKind,
    pub parallel: bool,
    pub params: NodeParams,
    pub state: State,
    pub operator: Operator,
    pub start_ms: i64,
    pub end_ms: i64,
    pub tasks: Vec<SubTask>,
}

impl Node {
    /// Capabilities of a node: what all its sub-tasks allow.
    pub fn caps(&self) -> Capabilities {
        self.tasks.iter().fold(
            Capabilities {
                retry: true,
                rollback: true,
                pass: true,
                cancel: true,
                resume: true,
            },
            |a, t| Capabilities {
                retry: a.retry && t.caps.retry,
                rollback: a.rollback && t.caps.rollback,
                pass: a.pass && t.caps.pass,
                cancel: a.cancel && t.caps.cancel,
                resume: a.resume && t.caps.resume,
            },
        )
    }
}

/// What changed, for storage to write and to turn into events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The DAG's state, operator or stage, as of the change.
    Dag {
        state: State,
        operator: Operator,
        stage: i32,
    },
    Node {
        node: usize,
        state: State,
        operator: Operator,
    },
    Task {
        node: usize,
        task: usize,
        state: State,
        operator: Operator,
        execute_times: i32,
    },
    Log {
        task_id: i64,
        execute_times: i32,
        content: String,
    },
    /// A lease was renewed: the row changes, nobody is told.
    Lease { node: usize, task: usize },
    /// A sub-task's output changed (progress of work done in steps).
    Output { node: usize, task: usize },
    /// The DAG finished in a way that ends its maintenance.
    MaintenanceReleased,
}

/// A refused operator, with obshell's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// A DAG and everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dag {
    pub id: i64,
    pub cluster_id: String,
    pub name: String,
    pub maintenance: bool,
    pub state: State,
    pub operator: Operator,
    /// 1-based index of the current node.
    pub stage: i32,
    pub finished: bool,
    /// The plan.
    pub params: DagParams,
    pub last_seq: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub nodes: Vec<Node>,
    /// Changes since load, in order.
    pub changes: Vec<Change>,
}

impl Dag {
    /// A new DAG laid out from `spec`, READY to run. Ids are zero until
    /// storage assigns them.
    pub fn from_spec(cluster_id: &str, spec: &DagSpec, params: DagParams) -> Self {
        let nodes = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let agents: Vec<Option<String>> = if n.is_parallel() {
                    n.agents.iter().cloned().map(Some).collect()
                } else {
                    vec![None]
                };
                Node {
                    id: 0,
                    stage: i as i32 + 1,
                    name: n.name.clone(),
                    kind: n.kind,
                    parallel: n.is_parallel(),
                    params: n.params(),
                    state: State::Pending,
                    operator: Operator::Run,
                    start_ms: 0,
                    end_ms: 0,
                    tasks: agents
                        .into_iter()
                        .map(|agent| SubTask {
                            id: 0,
                            node_id: 0,
                            name: n.name.clone(),
                            kind: n.kind,
                            agent,
                            state: State::Pending,
                            operator: Operator::Run,
                            execute_times: 0,
                            caps: n.kind.capabilities(),
                            lease_owner: None,
                            lease_until_ms: 0,
                            resume: false,
                            start_ms: 0,
                            end_ms: 0,
                            output: None,
                        })
                        .collect(),
                }
            })
            .collect();
        Self {
            id: 0,
            cluster_id: cluster_id.into(),
            name: spec.name.clone(),
            maintenance: spec.maintenance,
            state: State::Ready,
            operator: Operator::Run,
            stage: 1,
            finished: false,
            params,
            last_seq: 0,
            start_ms: 0,
            end_ms: 0,
            nodes,
            changes: Vec::new(),
        }
    }

    pub fn max_stage(&self) -> i32 {
        self.nodes.len() as i32
    }

    fn current(&self) -> usize {
        (self.stage.clamp(1, self.max_stage()) - 1) as usize
    }

    fn set_dag(&mut self, state: State, operator: Operator) {
        self.state = state;
        self.operator = operator;
        self.push_dag_change();
    }

    fn push_dag_change(&mut self) {
        self.changes.push(Change::Dag {
            state: self.state,
            operator: self.operator,
            stage: self.stage,
        });
    }

    fn set_node(&mut self, n: usize, state: State, operator: Operator, now: i64) {
        let node = &mut self.nodes[n];
        node.state = state;
        node.operator = operator;
        match state {
            State::Running => node.start_ms = now,
            s if s.is_done() => node.end_ms = now,
            _ => {}
        }
        self.changes.push(Change::Node {
            node: n,
            state,
            operator,
        });
    }

    fn set_task(&mut self, n: usize, t: usize, state: State, operator: Operator, now: i64) {
        let task = &mut self.nodes[n].tasks[t];
        task.state = state;
        task.operator = operator;
        if state.is_done() {
            task.end_ms = now;
            task.lease_owner = None;
            task.lease_until_ms = 0;
        }
        let execute_times = task.execute_times;
        self.changes.push(Change::Task {
            node: n,
            task: t,
            state,
            operator,
            execute_times,
        });
    }

    /// Appends a log line to a sub-task's current execution.
    pub fn log(&mut self, task_id: i64, content: impl Into<String>) {
        if let Some(t) = self.task(task_id) {
            let execute_times = t.execute_times;
            self.changes.push(Change::Log {
                task_id,
                execute_times,
                content: content.into(),
            });
        }
    }

    pub fn find_task(&self, task_id: i64) -> Option<(usize, usize)> {
        self.nodes.iter().enumerate().find_map(|(n, node)| {
            node.tasks
                .iter()
                .position(|t| t.id == task_id)
                .map(|t| (n, t))
        })
    }

    pub fn task(&self, task_id: i64) -> Option<&SubTask> {
        self.find_task(task_id)
            .map(|(n, t)| &self.nodes[n].tasks[t])
    }

    /// Moves the DAG forward as far as it can without running anything:
    /// starts the current node, completes finished nodes, moves the stage,
    /// finishes the DAG. Called after every change.
    pub fn advance(&mut self, now: i64) {
        loop {
            match self.state {
                State::Ready => {
                    if self.start_ms == 0 {
                        self.start_ms = now;
                    }
                    self.set_dag(State::Running, self.operator);
                }
                State::Running => {}
                State::Pending | State::Failed | State::Succeed => return,
            }
            let n = self.current();
            let rolling_back = self.operator == Operator::Rollback;
            match self.nodes[n].state {
                State::Pending | State::Ready => self.start_node(n, now),
                State::Running => {
                    let tasks = &self.nodes[n].tasks;
                    if tasks
                        .iter()
                        .any(|t| matches!(t.state, State::Ready | State::Running | State::Pending))
                    {
                        return;
                    }
                    if tasks.iter().all(|t| t.state == State::Succeed) {
                        let op = self.nodes[n].operator;
                        self.set_node(n, State::Succeed, op, now);
                    } else {
                        let op = self.nodes[n].operator;
                        self.set_node(n, State::Failed, op, now);
                        self.fail(now);
                        return;
                    }
                }
                State::Succeed => {
                    let last = if rolling_back {
                        self.stage <= 1
                    } else {
                        self.stage >= self.max_stage()
                    };
                    if last {
                        self.succeed(self.operator, now);
                        return;
                    }
                    self.stage += if rolling_back { -1 } else { 1 };
                    self.push_dag_change();
                }
                State::Failed => {
                    self.fail(now);
                    return;
                }
            }
        }
    }

    /// Puts a node's sub-tasks to work for the DAG's operator.
    fn start_node(&mut self, n: usize, now: i64) {
        let rolling_back = self.operator == Operator::Rollback;
        let node_op = if rolling_back {
            Operator::Rollback
        } else {
            self.nodes[n].operator
        };
        self.set_node(n, State::Running, node_op, now);
        for t in 0..self.nodes[n].tasks.len() {
            let task = &self.nodes[n].tasks[t];
            if rolling_back {
                // Only what ran is undone; never-started sub-tasks are done.
                if task.execute_times > 0 {
                    self.set_task(n, t, State::Ready, Operator::Rollback, now);
                } else {
                    self.set_task(n, t, State::Succeed, Operator::Rollback, now);
                }
            } else if task.state != State::Succeed {
                self.set_task(n, t, State::Ready, Operator::Run, now);
            }
        }
    }

    fn fail(&mut self, now: i64) {
        self.end_ms = now;
        // A failed maintenance DAG keeps the lock and stays unfinished until
        // it is retried, rolled back or passed (obshell §5).
        self.finished = !self.maintenance;
        let op = self.operator;
        self.set_dag(State::Failed, op);
    }

    fn succeed(&mut self, operator: Operator, now: i64) {
        self.end_ms = now;
        self.finished = true;
        self.set_dag(State::Succeed, operator);
        if self.maintenance {
            self.changes.push(Change::MaintenanceReleased);
        }
    }

    // ---- the engine's view ----

    /// Marks a READY sub-task RUNNING for `owner` until `lease_until_ms`.
    /// Returns false if it is not READY any more (another engine took it).
    pub fn claim(&mut self, task_id: i64, owner: &str, lease_until_ms: i64, now: i64) -> bool {
        let Some((n, t)) = self.find_task(task_id) else {
            return false;
        };
        if self.nodes[n].tasks[t].state != State::Ready || self.state != State::Running {
            return false;
        }
        let task = &mut self.nodes[n].tasks[t];
        task.lease_owner = Some(owner.to_owned());
        task.lease_until_ms = lease_until_ms;
        // A resumed execution is the interrupted one carried on: same
        // attempt number, so that an agent still running it is re-attached
        // to instead of starting the work again.
        if !task.resume || task.execute_times == 0 {
            task.execute_times += 1;
            task.output = None;
        }
        task.start_ms = now;
        let op = task.operator;
        self.set_task(n, t, State::Running, op, now);
        true
    }

    /// Extends `owner`'s lease on a running sub-task. False if the lease is
    /// not `owner`'s any more.
    pub fn renew(&mut self, task_id: i64, owner: &str, lease_until_ms: i64) -> bool {
        let Some((n, t)) = self.find_task(task_id) else {
            return false;
        };
        let task = &mut self.nodes[n].tasks[t];
        if task.state != State::Running || task.lease_owner.as_deref() != Some(owner) {
            return false;
        }
        task.lease_until_ms = lease_until_ms;
        self.changes.push(Change::Lease { node: n, task: t });
        true
    }

    /// Records the outcome of an execution by `owner`. Ignored (false) if
    /// the sub-task is no longer this owner's (its lease was taken over).
    pub fn finish(
        &mut self,
        task_id: i64,
        owner: &str,
        outcome: Result<Option<TaskOutput>, String>,
        now: i64,
    ) -> bool {
        let Some((n, t)) = self.find_task(task_id) else {
            return false;
        };
        let task = &self.nodes[n].tasks[t];
        if task.state != State::Running || task.lease_owner.as_deref() != Some(owner) {
            return false;
        }
        let op = task.operator;
        self.nodes[n].tasks[t].resume = false;
        match outcome {
            Ok(output) => {
                if output.is_some() {
                    self.nodes[n].tasks[t].output = output;
                    self.changes.push(Change::Output { node: n, task: t });
                }
                self.set_task(n, t, State::Succeed, op, now);
            }
            Err(e) => {
                self.log(task_id, e);
                self.set_task(n, t, State::Failed, op, now);
            }
        }
        self.advance(now);
        true
    }

    /// Records the progress of a running execution by `owner`. Ignored
    /// (false) if the sub-task is no longer this owner's.
    pub fn checkpoint(&mut self, task_id: i64, owner: &str, output: TaskOutput) -> bool {
        let Some((n, t)) = self.find_task(task_id) else {
            return false;
        };
        let task = &mut self.nodes[n].tasks[t];
        if task.state != State::Running || task.lease_owner.as_deref() != Some(owner) {
            return false;
        }
        task.output = Some(output);
        self.changes.push(Change::Output { node: n, task: t });
        true
    }

    /// A RUNNING sub-task whose engine died: resume it if it can be
    /// resumed, re-attach to it if its work is an agent's operation (the
    /// agent decides whether it can go on), else fail it as obshell does.
    pub fn recover(&mut self, task_id: i64, now: i64) {
        let Some((n, t)) = self.find_task(task_id) else {
            return;
        };
        let task = &self.nodes[n].tasks[t];
        if task.state != State::Running {
            return;
        }
        let op = task.operator;
        let message = match (task.caps.resume, task.kind.reattaches()) {
            (true, _) => Some("the engine running this task stopped; resuming it"),
            (false, true) => Some(
                "the engine running this task stopped; re-attaching to its operation on the agent",
            ),
            (false, false) => None,
        };
        if let Some(message) = message {
            self.nodes[n].tasks[t].resume = true;
            self.log(task_id, message);
            self.set_task(n, t, State::Ready, op, now);
        } else {
            self.log(task_id, "task unexpectedly interrupted and cannot continue");
            self.set_task(n, t, State::Failed, op, now);
        }
        self.advance(now);
    }

    // ---- operators ----

    /// RETRY: runs the failed node's failed sub-tasks again.
    pub fn retry(&mut self, now: i64) -> Result<(), Refusal> {
        if self.state != State::Failed {
            return Err(refuse(
                "Task.Dag.Operator.RetryNotFailedDag",
                format!(
                    "DAG {} is {}, only a FAILED DAG can be retried",
                    self.id, self.state
                ),
            ));
        }
        let n = self.current();
        if !self.nodes[n].caps().retry {
            return Err(refuse(
                "Task.Dag.Operator.RetryNotAllowed",
                format!("node '{}' cannot be retried", self.nodes[n].name),
            ));
        }
        self.finished = false;
        self.end_ms = 0;
        // As obshell: the DAG runs on (RUN); the node says it is retrying.
        self.set_dag(State::Ready, Operator::Run);
        self.set_node(n, State::Pending, Operator::Retry, now);
        self.advance(now);
        Ok(())
    }

    /// ROLLBACK: undoes every node that ran, from the failed one down.
    pub fn rollback(&mut self, now: i64) -> Result<(), Refusal> {
        if self.state != State::Failed {
            return Err(refuse(
                "Task.Dag.Operator.RollbackNotFailedDag",
                format!(
                    "DAG {} is {}, only a FAILED DAG can be rolled back",
                    self.id, self.state
                ),
            ));
        }
        let last = self.current();
        let ran: Vec<usize> = (0..=last)
            .filter(|&n| self.nodes[n].state != State::Pending)
            .collect();
        if let Some(&n) = ran.iter().find(|&&n| !self.nodes[n].caps().rollback) {
            return Err(refuse(
                "Task.Dag.Operator.RollbackNotAllowed",
                format!("node '{}' cannot be rolled back", self.nodes[n].name),
            ));
        }
        self.finished = false;
        self.end_ms = 0;
        self.set_dag(State::Ready, Operator::Rollback);
        for n in ran {
            self.set_node(n, State::Pending, Operator::Rollback, now);
        }
        self.advance(now);
        Ok(())
    }

    /// CANCEL: fails what is active; the DAG ends FAILED. Returns the ids of
    /// sub-tasks running now, for the engine to interrupt.
    pub fn cancel(&mut self, now: i64) -> Result<Vec<i64>, Refusal> {
        if self.finished {
            return Err(refuse(
                "Task.Dag.Operator.CancelFinishedDag",
                format!("DAG {} is finished and cannot be cancelled", self.id),
            ));
        }
        let n = self.current();
        if let Some(node) = self.nodes[..=n]
            .iter()
            .find(|node| node.state != State::Pending && !node.caps().cancel)
        {
            return Err(refuse(
                "Task.Dag.Operator.CancelNotAllowed",
                format!("node '{}' cannot be cancelled", node.name),
            ));
        }
        let mut running = Vec::new();
        for t in 0..self.nodes[n].tasks.len() {
            let task = &self.nodes[n].tasks[t];
            if matches!(task.state, State::Ready | State::Running | State::Pending) {
                if task.state == State::Running {
                    running.push(task.id);
                }
                let id = task.id;
                self.log(id, "sub task cancelled");
                self.set_task(n, t, State::Failed, Operator::Cancel, now);
            }
        }
        self.operator = Operator::Cancel;
        if self.nodes[n].state != State::Failed {
            self.set_node(n, State::Failed, Operator::Cancel, now);
        }
        self.fail(now);
        Ok(running)
    }

    /// PASS: marks the failed node and everything after it done; the DAG
    /// succeeds without running them.
    pub fn pass(&mut self, now: i64) -> Result<(), Refusal> {
        if self.state != State::Failed {
            return Err(refuse(
                "Task.Dag.Operator.PassNotFailedDag",
                format!(
                    "DAG {} is {}, only a FAILED DAG can be passed",
                    self.id, self.state
                ),
            ));
        }
        let from = self.current();
        let rest: Vec<usize> = (from..self.nodes.len())
            .filter(|&n| self.nodes[n].state != State::Succeed)
            .collect();
        if let Some(&n) = rest.iter().find(|&&n| !self.nodes[n].caps().pass) {
            return Err(refuse(
                "Task.Dag.Operator.PassNotAllowed",
                format!("node '{}' cannot be passed", self.nodes[n].name),
            ));
        }
        for n in rest {
            self.pass_node_at(n, now);
        }
        self.stage = self.max_stage();
        self.succeed(Operator::Pass, now);
        Ok(())
    }

    /// PASS on one failed node: it is marked done and the DAG continues.
    pub fn pass_node(&mut self, node_id: i64, now: i64) -> Result<(), Refusal> {
        if self.state != State::Failed {
            return Err(refuse(
                "Task.Node.Operator.PassNotFailedDag",
                format!(
                    "DAG {} is {}, nodes can be passed only in a FAILED DAG",
                    self.id, self.state
                ),
            ));
        }
        let n = self
            .nodes
            .iter()
            .position(|node| node.id == node_id)
            .ok_or_else(|| {
                refuse(
                    "Task.NotFound",
                    format!("node {node_id} is not in DAG {}", self.id),
                )
            })?;
        if self.nodes[n].state != State::Failed {
            return Err(refuse(
                "Task.Node.Operator.PassNotFailedNode",
                format!(
                    "node '{}' is {}, only a FAILED node can be passed",
                    self.nodes[n].name, self.nodes[n].state
                ),
            ));
        }
        if !self.nodes[n].caps().pass {
            return Err(refuse(
                "Task.Node.Operator.PassNotAllowed",
                format!("node '{}' cannot be passed", self.nodes[n].name),
            ));
        }
        self.pass_node_at(n, now);
        self.finished = false;
        self.end_ms = 0;
        self.set_dag(State::Ready, Operator::Run);
        self.advance(now);
        Ok(())
    }

    fn pass_node_at(&mut self, n: usize, now: i64) {
        for t in 0..self.nodes[n].tasks.len() {
            if self.nodes[n].tasks[t].state != State::Succeed {
                self.set_task(n, t, State::Succeed, Operator::Pass, now);
            }
        }
        self.set_node(n, State::Succeed, Operator::Pass, now);
    }
}

#[cfg(test)]
mod tests;
