//! Operations: admission of a `Run` (start, attach, continue, refuse),
//! cancel and forget, over the journal and the operations running in this
//! process.
//!
//! The rules (real-driver.md §5.2, after obshell's task RPC §3.3):
//! - `(op_id, attempt)` is the key. An operation is journaled before its
//!   `Accepted` is sent; a `Run` for a key the journal holds attaches to it
//!   (replay after `after_log_seq`, live events, the result) and never
//!   starts the work twice.
//! - A lower attempt than one held is refused; a higher one waits for no
//!   running lower attempt (it is refused until that one ends).
//! - Operations found running at start-up are interrupted: a `Run` with
//!   `continue_` re-runs one through its continue path if it can continue;
//!   otherwise it fails with obshell's "task unexpectedly interrupted and
//!   cannot continue".
//! - Results stay until `Forget`.
//!
//! # Layout
//! - `live`: the in-process state of a running operation.
//! - `log`: the log writer (journal first, then fan-out).
//! - `context`: what the work gets.
//! - `driver`: runs one operation's work to its journaled result.
//! - `attach`: the event stream of one `Run`.

mod attach;
pub mod context;
mod driver;
pub mod live;
pub mod log;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

pub use self::attach::EventResult;
use self::context::Settings;
use self::live::{LiveOp, StopReason};
use crate::domain::{
    Accepted, CancelStatus, FailureCode, OpFailure, OpKey, OpResult, OpState, Outcome, RunSpec,
    now_ms,
};
use crate::host::Host;
use crate::journal::{Journal, Record};
use crate::work::interpreter::Interpreters;
use crate::{Error, Result, work};

/// obshell's default sub-task timeout, for a `Run` without a deadline.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(3600);

/// The operations of this agent. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ops {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    journal: Journal,
    host: Arc<Host>,
    settings: Arc<Settings>,
    /// Operations running in this process.
    live: Mutex<HashMap<OpKey, Arc<LiveOp>>>,
    interpreters: Arc<Interpreters>,
    /// Admissions run one at a time, so that "is it held?" and "record it"
    /// cannot interleave between two `Run`s of the same key.
    admission: tokio::sync::Mutex<bool>,
}

impl Ops {
    /// Takes over the journal: what the previous process left running is
    /// now interrupted.
    pub async fn recover(journal: Journal, host: Host, settings: Settings) -> Result<Self> {
        for key in journal.interrupt_running().await? {
            tracing::warn!(op = %key, "operation interrupted by an agent restart");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                journal,
                host: Arc::new(host),
                settings: Arc::new(settings),
                live: Mutex::default(),
                interpreters: Arc::default(),
                admission: tokio::sync::Mutex::new(false),
            }),
        })
    }

    pub fn host(&self) -> &Host {
        &self.inner.host
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Starts the operation or attaches to it; the stream's first event is
    /// `Accepted`.
    #[tracing::instrument(skip_all, fields(op = %spec.key, kind = spec.work.kind()))]
    pub async fn run(&self, spec: RunSpec) -> Result<mpsc::Receiver<EventResult>> {
        let shutting_down = self.inner.admission.lock().await;
        if *shutting_down {
            return Err(Error::ShuttingDown);
        }
        let held = self.inner.journal.attempts(&spec.key.op_id).await?;
        if let Some(newer) = held
            .iter()
            .map(|r| r.key.attempt)
            .filter(|&a| a > spec.key.attempt)
            .max()
        {
            return Err(Error::StaleAttempt {
                key: spec.key,
                held: newer,
            });
        }
        let (record, older): (Vec<_>, Vec<_>) = held
            .into_iter()
            .partition(|r| r.key.attempt == spec.key.attempt);
        match record.into_iter().next() {
            Some(record) => self.resume(spec, record).await,
            None => self.start(spec, older).await,
        }
    }

    /// A `Run` for a key the journal holds.
    async fn resume(
        &self,
        spec: RunSpec,
        mut record: Record,
    ) -> Result<mpsc::Receiver<EventResult>> {
        if !record.work.same_work(&spec.work) {
            return Err(Error::WorkMismatch(spec.key));
        }
        if record.state == OpState::Running && self.live(&spec.key).is_none() {
            // Journaled as running, yet no task of this agent runs it (we
            // hold admission, and a finishing run journals its result
            // before it leaves the live map): its run ended without a
            // journaled result (the journal refused the write) or was never
            // spawned. Attaching would wait for a result that never comes;
            // it is interrupted, as after a restart, and handled as such.
            tracing::warn!(op = %spec.key, "journaled as running but not running; interrupted");
            self.inner.journal.interrupt(&spec.key).await?;
            record.state = OpState::Interrupted;
        }
        let accepted = |runs| Accepted {
            key: spec.key.clone(),
            attached: true,
            runs,
            accepted_at_ms: record.accepted_at_ms,
        };
        match record.state {
            OpState::Running | OpState::Finished(_) => {
                Ok(self.attach(&spec.key, spec.after_log_seq, accepted(record.runs)))
            }
            OpState::Interrupted if spec.continue_ && record.work.can_continue() => {
                let deadline = deadline(&spec)?;
                work::reap_leftovers(&record).await;
                // The agent may have been restarted with other directories.
                if let Err(e) = work::validate(&record.work, &self.inner.host) {
                    let failure = OpFailure::new(FailureCode::InvalidPath, e.to_string());
                    self.fail_now(&spec.key, failure).await?;
                    return Ok(self.attach(&spec.key, spec.after_log_seq, accepted(record.runs)));
                }
                let runs = self.inner.journal.restart(&spec.key, deadline).await?;
                tracing::info!(runs, "continuing an interrupted operation");
                let previous_checkpoint = record.checkpoint.clone();
                self.spawn(&spec, deadline, true, previous_checkpoint)
                    .await?;
                Ok(self.attach(&spec.key, spec.after_log_seq, accepted(runs)))
            }
            OpState::Interrupted => {
                work::reap_leftovers(&record).await;
                self.fail_now(&spec.key, OpFailure::interrupted()).await?;
                Ok(self.attach(&spec.key, spec.after_log_seq, accepted(record.runs)))
            }
        }
    }

    /// A `Run` for a key the journal does not hold.
    async fn start(
        &self,
        spec: RunSpec,
        older: Vec<Record>,
    ) -> Result<mpsc::Receiver<EventResult>> {
        for r in &older {
            match r.state {
                OpState::Running => {
                    return Err(Error::AttemptBusy {
                        key: spec.key,
                        running: r.key.attempt,
                    });
                }
                OpState::Interrupted => {
                    // Superseded: it will never be continued.
                    work::reap_leftovers(r).await;
                    self.fail_now(&r.key, OpFailure::interrupted()).await?;
                }
                OpState::Finished(_) => {}
            }
        }
        work::validate(&spec.work, &self.inner.host)?;
        let deadline = deadline(&spec)?;
        let now = now_ms();
        self.inner
            .journal
            .insert_running(&spec.key, &spec.work, now, deadline)
            .await?;
        let accepted = Accepted {
            key: spec.key.clone(),
            attached: false,
            runs: 1,
            accepted_at_ms: now,
        };
        if spec.continue_ && !spec.work.can_continue() {
            // The orchestrator believes it ran here before; it cannot be
            // run again, as after a restart.
            self.fail_now(&spec.key, OpFailure::interrupted()).await?;
        } else {
            self.spawn(&spec, deadline, spec.continue_, None).await?;
        }
        Ok(self.attach(&spec.key, spec.after_log_seq, accepted))
    }

    async fn fail_now(&self, key: &OpKey, failure: OpFailure) -> Result<()> {
        let result = OpResult {
            finished_at_ms: now_ms(),
            outcome: Outcome::Failed { failure },
        };
        self.inner.journal.finish(key, &result).await
    }

    /// Asks a running operation to stop at its next safe point.
    #[tracing::instrument(skip(self))]
    pub async fn cancel(&self, key: &OpKey) -> Result<CancelStatus> {
        let _admission = self.inner.admission.lock().await;
        if let Some(live) = self.live(key) {
            live.request_stop(StopReason::Cancelled);
            return Ok(CancelStatus::Cancelling);
        }
        match self.inner.journal.get(key).await? {
            None => Ok(CancelStatus::Unknown),
            Some(record) => match record.state {
                OpState::Finished(_) => Ok(CancelStatus::Finished),
                // Between the journal's result and leaving the live map.
                OpState::Running => Ok(CancelStatus::Finished),
                OpState::Interrupted => {
                    work::reap_leftovers(&record).await;
                    self.fail_now(
                        key,
                        StopReason::Cancelled.failure("it was interrupted by an agent restart"),
                    )
                    .await?;
                    Ok(CancelStatus::Finished)
                }
            },
        }
    }

    /// Drops a finished operation from the journal.
    #[tracing::instrument(skip(self))]
    pub async fn forget(&self, key: &OpKey) -> Result<bool> {
        let _admission = self.inner.admission.lock().await;
        if self.live(key).is_some() {
            return Err(Error::StillRunning(key.clone()));
        }
        if let Some(record) = self.inner.journal.get(key).await?
            && record.state == OpState::Interrupted
        {
            // Forgotten, it will never be continued or failed: what its
            // run left behind must not outlive it.
            work::reap_leftovers(&record).await;
        }
        match self.inner.journal.forget(key).await? {
            Some(forgotten) => Ok(forgotten),
            None => Err(Error::StillRunning(key.clone())),
        }
    }

    /// Refuses new `Run`s and aborts the running operations: they stay
    /// `running` in the journal, to be interrupted at the next start.
    pub async fn shutdown(&self) {
        *self.inner.admission.lock().await = true;
        let live: Vec<Arc<LiveOp>> = self
            .inner
            .live
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for op in live {
            op.abort();
        }
    }

    /// After [`Ops::shutdown`] and the server's drain: closes the journal.
    pub async fn close(&self) {
        self.inner.journal.close().await;
    }

    fn live(&self, key: &OpKey) -> Option<Arc<LiveOp>> {
        self.inner.live.lock().ok()?.get(key).cloned()
    }
}

/// The deadline of a `Run` (Unix ms), refused if already past.
fn deadline(spec: &RunSpec) -> Result<i64> {
    let now = now_ms();
    match spec.deadline_ms {
        None => Ok(now + DEFAULT_DEADLINE.as_millis() as i64),
        Some(d) if d > now => Ok(d),
        Some(d) => Err(Error::InvalidArgument {
            field: "deadline_unix_ms",
            reason: format!("{d} has passed (now {now})"),
        }),
    }
}
