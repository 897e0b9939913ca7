//! Runs one operation's work to a journaled result: the deadline, the stop
//! request, a panic, and the agent shutting down underneath it.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Ops;
use super::context::{Checkpoint, OpContext};
use super::live::{LiveEvent, LiveOp, StopReason, StopSignal};
use super::log::OpLog;
use crate::domain::{Level, OpFailure, OpKey, OpOutput, OpResult, Outcome, RunSpec, now_ms};
use crate::{Result, work};

/// How often, and how long, a result is retried into the journal when it
/// refuses the write (disk full, a long lock): the result must not be lost
/// while the process lives.
const FINISH_RETRIES: u32 = 40;
const FINISH_BACKOFF: Duration = Duration::from_millis(250);

type WorkResult = std::result::Result<OpOutput, OpFailure>;

impl Ops {
    /// Starts the work of `spec` (already journaled as running) in its own
    /// task, and the task that sees it to its result.
    pub(super) async fn spawn(
        &self,
        spec: &RunSpec,
        deadline_ms: i64,
        continued: bool,
        checkpoint: Option<String>,
    ) -> Result<()> {
        let key = spec.key.clone();
        let journal = self.inner.journal.clone();
        let live = Arc::new(LiveOp::default());
        let last_seq = journal.last_seq(&key).await?;
        let secrets = vec![spec.password.expose().to_owned()];
        let (log, writer) = OpLog::start(
            journal.clone(),
            key.clone(),
            live.events.clone(),
            secrets,
            last_seq,
        );
        let ctx = OpContext {
            key: key.clone(),
            host: self.inner.host.clone(),
            settings: self.inner.settings.clone(),
            log: log.clone(),
            stop: StopSignal::new(live.stop.subscribe()),
            continued,
            checkpoint: Checkpoint::new(journal, key.clone(), checkpoint),
            password: spec.password.clone(),
            interpreters: self.inner.interpreters.clone(),
        };
        if let Ok(mut map) = self.inner.live.lock() {
            map.insert(key.clone(), live.clone());
        }
        let work_item = spec.work.clone();
        // The work runs in a task of its own so that a panic in it becomes
        // a failed result instead of a lost operation.
        let task = tokio::spawn(async move {
            if continued {
                ctx.log.info("continuing after an interruption").await;
            }
            work::execute(&work_item, &ctx).await
        });
        if let Ok(mut w) = live.work.lock() {
            *w = Some(task.abort_handle());
        }
        let ops = self.clone();
        tokio::spawn(ops.drive(key, live, task, writer, log, deadline_ms));
        Ok(())
    }

    async fn drive(
        self,
        key: OpKey,
        live: Arc<LiveOp>,
        mut task: JoinHandle<WorkResult>,
        writer: JoinHandle<()>,
        log: OpLog,
        deadline_ms: i64,
    ) {
        let left = Duration::from_millis((deadline_ms - now_ms()).max(0) as u64);
        let joined = tokio::select! {
            joined = &mut task => joined,
            () = tokio::time::sleep(left) => {
                live.request_stop(StopReason::Deadline);
                (&mut task).await
            }
        };
        let outcome = match joined {
            Ok(outcome) => outcome,
            Err(e) if e.is_cancelled() => {
                // The agent is shutting down: the operation stays running
                // in the journal and is interrupted at the next start.
                drop(log);
                let _ = writer.await;
                self.leave(&key);
                return;
            }
            Err(e) => Err(OpFailure::unexpected(format!(
                "the operation panicked: {e}"
            ))),
        };
        let stopped = *live.stop.borrow();
        let outcome = match (outcome, stopped) {
            // Work that finishes anyway (a kill, a start) still answers the
            // stop: its result is the stop's failure, naming what it did.
            (Ok(output), Some(reason)) => Err(reason.failure(&format!(
                "it completed before stopping: {}",
                serde_json::to_string(&output).unwrap_or_default()
            ))),
            (outcome, _) => outcome,
        };
        let outcome = match outcome {
            Ok(output) => {
                log.info("succeeded").await;
                Outcome::Succeeded { output }
            }
            Err(failure) => {
                let failure = OpFailure {
                    code: failure.code,
                    message: log.redact(&failure.message),
                };
                log.line(Level::Error, format!("failed: {failure}")).await;
                Outcome::Failed { failure }
            }
        };
        let result = OpResult {
            finished_at_ms: now_ms(),
            outcome,
        };
        // Every line is journaled before the result is.
        drop(log);
        let _ = writer.await;
        let journal = &self.inner.journal;
        let mut tries = 0;
        while let Err(e) = journal.finish(&key, &result).await {
            tries += 1;
            if tries > FINISH_RETRIES {
                tracing::error!(op = %key, error = %e, "cannot journal the result; it is lost");
                self.leave(&key);
                return;
            }
            tracing::warn!(op = %key, error = %e, "cannot journal the result; retrying");
            tokio::time::sleep(FINISH_BACKOFF).await;
        }
        tracing::info!(op = %key, success = result.is_success(), "operation finished");
        let _ = live.events.send(LiveEvent::Result(result));
        self.leave(&key);
    }

    fn leave(&self, key: &OpKey) {
        if let Ok(mut map) = self.inner.live.lock() {
            map.remove(key);
        }
    }
}
