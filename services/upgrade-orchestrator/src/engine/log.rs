//! A running sub-task's log lines, written in batches.
//!
//! A script can print a hundred thousand lines. Each line is stored and
//! becomes a DAG event, but writing them one transaction per line (or,
//! worse, loading the whole DAG per line) would make the log, not the
//! upgrade, the slow part. Lines go through a bounded channel to one writer
//! per execution, which stores whatever has queued up in one transaction:
//! under load batches grow and the cost per line falls; when lines are rare
//! each is written at once.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Engine;

/// Lines waiting to be written per execution. Bounded so that a task that
/// prints faster than the database takes lines is slowed down rather than
/// buffering without limit.
const QUEUE: usize = 4096;
/// Most lines per transaction (keeps statements under the backends'
/// bind-parameter limits: 4 per line).
pub(crate) const BATCH: usize = 1000;

/// The sending side, held by the task's context.
#[derive(Debug, Clone)]
pub(crate) struct LogSender {
    tx: mpsc::Sender<String>,
}

/// The writer; `finish` waits until every line sent is stored.
#[derive(Debug)]
pub(crate) struct LogWriter {
    handle: JoinHandle<()>,
}

impl LogWriter {
    pub(crate) fn start(engine: Engine, dag_id: i64, task_id: i64) -> (LogSender, Self) {
        let (tx, mut rx) = mpsc::channel::<String>(QUEUE);
        let handle = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                engine
                    .write_logs(dag_id, task_id, std::mem::take(&mut batch))
                    .await;
            }
        });
        (LogSender { tx }, Self { handle })
    }

    /// Waits until the lines of every sender (all dropped by now) are
    /// written.
    pub(crate) async fn finish(self) {
        let _ = self.handle.await;
    }
}

impl LogSender {
    pub(crate) async fn send(&self, line: String) {
        // The writer ends only after every sender is gone.
        let _ = self.tx.send(line).await;
    }
}
