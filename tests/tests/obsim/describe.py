"""Runs each catalogue example through mysql.connector, connected as the
upgrade scripts connect (database 'oceanbase', raise_on_warnings), and
prints what the client saw as JSON: the columns' names and type names, or
the error's number and message.

- text: every statement on one connection, with the C extension (the
  default, as the scripts use it);
- prepared, prepared_pure: each statement prepared on a fresh connection,
  with the C extension and with the pure-Python protocol. A fresh one
  because after a prepared statement the C extension (libmysqlclient) reads
  the next text result on the same connection as empty, against obsim; the
  upgrade scripts never prepare (see the closing note of issue 11)."""
import json
import sys

import mysql.connector
from mysql.connector import FieldType

req = json.load(sys.stdin)


def connect(pure):
    return mysql.connector.connect(host=req['host'], port=req['port'], user=req['user'],
                                   password='', database='oceanbase', raise_on_warnings=True,
                                   use_pure=pure)


def run(conn, sql, prepared):
    try:
        cur = conn.cursor(prepared=prepared)
        cur.execute(sql)
        cols = [[d[0], FieldType.get_info(d[1])] for d in (cur.description or [])]
        if cur.with_rows:
            cur.fetchall()
        cur.close()
        return {'columns': cols}
    except mysql.connector.Error as e:
        return {'error': [e.errno, str(e.msg)]}


out = {s['id']: {} for s in req['statements']}
text = connect(False)
for s in req['statements']:
    out[s['id']]['text'] = run(text, s['sql'], False)
for mode, pure in (('prepared', False), ('prepared_pure', True)):
    for s in req['statements']:
        conn = connect(pure)
        out[s['id']][mode] = run(conn, s['sql'], True)
        conn.close()
json.dump(out, sys.stdout)
