//! Rows of the `ops` table and their decoding into typed records.

use crate::domain::{OpKey, OpResult, OpState, Work};
use crate::{Error, Result};

pub(super) const SELECT_BY_OP: &str = "SELECT op_id, attempt, work, state, accepted_at_ms, \
     deadline_ms, runs, checkpoint, result FROM ops WHERE op_id = ? ORDER BY attempt";
pub(super) const SELECT_BY_KEY: &str = "SELECT op_id, attempt, work, state, accepted_at_ms, \
     deadline_ms, runs, checkpoint, result FROM ops WHERE op_id = ? AND attempt = ?";

#[derive(Debug, sqlx::FromRow)]
pub(super) struct OpRow {
    op_id: String,
    attempt: i64,
    work: String,
    state: String,
    accepted_at_ms: i64,
    deadline_ms: i64,
    runs: i64,
    checkpoint: Option<String>,
    result: Option<String>,
}

/// An operation as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: OpKey,
    pub work: Work,
    pub state: OpState,
    pub accepted_at_ms: i64,
    pub deadline_ms: i64,
    pub runs: u32,
    /// JSON an operation saved for its continue path.
    pub checkpoint: Option<String>,
}

impl TryFrom<OpRow> for Record {
    type Error = Error;

    fn try_from(row: OpRow) -> Result<Self> {
        let key = OpKey {
            op_id: row.op_id,
            attempt: row.attempt as u32,
        };
        let corrupt = |reason: String| Error::Corrupt {
            key: key.clone(),
            reason,
        };
        let work: Work =
            serde_json::from_str(&row.work).map_err(|e| corrupt(format!("work: {e}")))?;
        let state = match (row.state.as_str(), row.result) {
            ("running", _) => OpState::Running,
            ("interrupted", _) => OpState::Interrupted,
            ("finished", Some(result)) => OpState::Finished(
                serde_json::from_str::<OpResult>(&result)
                    .map_err(|e| corrupt(format!("result: {e}")))?,
            ),
            (state, _) => return Err(corrupt(format!("state {state:?} without a result"))),
        };
        Ok(Self {
            key,
            work,
            state,
            accepted_at_ms: row.accepted_at_ms,
            deadline_ms: row.deadline_ms,
            runs: row.runs as u32,
            checkpoint: row.checkpoint,
        })
    }
}
