//! Connections to a cluster's sys tenant: one small pool per SQL endpoint,
//! bare connect options, text protocol only, and rotation between
//! endpoints so that the zone being restarted is not the one asked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::TryStreamExt;
use obup_ob_sql::{Row, Sql};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlSslMode};
use sqlx::{Column, Executor, Row as _};

use crate::{Error, Result};

/// How to reach and log in to the sys tenant.
#[derive(Clone)]
pub struct Login {
    pub user: String,
    pub password: String,
    /// sqlx's SSL mode; `Disabled` for obsim, which offers no TLS.
    pub ssl_mode: MySqlSslMode,
    /// `ob_query_timeout` set on every connection, in microseconds
    /// (obshell's DSN sets 60 s).
    pub query_timeout_us: u64,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &"<secret>")
            .field("ssl_mode", &self.ssl_mode)
            .finish()
    }
}

/// An SQL endpoint, `host:port`, and the zone its server is in once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: String,
    pub zone: Option<String>,
}

/// The pools of one cluster.
#[derive(Debug)]
pub(super) struct Connections {
    login: Login,
    /// Seeds first, then what the cluster reported; the one that last
    /// worked is tried first.
    endpoints: Mutex<Vec<Endpoint>>,
    pools: Mutex<HashMap<String, MySqlPool>>,
    connect_timeout: Duration,
}

/// Why one endpoint did not answer a statement.
enum Failure {
    /// Could not connect or lost the connection: try another endpoint.
    Unreachable(String),
    /// The server answered with an error: final.
    Refused(Error),
}

impl Connections {
    pub(super) fn new(seeds: &[String], login: Login, connect_timeout: Duration) -> Self {
        Self {
            login,
            endpoints: Mutex::new(
                seeds
                    .iter()
                    .map(|a| Endpoint {
                        addr: a.clone(),
                        zone: None,
                    })
                    .collect(),
            ),
            pools: Mutex::default(),
            connect_timeout,
        }
    }

    /// Adds the servers' own endpoints (from `DBA_OB_SERVERS`) and records
    /// each known endpoint's zone.
    pub(super) fn learn(&self, servers: &[(String, String)]) {
        let mut endpoints = self
            .endpoints
            .lock()
            .expect("endpoint list is never poisoned");
        for (addr, zone) in servers {
            match endpoints.iter_mut().find(|e| &e.addr == addr) {
                Some(e) => e.zone = Some(zone.clone()),
                None => endpoints.push(Endpoint {
                    addr: addr.clone(),
                    zone: Some(zone.clone()),
                }),
            }
        }
    }

    /// Endpoints in the order to try: outside the avoided zones first.
    fn order(&self, avoid: &[String]) -> Vec<String> {
        let endpoints = self
            .endpoints
            .lock()
            .expect("endpoint list is never poisoned");
        let (outside, inside): (Vec<&Endpoint>, Vec<&Endpoint>) = endpoints
            .iter()
            .partition(|e| e.zone.as_ref().is_none_or(|z| !avoid.contains(z)));
        outside
            .iter()
            .chain(&inside)
            .map(|e| e.addr.clone())
            .collect()
    }

    /// Moves `addr` to the front: the next statement asks it first.
    fn prefer(&self, addr: &str) {
        let mut endpoints = self
            .endpoints
            .lock()
            .expect("endpoint list is never poisoned");
        if let Some(i) = endpoints.iter().position(|e| e.addr == addr)
            && i > 0
        {
            let e = endpoints.remove(i);
            endpoints.insert(0, e);
        }
    }

    fn pool(&self, addr: &str) -> Result<MySqlPool> {
        let mut pools = self.pools.lock().expect("pool map is never poisoned");
        if let Some(p) = pools.get(addr) {
            return Ok(p.clone());
        }
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| Error::InvalidArgument {
                field: "sql_endpoints",
                reason: format!("{addr:?} is not host:port"),
            })?;
        // The bare options of real-driver.md §4.3: sqlx's connect-time
        // `SET sql_mode=..., time_zone=..., NAMES ... COLLATE ...` is refused
        // by OceanBase, so none of it is sent.
        let mut options = MySqlConnectOptions::new()
            .host(host)
            .port(port)
            .username(&self.login.user);
        // An empty password is sent as no password: a scramble of "" is a
        // non-empty answer, which a server refuses for an account without a
        // password (a fresh OceanBase's root).
        if !self.login.password.is_empty() {
            options = options.password(&self.login.password);
        }
        let options = options
            .database("oceanbase")
            .ssl_mode(self.login.ssl_mode)
            .pipes_as_concat(false)
            .no_engine_substitution(false)
            .timezone(None)
            .set_names(false)
            .statement_cache_capacity(0);
        let timeout_sql =
            obup_ob_sql::statements::set_query_timeout(self.login.query_timeout_us).text;
        let pool = MySqlPoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .acquire_timeout(self.connect_timeout)
            .idle_timeout(Duration::from_secs(60))
            .test_before_acquire(true)
            .after_connect(move |conn, _| {
                let sql = timeout_sql.clone();
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        pools.insert(addr.to_owned(), pool.clone());
        Ok(pool)
    }

    /// Runs `sql` on the first endpoint that answers, trying them in
    /// order (outside `avoid` first). A server error is final; a
    /// connection failure moves on to the next endpoint.
    pub(super) async fn query(&self, sql: &Sql, avoid: &[String]) -> Result<Vec<Row>> {
        let mut tried = Vec::new();
        for addr in self.order(avoid) {
            match self.query_on(&addr, sql).await {
                Ok(rows) => {
                    self.prefer(&addr);
                    return Ok(rows);
                }
                Err(Failure::Refused(e)) => return Err(e),
                Err(Failure::Unreachable(why)) => tried.push(format!("{addr}: {why}")),
            }
        }
        Err(Error::SqlUnreachable {
            statement: sql.id,
            tried,
        })
    }

    async fn query_on(&self, addr: &str, sql: &Sql) -> std::result::Result<Vec<Row>, Failure> {
        let pool = self.pool(addr).map_err(Failure::Refused)?;
        // Text protocol (COM_QUERY): raw SQL takes no arguments, so nothing
        // is prepared; OceanBase refuses some statements when prepared.
        let mut stream = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.text.clone())).fetch_many(&pool);
        let mut rows = Vec::new();
        loop {
            match stream.try_next().await {
                Ok(Some(either)) => {
                    if let sqlx::Either::Right(row) = either {
                        rows.push(text_row(&row));
                    }
                }
                Ok(None) => return Ok(rows),
                Err(e) => return Err(classify(addr, sql, e)),
            }
        }
    }
}

/// Every column as text: the driver decodes values itself, tolerant of the
/// numeric types OceanBase declares (real-driver.md §4.3 #6). In the text
/// protocol every value arrives as text, so reading it unchecked as a
/// string is exact.
fn text_row(row: &sqlx::mysql::MySqlRow) -> Row {
    let columns: Vec<String> = row.columns().iter().map(|c| c.name().to_owned()).collect();
    let values = (0..columns.len())
        .map(|i| row.try_get_unchecked::<Option<String>, _>(i).ok().flatten())
        .collect();
    Row::new(columns, values)
}

fn classify(addr: &str, sql: &Sql, e: sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Database(db) => {
            let code = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map_or(0, |m| m.number());
            Failure::Refused(Error::Sql {
                endpoint: addr.to_owned(),
                statement: sql.id,
                code,
                state: db.code().map(|c| c.into_owned()).unwrap_or_default(),
                message: db.message().to_owned(),
            })
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Failure::Unreachable(e.to_string()),
        other => Failure::Refused(Error::Internal(format!(
            "{addr}: {} failed: {other}",
            sql.id
        ))),
    }
}
