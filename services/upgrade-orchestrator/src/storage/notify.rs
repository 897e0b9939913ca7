//! Change notifications between orchestrators sharing one PostgreSQL
//! database: every transaction that writes events also sends one
//! `NOTIFY` naming the DAG and the sequence numbers it wrote.

use std::fmt;
use std::str::FromStr;

/// The `LISTEN`/`NOTIFY` channel.
pub const CHANNEL: &str = "obup_dag_events";

/// One transaction's events, as announced: `<origin> <dag> <first> <last>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The repository (process) that wrote them.
    pub origin: String,
    pub dag_id: i64,
    pub first_seq: i64,
    pub last_seq: i64,
}

impl fmt::Display for Announcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.origin, self.dag_id, self.first_seq, self.last_seq
        )
    }
}

impl FromStr for Announcement {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("not a DAG event announcement: {s:?}");
        let mut parts = s.split(' ');
        let mut next = || parts.next().ok_or_else(bad);
        let origin = next()?.to_owned();
        let mut number = || next()?.parse::<i64>().map_err(|_| bad());
        let (dag_id, first_seq, last_seq) = (number()?, number()?, number()?);
        if first_seq > last_seq {
            return Err(bad());
        }
        Ok(Self {
            origin,
            dag_id,
            first_seq,
            last_seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_trip_and_garbage_is_refused() {
        let a = Announcement {
            origin: "0193abc".into(),
            dag_id: 7,
            first_seq: 12,
            last_seq: 15,
        };
        assert_eq!(a.to_string().parse::<Announcement>(), Ok(a));
        for bad in ["", "x 1 2", "x 1 2 y", "x 1 5 2"] {
            assert!(bad.parse::<Announcement>().is_err(), "{bad:?}");
        }
    }
}
