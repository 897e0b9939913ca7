//! obsim against the real OceanBase kernel (issue 11; real-driver.md §0.1):
//! the same statements go to obsim and to seekdb, PyPI's OceanBase
//! 4.3.5-derived single-node server, over sqlx with the driver's bare
//! connect options, and the answers must agree: the shape of the identity
//! probes, error numbers, SQLSTATEs and messages, which `ALTER SYSTEM`
//! statements are accepted, and the names and wire types of result columns.
//!
//! seekdb is one server, not a cluster: it has no `GV$`/`CDB_` views (its
//! `V$`/`DBA_` views are the single-server, single-tenant ones) and its
//! parser has no `SERVER =` / `TENANT =` / `ZONE` clauses. Where a cluster's
//! sys tenant accepts what seekdb cannot, the test asserts both sides of
//! the difference (obsim accepts, seekdb refuses with 1064 exactly at the
//! cluster clause) instead of bending obsim to a single node.
//!
//! One test function: starting seekdb is what costs (seconds, ~300 MB).

use std::fmt::Write as _;

use obup_obsim::{Config, Handle, Simulator};
use obup_test_support::Seekdb;
use regex::Regex;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::{Column, Connection, Executor, Row, TypeInfo};

/// What a server answered to one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Columns (name, sqlx's name of the wire type) and rows as text; an
    /// OK packet has neither.
    Rows {
        columns: Vec<(String, String)>,
        rows: Vec<Vec<Option<String>>>,
    },
    Error {
        number: u16,
        state: String,
        message: String,
    },
}

impl Answer {
    fn columns(&self) -> &[(String, String)] {
        match self {
            Self::Rows { columns, .. } => columns,
            Self::Error { .. } => &[],
        }
    }

    fn first(&self) -> Option<&str> {
        match self {
            Self::Rows { rows, .. } => rows.first()?.first()?.as_deref(),
            Self::Error { .. } => None,
        }
    }

    fn is_ok(&self) -> bool {
        matches!(self, Self::Rows { .. })
    }

    fn error(&self) -> Option<(u16, &str, &str)> {
        match self {
            Self::Error {
                number,
                state,
                message,
            } => Some((*number, state, message)),
            Self::Rows { .. } => None,
        }
    }
}

/// Sends `sql` as text (COM_QUERY), as the driver sends everything.
async fn ask(conn: &mut MySqlConnection, sql: &str) -> Answer {
    match conn
        .fetch_all(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())))
        .await
    {
        Ok(rows) => Answer::Rows {
            columns: rows.first().map_or_else(Vec::new, |r| {
                r.columns()
                    .iter()
                    .map(|c| (c.name().to_owned(), c.type_info().name().to_owned()))
                    .collect()
            }),
            rows: rows
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| r.try_get_unchecked::<Option<String>, _>(i).ok().flatten())
                        .collect()
                })
                .collect(),
        },
        Err(e) => refusal(&e),
    }
}

fn refusal(e: &sqlx::Error) -> Answer {
    let db = e
        .as_database_error()
        .unwrap_or_else(|| panic!("not a server's error: {e}"));
    Answer::Error {
        number: db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map_or(0, |m| m.number()),
        state: db.code().map(|c| c.into_owned()).unwrap_or_default(),
        message: db.message().to_owned(),
    }
}

/// The driver's connect options (`driver/conn.rs`) to obsim's first server.
fn bare(sim: &Handle) -> MySqlConnectOptions {
    let ep = sim.sql_endpoints()[0];
    MySqlConnectOptions::new()
        .host(&ep.ip().to_string())
        .port(ep.port())
        .username("root@sys")
        .database("oceanbase")
        .ssl_mode(MySqlSslMode::Disabled)
        .pipes_as_concat(false)
        .no_engine_substitution(false)
        .timezone(None)
        .set_names(false)
        .statement_cache_capacity(0)
}

/// The two servers, and what disagreed.
struct Both {
    obsim: MySqlConnection,
    kernel: MySqlConnection,
    problems: Vec<String>,
}

impl Both {
    async fn ask(&mut self, sql: &str) -> (Answer, Answer) {
        self.ask_each(sql, sql).await
    }

    /// `obsim_sql` to obsim and `kernel_sql` to the kernel: the same
    /// statement on a cluster view and on its single-node counterpart.
    async fn ask_each(&mut self, obsim_sql: &str, kernel_sql: &str) -> (Answer, Answer) {
        (
            ask(&mut self.obsim, obsim_sql).await,
            ask(&mut self.kernel, kernel_sql).await,
        )
    }

    fn check(&mut self, ok: bool, what: &str, obsim: &Answer, kernel: &Answer) {
        if !ok {
            let mut p = String::new();
            let _ = write!(p, "{what}:\n  obsim:  {obsim:?}\n  kernel: {kernel:?}");
            self.problems.push(p);
        }
    }

    /// Both answer with the same column names and wire types.
    async fn same_columns(&mut self, obsim_sql: &str, kernel_sql: &str) {
        let (o, k) = self.ask_each(obsim_sql, kernel_sql).await;
        let ok = o.is_ok() && k.is_ok() && !k.columns().is_empty() && o.columns() == k.columns();
        self.check(ok, &format!("columns of {obsim_sql}"), &o, &k);
    }

    /// Both refuse with the same number, SQLSTATE and message.
    async fn same_error(&mut self, sql: &str) {
        let (o, k) = self.ask(sql).await;
        let ok = k.error().is_some() && o.error() == k.error();
        self.check(ok, &format!("error of {sql}"), &o, &k);
    }

    /// Both accept (an OK packet).
    async fn both_accept(&mut self, sql: &str) {
        let (o, k) = self.ask(sql).await;
        self.check(
            o.is_ok() && k.is_ok(),
            &format!("acceptance of {sql}"),
            &o,
            &k,
        );
    }

    /// A cluster's statement: obsim accepts it, the single-node kernel
    /// refuses it with 1064 exactly at `clause`, so everything before the
    /// clause is valid OceanBase syntax.
    async fn cluster_only(&mut self, sql: &str, clause: &str) {
        let (o, k) = self.ask(sql).await;
        let near = format!("near '{clause}");
        let ok = o.is_ok()
            && k.error()
                .is_some_and(|(n, s, m)| n == 1064 && s == "42000" && m.contains(&near));
        self.check(ok, &format!("cluster-only {sql}"), &o, &k);
    }
}

#[tokio::test]
async fn obsim_answers_as_the_oceanbase_kernel_does() {
    let wall = std::time::Instant::now();
    let seekdb = Seekdb::start().await.expect("seekdb from PyPI starts");
    eprintln!(
        "seekdb answered {:?} after it was started ({} MiB resident)",
        seekdb.started_in,
        seekdb.rss().unwrap_or(0) >> 20
    );
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(Config::for_tests(dir.path().join("obsim")))
        .await
        .unwrap();

    // The driver's bare connect options are accepted by both, and so is
    // the one statement the driver sends after connecting.
    let mut both = Both {
        obsim: MySqlConnection::connect_with(&bare(&sim)).await.unwrap(),
        kernel: MySqlConnection::connect_with(&seekdb.bare_options())
            .await
            .unwrap(),
        problems: Vec::new(),
    };
    both.both_accept(&obup_ob_sql::statements::set_query_timeout(60_000_000).text)
        .await;

    identity(&mut both).await;
    errors(&mut both, &sim, &seekdb).await;
    parameters(&mut both).await;
    freezes(&mut both, &sim).await;
    counts(&mut both).await;

    sim.stop().await.unwrap();
    drop(seekdb);
    eprintln!("kernel comparison took {:?}", wall.elapsed());
    assert!(
        both.problems.is_empty(),
        "obsim and the kernel disagree:\n{}",
        both.problems.join("\n")
    );
}

/// `version()`, `ob_version()` and `@@version_comment` have one shape
/// (the values name different products and versions), and the session
/// probes answer with the same columns.
async fn identity(both: &mut Both) {
    let shapes = [
        // `5.7.25-OceanBase_CE-v4.2.1.0`, `5.7.25-OceanBase seekdb-v1.4.0.0`.
        (
            "SELECT version()",
            r"^5\.7\.25-OceanBase[ _][A-Za-z_ ]+-v\d+(\.\d+){3}$",
        ),
        ("select ob_version()", r"^\d+(\.\d+){3}$"),
        // `OceanBase_CE 4.2.1.0 (r<REVISION>) (Built <time>)`,
        // `OceanBase 4.3.5.3 seekdb (r1.4.0.0) (Built <time>)`.
        (
            "select @@version_comment limit 1",
            r"^OceanBase(_CE)? \d+(\.\d+){3} (\S+ )?\(r\S+\) \(Built [^)]+\)$",
        ),
    ];
    for (sql, shape) in shapes {
        let (o, k) = both.ask(sql).await;
        let re = Regex::new(shape).unwrap();
        let ok = o.columns() == k.columns()
            && o.first().is_some_and(|v| re.is_match(v))
            && k.first().is_some_and(|v| re.is_match(v));
        both.check(ok, &format!("shape of {sql} ({shape})"), &o, &k);
    }
    for sql in [
        "SELECT @@system_time_zone",
        "SELECT @@time_zone",
        "SELECT UTC_TIMESTAMP(6)",
        "SELECT CURRENT_TIMESTAMP(6)",
        r"select version() REGEXP 'OceanBase[\s_]CE'",
        "show tables",
    ] {
        both.same_columns(sql, sql).await;
    }
    // A session's time zone is `+08:00` until it sets one: the `DBA_`
    // views' TIMESTAMP columns read in it.
    let (o, k) = both.ask("SELECT @@time_zone").await;
    both.check(
        o.first() == k.first() && k.first() == Some("+08:00"),
        "default time_zone",
        &o,
        &k,
    );
}

/// The same number, SQLSTATE and message for what OceanBase refuses.
async fn errors(both: &mut Both, sim: &Handle, seekdb: &Seekdb) {
    // An unknown table: 1146 (42S02), the name in lower case.
    both.same_error("SELECT * FROM oceanbase.NO_SUCH_VIEW")
        .await;
    // The license view is absent on CE (obshell's edition probe, §1.2).
    both.same_error("SELECT COUNT(*) FROM oceanbase.DBA_OB_LICENSE")
        .await;
    // Bad syntax: 1064 (42000) near the offending text.
    both.same_error("selec 1").await;
    // An unknown parameter: 5099 (42000).
    both.same_error("ALTER SYSTEM SET no_such_parameter = 'x'")
        .await;
    // A value the parameter's type refuses: 4147 (HY000).
    both.same_error("ALTER SYSTEM SET enable_ddl = 'maybe'")
        .await;
    both.same_error("ALTER SYSTEM SET syslog_level = 'LOUD'")
        .await;

    // sqlx's connect-time statement naming `COLLATE utf8mb4_unicode_ci`
    // (what sqlx sent before 0.9, and 0.9 sends given that collation) is
    // refused by both with the same error.
    let ep = sim.sql_endpoints()[0];
    let (obsim, kernel) = (
        default_options(&ep.ip().to_string(), ep.port()),
        default_options("127.0.0.1", seekdb.port()),
    );
    let collated = |o: &MySqlConnectOptions| o.clone().collation("utf8mb4_unicode_ci");
    let o = match MySqlConnection::connect_with(&collated(&obsim)).await {
        Ok(_) => ok_packet(),
        Err(e) => refusal(&e),
    };
    let k = match MySqlConnection::connect_with(&collated(&kernel)).await {
        Ok(_) => ok_packet(),
        Err(e) => refusal(&e),
    };
    both.check(
        k.error().is_some() && o == k,
        "refusal of sqlx's connect-time statement with COLLATE utf8mb4_unicode_ci",
        &o,
        &k,
    );
    // sqlx 0.9's default statement (`SET sql_mode=(SELECT CONCAT(@@sql_mode,
    // ',PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION')),time_zone='+00:00',NAMES
    // utf8mb4;`) is accepted by both, and sets the session's time zone.
    match (
        MySqlConnection::connect_with(&obsim).await,
        MySqlConnection::connect_with(&kernel).await,
    ) {
        (Ok(mut o), Ok(mut k)) => {
            let (o, k) = (
                ask(&mut o, "SELECT @@time_zone").await,
                ask(&mut k, "SELECT @@time_zone").await,
            );
            both.check(
                o == k && k.first() == Some("+00:00"),
                "time_zone after sqlx's default connect",
                &o,
                &k,
            );
        }
        (o, k) => both.problems.push(format!(
            "sqlx 0.9's default connect: obsim {:?}, kernel {:?}",
            o.err(),
            k.err()
        )),
    }
}

/// sqlx's own defaults: every connect-time statement on.
fn default_options(host: &str, port: u16) -> MySqlConnectOptions {
    MySqlConnectOptions::new()
        .host(host)
        .port(port)
        .username("root")
        .ssl_mode(MySqlSslMode::Disabled)
}

fn ok_packet() -> Answer {
    Answer::Rows {
        columns: Vec::new(),
        rows: Vec::new(),
    }
}

/// `ALTER SYSTEM SET` of parameters both know is accepted and reads back,
/// and a parameter's row has the kernel's columns, types and metadata.
async fn parameters(both: &mut Both) {
    for sql in [
        "ALTER SYSTEM SET syslog_level = 'INFO'",
        "ALTER SYSTEM SET enable_ddl = 'True'",
        "ALTER SYSTEM SET enable_sys_table_ddl = 'False'",
        "ALTER SYSTEM SET enable_major_freeze = 'True'",
    ] {
        both.both_accept(sql).await;
    }
    // The driver's `parameter_values` read: `GV$` on a cluster, `V$` on
    // one server.
    let read = "SELECT DISTINCT VALUE FROM oceanbase.GV$OB_PARAMETERS WHERE NAME = 'syslog_level'";
    let (o, k) = both.ask_each(read, &read.replace("GV$", "V$")).await;
    both.check(
        o == k && k.first() == Some("INFO"),
        "syslog_level read back",
        &o,
        &k,
    );
    both.both_accept("ALTER SYSTEM SET syslog_level = 'WDIAG'")
        .await;

    // A parameter's whole row: the kernel's columns in its order with its
    // types; obsim's extra columns are a cluster's (which server, which
    // tenant); the metadata is the kernel's.
    let rows = "SELECT * FROM oceanbase.GV$OB_PARAMETERS WHERE NAME = 'enable_major_freeze'";
    let (o, k) = both.ask_each(rows, &rows.replace("GV$", "V$")).await;
    let cluster = ["SVR_IP", "SVR_PORT", "ZONE", "TENANT_ID"];
    let common: Vec<&(String, String)> = o
        .columns()
        .iter()
        .filter(|(n, _)| !cluster.contains(&n.as_str()))
        .collect();
    let ok = !k.columns().is_empty() && common.iter().copied().eq(k.columns().iter());
    both.check(
        ok,
        "GV$OB_PARAMETERS columns beside V$OB_PARAMETERS",
        &o,
        &k,
    );
    let value = |a: &Answer, column: &str| -> Option<String> {
        let Answer::Rows { columns, rows } = a else {
            return None;
        };
        let i = columns.iter().position(|(n, _)| n == column)?;
        rows.first()?.get(i)?.clone()
    };
    for column in [
        "SCOPE",
        "NAME",
        "DATA_TYPE",
        "VALUE",
        "SECTION",
        "EDIT_LEVEL",
    ] {
        let ok = value(&o, column).is_some() && value(&o, column) == value(&k, column);
        both.check(ok, &format!("enable_major_freeze's {column}"), &o, &k);
    }
}

/// Freezes: the bare forms are accepted by both; the forms that name a
/// server or tenant are a cluster's.
async fn freezes(both: &mut Both, sim: &Handle) {
    both.both_accept("ALTER SYSTEM MINOR FREEZE").await;
    both.both_accept("ALTER SYSTEM MAJOR FREEZE").await;
    let server = sim.status().servers[0].clone();
    let addr = format!("'{}:{}'", server.ip, server.rpc_port);
    let cluster = [
        // The driver's freeze (obshell's), and the scripts'.
        (
            format!("ALTER SYSTEM MINOR FREEZE SERVER = ({addr})"),
            "SERVER = (",
        ),
        (
            "ALTER SYSTEM MINOR FREEZE TENANT = sys".into(),
            "TENANT = sys",
        ),
        (
            "ALTER SYSTEM MAJOR FREEZE TENANT = sys".into(),
            "TENANT = sys",
        ),
        // The driver's parameter restore (obshell's).
        (
            format!("ALTER SYSTEM SET syslog_level = 'WDIAG' SERVER = {addr}"),
            "SERVER = ",
        ),
        (
            "ALTER SYSTEM SET syslog_level = 'WDIAG' TENANT = sys".into(),
            "TENANT = sys",
        ),
        // The driver's zone steps.
        (
            format!("ALTER SYSTEM STOP ZONE '{}'", server.zone),
            "STOP ZONE",
        ),
        (
            format!("ALTER SYSTEM START ZONE '{}'", server.zone),
            "START ZONE",
        ),
    ];
    for (sql, clause) in cluster {
        both.cluster_only(&sql, clause).await;
    }
}

/// `count(*)` and `count(1)` keep the statement's spelling as the column
/// name and are BIGINT on both: the sys tenant's `CDB_` view on a cluster,
/// the tenant's `DBA_` view on one server.
async fn counts(both: &mut Both) {
    for count in ["count(*)", "COUNT(*)", "count(1)"] {
        let cluster =
            format!("SELECT {count} FROM oceanbase.CDB_OB_MAJOR_COMPACTION WHERE STATUS != 'IDLE'");
        let single = cluster.replace("CDB_", "DBA_");
        both.same_columns(&cluster, &single).await;
    }
    let (o, _) = both
        .ask("SELECT count(*) FROM oceanbase.CDB_OB_MAJOR_COMPACTION WHERE STATUS != 'IDLE'")
        .await;
    assert_eq!(
        o.columns(),
        [("count(*)".to_owned(), "BIGINT".to_owned())],
        "{o:?}"
    );
}
