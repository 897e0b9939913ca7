//! Injected faults on statements: fail the N-th execution of a pattern with
//! a chosen error, delay a pattern, or drop the connection in the middle of
//! a result. (Frozen transitions are part of the state: `Transition`.)
//!
//! A pattern is a catalogue id (`stop_zone`), or else a case-insensitive
//! regex searched in the statement's normalized text.

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::sql::SqlError;

/// A fault as added (flags, the control API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub pattern: String,
    pub action: FaultAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Fail the `nth` matching execution (1-based) and the `times - 1`
    /// after it.
    Fail {
        #[serde(default = "one")]
        nth: u64,
        #[serde(default = "one")]
        times: u64,
        code: u16,
        #[serde(default = "hy000")]
        state: String,
        #[serde(default)]
        message: String,
    },
    /// Hold every matching statement this long before answering.
    Delay { ms: u64 },
    /// On the `nth` matching execution, send `after_rows` rows of the
    /// result and close the connection.
    Drop {
        #[serde(default = "one")]
        nth: u64,
        #[serde(default)]
        after_rows: usize,
    },
}

fn one() -> u64 {
    1
}

fn hy000() -> String {
    "HY000".into()
}

/// A fault in force, with what it has done.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    pub id: u64,
    pub spec: FaultSpec,
    /// Matching executions so far.
    pub seen: u64,
    /// Times it acted.
    pub fired: u64,
    #[serde(skip)]
    regex: Option<Regex>,
}

/// What the faults decide for one statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub delay_ms: u64,
    pub fail: Option<SqlError>,
    pub drop_after: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Faults {
    list: Vec<Fault>,
    next_id: u64,
}

impl Faults {
    /// Adds a fault; an invalid regex is refused.
    pub fn add(&mut self, spec: FaultSpec) -> Result<u64, String> {
        let regex = if obup_ob_sql::catalogue::shape(&spec.pattern).is_some() {
            None
        } else {
            Some(
                Regex::new(&format!("(?i){}", spec.pattern))
                    .map_err(|e| format!("fault pattern {:?}: {e}", spec.pattern))?,
            )
        };
        self.next_id += 1;
        self.list.push(Fault {
            id: self.next_id,
            spec,
            seen: 0,
            fired: 0,
            regex,
        });
        Ok(self.next_id)
    }

    /// Removes one fault, or all of them.
    pub fn clear(&mut self, id: Option<u64>) -> usize {
        let before = self.list.len();
        self.list.retain(|f| id.is_some_and(|id| f.id != id));
        before - self.list.len()
    }

    pub fn list(&self) -> Vec<Fault> {
        self.list.clone()
    }

    /// Counts the statement against every matching fault and says what to
    /// do with it.
    pub fn check(&mut self, id: Option<&str>, norm: &str) -> Decision {
        let mut d = Decision::default();
        for f in &mut self.list {
            let hit = match &f.regex {
                None => id == Some(f.spec.pattern.as_str()),
                Some(re) => re.is_match(norm),
            };
            if !hit {
                continue;
            }
            f.seen += 1;
            match &f.spec.action {
                FaultAction::Fail {
                    nth,
                    times,
                    code,
                    state,
                    message,
                } => {
                    if f.seen >= *nth && f.seen < nth + times && d.fail.is_none() {
                        f.fired += 1;
                        let message = if message.is_empty() {
                            format!("obsim: injected fault {}", f.id)
                        } else {
                            message.clone()
                        };
                        d.fail = Some(SqlError::new(*code, state, message));
                    }
                }
                FaultAction::Delay { ms } => {
                    f.fired += 1;
                    d.delay_ms += ms;
                }
                FaultAction::Drop { nth, after_rows } => {
                    if f.seen == *nth {
                        f.fired += 1;
                        d.drop_after = Some(*after_rows);
                    }
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nth_execution_fails_and_only_it() {
        let mut f = Faults::default();
        f.add(FaultSpec {
            pattern: "stop_zone".into(),
            action: FaultAction::Fail {
                nth: 2,
                times: 1,
                code: 4012,
                state: "HY000".into(),
                message: "Timeout".into(),
            },
        })
        .unwrap();
        let delay = f
            .add(FaultSpec {
                pattern: "dba_ob_zones".into(),
                action: FaultAction::Delay { ms: 30 },
            })
            .unwrap();
        assert_eq!(
            f.check(Some("stop_zone"), "ALTER SYSTEM STOP ZONE 'z'"),
            Decision::default()
        );
        let d = f.check(Some("stop_zone"), "ALTER SYSTEM STOP ZONE 'z'");
        assert_eq!(d.fail.map(|e| e.code), Some(4012));
        assert_eq!(f.check(Some("stop_zone"), "x").fail, None);
        assert_eq!(
            f.check(Some("zones"), "select * from DBA_OB_ZONES")
                .delay_ms,
            30
        );
        assert_eq!(f.clear(Some(delay)), 1);
        assert_eq!(f.list().len(), 1);
        assert!(
            f.add(FaultSpec {
                pattern: "(".into(),
                action: FaultAction::Delay { ms: 1 }
            })
            .is_err()
        );
    }
}
