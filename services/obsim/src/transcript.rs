//! Every statement obsim answered, for tests to assert on: a bounded ring
//! of entries (the oldest dropped first), plus totals per catalogue id and
//! a count of unsupported statements that are never dropped.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::sql::SqlError;

/// One statement and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1-based, dense over the simulator's life.
    pub seq: u64,
    pub at_ms: i64,
    pub conn: u32,
    pub user: String,
    /// The server (its IP) whose SQL port the statement came in on.
    pub server: String,
    /// As the client sent it (prepared statements with their parameters
    /// put back).
    pub text: String,
    /// The catalogue entry it matched, if any.
    pub id: Option<String>,
    pub result: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Rows { columns: Vec<String>, rows: usize },
    Error(SqlError),
}

/// Counts over every statement ever recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub statements: u64,
    pub errors: u64,
    /// Statements outside the catalogue (`obsim: unsupported statement`).
    pub unsupported: u64,
    pub by_id: BTreeMap<String, u64>,
}

#[derive(Debug)]
pub struct Transcript {
    capacity: usize,
    entries: VecDeque<Entry>,
    totals: Totals,
}

impl Transcript {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: VecDeque::new(),
            totals: Totals::default(),
        }
    }

    /// Records an entry (its `seq` is assigned here).
    pub fn record(&mut self, mut e: Entry, unsupported: bool) {
        self.totals.statements += 1;
        e.seq = self.totals.statements;
        if matches!(e.result, Outcome::Error(_)) {
            self.totals.errors += 1;
        }
        if unsupported {
            self.totals.unsupported += 1;
        }
        if let Some(id) = &e.id {
            *self.totals.by_id.entry(id.clone()).or_default() += 1;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }

    /// Entries with `seq > after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect()
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: Option<&str>, result: Outcome) -> Entry {
        Entry {
            seq: 0,
            at_ms: 0,
            conn: 1,
            user: "root".into(),
            server: "127.0.0.1".into(),
            text: "x".into(),
            id: id.map(str::to_owned),
            result,
        }
    }

    #[test]
    fn the_ring_drops_the_oldest_and_totals_keep_counting() {
        let mut t = Transcript::new(2);
        t.record(entry(Some("version"), Outcome::Ok), false);
        t.record(entry(Some("version"), Outcome::Ok), false);
        let err = Outcome::Error(SqlError::unsupported("x"));
        t.record(entry(None, err), true);
        let seqs: Vec<u64> = t.since(0).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 3]);
        assert_eq!(t.since(2).len(), 1);
        let totals = t.totals();
        assert_eq!(
            (totals.statements, totals.errors, totals.unsupported),
            (3, 1, 1)
        );
        assert_eq!(totals.by_id["version"], 2);
    }
}
