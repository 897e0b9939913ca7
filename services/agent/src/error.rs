//! The agent's one error type: why an RPC is refused, or why the agent
//! cannot start. `grpc/status.rs` is the only place that turns it into
//! codes. (How an *operation* fails is its result: `domain::OpFailure`.)

use std::path::PathBuf;

use crate::domain::OpKey;

/// Everything the agent can refuse or fail at, outside an operation's work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- the request ----
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// obshell's `Common.InvalidPath` wording.
    #[error("path '{path}' is not valid: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("attempt {} of {} is stale: the agent holds attempt {held}", key.attempt, key.op_id)]
    StaleAttempt { key: OpKey, held: u32 },
    #[error(
        "attempt {running} of {} is still running; cancel it before starting attempt {}",
        key.op_id, key.attempt
    )]
    AttemptBusy { key: OpKey, running: u32 },
    #[error("operation {0} is held with different work; an attempt's work never changes")]
    WorkMismatch(OpKey),
    #[error("operation {0} is still running; cancel it and wait for its result first")]
    StillRunning(OpKey),
    #[error("the agent is shutting down")]
    ShuttingDown,

    // ---- infrastructure ----
    #[error("journal error: {0}")]
    Journal(#[from] sqlx::Error),
    #[error("journal migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("journal holds unreadable data for {key}: {reason}")]
    Corrupt { key: OpKey, reason: String },
    #[error("state dir {0} is in use by another agent")]
    StateDirLocked(PathBuf),
    #[error("configuration error: {0}")]
    Config(String),
    #[error(transparent)]
    Tls(#[from] obup_kit::tls::TlsError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// True for errors caused by the agent's own machinery rather than the
    /// request: logged with their cause, answered with a generic message.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Journal(_)
                | Self::Migrate(_)
                | Self::Corrupt { .. }
                | Self::StateDirLocked(_)
                | Self::Config(_)
                | Self::Tls(_)
                | Self::Io(_)
                | Self::Internal(_)
        )
    }
}

/// The agent's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
