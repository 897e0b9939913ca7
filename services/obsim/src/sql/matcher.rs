//! The ordered pattern table, and what obsim answers for a statement that is
//! not in it:
//! - a statement that names a table obsim does not have: `1146 (42S02)
//!   Table 'oceanbase.<name>' doesn't exist`, as OceanBase answers;
//! - one that does not start with an SQL verb: OceanBase's `1064 (42000)`
//!   syntax error;
//! - anything else: `1064 (42000) obsim: unsupported statement: <text>`,
//!   counted, so that drift between clients and the catalogue is loud.
//!
//! The connect-time `SET sql_mode=(...),time_zone=...,NAMES utf8mb4 COLLATE
//! utf8mb4_unicode_ci` of sqlx before 0.9 (and of 0.9 given that collation)
//! is refused as OceanBase refuses it (real-driver.md §4.3 #1):
//! `1273 Unknown collation` by default, what the PyPI kernel answers
//! (`tests/kernel.rs`), or `1064` near the collation, as in the issue
//! thread of an OceanBase of unknown version, as configured.

use regex::{Captures, Regex, RegexSet};

use super::SqlError;
use super::handlers::{self, Def, session::SHOWN_TABLES};
use super::normalize::{Token, tokens};

/// How the sqlx connect-time statement is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlxRefusal {
    /// `1064 (42000) ... near 'utf8mb4 COLLATE utf8mb4_unicode_ci;'`, as in
    /// the issue thread of a real OceanBase (real-driver.md §4.3).
    Syntax,
    /// `1273 (HY000) Unknown collation: 'utf8mb4_unicode_ci'`, the PyPI
    /// kernel's answer (§0.1), checked by `tests/kernel.rs`.
    #[default]
    UnknownCollation,
}

/// A compiled pattern table.
#[derive(Debug)]
pub struct Matcher {
    defs: Vec<Def>,
    set: RegexSet,
    regexes: Vec<Regex>,
}

/// A statement found in the table.
#[derive(Debug)]
pub struct Matched<'t> {
    pub def: Def,
    pub caps: Captures<'t>,
}

impl Default for Matcher {
    fn default() -> Self {
        Self::new()
    }
}

impl Matcher {
    pub fn new() -> Self {
        let defs = handlers::all();
        let regexes: Vec<Regex> = defs
            .iter()
            .map(|d| super::pattern::compile(d.template))
            .collect();
        let set = RegexSet::new(regexes.iter().map(Regex::as_str))
            .expect("every pattern compiled alone, so the set compiles");
        Self { defs, set, regexes }
    }

    /// The first pattern (in table order) that matches the normalized text.
    pub fn find<'t>(&self, norm: &'t str) -> Option<Matched<'t>> {
        let i = self.set.matches(norm).into_iter().next()?;
        let caps = self.regexes[i].captures(norm)?;
        Some(Matched {
            def: self.defs[i],
            caps,
        })
    }

    /// The error for a statement that matched nothing, and whether it
    /// counts as unsupported.
    pub fn refuse(&self, raw: &str, sqlx: SqlxRefusal) -> (SqlError, bool) {
        let toks = tokens(raw);
        let words: Vec<&str> = toks
            .iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.as_str()),
                _ => None,
            })
            .collect();
        let lower = raw.to_ascii_lowercase();
        if lower.trim_start().starts_with("set sql_mode") && lower.contains("utf8mb4_unicode_ci") {
            let e = match sqlx {
                SqlxRefusal::Syntax => SqlError::syntax("utf8mb4 COLLATE utf8mb4_unicode_ci;"),
                SqlxRefusal::UnknownCollation => {
                    SqlError::new(1273, "HY000", "Unknown collation: 'utf8mb4_unicode_ci'")
                }
            };
            return (e, false);
        }
        let Some(first) = words.first() else {
            return (SqlError::new(1065, "42000", "Query was empty"), false);
        };
        if !VERBS.iter().any(|v| v.eq_ignore_ascii_case(first)) {
            return (SqlError::syntax(raw.trim().trim_end_matches(';')), false);
        }
        if let Some(table) = unknown_table(&toks) {
            return (SqlError::no_table(&table), false);
        }
        (SqlError::unsupported(raw), true)
    }
}

/// Statements start with one of these; anything else is a syntax error.
const VERBS: &[&str] = &[
    "select",
    "set",
    "alter",
    "show",
    "use",
    "start",
    "begin",
    "commit",
    "rollback",
    "insert",
    "update",
    "delete",
    "replace",
    "create",
    "drop",
    "truncate",
    "rename",
    "explain",
    "desc",
    "describe",
    "with",
    "grant",
    "revoke",
    "call",
    "kill",
    "flush",
    "load",
    "lock",
    "unlock",
    "prepare",
    "execute",
    "deallocate",
    "do",
    "analyze",
    "optimize",
    "purge",
    "savepoint",
    "release",
    "xa",
    "help",
    "(",
];

/// The first name after `FROM` or `JOIN` that is neither a table obsim
/// has nor `dual`.
fn unknown_table(toks: &[Token]) -> Option<String> {
    let mut prev_from = false;
    for t in toks {
        match t {
            Token::Word(w) if prev_from => {
                let known = w.eq_ignore_ascii_case("dual")
                    || w.eq_ignore_ascii_case("DBA_OB_LICENSE")
                    || SHOWN_TABLES.iter().any(|k| k.eq_ignore_ascii_case(w));
                if !known {
                    return Some(w.clone());
                }
                prev_from = false;
            }
            Token::Word(w) => {
                prev_from = w.eq_ignore_ascii_case("from") || w.eq_ignore_ascii_case("join");
            }
            _ => prev_from = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::normalize::normalize;

    /// Each catalogue example is matched by its own pattern (not an earlier
    /// one).
    #[test]
    fn every_example_finds_its_own_pattern() {
        let m = Matcher::new();
        for shape in obup_ob_sql::catalogue::shapes() {
            let norm = normalize(shape.example);
            let found = m.find(&norm).map(|x| x.def.id);
            assert_eq!(found, Some(shape.id), "{norm}");
        }
    }

    #[test]
    fn what_is_not_in_the_table() {
        let m = Matcher::new();
        let code = |sql: &str| {
            assert!(m.find(&normalize(sql)).is_none(), "{sql}");
            let (e, unsupported) = m.refuse(sql, SqlxRefusal::Syntax);
            (e.code, unsupported)
        };
        assert_eq!(code("selec 1"), (1064, false));
        assert_eq!(code("select 1 from oceanbase.no_such_view"), (1146, false));
        assert_eq!(code("select * from __all_server where 1 = 2"), (1064, true));
        let sqlx = "SET sql_mode=(SELECT CONCAT(@@sql_mode, ',PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION')),\
                    time_zone='+00:00',NAMES utf8mb4 COLLATE utf8mb4_unicode_ci;";
        assert_eq!(code(sqlx), (1064, false));
        assert_eq!(m.refuse(sqlx, SqlxRefusal::UnknownCollation).0.code, 1273);
    }

    #[test]
    fn script_spellings_match() {
        let m = Matcher::new();
        for (sql, id) in [
            (
                "select count(1) as unsync_cnt from GV$OB_LOG_STAT where in_sync = 'NO'",
                "unsynced_logs",
            ),
            ("set autocommit=0", "set_autocommit"),
            (
                "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'",
                "set_names",
            ),
            ("SET ob_query_timeout=60000000", "set_ob_query_timeout"),
            (
                "set @@session.ob_query_timeout = 1000000000",
                "set_ob_query_timeout",
            ),
            ("COMMIT", "transaction"),
            ("ALTER SYSTEM STOP ZONE zone1", "stop_zone"),
            (
                "alter system set enable_rebalance = 'False' tenant = 'sys'",
                "set_parameter_for_tenant",
            ),
            (
                "alter system set enable_rebalance = 'True' server '127.0.0.1:2882'",
                "set_parameter_on_server",
            ),
            (
                "ALTER SYSTEM MINOR FREEZE TENANT = all_user;",
                "minor_freeze_tenant",
            ),
            (
                "select * from oceanbase.GV$OB_PARAMETERS where name = 'enable_upgrade_mode' and value = 'True'",
                "parameter_rows",
            ),
            (
                "select count(*) cnt from oceanbase.__all_virtual_sys_parameter_stat where name = 'syslog_level' and value = 'INFO'",
                "sys_param_stat_count",
            ),
            (
                "select count(*) from oceanbase.__all_server where (start_service_time <= 0 or status='inactive') and zone = 'zone1'",
                "servers_inactive",
            ),
            (
                "select distinct(substring_index(build_version, '_', 1)) from oceanbase.__all_server where zone = 'zone1'",
                "build_versions",
            ),
            (
                "SELECT * FROM oceanbase.DBA_OB_SERVERS WHERE ZONE = 'zone2'",
                "servers_all",
            ),
            (
                "select count(*) as cnt from oceanbase.__all_virtual_tenant_parameter_info where name = 'compatible' and value = '4.2.1.0' and tenant_id in (1, 1001, 1002)",
                "tenant_param_count",
            ),
            (
                "select count(1)=0 from oceanbase.__all_virtual_user where user_name='STANDBY_REPLICATION' and tenant_id=1002",
                "standby_replication_user",
            ),
            ("alter system resume merge tenant = all", "merge_control"),
        ] {
            let norm = normalize(sql);
            assert_eq!(m.find(&norm).map(|x| x.def.id), Some(id), "{norm}");
        }
    }
}
