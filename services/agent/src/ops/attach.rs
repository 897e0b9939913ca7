//! The event stream of one `Run`: `Accepted`, the journaled log lines after
//! the client's `after_log_seq`, live events, the result.
//!
//! The stream subscribes to the live events *before* it reads the journal,
//! and every line is journaled before it is published, so no line falls in
//! between; lines seen twice are skipped by `seq`. A client that lags
//! behind the live channel re-reads what it missed from the journal.

use tokio::sync::{broadcast, mpsc};

use super::Ops;
use super::live::LiveEvent;
use crate::domain::{Accepted, Event, OpKey, OpState};
use crate::journal::Journal;
use crate::{Error, Result};

/// Events buffered per client: a slow client slows only its own stream.
const EVENTS: usize = 64;
/// Log lines read from the journal at a time during a replay.
const PAGE: u32 = 512;

/// What the stream sends: events, or the error that ended it.
pub type EventResult = Result<Event>;

impl Ops {
    pub(super) fn attach(
        &self,
        key: &OpKey,
        after: u64,
        accepted: Accepted,
    ) -> mpsc::Receiver<EventResult> {
        let (tx, rx) = mpsc::channel(EVENTS);
        let sub = self.live(key).map(|l| l.events.subscribe());
        let stream = Stream {
            journal: self.inner.journal.clone(),
            key: key.clone(),
            tx,
        };
        tokio::spawn(async move {
            if let Err(Gone::Failed(e)) = stream.run(after, accepted, sub).await {
                tracing::warn!(error = %e, "an event stream ended early");
            }
        });
        rx
    }
}

enum Gone {
    /// The client went away.
    Client,
    /// Reported to the client already.
    Failed(String),
}

struct Stream {
    journal: Journal,
    key: OpKey,
    tx: mpsc::Sender<EventResult>,
}

impl Stream {
    async fn send(&self, event: Event) -> Result<(), Gone> {
        self.tx.send(Ok(event)).await.map_err(|_| Gone::Client)
    }

    async fn fail(&self, e: Error) -> Gone {
        let message = e.to_string();
        let _ = self.tx.send(Err(e)).await;
        Gone::Failed(message)
    }

    /// Sends the journaled lines after `last`; returns the last sent.
    async fn replay(&self, mut last: u64) -> Result<u64, Gone> {
        loop {
            let lines = match self.journal.logs_after(&self.key, last, PAGE).await {
                Ok(lines) => lines,
                Err(e) => return Err(self.fail(e).await),
            };
            if lines.is_empty() {
                return Ok(last);
            }
            for line in lines {
                last = line.seq;
                self.send(Event::Log(line)).await?;
            }
        }
    }

    /// Sends the journaled result, if there is one.
    async fn finished(&self, last: u64) -> Result<bool, Gone> {
        let record = match self.journal.get(&self.key).await {
            Ok(r) => r,
            Err(e) => return Err(self.fail(e).await),
        };
        match record.map(|r| r.state) {
            Some(OpState::Finished(result)) => {
                self.replay(last).await?;
                self.send(Event::Result(result)).await?;
                Ok(true)
            }
            Some(OpState::Running | OpState::Interrupted) | None => Ok(false),
        }
    }

    async fn run(
        self,
        after: u64,
        accepted: Accepted,
        mut sub: Option<broadcast::Receiver<LiveEvent>>,
    ) -> Result<(), Gone> {
        self.send(Event::Accepted(accepted)).await?;
        let mut last = self.replay(after).await?;
        if self.finished(last).await? {
            return Ok(());
        }
        let Some(sub) = sub.as_mut() else {
            // Neither running here nor finished: the agent is stopping.
            return Err(self.fail(Error::ShuttingDown).await);
        };
        loop {
            match sub.recv().await {
                Ok(LiveEvent::Log(line)) => {
                    if line.seq > last {
                        last = line.seq;
                        self.send(Event::Log(line)).await?;
                    }
                }
                Ok(LiveEvent::Progress(p)) => self.send(Event::Progress(p)).await?,
                Ok(LiveEvent::Result(result)) => {
                    self.replay(last).await?;
                    return self.send(Event::Result(result)).await;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => last = self.replay(last).await?,
                Err(broadcast::error::RecvError::Closed) => {
                    if self.finished(last).await? {
                        return Ok(());
                    }
                    return Err(self.fail(Error::ShuttingDown).await);
                }
            }
        }
    }
}
