//! Events: what changed in a DAG, numbered per DAG.

use serde::{Deserialize, Serialize};

use crate::domain::dag::{Change, Dag};
use crate::domain::state::{Operator, State};

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub dag_id: i64,
    pub seq: i64,
    pub at_ms: i64,
    pub body: EventBody,
}

/// The change itself, stored as JSON (states and operators by their
/// obshell names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    Dag {
        state: State,
        operator: Operator,
        stage: i32,
    },
    Node {
        node_id: i64,
        name: String,
        state: State,
        operator: Operator,
    },
    SubTask {
        sub_task_id: i64,
        node_id: i64,
        name: String,
        state: State,
        operator: Operator,
        execute_times: i32,
        agent: Option<String>,
    },
    Log {
        sub_task_id: i64,
        execute_times: i32,
        content: String,
    },
}

impl EventBody {
    /// The event for a change. `None` for bookkeeping nobody watches
    /// (maintenance release, lease renewal).
    pub fn of(dag: &Dag, change: &Change) -> Option<Self> {
        Some(match change {
            Change::Dag {
                state,
                operator,
                stage,
            } => Self::Dag {
                state: *state,
                operator: *operator,
                stage: *stage,
            },
            Change::Node {
                node,
                state,
                operator,
            } => {
                let n = &dag.nodes[*node];
                Self::Node {
                    node_id: n.id,
                    name: n.name.clone(),
                    state: *state,
                    operator: *operator,
                }
            }
            Change::Task {
                node,
                task,
                state,
                operator,
                execute_times,
            } => {
                let t = &dag.nodes[*node].tasks[*task];
                Self::SubTask {
                    sub_task_id: t.id,
                    node_id: t.node_id,
                    name: t.name.clone(),
                    state: *state,
                    operator: *operator,
                    execute_times: *execute_times,
                    agent: t.agent.clone(),
                }
            }
            Change::Log {
                task_id,
                execute_times,
                content,
            } => Self::Log {
                sub_task_id: *task_id,
                execute_times: *execute_times,
                content: content.clone(),
            },
            Change::MaintenanceReleased | Change::Lease { .. } | Change::Output { .. } => {
                return None;
            }
        })
    }
}
