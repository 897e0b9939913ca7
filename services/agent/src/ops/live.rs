//! What this process holds for an operation while it runs: the channel its
//! events fan out on, and the signal that asks it to stop.

use std::sync::Mutex;

use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;

use crate::domain::{FailureCode, LogLine, OpFailure, OpResult, Progress};

/// Events published while an operation runs. Log lines are published only
/// after the journal has them, so a client that subscribes and then reads
/// the journal misses nothing (it skips what it sees twice by `seq`).
#[derive(Debug, Clone)]
pub enum LiveEvent {
    Log(LogLine),
    Progress(Progress),
    Result(OpResult),
}

/// Events buffered per subscriber. A client slower than this lags instead
/// of slowing the work; it then re-reads the missed lines from the journal.
const EVENTS: usize = 256;

/// Why an operation was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Cancelled,
    Deadline,
}

impl StopReason {
    /// The failure an operation stopped for this reason ends with.
    pub fn failure(self, detail: &str) -> OpFailure {
        match self {
            Self::Cancelled => {
                OpFailure::new(FailureCode::Cancelled, format!("cancelled: {detail}"))
            }
            Self::Deadline => {
                OpFailure::new(FailureCode::Timeout, format!("deadline passed: {detail}"))
            }
        }
    }
}

/// A running operation.
#[derive(Debug)]
pub struct LiveOp {
    pub events: broadcast::Sender<LiveEvent>,
    pub stop: watch::Sender<Option<StopReason>>,
    /// The work's task, aborted when the agent shuts down (the operation
    /// then stays `running` in the journal and is interrupted at the next
    /// start, as after a crash).
    pub work: Mutex<Option<AbortHandle>>,
}

impl Default for LiveOp {
    fn default() -> Self {
        Self {
            events: broadcast::channel(EVENTS).0,
            stop: watch::channel(None).0,
            work: Mutex::new(None),
        }
    }
}

impl LiveOp {
    /// Asks the work to stop at its next safe point; the first reason wins.
    pub fn request_stop(&self, reason: StopReason) {
        self.stop.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub fn abort(&self) {
        if let Some(h) = self.work.lock().ok().and_then(|mut w| w.take()) {
            h.abort();
        }
    }
}

/// The work's view of the stop request.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<Option<StopReason>>);

impl StopSignal {
    pub fn new(rx: watch::Receiver<Option<StopReason>>) -> Self {
        Self(rx)
    }

    /// A signal that never fires (for work run outside an operation).
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(None);
        // The receiver sees "no change" forever once the sender is gone.
        drop(tx);
        Self(rx)
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.0.borrow()
    }

    /// A safe point: `Err` with the stop's failure if one was asked for.
    pub fn check(&self, detail: &str) -> Result<(), OpFailure> {
        match self.reason() {
            Some(r) => Err(r.failure(detail)),
            None => Ok(()),
        }
    }

    /// Resolves when a stop is asked for (never, if it never is).
    pub async fn requested(&self) -> StopReason {
        let mut rx = self.0.clone();
        loop {
            if let Some(r) = *rx.borrow_and_update() {
                return r;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
