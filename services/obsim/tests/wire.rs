//! obsim from the outside, over the MySQL protocol, with the client the
//! driver uses (sqlx, connected with the driver's bare options): every
//! catalogue statement is answered with the catalogue's columns, in text
//! and in prepared form; an unknown table, what is outside it, a wrong password and sqlx's
//! default connect statement are refused with OceanBase's codes; faults are
//! visible in status; a killed observer closes its SQL port at once while
//! its server turns INACTIVE only after the lease.

use std::time::Duration;

use obup_ob_sql::catalogue::{self, SqlType};
use obup_obsim::{Config, FaultAction, FaultSpec, Handle, Simulator};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::{Column, Connection, Executor, SqlSafeStr, TypeInfo};

async fn start(tweak: impl FnOnce(&mut Config)) -> (Handle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path().join("obsim"));
    tweak(&mut config);
    let sim = Simulator::start(config).await.unwrap();
    (sim, dir)
}

/// The driver's connect options (`driver/conn.rs`): nothing sent at
/// connect time that OceanBase refuses.
fn bare(sim: &Handle, server: usize, password: &str) -> MySqlConnectOptions {
    let ep = sim.sql_endpoints()[server];
    let mut o = MySqlConnectOptions::new()
        .host(&ep.ip().to_string())
        .port(ep.port())
        .username("root@sys");
    if !password.is_empty() {
        o = o.password(password);
    }
    o.database("oceanbase")
        .ssl_mode(MySqlSslMode::Disabled)
        .pipes_as_concat(false)
        .no_engine_substitution(false)
        .timezone(None)
        .set_names(false)
        .statement_cache_capacity(0)
}

/// What sqlx calls the type a catalogue column is sent with.
fn sqlx_names(ty: SqlType) -> &'static [&'static str] {
    match ty {
        SqlType::Int => &["INT"],
        SqlType::BigInt => &["BIGINT"],
        SqlType::BigIntUnsigned => &["BIGINT UNSIGNED"],
        SqlType::Decimal => &["DECIMAL"],
        SqlType::Varchar => &["VARCHAR"],
        SqlType::LongText => &["BLOB", "TEXT", "LONGTEXT"],
        SqlType::DateTime => &["DATETIME"],
        SqlType::Timestamp => &["TIMESTAMP"],
    }
}

fn mysql_code(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

fn mysql_number(e: &sqlx::Error) -> Option<u16> {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|d| d.number())
}

#[tokio::test]
async fn every_catalogue_statement_is_answered_with_its_columns_in_both_protocols() {
    let (sim, _dir) = start(|_| {}).await;
    let mut conn = MySqlConnection::connect_with(&bare(&sim, 0, ""))
        .await
        .unwrap();
    let mut problems = Vec::new();
    let mut refused = Vec::new();
    for shape in catalogue::shapes() {
        let sql = sqlx::AssertSqlSafe(shape.example);
        // Text protocol, as the driver sends everything.
        match conn.fetch_all(sqlx::raw_sql(sql)).await {
            Ok(rows) => {
                if let Some(row) = rows.first() {
                    let got: Vec<(String, String)> = sqlx::Row::columns(row)
                        .iter()
                        .map(|c| (c.name().to_owned(), c.type_info().name().to_owned()))
                        .collect();
                    check(shape, &got, "text", &mut problems);
                } else if shape.columns.is_empty() {
                    // An OK packet: nothing to compare.
                }
            }
            // A statement the cluster's state refuses (a zone already
            // stopped, no upgrade in progress) is answered, with a code;
            // one outside the catalogue would be 1064.
            Err(e) if mysql_number(&e).is_some_and(|n| n != 1064) => refused.push(shape.id),
            Err(e) => problems.push(format!("{} (text): {e}", shape.id)),
        }
        // Prepared: the columns come with the statement's description.
        match (&mut conn).describe(shape.example.into_sql_str()).await {
            Ok(d) => {
                let got: Vec<(String, String)> = d
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_owned(), c.type_info().name().to_owned()))
                    .collect();
                check(shape, &got, "prepared", &mut problems);
            }
            Err(e) => problems.push(format!("{} (prepared): {e}", shape.id)),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Refused by the cluster's state, each as OceanBase would: a CE
    // cluster has no license view (1146), and the examples name a server
    // that is not in this cluster.
    assert_eq!(
        refused,
        ["license_count", "set_parameter_on_server", "minor_freeze"],
        "of {} statements",
        catalogue::shapes().count()
    );
    let status = sim.status();
    assert_eq!(status.statements.unsupported, 0, "{:?}", status.statements);
    sim.stop().await.unwrap();
}

fn check(
    shape: &catalogue::Shape,
    got: &[(String, String)],
    protocol: &str,
    problems: &mut Vec<String>,
) {
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = shape.columns.iter().map(|c| c.name).collect();
    if names != want {
        problems.push(format!(
            "{} ({protocol}): columns {names:?}, want {want:?}",
            shape.id
        ));
        return;
    }
    for ((name, ty), c) in got.iter().zip(shape.columns) {
        if !sqlx_names(c.ty).contains(&ty.as_str()) {
            problems.push(format!(
                "{} ({protocol}): {name} is {ty}, want {:?}",
                shape.id, c.ty
            ));
        }
    }
}

#[tokio::test]
async fn what_oceanbase_refuses_is_refused_with_its_codes() {
    let (sim, _dir) = start(|c| c.root_password = "s3cret".into()).await;

    // A wrong password: 1045, as MySQL and OceanBase answer.
    let e = MySqlConnection::connect_with(&bare(&sim, 0, "wrong"))
        .await
        .unwrap_err();
    assert_eq!(mysql_number(&e), Some(1045), "{e}");

    // The connect-time statement naming `COLLATE utf8mb4_unicode_ci`
    // (sqlx before 0.9, or 0.9 given that collation) is refused as the
    // PyPI kernel refuses it (`tests/kernel.rs`): 1273, unknown collation.
    // sqlx 0.9's default statement, without a collation, is accepted, as
    // the kernel accepts it.
    let ep = sim.sql_endpoints()[0];
    let default = MySqlConnectOptions::new()
        .host(&ep.ip().to_string())
        .port(ep.port())
        .username("root")
        .password("s3cret")
        .ssl_mode(MySqlSslMode::Disabled);
    let e = MySqlConnection::connect_with(&default.clone().collation("utf8mb4_unicode_ci"))
        .await
        .unwrap_err();
    assert_eq!(mysql_number(&e), Some(1273), "{e}");
    MySqlConnection::connect_with(&default)
        .await
        .expect("sqlx 0.9's default connect-time statement is accepted")
        .close()
        .await
        .unwrap();

    // An unknown table of a known view's shape: 1146 (42S02), as the PyPI
    // kernel answers.
    let mut conn = MySqlConnection::connect_with(&bare(&sim, 0, "s3cret"))
        .await
        .unwrap();
    let e = conn
        .execute(sqlx::raw_sql("SELECT * FROM oceanbase.NO_SUCH_VIEW"))
        .await
        .unwrap_err();
    assert_eq!(mysql_number(&e), Some(1146), "{e}");
    assert_eq!(mysql_code(&e).as_deref(), Some("42S02"), "{e}");

    // Outside the catalogue: 1064 (42000), named, counted.
    let before = sim.status().statements.unsupported;
    let e = conn
        .execute(sqlx::raw_sql("CREATE TABLE t1 (c INT)"))
        .await
        .unwrap_err();
    assert_eq!(mysql_number(&e), Some(1064), "{e}");
    assert_eq!(mysql_code(&e).as_deref(), Some("42000"), "{e}");
    assert!(
        e.to_string().contains("obsim: unsupported statement"),
        "{e}"
    );
    assert_eq!(sim.status().statements.unsupported, before + 1);
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn an_injected_fault_fails_the_statement_and_shows_in_status() {
    let (sim, _dir) = start(|_| {}).await;
    let id = sim
        .add_fault(FaultSpec {
            pattern: "version".into(),
            action: FaultAction::Fail {
                nth: 2,
                times: 1,
                code: 4012,
                state: "HY000".into(),
                message: "Timeout".into(),
            },
        })
        .unwrap();
    let mut conn = MySqlConnection::connect_with(&bare(&sim, 0, ""))
        .await
        .unwrap();
    let version = || sqlx::raw_sql("SELECT version()");
    conn.fetch_all(version()).await.expect("the first passes");
    let e = conn.fetch_all(version()).await.unwrap_err();
    assert_eq!(mysql_number(&e), Some(4012), "{e}");
    conn.fetch_all(version()).await.expect("the third passes");

    let fault = sim
        .status()
        .faults
        .into_iter()
        .find(|f| f.id == id)
        .expect("the fault is listed");
    assert_eq!((fault.seen, fault.fired), (3, 1));
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn a_killed_observer_closes_its_port_at_once_and_turns_inactive_after_the_lease() {
    // Long enough that a loaded machine still sees the port close well
    // inside it.
    let lease = Duration::from_millis(4000);
    let (sim, _dir) = start(|c| c.timing.lease_ms = lease.as_millis() as i64).await;
    let server = sim.status().servers[0].clone();
    let pid = server.pid.expect("the observer runs");
    assert_eq!(server.status, "ACTIVE");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed = tokio::time::Instant::now();

    // The SQL port closes as soon as obsim sees the process gone.
    let endpoint = sim.sql_endpoints()[0];
    loop {
        if tokio::net::TcpStream::connect(endpoint).await.is_err() {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_millis(1500),
            "the SQL port stayed open {:?} after the kill",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The sys tenant, asked through another server, still says ACTIVE
    // until the lease runs out: obshell's restart check passes too early
    // here (real-driver.md §1.4).
    assert_eq!(sim.status().servers[0].status, "ACTIVE");
    loop {
        if sim.status().servers[0].status == "INACTIVE" {
            break;
        }
        assert!(
            killed.elapsed() < lease * 4,
            "{:?}",
            sim.status().servers[0]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        killed.elapsed() >= lease,
        "INACTIVE after {:?}, before the lease of {lease:?}",
        killed.elapsed()
    );
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn a_delayed_statement_holds_up_only_itself() {
    let (sim, _dir) = start(|_| {}).await;
    sim.add_fault(FaultSpec {
        pattern: "version".into(),
        action: FaultAction::Delay { ms: 3000 },
    })
    .unwrap();
    let mut slow = MySqlConnection::connect_with(&bare(&sim, 0, ""))
        .await
        .unwrap();
    let mut other = MySqlConnection::connect_with(&bare(&sim, 0, ""))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let delayed = tokio::spawn(async move {
        slow.fetch_all(sqlx::raw_sql("SELECT version()"))
            .await
            .unwrap();
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While the first waits out its delay, the state is not locked.
    let plain = catalogue::shapes()
        .find(|s| s.example.starts_with("SELECT") && s.example.contains("DBA_OB_SERVERS"))
        .expect("the catalogue reads DBA_OB_SERVERS")
        .example;
    other
        .fetch_all(sqlx::raw_sql(sqlx::AssertSqlSafe(plain)))
        .await
        .unwrap();
    let meanwhile = started.elapsed();
    let slow_took = delayed.await.unwrap();
    assert!(slow_took >= Duration::from_millis(3000), "{slow_took:?}");
    assert!(
        meanwhile < Duration::from_millis(2500),
        "the other statement waited {meanwhile:?}"
    );
    sim.stop().await.unwrap();
}
