//! The driver against the real OceanBase kernel (issue 12; real-driver.md
//! §0.1): seekdb, PyPI's OceanBase 4.3.5-derived single-node server, is
//! driven through the driver's public API, as a cluster's sys tenant is.
//! What this proves against a real OceanBase rather than obsim:
//! - the driver's connect options and its one connect-time statement
//!   (`SET SESSION ob_query_timeout`) are accepted;
//! - every statement the driver builds is valid OceanBase text: answered,
//!   or refused only because seekdb is one server (no cluster views: 1146;
//!   no `SERVER =` / `TENANT =` / `ZONE` clauses: 1064 exactly at that
//!   clause, so everything before it, the quoting of values included, was
//!   parsed);
//! - the kernel's errors come out of the driver as `Error::Sql` with the
//!   kernel's number and SQLSTATE;
//! - the driver's tolerant decoding reads the kernel's real column types
//!   (BIGINT, BIGINT UNSIGNED, DECIMAL, INT, TIMESTAMP, NULL).
//!
//! One test function: starting seekdb is what costs.

use std::time::Duration;

use obup_ob_sql::statements::{self as st, SvrAddr};
use obup_ob_sql::{Ident, Row, Sql};
use obup_test_support::Seekdb;
use obup_types::Edition;
use obup_upgrade_orchestrator::Error;
use obup_upgrade_orchestrator::domain::output::{ParameterScope, SavedParameter};
use obup_upgrade_orchestrator::domain::template::FreezeScope;
use obup_upgrade_orchestrator::driver::{Driver, DriverConfig, Login};
use obup_upgrade_orchestrator::tasks::TaskIo;
use sqlx::mysql::{MySqlConnection, MySqlSslMode};
use sqlx::{Column, Connection, Executor, Row as _, TypeInfo};

fn ident(s: &str) -> Ident {
    Ident::parse("test", s).unwrap()
}

/// A sub-task's log that only prints.
struct Log;

#[async_trait::async_trait]
impl TaskIo for Log {
    async fn line(&self, line: String) {
        eprintln!("sub-task: {line}");
    }

    async fn checkpoint(
        &self,
        _: obup_upgrade_orchestrator::domain::output::TaskOutput,
    ) -> obup_upgrade_orchestrator::Result<()> {
        Ok(())
    }
}

/// What the kernel does with one of the driver's statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// Answered.
    Answers,
    /// Refused with this number and SQLSTATE, and a message containing
    /// the text; the reason is the comment beside it.
    Refuses(u16, &'static str, &'static str),
}

/// (number, SQLSTATE, message) of a driver error that is a server's.
fn sql_error(e: &Error) -> Option<(u16, &str, &str)> {
    match e {
        Error::Sql {
            code,
            state,
            message,
            ..
        } => Some((*code, state, message)),
        _ => None,
    }
}

#[tokio::test]
async fn the_driver_runs_against_the_oceanbase_kernel() {
    let wall = std::time::Instant::now();
    let seekdb = Seekdb::start().await.expect("seekdb from PyPI starts");
    eprintln!(
        "seekdb answered {:?} after it was started",
        seekdb.started_in
    );
    let driver = Driver::new(
        &[format!("127.0.0.1:{}", seekdb.port())],
        Login {
            user: "root".into(),
            password: String::new(),
            ssl_mode: MySqlSslMode::Disabled,
            query_timeout_us: 0,
        },
        DriverConfig {
            connect_timeout: Duration::from_secs(30),
            ..DriverConfig::default()
        },
    );
    let mut problems = Vec::new();

    every_statement(&driver, &mut problems).await;
    operations(&driver, &mut problems).await;
    decoding(&driver, &seekdb, &mut problems).await;

    drop(driver);
    drop(seekdb);
    eprintln!("driver against the kernel took {:?}", wall.elapsed());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every statement the driver builds, built by its own builders, sent
/// through the driver: what the kernel must do with it.
async fn every_statement(driver: &Driver, problems: &mut Vec<String>) {
    // seekdb's one server, as the driver would name it.
    let a = SvrAddr {
        ip: [127, 0, 0, 1].into(),
        port: 2882,
    };
    let names = [
        "server_permanent_offline_time",
        "enable_rebalance",
        "enable_rereplication",
    ]
    .map(ident);
    // A cluster view seekdb does not have.
    const NO_VIEW: Kernel = Kernel::Refuses(1146, "42S02", "doesn't exist");
    let cases: Vec<(Sql, Kernel)> = vec![
        (st::set_query_timeout(60_000_000), Kernel::Answers),
        (st::version(), Kernel::Answers),
        // CE and Business have no license view; seekdb neither.
        (st::license_count(), NO_VIEW),
        (st::zones(), NO_VIEW),
        (st::servers(), NO_VIEW),
        (st::tenants(), NO_VIEW),
        (st::tenant_name(1), NO_VIEW),
        // `GV$OB_PARAMETERS`: seekdb has only `V$OB_PARAMETERS`.
        (st::parameter_values(&ident("syslog_level")), NO_VIEW),
        (st::unrefreshed_schema_tenants(), NO_VIEW),
        (st::merging_tablets(), Kernel::Answers),
        (st::running_major_compactions(), NO_VIEW),
        (st::backup_jobs(), NO_VIEW),
        (st::unsynced_logs(), NO_VIEW),
        (st::parameters(&names), NO_VIEW),
        // The cluster clauses: the kernel parsed everything before them.
        (
            st::set_parameter_on_server(&ident("syslog_level"), "WDIAG", a).unwrap(),
            Kernel::Refuses(1064, "42000", "near 'SERVER = '127.0.0.1:2882''"),
        ),
        (
            st::set_parameter_for_tenant(&ident("syslog_level"), "WDIAG", &ident("sys")).unwrap(),
            Kernel::Refuses(1064, "42000", "near 'TENANT = sys'"),
        ),
        (
            st::stop_zone(&ident("zone1")),
            Kernel::Refuses(1064, "42000", "near 'STOP ZONE 'zone1''"),
        ),
        (
            st::start_zone(&ident("zone1")),
            Kernel::Refuses(1064, "42000", "near 'START ZONE 'zone1''"),
        ),
        // `__all_virtual_ls_info` of one server has no server columns.
        (
            st::min_checkpoint_scn(a),
            Kernel::Refuses(1054, "42S22", "Unknown column 'svr_ip'"),
        ),
        (
            st::minor_freeze(&[a]),
            Kernel::Refuses(1064, "42000", "near 'SERVER = ('127.0.0.1:2882')'"),
        ),
    ];
    assert_eq!(
        cases.len(),
        obup_ob_sql::catalogue::DRIVER.len(),
        "one case per driver statement"
    );
    for (sql, want) in cases {
        let id = sql.id;
        let got = driver.query(sql).await;
        let ok = match (&got, want) {
            (Ok(_), Kernel::Answers) => true,
            (Err(e), Kernel::Refuses(n, s, m)) => {
                sql_error(e).is_some_and(|(gn, gs, gm)| gn == n && gs == s && gm.contains(m))
            }
            _ => false,
        };
        if !ok {
            problems.push(format!("{id}: want {want:?}, got {got:?}"));
        }
    }
}

/// The driver's operations: what reads only what seekdb has works; what
/// reads a cluster view first fails with the kernel's 1146 as a typed
/// error, naming the statement.
async fn operations(driver: &Driver, problems: &mut Vec<String>) {
    // obshell's edition test: `version()` is not CE's, and the license view
    // is missing (1146, decoded by the driver), which is Business.
    match driver.edition().await {
        Ok(Edition::Business) => {}
        other => problems.push(format!("edition: {other:?}")),
    }
    let no_view = |what: &str, got: Result<String, Error>, statement: &str| match got {
        Err(Error::Sql {
            code: 1146,
            ref state,
            statement: s,
            ..
        }) if state == "42S02" && s == statement => None,
        other => Some(format!("{what}: want 1146 on {statement}, got {other:?}")),
    };
    problems.extend(no_view(
        "zones",
        driver.zones().await.map(|z| format!("{z:?}")),
        "zones",
    ));
    problems.extend(no_view(
        "backup_parameters",
        driver.backup_parameters().await.map(|p| format!("{p:?}")),
        "parameters",
    ));
    problems.extend(no_view(
        "minor_freeze",
        driver
            .minor_freeze(&FreezeScope::Global, &Log)
            .await
            .map(|()| "frozen".into()),
        "servers",
    ));
    // The restore of a CLUSTER value, with a value that needs escaping:
    // the kernel parses the quoted value whole and stops at `SERVER`.
    let saved = SavedParameter {
        svr_ip: "127.0.0.1".into(),
        svr_port: 2882,
        zone: "zone1".into(),
        scope: ParameterScope::Cluster,
        tenant_id: None,
        name: "syslog_level".into(),
        value: r"it's \ odd".into(),
    };
    match driver.restore_parameter(&saved).await {
        Err(e)
            if sql_error(&e).is_some_and(|(n, s, m)| {
                n == 1064 && s == "42000" && m.contains("near 'SERVER = '127.0.0.1:2882''")
            }) => {}
        other => problems.push(format!("restore_parameter (CLUSTER): {other:?}")),
    }
    // A TENANT value first looks its tenant up in `DBA_OB_TENANTS`.
    let tenant = SavedParameter {
        scope: ParameterScope::Tenant,
        tenant_id: Some(1),
        ..saved
    };
    problems.extend(no_view(
        "restore_parameter (TENANT)",
        driver
            .restore_parameter(&tenant)
            .await
            .map(|()| "set".into()),
        "tenant_name",
    ));
}

/// The driver's tolerant decoding on the kernel's real column types. The
/// statements are the kernel's own views (the driver's read cluster
/// views); the rows come through the driver, as text.
async fn decoding(driver: &Driver, seekdb: &Seekdb, problems: &mut Vec<String>) {
    let probe = |text: &'static str| Sql {
        id: "kernel_probe",
        text: text.into(),
    };
    let mut raw = MySqlConnection::connect_with(&seekdb.bare_options())
        .await
        .unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT count(*) FROM oceanbase.DBA_OB_MAJOR_COMPACTION",
            &["BIGINT"],
        ),
        (
            "SELECT sum(tablet_count) FROM oceanbase.__all_virtual_ls_info",
            &["DECIMAL"],
        ),
        (r"select version() REGEXP 'OceanBase[\s_]CE'", &["INT"]),
        (
            "SELECT checkpoint_scn FROM oceanbase.__all_virtual_ls_info \
             ORDER BY checkpoint_scn ASC LIMIT 1",
            &["BIGINT UNSIGNED"],
        ),
        (
            "SELECT SVR_PORT, SQL_PORT, DATA_DISK_ABNORMAL_TIME FROM oceanbase.V$OB_SERVER_STAT",
            &["BIGINT", "BIGINT", "TIMESTAMP"],
        ),
        (
            "SELECT FROZEN_SCN, LAST_FINISH_TIME, STATUS FROM oceanbase.DBA_OB_MAJOR_COMPACTION",
            &["BIGINT UNSIGNED", "TIMESTAMP", "VARCHAR"],
        ),
    ];
    // The wire types the decoding below runs on: what the kernel declares.
    for (sql, types) in cases {
        let rows = raw
            .fetch_all(sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)))
            .await
            .unwrap();
        let got: Vec<String> = rows[0]
            .columns()
            .iter()
            .map(|c| c.type_info().name().to_owned())
            .collect();
        if got != *types {
            problems.push(format!("{sql}: the kernel declares {got:?}, not {types:?}"));
        }
    }
    raw.close().await.unwrap();

    let rows = |r: obup_upgrade_orchestrator::Result<Vec<Row>>| r.expect("the kernel answers");
    let count = rows(driver.query(probe(cases[0].0)).await);
    let sum = rows(driver.query(probe(cases[1].0)).await);
    let regexp = rows(driver.query(probe(cases[2].0)).await);
    let scn = rows(driver.query(probe(cases[3].0)).await);
    let stat = rows(driver.query(probe(cases[4].0)).await);
    let major = rows(driver.query(probe(cases[5].0)).await);
    let checks = [
        ("count(*) BIGINT", obup_ob_sql::scalar_int(&count) == Ok(1)),
        (
            "sum() DECIMAL",
            obup_ob_sql::scalar_int(&sum).is_ok_and(|n| n > 0),
        ),
        ("REGEXP INT", obup_ob_sql::scalar_int(&regexp) == Ok(0)),
        (
            "checkpoint_scn BIGINT UNSIGNED",
            scn[0].uint("checkpoint_scn").is_ok_and(|n| n > 0),
        ),
        ("SVR_PORT BIGINT", stat[0].int("SVR_PORT") == Ok(2882)),
        (
            "SQL_PORT BIGINT",
            stat[0].int("SQL_PORT") == Ok(i64::from(seekdb.port())),
        ),
        (
            "NULL TIMESTAMP",
            stat[0].opt_datetime("DATA_DISK_ABNORMAL_TIME") == Ok(None),
        ),
        (
            "FROZEN_SCN BIGINT UNSIGNED",
            major[0].uint("FROZEN_SCN").is_ok_and(|n| n > 0),
        ),
        (
            "LAST_FINISH_TIME TIMESTAMP",
            major[0]
                .opt_datetime("LAST_FINISH_TIME")
                .is_ok_and(|t| t.is_some()),
        ),
        ("STATUS VARCHAR", major[0].text("STATUS") == Ok("IDLE")),
    ];
    for (what, ok) in checks {
        if !ok {
            problems.push(format!(
                "decoding {what}: {count:?} {sum:?} {regexp:?} {scn:?} {stat:?} {major:?}"
            ));
        }
    }
}
