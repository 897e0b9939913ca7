//! The MySQL protocol side: one listener per server, open only while that
//! server serves, and a shim per connection that hands statements to the
//! core.
//!
//! As OceanBase: handshake version `5.7.25`, `mysql_native_password`
//! against the root password (a wrong one gets `1045`), users `root`,
//! `root@sys` and `root@sys#<cluster>`, no SSL capability (opensrv-mysql is
//! built without TLS), zero warnings, `USE`/the handshake's database
//! answered for `oceanbase` and `ocs` (a client that names a database
//! otherwise waits forever). Text and prepared statements share one
//! matcher: a prepared statement's parameters are put back into its text.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use obup_ob_sql::SqlType;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter,
    OkResponse, ParamParser, QueryResultWriter, RowWriter, StatementMetaWriter, StatusFlags,
    ValueInner,
};
use sha1::{Digest, Sha1};
use tokio::io::AsyncWrite;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::engine::{Core, Executed, Reply};
use crate::sql::normalize::{normalize, quote};
use crate::sql::{OutColumn, Session, SqlError, Value};
use crate::wire::{Wire, WireCtl};

/// Serves server `id`'s SQL port at `addr` while it serves, until
/// `shutdown`. `first` is the listener bound at start-up, if any.
pub async fn serve_server(
    core: Arc<Core>,
    id: i64,
    addr: SocketAddr,
    mut first: Option<TcpListener>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut serving = core.serving(id);
    loop {
        tokio::select! {
            up = async { serving.wait_for(|s| *s).await.is_ok() } => if !up { return },
            _ = crate::sim::stopped(&mut shutdown) => return,
        }
        let listener = match first.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "cannot listen yet");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        tracing::debug!(%addr, "SQL port open");
        core.set_open(id, true);
        let for_conns = shutdown.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(connection(core.clone(), id, stream, peer, for_conns.clone()));
                    }
                    Err(e) => tracing::warn!(%addr, error = %e, "accept failed"),
                },
                down = async { serving.wait_for(|s| !*s).await.is_ok() } => {
                    if !down { return }
                    break;
                }
                _ = crate::sim::stopped(&mut shutdown) => return,
            }
        }
        drop(listener);
        core.set_open(id, false);
        tracing::debug!(%addr, "SQL port closed");
    }
}

/// One client connection, dropped (socket closed) when its server stops
/// serving, after a cut, or at shutdown.
async fn connection(
    core: Arc<Core>,
    id: i64,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut serving = core.serving(id);
    let (r, w) = stream.into_split();
    let ctl = Arc::new(WireCtl::default());
    let shim = Shim::new(core.clone(), id, peer.ip(), ctl.clone());
    let r = crate::wire_in::PacketBounded::new(r);
    let run = AsyncMysqlIntermediary::run_on(shim, r, Wire::new(w, ctl.clone()));
    tokio::select! {
        r = run => if let Err(e) = r { tracing::debug!(%peer, error = %e, "connection ended") },
        _ = async { let _ = serving.wait_for(|s| !*s).await; } => tracing::debug!(%peer, "server died: connection closed"),
        _ = ctl.closed.notified() => tracing::debug!(%peer, "connection cut"),
        _ = crate::sim::stopped(&mut shutdown) => {}
    }
}

struct Shim {
    core: Arc<Core>,
    session: Session,
    /// Set by `authenticate` (which only gets `&self`).
    user: Mutex<String>,
    peer: IpAddr,
    salt: [u8; 20],
    ctl: Arc<WireCtl>,
    stmts: HashMap<u32, String>,
    next_stmt: u32,
}

impl Shim {
    fn new(core: Arc<Core>, server: i64, peer: IpAddr, ctl: Arc<WireCtl>) -> Self {
        use rand::Rng;
        let mut salt = [0u8; 20];
        let mut rng = rand::thread_rng();
        for b in &mut salt {
            // Printable, never NUL or `$` (clients treat them specially).
            *b = rng.gen_range(b'0'..=b'z');
        }
        let conn = core.next_conn_id();
        Self {
            core,
            session: Session::new(conn, server),
            user: Mutex::new(String::new()),
            peer,
            salt,
            ctl,
            stmts: HashMap::new(),
            next_stmt: 1,
        }
    }

    fn sync_user(&mut self) {
        if self.session.user.is_empty() {
            self.session.user = self.user.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
    }

    fn user_ok(&self, user: &str) -> bool {
        let cluster = &self.core.config.cluster_name;
        user == "root" || user == "root@sys" || user == format!("root@sys#{cluster}")
    }
}

/// `mysql_native_password`: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))); an
/// empty password sends nothing.
fn native_password_ok(password: &str, salt: &[u8], auth: &[u8]) -> bool {
    if password.is_empty() {
        return auth.is_empty();
    }
    let h1 = Sha1::digest(password.as_bytes());
    let h2 = Sha1::digest(h1);
    let mut h = Sha1::new();
    h.update(&salt[..salt.len().min(20)]);
    h.update(h2);
    let h3 = h.finalize();
    let expected: Vec<u8> = h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect();
    auth == expected.as_slice()
}

#[async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Shim {
    type Error = io::Error;

    fn version(&self) -> String {
        "5.7.25".into()
    }

    fn connect_id(&self) -> u32 {
        self.session.conn_id
    }

    fn salt(&self) -> [u8; 20] {
        self.salt
    }

    async fn authenticate(&self, _plugin: &str, user: &[u8], salt: &[u8], auth: &[u8]) -> bool {
        let user = String::from_utf8_lossy(user).into_owned();
        let ok =
            self.user_ok(&user) && native_password_ok(&self.core.config.root_password, salt, auth);
        if ok {
            *self.user.lock().unwrap_or_else(|p| p.into_inner()) = user;
        } else {
            // OceanBase's refusal (opensrv would send 1698).
            let using = if auth.is_empty() { "NO" } else { "YES" };
            self.ctl.replace_next_error(&SqlError::new(
                1045,
                "42000",
                format!(
                    "Access denied for user '{}'@'{}' (using password: {using})",
                    user.split('@').next().unwrap_or(&user),
                    self.peer
                ),
            ));
        }
        ok
    }

    async fn on_init<'a>(&'a mut self, db: &'a str, w: InitWriter<'a, W>) -> io::Result<()> {
        self.sync_user();
        // A handshake with CLIENT_CONNECT_WITH_DB and an empty name (what
        // mysql.connector's pure-Python client sends when no database is
        // given) selects none: MySQL changes the database only for a
        // non-empty name, and opensrv calls this for any name present.
        if db.is_empty() {
            return w.ok().await;
        }
        let ex = self
            .core
            .execute(&mut self.session, &format!("use {db}"))
            .await;
        match ex.result {
            Ok(_) => w.ok().await,
            Err(e) => {
                self.ctl.replace_next_error(&e);
                w.error(ErrorKind::ER_BAD_DB_ERROR, e.message.as_bytes())
                    .await
            }
        }
    }

    async fn on_query<'a>(
        &'a mut self,
        query: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        self.sync_user();
        let ex = self.core.execute(&mut self.session, query).await;
        write_reply(&self.ctl, &self.session, results, ex, false).await
    }

    async fn on_prepare<'a>(
        &'a mut self,
        query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> io::Result<()> {
        self.sync_user();
        let id = self.next_stmt;
        self.next_stmt += 1;
        let params = placeholders(query);
        self.stmts.insert(id, query.to_owned());
        let param_cols: Vec<Column> = (0..params)
            .map(|_| Column {
                table: String::new(),
                column: "?".into(),
                coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                colflags: ColumnFlags::empty(),
            })
            .collect();
        // The result's columns, if a pattern matches with stand-in values.
        let cols: Vec<Column> = ["'0'", "0"]
            .iter()
            .find_map(|v| {
                let text = substitute(query, &vec![(*v).to_owned(); params]);
                self.core.columns_of(&normalize(&text))
            })
            .unwrap_or_default()
            .iter()
            .map(to_column)
            .collect();
        info.reply(id, &param_cols, &cols).await
    }

    async fn on_execute<'a>(
        &'a mut self,
        id: u32,
        params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        self.sync_user();
        let Some(query) = self.stmts.get(&id).cloned() else {
            let e = SqlError::new(
                1243,
                "HY000",
                format!("Unknown prepared statement handler ({id})"),
            );
            self.ctl.replace_next_error(&e);
            return results
                .error(ErrorKind::ER_UNKNOWN_STMT_HANDLER, e.message.as_bytes())
                .await;
        };
        let values: Vec<String> = params
            .into_iter()
            .map(|p| render_param(p.value.into_inner()))
            .collect();
        let text = substitute(&query, &values);
        let ex = self.core.execute(&mut self.session, &text).await;
        write_reply(&self.ctl, &self.session, results, ex, true).await
    }

    async fn on_close<'a>(&'a mut self, stmt: u32)
    where
        W: 'async_trait,
    {
        self.stmts.remove(&stmt);
    }
}

async fn write_reply<W: AsyncWrite + Send + Unpin>(
    ctl: &WireCtl,
    session: &Session,
    results: QueryResultWriter<'_, W>,
    ex: Executed,
    binary: bool,
) -> io::Result<()> {
    let cut_at = ex.drop_after;
    match ex.result {
        Err(e) => {
            if cut_at.is_some() {
                ctl.cut();
            }
            ctl.replace_next_error(&e);
            results
                .error(ErrorKind::ER_UNKNOWN_ERROR, e.message.as_bytes())
                .await
        }
        Ok(Reply::Ok) => {
            if cut_at.is_some() {
                ctl.cut();
            }
            let mut status = StatusFlags::empty();
            if session.autocommit {
                status |= StatusFlags::SERVER_STATUS_AUTOCOMMIT;
            }
            if session.in_transaction {
                status |= StatusFlags::SERVER_STATUS_IN_TRANS;
            }
            results
                .completed(OkResponse {
                    status_flags: status,
                    ..Default::default()
                })
                .await
        }
        Ok(Reply::Rows(rs)) => {
            let cols: Vec<Column> = rs.columns.iter().map(to_column).collect();
            let mut w = results.start(&cols).await?;
            for (i, row) in rs.rows.iter().enumerate() {
                if cut_at == Some(i) {
                    ctl.cut();
                }
                for (v, c) in row.iter().zip(&rs.columns) {
                    write_value(&mut w, v, c, binary)?;
                }
                w.end_row().await?;
            }
            if cut_at.is_some_and(|n| n >= rs.rows.len()) {
                ctl.cut();
            }
            w.finish().await
        }
    }
}

/// A catalogue column as the protocol describes it, with the flags the
/// PyPI kernel sets: numbers `NUM`, TIMESTAMPs `BINARY TIMESTAMP`.
fn to_column(c: &OutColumn) -> Column {
    let (coltype, mut colflags) = match c.column.ty {
        SqlType::Int => (ColumnType::MYSQL_TYPE_LONG, ColumnFlags::NUM_FLAG),
        SqlType::BigInt => (ColumnType::MYSQL_TYPE_LONGLONG, ColumnFlags::NUM_FLAG),
        SqlType::BigIntUnsigned => (
            ColumnType::MYSQL_TYPE_LONGLONG,
            ColumnFlags::NUM_FLAG | ColumnFlags::UNSIGNED_FLAG,
        ),
        SqlType::Decimal => (ColumnType::MYSQL_TYPE_NEWDECIMAL, ColumnFlags::NUM_FLAG),
        SqlType::Varchar => (ColumnType::MYSQL_TYPE_VAR_STRING, ColumnFlags::empty()),
        SqlType::LongText => (ColumnType::MYSQL_TYPE_BLOB, ColumnFlags::empty()),
        SqlType::DateTime => (ColumnType::MYSQL_TYPE_DATETIME, ColumnFlags::BINARY_FLAG),
        SqlType::Timestamp => (
            ColumnType::MYSQL_TYPE_TIMESTAMP,
            ColumnFlags::BINARY_FLAG | ColumnFlags::TIMESTAMP_FLAG,
        ),
    };
    if !c.column.nullable {
        colflags |= ColumnFlags::NOT_NULL_FLAG;
    }
    Column {
        table: String::new(),
        column: c.name.clone(),
        coltype,
        colflags,
    }
}

fn write_value<W: AsyncWrite + Unpin>(
    w: &mut RowWriter<'_, W>,
    v: &Value,
    c: &OutColumn,
    binary: bool,
) -> io::Result<()> {
    let int = |v: &Value| match v {
        Value::Int(i) => *i,
        Value::UInt(u) => *u as i64,
        other => other.text().and_then(|t| t.parse().ok()).unwrap_or(0),
    };
    if *v == Value::Null && c.column.nullable {
        return w.write_col(None::<i64>);
    }
    match c.column.ty {
        SqlType::Int => w.write_col(int(v) as isize),
        SqlType::BigInt => w.write_col(int(v)),
        SqlType::BigIntUnsigned => w.write_col(match v {
            Value::UInt(u) => *u,
            other => int(other).max(0) as u64,
        }),
        SqlType::DateTime | SqlType::Timestamp => match (v, binary) {
            (Value::Time(t), true) => w.write_col(*t),
            _ => w.write_col(v.text().unwrap_or_default()),
        },
        SqlType::Varchar | SqlType::LongText | SqlType::Decimal => {
            w.write_col(v.text().unwrap_or_default())
        }
    }
}

/// How many `?` placeholders `sql` has (outside literals and comments).
fn placeholders(sql: &str) -> usize {
    let mut n = 0;
    scan(sql, |_| {
        n += 1;
        String::new()
    });
    n
}

/// `sql` with its placeholders replaced by `values`, in order.
fn substitute(sql: &str, values: &[String]) -> String {
    let mut it = values.iter();
    scan(sql, |_| it.next().cloned().unwrap_or_else(|| "NULL".into()))
}

/// Copies `sql`, replacing each placeholder with `f(index)`.
fn scan(sql: &str, mut f: impl FnMut(usize) -> String) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut k = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' => {
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if chars[i - 1] == c {
                        break;
                    }
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let end = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                    .map_or(chars.len(), |j| j + 2);
                out.extend(&chars[i..end]);
                i = end;
            }
            '?' => {
                out.push_str(&f(k));
                k += 1;
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// A bound parameter as SQL text.
fn render_param(v: ValueInner<'_>) -> String {
    match v {
        ValueInner::NULL => "NULL".into(),
        ValueInner::Bytes(b) => quote(&String::from_utf8_lossy(b)),
        ValueInner::Int(i) => i.to_string(),
        ValueInner::UInt(u) => u.to_string(),
        ValueInner::Double(d) => d.to_string(),
        ValueInner::Date(b) | ValueInner::Time(b) | ValueInner::Datetime(b) => {
            quote(&String::from_utf8_lossy(b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_literals_are_replaced() {
        let sql = "select a from t where b = ? and c = '?' /* ? */ and d = ?";
        assert_eq!(placeholders(sql), 2);
        assert_eq!(
            substitute(sql, &["'x'".into(), "3".into()]),
            "select a from t where b = 'x' and c = '?' /* ? */ and d = 3"
        );
    }

    #[test]
    fn native_password_scramble() {
        let salt = b"01234567890123456789";
        let h1 = Sha1::digest(b"pw");
        let h2 = Sha1::digest(h1);
        let mut h = Sha1::new();
        h.update(salt);
        h.update(h2);
        let token: Vec<u8> = h1
            .iter()
            .zip(h.finalize().iter())
            .map(|(a, b)| a ^ b)
            .collect();
        assert!(native_password_ok("pw", salt, &token));
        assert!(!native_password_ok("other", salt, &token));
        assert!(native_password_ok("", salt, b""));
        assert!(!native_password_ok("", salt, &token));
    }
}
