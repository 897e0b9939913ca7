//! Operations: their key, the request that starts or attaches to one, the
//! events a run streams, and the states the journal records.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::output::OpResult;
use super::work::Work;

/// `(op_id, attempt)`: obshell's (task id, execute_times), the idempotency
/// key of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpKey {
    pub op_id: String,
    pub attempt: u32,
}

impl OpKey {
    /// Checks the id's syntax: 1-128 of `[A-Za-z0-9_.:/-]`, so that ids are
    /// safe in logs and file names.
    pub fn new(op_id: &str, attempt: u32) -> Result<Self, String> {
        let ok = !op_id.is_empty()
            && op_id.len() <= 128
            && op_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:/-".contains(&b));
        if !ok {
            return Err(format!("op_id {op_id:?} must be 1-128 of [A-Za-z0-9_.:/-]"));
        }
        Ok(Self {
            op_id: op_id.to_owned(),
            attempt,
        })
    }
}

impl fmt::Display for OpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.op_id, self.attempt)
    }
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"******\""
        })
    }
}

/// A `Run`: start the operation, or attach to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    pub key: OpKey,
    /// Re-run an interrupted operation through its continue path.
    pub continue_: bool,
    /// Unix ms; `None`: the agent's default from acceptance.
    pub deadline_ms: Option<i64>,
    /// Replay log lines after this one.
    pub after_log_seq: u64,
    pub work: Work,
    pub password: Secret,
}

/// An operation as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpState {
    /// Being worked on by this agent process.
    Running,
    /// Was running when the agent stopped; waits for a `Run` to continue
    /// it or to fail it.
    Interrupted,
    Finished(OpResult),
}

impl OpState {
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Finished(_))
    }
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "warn" => Self::Warn,
            "error" => Self::Error,
            _ => Self::Info,
        }
    }
}

/// One line of an operation's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Dense per key, from 1.
    pub seq: u64,
    pub ts_ms: i64,
    pub level: Level,
    pub line: String,
}

/// Live progress of a phase (not journaled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub phase: String,
    pub done: u64,
    pub total: u64,
}

/// The first event of every `Run` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub key: OpKey,
    /// The operation was held already: this `Run` attached to it.
    pub attached: bool,
    /// How many times the work was started (1 + continues).
    pub runs: u32,
    pub accepted_at_ms: i64,
}

/// What a `Run` streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Accepted(Accepted),
    Log(LogLine),
    Progress(Progress),
    Result(OpResult),
}

/// What `Cancel` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelStatus {
    Unknown,
    Cancelling,
    Finished,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
