//! Session statements and identity probes (catalogue `SESSION`, and the
//! driver's `set_ob_query_timeout` and `version`).

use obup_types::Edition;
use regex::Captures;

use super::{Def, column_of, def, ok};
use crate::sql::pattern::CapsExt;
use crate::sql::{Answer, Query, SqlError, Value};

pub const DEFS: &[Def] = &[
    def(
        "set_ob_query_timeout",
        "SET [{scope:re:SESSION|GLOBAL}] {var:re:(?:@@session\\.|@@)?ob_query_timeout} = {n:int}",
        |c, q| {
            q.session.query_timeout_us = c.int("n").unwrap_or(0);
            Ok(Answer::Ok)
        },
    ),
    def(
        "set_ob_trx_timeout",
        "SET [{scope:re:SESSION|GLOBAL}] {var:re:(?:@@session\\.|@@)?ob_trx_timeout} = {n:int}",
        |c, q| {
            q.session.trx_timeout_us = c.int("n").unwrap_or(0);
            Ok(Answer::Ok)
        },
    ),
    def(
        "set_names",
        "SET NAMES {cs:value} [COLLATE {co:value}]",
        set_names,
    ),
    def(
        "set_autocommit",
        "SET {var:re:(?:@@session\\.|@@)?autocommit} = {v:value}",
        |c, q| {
            let v = c.text("v").unwrap_or_default().to_ascii_lowercase();
            q.session.autocommit = matches!(v.as_str(), "1" | "on" | "true");
            Ok(Answer::Ok)
        },
    ),
    // sqlx 0.9's connect-time statement with its default options. The PyPI
    // kernel accepts it (services/obsim/tests/kernel.rs), so a client
    // without bare options connects; the form that names
    // `COLLATE utf8mb4_unicode_ci` (older sqlx, or `.collation(..)`) does
    // not match here and is refused as the matcher says.
    def(
        "sqlx_connect",
        "SET sql_mode = (SELECT CONCAT(@@sql_mode, {modes:str})) [, time_zone = {tz:str}] \
         [, NAMES {cs:value}]",
        |c, q| match c.text("tz") {
            Some(_) => set_time_zone(c, q),
            None => ok(c, q),
        },
    ),
    def(
        "set_time_zone",
        "SET [{scope:re:SESSION}] {var:re:(?:@@session\\.|@@)?time_zone} = {tz:str}",
        set_time_zone,
    ),
    def(
        "transaction",
        "{op:re:START TRANSACTION|BEGIN|COMMIT|ROLLBACK}",
        |c, q| {
            let op = c.text("op").unwrap_or_default().to_ascii_uppercase();
            q.session.in_transaction = op.starts_with("START") || op == "BEGIN";
            Ok(Answer::Ok)
        },
    ),
    def("use_database", "use {db:name}", |c, q| {
        let db = c.text("db").unwrap_or_default();
        use_database(&db)?;
        q.session.database = Some(db);
        Ok(Answer::Ok)
    }),
    def("show_tables", "show tables", |_, _| {
        column_of(SHOWN_TABLES.iter().map(|t| Value::str(*t)))
    }),
    def("system_time_zone", "SELECT @@system_time_zone", |_, _| {
        column_of([Value::str("+00:00")])
    }),
    def("time_zone", "SELECT @@time_zone", |_, q| {
        column_of([Value::str(q.session.time_zone())])
    }),
    def(
        "version_comment",
        "select @@version_comment [limit 1]",
        |_, q| column_of([Value::str(identity(q).comment())]),
    ),
    def("version", "SELECT version()", |_, q| {
        column_of([Value::str(identity(q).version())])
    }),
    def("ob_version", "select ob_version()", |_, q| {
        column_of([Value::str(identity(q).number)])
    }),
    def(
        "utc_timestamp",
        "SELECT UTC_TIMESTAMP [( {p:int} )]",
        |_, q| column_of([timestamp(q.now_ms, 0)]),
    ),
    def(
        "current_timestamp",
        "SELECT CURRENT_TIMESTAMP [( {p:int} )]",
        |_, q| column_of([timestamp(q.now_ms, q.session.tz_offset_s)]),
    ),
    def(
        "version_is_ce",
        "select version() REGEXP {re:str}",
        |c, q| {
            let re = c.text("re").unwrap_or_default();
            let re = regex::Regex::new(&re).map_err(|e| {
                SqlError::new(1139, "42000", format!("Got error '{e}' from regexp"))
            })?;
            column_of([Value::Int(re.is_match(&identity(q).version()).into())])
        },
    ),
];

/// Collations OceanBase knows for utf8mb4; `utf8mb4_unicode_ci` is not one
/// of them (`1273 Unknown collation` on the PyPI kernel).
const COLLATIONS: &[&str] = &[
    "utf8mb4_general_ci",
    "utf8mb4_bin",
    "binary",
    "utf8mb4_0900_ai_ci",
];

fn set_names(c: &Captures<'_>, q: &mut Query<'_>) -> Result<Answer, SqlError> {
    if let Some(co) = c.text("co")
        && !COLLATIONS.iter().any(|k| k.eq_ignore_ascii_case(&co))
    {
        return Err(SqlError::new(
            1273,
            "HY000",
            format!("Unknown collation: '{co}'"),
        ));
    }
    ok(c, q)
}

fn set_time_zone(c: &Captures<'_>, q: &mut Query<'_>) -> Result<Answer, SqlError> {
    let tz = c.text("tz").unwrap_or_default();
    let parsed = tz
        .strip_prefix(['+', '-'])
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(h, m)| Some(h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60));
    // MySQL's code for an unknown zone; OceanBase's is unverified.
    let secs = parsed.ok_or_else(|| {
        SqlError::new(
            1298,
            "HY000",
            format!("Unknown or incorrect time zone: '{tz}'"),
        )
    })?;
    q.session.tz_offset_s = if tz.starts_with('-') { -secs } else { secs };
    Ok(Answer::Ok)
}

/// `USE`: the databases obshell and the scripts name.
pub fn use_database(db: &str) -> Result<(), SqlError> {
    if ["oceanbase", "ocs"]
        .iter()
        .any(|d| d.eq_ignore_ascii_case(db))
    {
        Ok(())
    } else {
        Err(SqlError::new(
            1049,
            "42000",
            format!("Unknown database '{db}'"),
        ))
    }
}

/// What `show tables` lists: the tables and views obsim answers for.
pub const SHOWN_TABLES: &[&str] = &[
    "CDB_OB_BACKUP_JOBS",
    "CDB_OB_LS_REPLICA_TASKS",
    "CDB_OB_MAJOR_COMPACTION",
    "CDB_OB_RESTORE_PROGRESS",
    "DBA_OB_RESOURCE_POOLS",
    "DBA_OB_SERVERS",
    "DBA_OB_TENANTS",
    "DBA_OB_TENANT_JOBS",
    "DBA_OB_ZONES",
    "GV$OB_LOG_STAT",
    "GV$OB_PARAMETERS",
    "GV$OB_SERVER_SCHEMA_INFO",
    "__all_rootservice_event_history",
    "__all_rootservice_job",
    "__all_server",
    "__all_sys_parameter",
    "__all_table",
    "__all_tenant",
    "__all_virtual_core_meta_table",
    "__all_virtual_core_table",
    "__all_virtual_ddl_task_status",
    "__all_virtual_ls_info",
    "__all_virtual_server_schema_info",
    "__all_virtual_sys_parameter_stat",
    "__all_virtual_table",
    "__all_virtual_tablet_compaction_info",
    "__all_virtual_tenant_info",
    "__all_virtual_tenant_parameter_info",
    "__all_virtual_upgrade_inspection",
    "__all_virtual_user",
    "__all_zone",
];

fn timestamp(now_ms: i64, offset_s: i32) -> Value {
    chrono::DateTime::from_timestamp_millis(now_ms + i64::from(offset_s) * 1000)
        .map_or(Value::Null, |t| Value::Time(t.naive_utc()))
}

/// Who the connected server says it is.
#[derive(Debug)]
pub struct Identity {
    pub product: &'static str,
    /// `4.2.1.0`.
    pub number: String,
    pub revision: String,
    pub build_time: String,
}

impl Identity {
    /// `version()`: `5.7.25-OceanBase_CE-v4.3.5.5` on CE (real-driver.md
    /// §0); the Business and Standalone forms put their product name there
    /// [inferred].
    pub fn version(&self) -> String {
        format!("5.7.25-{}-v{}", self.product, self.number)
    }

    /// `@@version_comment`: `OceanBase_CE 4.2.1.0 (r<REVISION>) (Built
    /// <BUILD_TIME>)`, the shape the PyPI kernel prints [inferred for a
    /// cluster].
    pub fn comment(&self) -> String {
        format!(
            "{} {} (r{}) (Built {})",
            self.product, self.number, self.revision, self.build_time
        )
    }
}

/// The identity of the server the session is connected to, read back from
/// its `BUILD_VERSION` (`<version>_<REVISION>(<BUILD_TIME>)`).
pub fn identity(q: &Query<'_>) -> Identity {
    let edition = Edition::from_word(&q.cluster.edition).unwrap_or(Edition::Ce);
    let server = q
        .cluster
        .server(q.session.server)
        .unwrap_or(&q.cluster.servers[0]);
    let bv = &server.build.build_version;
    let (head, time) = bv.split_once('(').unwrap_or((bv, ""));
    let revision = head.split_once('_').map_or("", |(_, r)| r);
    Identity {
        product: edition.product(),
        number: server.build.version.clone(),
        revision: revision.to_owned(),
        build_time: time.trim_end_matches(')').to_owned(),
    }
}
