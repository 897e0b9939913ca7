//! The simulator's core, shared by every connection, the observer and the
//! control API: the state behind one lock, the pattern table, the
//! transcript and the faults. Every change of the state goes through
//! [`Core::apply`] (or a statement's `Answer::Apply`), which also updates
//! who may serve SQL and wakes the persister and the timer loop.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::faults::{Decision, Faults};
use crate::sql::handlers::columns;
use crate::sql::matcher::Matched;
use crate::sql::normalize::normalize;
use crate::sql::{Answer, Matcher, OutColumn, Query, ResultSet, Session, SqlError};
use crate::state::{Cluster, Ms, Op, Refusal};
use crate::transcript::{Entry, Outcome, Transcript};

/// Milliseconds since the epoch, now.
pub fn now_ms() -> Ms {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn index(id: i64) -> usize {
    usize::try_from(id - 1).unwrap_or(0)
}

/// What a statement gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok,
    Rows(ResultSet),
}

/// A statement's answer and what the wire must do with it.
#[derive(Debug)]
pub struct Executed {
    pub result: Result<Reply, SqlError>,
    /// Send this many rows, then close the connection (a fault).
    pub drop_after: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub cluster: Cluster,
    pub transcript: Transcript,
    pub faults: Faults,
}

/// Shared by every task of one simulator.
#[derive(Debug)]
pub struct Core {
    pub config: Config,
    matcher: Matcher,
    pub(crate) inner: Mutex<Inner>,
    /// Woken after every change of the state (persister, timer loop).
    pub changed: Notify,
    /// Per server (index = id - 1): whether its SQL port should be open
    /// (the state says it serves).
    serving: Vec<watch::Sender<bool>>,
    /// Per server: whether its SQL port is open now (set by its listener
    /// task). Lags `serving` by a bind; `Handle` waits on it so that a
    /// caller never connects in between.
    open: Vec<watch::Sender<bool>>,
    next_conn: AtomicU32,
}

impl Core {
    pub fn new(config: Config, cluster: Cluster, faults: Faults) -> Self {
        let serving = cluster
            .servers
            .iter()
            .map(|s| watch::Sender::new(s.serving()))
            .collect();
        let open = cluster
            .servers
            .iter()
            .map(|_| watch::Sender::new(false))
            .collect();
        Self {
            matcher: Matcher::new(),
            inner: Mutex::new(Inner {
                cluster,
                transcript: Transcript::new(config.transcript_capacity),
                faults,
            }),
            config,
            changed: Notify::new(),
            serving,
            open,
            next_conn: AtomicU32::new(1),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a state that is still
        // consistent (changes are applied whole), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn next_conn_id(&self) -> u32 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Watches whether server `id`'s SQL port should be open.
    pub fn serving(&self, id: i64) -> watch::Receiver<bool> {
        self.serving[index(id)].subscribe()
    }

    /// Called by server `id`'s listener task when it opens or closes the port.
    pub fn set_open(&self, id: i64, open: bool) {
        self.open[index(id)].send_replace(open);
    }

    /// Waits until every SQL port is as the state says it should be
    /// (open where the server serves, closed where it does not).
    pub async fn ports_settled(&self) {
        for (serving, open) in self.serving.iter().zip(&self.open) {
            let mut serving = serving.subscribe();
            let mut open = open.subscribe();
            loop {
                let want = *serving.borrow_and_update();
                if *open.borrow_and_update() == want {
                    break;
                }
                tokio::select! {
                    r = serving.changed() => if r.is_err() { return },
                    r = open.changed() => if r.is_err() { return },
                }
            }
        }
    }

    /// A copy of the state.
    pub fn cluster(&self) -> Cluster {
        self.lock().cluster.clone()
    }

    /// The snapshot `status --json` prints.
    pub fn status(&self, control: &str) -> crate::status::Status {
        let inner = self.lock();
        crate::status::Status::of(
            &inner.cluster,
            control.to_owned(),
            &inner.faults.list(),
            inner.transcript.totals().clone(),
        )
    }

    /// Applies a change now.
    pub fn apply(&self, op: Op) -> Result<bool, Refusal> {
        let mut inner = self.lock();
        let r = inner.cluster.apply(op, now_ms(), &self.config.timing);
        if matches!(r, Ok(true)) {
            self.after_change(&inner.cluster);
        }
        r
    }

    /// Lets time pass (fires due timers).
    pub fn tick(&self) {
        let _ = self.apply(Op::Tick);
    }

    fn after_change(&self, cluster: &Cluster) {
        for (s, tx) in cluster.servers.iter().zip(&self.serving) {
            tx.send_if_modified(|v| {
                let changed = *v != s.serving();
                *v = s.serving();
                changed
            });
        }
        self.changed.notify_waiters();
        self.changed.notify_one();
    }

    /// The columns a statement would answer with (for a prepared
    /// statement's metadata), if a pattern matches its normalized text.
    pub fn columns_of(&self, norm: &str) -> Option<Vec<OutColumn>> {
        let m = self.matcher.find(norm)?;
        Some(
            columns(m.def.id)
                .iter()
                .map(|c| OutColumn {
                    name: c.name.to_owned(),
                    column: *c,
                })
                .collect(),
        )
    }

    /// Runs one statement for `session`: faults first (a delay is slept
    /// here), then the pattern table, then the transcript. The state's lock
    /// is taken once per statement (twice when a fault delays it: it is
    /// never held while sleeping).
    pub async fn execute(&self, session: &mut Session, text: &str) -> Executed {
        let norm = normalize(text);
        // Matched once: the pattern table is the costliest part of a query.
        let found = self.matcher.find(&norm);
        let id = found.as_ref().map(|m| m.def.id);
        let decision = {
            let mut inner = self.lock();
            let decision: Decision = inner.faults.check(id, &norm);
            if decision.delay_ms == 0 {
                return self.run_locked(&mut inner, session, found, text, decision);
            }
            decision
        };
        tokio::time::sleep(Duration::from_millis(decision.delay_ms)).await;
        let mut inner = self.lock();
        self.run_locked(&mut inner, session, found, text, decision)
    }

    /// The statement past its faults, under the state's lock.
    fn run_locked(
        &self,
        inner: &mut Inner,
        session: &mut Session,
        found: Option<Matched<'_>>,
        text: &str,
        decision: Decision,
    ) -> Executed {
        let id = found.as_ref().map(|m| m.def.id);
        let now = now_ms();
        if inner.cluster.apply(Op::Tick, now, &self.config.timing) == Ok(true) {
            self.after_change(&inner.cluster);
        }
        let (result, unsupported) = match decision.fail {
            Some(e) => (Err(e), false),
            None => self.answer(inner, session, found, text, now),
        };
        let server = inner
            .cluster
            .server(session.server)
            .map(|s| s.ip.to_string())
            .unwrap_or_default();
        inner.transcript.record(
            Entry {
                seq: 0,
                at_ms: now,
                conn: session.conn_id,
                user: session.user.clone(),
                server,
                text: text.to_owned(),
                id: id.map(str::to_owned),
                result: match &result {
                    Ok(Reply::Ok) => Outcome::Ok,
                    Ok(Reply::Rows(rs)) => Outcome::Rows {
                        columns: rs.columns.iter().map(|c| c.name.clone()).collect(),
                        rows: rs.rows.len(),
                    },
                    Err(e) => Outcome::Error(e.clone()),
                },
            },
            unsupported,
        );
        Executed {
            result,
            drop_after: decision.drop_after,
        }
    }

    fn answer(
        &self,
        inner: &mut Inner,
        session: &mut Session,
        found: Option<Matched<'_>>,
        raw: &str,
        now: Ms,
    ) -> (Result<Reply, SqlError>, bool) {
        let Some(m) = found else {
            let (e, unsupported) = self.matcher.refuse(raw, self.config.sqlx_refusal);
            return (Err(e), unsupported);
        };
        let mut q = Query {
            cluster: &inner.cluster,
            session,
            now_ms: now,
        };
        let answer = match (m.def.handler)(&m.caps, &mut q) {
            Ok(a) => a,
            Err(e) => return (Err(e), false),
        };
        let reply = match answer {
            Answer::Ok => Ok(Reply::Ok),
            Answer::Rows { rows, rename } => {
                let cols = columns(m.def.id);
                let columns = cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| OutColumn {
                        name: match (&rename, i) {
                            (Some(r), 0) => r.clone(),
                            _ => c.name.to_owned(),
                        },
                        column: *c,
                    })
                    .collect();
                Ok(Reply::Rows(ResultSet { columns, rows }))
            }
            Answer::Apply(op) => match inner.cluster.apply(op, now, &self.config.timing) {
                Ok(changed) => {
                    if changed {
                        self.after_change(&inner.cluster);
                    }
                    Ok(Reply::Ok)
                }
                Err(r) => Err(self.config.codes.refusal(&r)),
            },
        };
        (reply, false)
    }
}
