//! States and operators of DAGs, nodes and sub-tasks, as obshell names them.

use std::fmt;

/// Where a DAG, node or sub-task stands.
///
/// ```text
/// sub-task: PENDING -> READY -> RUNNING -> SUCCEED | FAILED
/// node:     PENDING -> RUNNING -> SUCCEED | FAILED
/// DAG:      READY -> RUNNING -> SUCCEED | FAILED   (an operator puts it back to READY)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Pending,
    Ready,
    Running,
    Failed,
    Succeed,
}

/// What a DAG, node or sub-task is being driven to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Run,
    Retry,
    Rollback,
    Cancel,
    Pass,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Ready => "READY",
            Self::Running => "RUNNING",
            Self::Failed => "FAILED",
            Self::Succeed => "SUCCEED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "PENDING" => Self::Pending,
            "READY" => Self::Ready,
            "RUNNING" => Self::Running,
            "FAILED" => Self::Failed,
            "SUCCEED" => Self::Succeed,
            _ => return None,
        })
    }

    pub fn is_done(self) -> bool {
        matches!(self, Self::Failed | Self::Succeed)
    }
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "RUN",
            Self::Retry => "RETRY",
            Self::Rollback => "ROLLBACK",
            Self::Cancel => "CANCEL",
            Self::Pass => "PASS",
        }
    }

    /// Case-insensitive, as obshell's API accepts it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "RUN" => Self::Run,
            "RETRY" => Self::Retry,
            "ROLLBACK" => Self::Rollback,
            "CANCEL" => Self::Cancel,
            "PASS" => Self::Pass,
            _ => return None,
        })
    }
}

/// Stored and sent by name (`"RUNNING"`, `"RETRY"`).
macro_rules! by_name {
    ($t:ty, $what:literal) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&name)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown {} {name:?}", $what)))
            }
        }
    };
}

by_name!(State, "state");
by_name!(Operator, "operator");

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in [
            State::Pending,
            State::Ready,
            State::Running,
            State::Failed,
            State::Succeed,
        ] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        for o in [
            Operator::Run,
            Operator::Retry,
            Operator::Rollback,
            Operator::Cancel,
            Operator::Pass,
        ] {
            assert_eq!(Operator::parse(&o.as_str().to_lowercase()), Some(o));
        }
        assert_eq!(Operator::parse("explode"), None);
    }
}
