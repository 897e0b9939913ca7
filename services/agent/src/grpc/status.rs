//! The only place where agent errors become gRPC codes and stable error
//! codes (obshell's where it has one). Exhaustive on purpose: a new error
//! variant must be mapped.

use tonic::{Code, Status};

use crate::Error;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let (code, error_code) = classify(&e);
        if e.is_internal() {
            tracing::error!(error = %e, error.debug = ?e, error_code, "internal error");
            return obup_kit::status::with_code(
                code,
                error_code,
                "internal error; see the agent's log",
            );
        }
        obup_kit::status::with_code(code, error_code, e.to_string())
    }
}

fn classify(e: &Error) -> (Code, &'static str) {
    use Code::*;
    match e {
        Error::InvalidArgument { .. } => (InvalidArgument, "Common.IllegalArgument"),
        Error::InvalidPath { .. } => (InvalidArgument, "Common.InvalidPath"),
        Error::StaleAttempt { .. } => (FailedPrecondition, "Task.Attempt.Stale"),
        Error::AttemptBusy { .. } => (FailedPrecondition, "Task.Attempt.Busy"),
        Error::WorkMismatch(_) => (FailedPrecondition, "Task.Work.Mismatch"),
        Error::StillRunning(_) => (FailedPrecondition, "Task.Running"),
        Error::ShuttingDown => (Unavailable, "Agent.ShuttingDown"),
        Error::Journal(_) | Error::Migrate(_) => (Unavailable, "Common.Unexpected"),
        Error::Corrupt { .. } => (DataLoss, "Common.Unexpected"),
        Error::StateDirLocked(_) | Error::Config(_) | Error::Tls(_) => {
            (Internal, "Common.Unexpected")
        }
        Error::Io(_) | Error::Internal(_) => (Internal, "Common.Unexpected"),
    }
}
