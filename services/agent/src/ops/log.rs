//! An operation's log: the work writes lines through [`OpLog`]; one writer
//! task per run numbers them (dense `seq`), redacts secrets, commits them
//! to the journal in batches and only then publishes them.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::live::LiveEvent;
use crate::domain::{Level, LogLine, OpKey, Progress, now_ms};
use crate::journal::Journal;

/// Lines queued between the work and the writer. A burst of script output
/// waits here; beyond it, the work waits for the journal (backpressure
/// instead of unbounded memory).
const QUEUE: usize = 1024;
/// Most lines committed in one transaction.
const BATCH: usize = 256;
/// Longest line kept; a longer one is cut (a script printing a huge blob
/// must not bloat the journal or a gRPC message).
const MAX_LINE: usize = 8 << 10;
/// What stands in for a secret.
pub const MASK: &str = "******";

enum Entry {
    Line(Level, String),
    Progress(Progress),
}

/// Where the work writes. Cheap to clone.
#[derive(Clone)]
pub struct OpLog {
    tx: mpsc::Sender<Entry>,
    secrets: Arc<Vec<String>>,
}

impl std::fmt::Debug for OpLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpLog").finish_non_exhaustive()
    }
}

impl OpLog {
    /// Starts the writer for `key`, numbering from `last_seq + 1`. Every
    /// occurrence of a `secrets` string is masked. The writer ends once
    /// every `OpLog` clone is dropped, after committing what remains.
    pub fn start(
        journal: Journal,
        key: OpKey,
        events: broadcast::Sender<LiveEvent>,
        secrets: Vec<String>,
        last_seq: u64,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let secrets: Arc<Vec<String>> =
            Arc::new(secrets.into_iter().filter(|s| !s.is_empty()).collect());
        let writer = tokio::spawn(write(journal, key, events, rx, secrets.clone(), last_seq));
        (Self { tx, secrets }, writer)
    }

    pub async fn info(&self, line: impl Into<String>) {
        self.line(Level::Info, line.into()).await;
    }

    pub async fn warn(&self, line: impl Into<String>) {
        self.line(Level::Warn, line.into()).await;
    }

    pub async fn line(&self, level: Level, line: String) {
        // The writer only stops when the operation is being torn down.
        let _ = self.tx.send(Entry::Line(level, line)).await;
    }

    /// Progress is a hint: dropped, not waited for, when the queue is full.
    pub fn progress(&self, phase: &str, done: u64, total: u64) {
        let _ = self.tx.try_send(Entry::Progress(Progress {
            phase: phase.to_owned(),
            done,
            total,
        }));
    }

    /// `text` with every secret masked.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }
}

fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

fn cut(mut line: String) -> String {
    if line.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str(" [cut]");
    }
    line
}

async fn write(
    journal: Journal,
    key: OpKey,
    events: broadcast::Sender<LiveEvent>,
    mut rx: mpsc::Receiver<Entry>,
    secrets: Arc<Vec<String>>,
    mut seq: u64,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let mut out = Vec::with_capacity(batch.len());
        let mut lines = Vec::new();
        for entry in batch {
            match entry {
                Entry::Line(level, line) => {
                    seq += 1;
                    let line = LogLine {
                        seq,
                        ts_ms: now_ms(),
                        level,
                        // Masked before the secret can be cut in half.
                        line: cut(redact(&line, &secrets)),
                    };
                    tracing::debug!(op = %key, seq, line = %line.line, "op log");
                    lines.push(line.clone());
                    out.push(LiveEvent::Log(line));
                }
                Entry::Progress(p) => out.push(LiveEvent::Progress(p)),
            }
        }
        if !lines.is_empty()
            && let Err(e) = journal.append_logs(&key, &lines).await
        {
            // Still published: the live stream stays whole, only a later
            // replay misses these lines.
            tracing::warn!(op = %key, error = %e, "cannot journal log lines");
        }
        for e in out {
            // No subscriber is fine: nobody is attached right now.
            let _ = events.send(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_everywhere_and_long_lines_cut() {
        let secrets = vec!["s3cr#t".to_owned()];
        assert_eq!(
            redact("-ps3cr#t and again s3cr#t", &secrets),
            "-p****** and again ******"
        );
        let long = cut("é".repeat(MAX_LINE));
        assert!(long.len() <= MAX_LINE + 6 && long.ends_with("[cut]"));
    }
}
