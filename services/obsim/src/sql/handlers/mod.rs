//! One handler per catalogue entry, in catalogue order: the pattern table.
//!
//! A definition names its catalogue id and a template (SQL with captures,
//! see `pattern`). Its answer's columns are the catalogue entry's, so the
//! driver, the scripts and obsim share one list of shapes.

mod health;
pub mod session;
mod topology;
mod upgrade;

use obup_ob_sql::Column;
use regex::Captures;

use super::pattern::CapsExt;
use super::views::{Record, project};
use super::{Answer, Query, SqlError, Value};

/// A handler: the statement's captures and the state, to an answer.
pub type Handler = fn(&Captures<'_>, &mut Query<'_>) -> Result<Answer, SqlError>;

/// One row of the pattern table.
#[derive(Debug, Clone, Copy)]
pub struct Def {
    /// The catalogue entry this pattern answers.
    pub id: &'static str,
    pub template: &'static str,
    pub handler: Handler,
}

const fn def(id: &'static str, template: &'static str, handler: Handler) -> Def {
    Def {
        id,
        template,
        handler,
    }
}

/// Every definition, in match order.
pub fn all() -> Vec<Def> {
    [topology::DEFS, health::DEFS, upgrade::DEFS, session::DEFS].concat()
}

/// The catalogue columns of `id`.
pub fn columns(id: &str) -> &'static [Column] {
    obup_ob_sql::catalogue::shape(id).map_or(&[], |s| s.columns)
}

/// Records projected onto `id`'s columns.
fn select(id: &str, records: &[Record]) -> Result<Answer, SqlError> {
    Ok(Answer::rows(project(records, columns(id))))
}

/// One count, in a column named as the statement's `c` capture says.
fn count(caps: &Captures<'_>, n: usize) -> Result<Answer, SqlError> {
    Ok(Answer::Rows {
        rows: vec![vec![Value::Int(n as i64)]],
        rename: Some(caps.count_name("c")),
    })
}

fn ok(_: &Captures<'_>, _: &mut Query<'_>) -> Result<Answer, SqlError> {
    Ok(Answer::Ok)
}

/// Single values, one per row.
fn column_of(values: impl IntoIterator<Item = Value>) -> Result<Answer, SqlError> {
    Ok(Answer::rows(values.into_iter().map(|v| vec![v]).collect()))
}

/// Distinct values, in first-seen order.
fn distinct(values: impl IntoIterator<Item = String>) -> Vec<Value> {
    let mut seen: Vec<String> = Vec::new();
    for v in values {
        if !seen.contains(&v) {
            seen.push(v);
        }
    }
    seen.into_iter().map(Value::Str).collect()
}

/// `a = b` or `a != b`, as the `op` capture says.
fn compare(caps: &Captures<'_>, a: &str, b: &str) -> bool {
    match caps.name("op").map(|m| m.as_str()) {
        Some("!=") | Some("<>") => a != b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every catalogue entry has exactly one pattern, and every pattern
    /// answers a catalogue entry.
    #[test]
    fn the_table_and_the_catalogue_are_one_list() {
        let defs = all();
        let mut ids: Vec<&str> = defs.iter().map(|d| d.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "a catalogue id with two patterns");
        for shape in obup_ob_sql::catalogue::shapes() {
            assert!(ids.contains(&shape.id), "{} has no pattern", shape.id);
        }
        for id in ids {
            assert!(
                obup_ob_sql::catalogue::shape(id).is_some(),
                "{id} is not catalogued"
            );
        }
    }
}
