//! Statements: normalized text, a table of patterns (one per catalogue
//! entry of `obup-ob-sql`), and handlers over the cluster state that answer
//! with typed columns.
//!
//! # Layout
//! - `normalize`: the canonical text of a statement.
//! - `pattern`: templates written as SQL, compiled to regexes.
//! - `views`: the sys tenant's views and tables as records.
//! - `handlers/`: one handler per catalogue entry, grouped as the catalogue is.
//! - `matcher`: the ordered table, and what is not in it (unknown tables,
//!   syntax errors, unsupported statements).

pub mod handlers;
pub mod matcher;
pub mod normalize;
pub mod pattern;
pub mod views;

use chrono::NaiveDateTime;
use obup_ob_sql::Column;

use crate::state::{Cluster, Ms, Op};

pub use matcher::{Matched, Matcher};

/// A value of a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    UInt(u64),
    Str(String),
    Time(NaiveDateTime),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    /// The value as text, as the text protocol sends it (`None` for NULL).
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Null => None,
            Self::Int(i) => Some(i.to_string()),
            Self::UInt(u) => Some(u.to_string()),
            Self::Str(s) => Some(s.clone()),
            Self::Time(t) => Some(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
        }
    }
}

/// An error as the client sees it: code, SQL state, message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SqlError {
    pub code: u16,
    pub state: String,
    pub message: String,
}

impl SqlError {
    pub fn new(code: u16, state: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            state: state.into(),
            message: message.into(),
        }
    }

    /// What obsim answers for a statement outside its catalogue.
    pub fn unsupported(text: &str) -> Self {
        Self::new(
            1064,
            "42000",
            format!("obsim: unsupported statement: {}", text.trim()),
        )
    }

    /// OceanBase's syntax error (the PyPI kernel's text).
    pub fn syntax(near: &str) -> Self {
        Self::new(
            1064,
            "42000",
            format!(
                "You have an error in your SQL syntax; check the manual that corresponds to \
                 your OceanBase version for the right syntax to use near '{near}' at line 1"
            ),
        )
    }

    /// OceanBase's unknown table (the PyPI kernel's text: the name in lower
    /// case, with its database).
    pub fn no_table(name: &str) -> Self {
        Self::new(
            1146,
            "42S02",
            format!(
                "Table 'oceanbase.{}' doesn't exist",
                name.to_ascii_lowercase()
            ),
        )
    }
}

/// A connection's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub conn_id: u32,
    pub user: String,
    /// The server whose SQL port the client is connected to.
    pub server: i64,
    pub database: Option<String>,
    pub autocommit: bool,
    pub in_transaction: bool,
    /// `time_zone`, as an offset in seconds (`+08:00` by default, as on
    /// OceanBase).
    pub tz_offset_s: i32,
    pub query_timeout_us: i64,
    pub trx_timeout_us: i64,
}

impl Session {
    pub fn new(conn_id: u32, server: i64) -> Self {
        Self {
            conn_id,
            user: String::new(),
            server,
            database: None,
            autocommit: true,
            in_transaction: false,
            tz_offset_s: 8 * 3600,
            query_timeout_us: 10_000_000,
            trx_timeout_us: 86_400_000_000,
        }
    }

    /// `time_zone` as OceanBase prints it (`+08:00`).
    pub fn time_zone(&self) -> String {
        let sign = if self.tz_offset_s < 0 { '-' } else { '+' };
        let m = self.tz_offset_s.unsigned_abs() / 60;
        format!("{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// µs since the epoch as a TIMESTAMP in this session's time zone.
    pub fn timestamp(&self, us: i64) -> Value {
        let t =
            chrono::DateTime::from_timestamp_micros(us + i64::from(self.tz_offset_s) * 1_000_000);
        t.map_or(Value::Null, |t| Value::Time(t.naive_utc()))
    }
}

/// What a handler sees.
#[derive(Debug)]
pub struct Query<'a> {
    pub cluster: &'a Cluster,
    pub session: &'a mut Session,
    pub now_ms: Ms,
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An OK packet.
    Ok,
    /// Rows in the catalogue entry's columns; `rename` renames the first
    /// column (a count's alias, as the statement spelled it).
    Rows {
        rows: Vec<Vec<Value>>,
        rename: Option<String>,
    },
    /// A change of the cluster: OK once applied, or the refusal.
    Apply(Op),
}

impl Answer {
    pub fn rows(rows: Vec<Vec<Value>>) -> Self {
        Self::Rows { rows, rename: None }
    }
}

/// A statement's answer with its columns, ready for the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<OutColumn>,
    pub rows: Vec<Vec<Value>>,
}

/// A result column: the catalogue's column, maybe renamed.
#[derive(Debug, Clone, PartialEq)]
pub struct OutColumn {
    pub name: String,
    pub column: Column,
}
