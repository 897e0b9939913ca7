//! obsim as the upgrade scripts' client sees it: every catalogue statement
//! sent with mysql-connector-python (the scripts' only dependency, the
//! version real-driver.md §2.1 checked), pure Python and C extension, text
//! and prepared cursors (see `CLIENT` for the C extension's prepared ones),
//! answered with the catalogue's column names and wire types. The same checks with sqlx are in obsim's `tests/wire.rs`.

use obup_ob_sql::catalogue::{self, SqlType};
use obup_obsim::{Config, Simulator};

/// Sends each `[id, sql, [[name, type], ...]]` of stdin's JSON in the four
/// ways and prints `{"problems": [...], "refused": {...}}`.
const CLIENT: &str = r#"
import json, sys
import mysql.connector
from mysql.connector import FieldType

target = json.loads(sys.stdin.read())
problems, refused = [], {}
# No database named: the pure-Python client still sends the handshake's
# database field, empty; the C extension leaves it out. Both connect.
for pure in (True, False):
    try:
        conn = mysql.connector.connect(host=target['host'], port=target['port'], user='root',
                                       password='', use_pure=pure)
        cur = conn.cursor(buffered=True)
        cur.execute('select version()')
        cur.fetchall()
        conn.close()
    except mysql.connector.Error as e:
        problems.append('connect without a database (%s): %s' % ('pure' if pure else 'c', e))
for pure, prepared in ((True, False), (True, True), (False, False), (False, True)):
    mode = ('pure' if pure else 'c') + ('-prepared' if prepared else '-text')
    # One connection per mode. The C extension's prepared cursor sends
    # COM_STMT_CLOSE (no answer) and its next command back to back: that is
    # what caught opensrv-mysql reading a command from freed memory (see
    # obsim's wire_in.rs); every later answer came one behind.
    conn = None
    refused[mode] = []
    for sid, sql, columns in target['shapes']:
        if conn is None:
            conn = mysql.connector.connect(host=target['host'], port=target['port'], user='root',
                                           password='', database='oceanbase', use_pure=pure)
            conn.autocommit = True
        cur = conn.cursor(prepared=True) if prepared else conn.cursor(buffered=True)
        try:
            cur.execute(sql)
            got = [(d[0], FieldType.get_info(d[1])) for d in (cur.description or [])]
            if cur.with_rows:
                cur.fetchall()
        except mysql.connector.Error as e:
            if e.errno == 1064:
                problems.append('%s (%s): %s' % (sid, mode, e))
            else:
                refused[mode].append(sid)
            continue
        finally:
            cur.close()
        want = [(n, t) for n, t in columns]
        if [n for n, _ in got] != [n for n, _ in want]:
            problems.append('%s (%s): columns %r, want %r' % (sid, mode, got, want))
        elif any(g != w for (_, g), (_, w) in zip(got, want)):
            problems.append('%s (%s): types %r, want %r' % (sid, mode, got, want))
    conn.close()
print(json.dumps({'problems': problems, 'refused': refused}))
"#;

/// mysql.connector's name of the wire type a catalogue column is sent as.
fn field_type(ty: SqlType) -> &'static str {
    match ty {
        SqlType::Int => "LONG",
        SqlType::BigInt | SqlType::BigIntUnsigned => "LONGLONG",
        SqlType::Decimal => "NEWDECIMAL",
        SqlType::Varchar => "VAR_STRING",
        SqlType::LongText => "BLOB",
        SqlType::DateTime => "DATETIME",
        SqlType::Timestamp => "TIMESTAMP",
    }
}

#[tokio::test]
async fn every_catalogue_statement_answers_mysql_connector_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let python = obup_local_cluster::python::for_tests()
        .expect("a Python with mysql-connector-python (pip from PyPI)");
    let sim = Simulator::start(Config::for_tests(dir.path().join("obsim")))
        .await
        .unwrap();
    let ep = sim.sql_endpoints()[0];
    let shapes: Vec<serde_json::Value> = catalogue::shapes()
        .map(|s| {
            let columns: Vec<(&str, &str)> = s
                .columns
                .iter()
                .map(|c| (c.name, field_type(c.ty)))
                .collect();
            serde_json::json!([s.id, s.example, columns])
        })
        .collect();
    let input = serde_json::json!({
        "host": ep.ip().to_string(),
        "port": ep.port(),
        "shapes": shapes,
    });

    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(python)
            .args(["-c", CLIENT])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    // Refused by the cluster's state as OceanBase would refuse them, as in
    // the sqlx test: no license view on CE, a server not in this cluster.
    for (mode, ids) in report["refused"].as_object().unwrap() {
        assert_eq!(
            ids,
            &serde_json::json!(["license_count", "set_parameter_on_server", "minor_freeze"]),
            "{mode}"
        );
    }
    assert_eq!(sim.status().statements.unsupported, 0);
    sim.stop().await.unwrap();
}
