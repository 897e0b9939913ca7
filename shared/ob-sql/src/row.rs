//! A result row as text, the way the driver reads every row: each column
//! as an optional string, whatever its declared type. OceanBase may declare
//! a count or an SCN as BIGINT, BIGINT UNSIGNED or DECIMAL (real-driver.md
//! §4.3 #6); reading text and parsing here accepts all of them.

use chrono::NaiveDateTime;

/// Why a row could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the result has no column {0}")]
    NoColumn(String),
    #[error("column {0} is NULL")]
    Null(String),
    #[error("column {column} is {value:?}, not {expected}")]
    Invalid {
        column: String,
        value: String,
        expected: &'static str,
    },
    #[error("expected one row, got {0}")]
    RowCount(usize),
}

/// One row: column names (as the server sent them) and text values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    columns: Vec<String>,
    values: Vec<Option<String>>,
}

impl Row {
    pub fn new(columns: Vec<String>, values: Vec<Option<String>>) -> Self {
        Self { columns, values }
    }

    /// The value of `column` (names compared without case: OceanBase's
    /// views answer in upper case, the scripts' lower-case selects in lower).
    pub fn get(&self, column: &str) -> Result<Option<&str>, DecodeError> {
        let i = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))
            .ok_or_else(|| DecodeError::NoColumn(column.to_owned()))?;
        Ok(self.values.get(i).and_then(|v| v.as_deref()))
    }

    /// The value at `index`, for single-column results such as `count(*)`.
    pub fn at(&self, index: usize) -> Option<&str> {
        self.values.get(index).and_then(|v| v.as_deref())
    }

    pub fn text(&self, column: &str) -> Result<&str, DecodeError> {
        self.get(column)?
            .ok_or_else(|| DecodeError::Null(column.to_owned()))
    }

    pub fn int(&self, column: &str) -> Result<i64, DecodeError> {
        parse_int(column, self.text(column)?)
    }

    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, DecodeError> {
        self.get(column)?.map(|v| parse_int(column, v)).transpose()
    }

    pub fn uint(&self, column: &str) -> Result<u64, DecodeError> {
        let v = self.text(column)?;
        integral(v)
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| invalid(column, v, "an unsigned integer"))
    }

    /// A `DATETIME(6)` as text (`2023-09-28 07:09:06.123456`), or NULL.
    pub fn opt_datetime(&self, column: &str) -> Result<Option<NaiveDateTime>, DecodeError> {
        let Some(v) = self.get(column)? else {
            return Ok(None);
        };
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(v.trim(), f).ok())
            .map(Some)
            .ok_or_else(|| invalid(column, v, "a date and time"))
    }
}

fn invalid(column: &str, value: &str, expected: &'static str) -> DecodeError {
    DecodeError::Invalid {
        column: column.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

/// `12`, `12.0` and `12.000` (a DECIMAL count) are 12; `12.5` is not an
/// integer.
fn integral(v: &str) -> Option<&str> {
    let v = v.trim();
    match v.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|b| b == b'0') => Some(int),
        Some(_) => None,
        None => Some(v),
    }
}

fn parse_int(column: &str, v: &str) -> Result<i64, DecodeError> {
    integral(v)
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| invalid(column, v, "an integer"))
}

/// The single integer of a one-row, one-column result (`count(*)`).
pub fn scalar_int(rows: &[Row]) -> Result<i64, DecodeError> {
    match rows {
        [row] => {
            let v = row.at(0).ok_or_else(|| DecodeError::Null("0".into()))?;
            parse_int("0", v)
        }
        _ => Err(DecodeError::RowCount(rows.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cols: &[&str], vals: &[Option<&str>]) -> Row {
        Row::new(
            cols.iter().map(|c| c.to_string()).collect(),
            vals.iter().map(|v| v.map(str::to_owned)).collect(),
        )
    }

    #[test]
    fn counts_decode_from_any_numeric_type() {
        for (text, n) in [("3", 3), ("3.000", 3), (" 0 ", 0), ("18446744", 18_446_744)] {
            assert_eq!(scalar_int(&[row(&["count(*)"], &[Some(text)])]), Ok(n));
        }
        assert!(scalar_int(&[row(&["count(*)"], &[Some("3.5")])]).is_err());
        assert!(scalar_int(&[]).is_err());
        let scn = row(&["checkpoint_scn"], &[Some("1700000000000000000")]);
        assert_eq!(scn.uint("CHECKPOINT_SCN"), Ok(1_700_000_000_000_000_000));
    }

    #[test]
    fn columns_are_found_without_case_and_nulls_are_told_apart() {
        let r = row(&["STATUS", "STOP_TIME"], &[Some("ACTIVE"), None]);
        assert_eq!(r.text("status"), Ok("ACTIVE"));
        assert_eq!(r.opt_datetime("stop_time"), Ok(None));
        assert_eq!(
            r.text("stop_time"),
            Err(DecodeError::Null("stop_time".into()))
        );
        assert!(matches!(r.get("zone"), Err(DecodeError::NoColumn(_))));
        let t = row(&["T"], &[Some("2023-09-28 07:09:06.123456")]);
        assert!(t.opt_datetime("T").unwrap().is_some());
        assert!(row(&["T"], &[Some("yesterday")]).opt_datetime("T").is_err());
    }
}
