# obup's fixture upgrade script, not OceanBase's. It takes the command line
# of the scripts in OceanBase's tools/upgrade (docs/real-driver.md §2.1),
# connects as they do (mysql.connector, database 'oceanbase',
# raise_on_warnings) and sends the same families of statements (§2.2-§2.5),
# but polls every 50 ms instead of every 5 or 10 s. Any failure ends in an
# uncaught exception and exit code 1, as upstream's do.
#
# The package build puts `VERSION = '<the package's version>'` above this
# text: upstream's generated scripts carry their version the same way.

import getopt
import sys
import time

import mysql.connector

POLL_SECONDS = 0.05
WAIT_SECONDS = 120

OPTION_NAMES = {
    '-h': 'host', '--host': 'host',
    '-P': 'port', '--port': 'port',
    '-u': 'user', '--user': 'user',
    '-p': 'password', '--password': 'password',
    '-t': 'timeout', '--timeout': 'timeout',
    '-m': 'module', '--module': 'module',
    '-l': 'log_file', '--log-file': 'log_file',
    '-z': 'zone', '--zone': 'zone',
}


def options(with_zone=False):
    """Upstream's options, parsed with getopt as upstream does."""
    short = 'IVh:P:u:p:t:m:l:' + ('z:' if with_zone else '')
    long_ = ['help', 'version', 'host=', 'port=', 'user=', 'password=',
             'timeout=', 'module=', 'log-file='] + (['zone='] if with_zone else [])
    opts, _ = getopt.getopt(sys.argv[1:], short, long_)
    o = {'password': '', 'timeout': '0', 'module': 'all', 'zone': None}
    for key, value in opts:
        if key in ('-I', '--help'):
            print('usage: %s -h host -P port -u user [-p password] [-t timeout]'
                  % sys.argv[0])
            sys.exit(0)
        if key in ('-V', '--version'):
            print(VERSION)  # noqa: F821 (put above this text by the build)
            sys.exit(0)
        o[OPTION_NAMES[key]] = value
    for need in ('host', 'port', 'user'):
        if need not in o:
            raise Exception('option --%s is required' % need)
    return o


def connect(o):
    conn = mysql.connector.connect(host=o['host'], port=int(o['port']),
                                   user=o['user'], password=o['password'],
                                   database='oceanbase', raise_on_warnings=True)
    conn.autocommit = True
    cur = conn.cursor(buffered=True)
    if int(o['timeout']) > 0:
        cur.execute('set @@session.ob_query_timeout = %d' % (int(o['timeout']) * 1000000))
    return conn, cur


def rows(cur, sql):
    print('execute: ' + sql)
    cur.execute(sql)
    return cur.fetchall() if cur.with_rows else []


def scalar(cur, sql):
    found = rows(cur, sql)
    return found[0][0] if found else None


def expect(cur, sql, want, reason):
    got = scalar(cur, sql)
    if got != want:
        raise Exception('%s: %s returned %r, expected %r' % (reason, sql, got, want))


def wait_for(cur, sql, want, what):
    deadline = time.time() + WAIT_SECONDS
    while True:
        got = scalar(cur, sql)
        if got == want:
            return
        if time.time() > deadline:
            raise Exception('timed out waiting for %s: %s returned %r' % (what, sql, got))
        time.sleep(POLL_SECONDS)


def one_build(cur, zone=None):
    sql = "select distinct(substring_index(build_version, '_', 1)) from __all_server"
    if zone:
        sql = ("select distinct(substring_index(build_version, '_', 1)) "
               "from oceanbase.__all_server where zone = '%s'" % zone)
    found = rows(cur, sql)
    if len(found) != 1:
        raise Exception('servers run %d versions: %r' % (len(found), found))


def health_check(cur, zone=None):
    """upgrade_health_checker.py's waits (§2.3)."""
    servers = ("select count(*) from oceanbase.__all_server "
               "where (start_service_time <= 0 or status='inactive')")
    if zone:
        if scalar(cur, "select count(*) from oceanbase.DBA_OB_ZONES where zone = '%s'"
                  % zone) < 1:
            raise Exception("zone doesn't exist: %s" % zone)
        servers += " and zone = '%s'" % zone
    wait_for(cur, servers, 0, 'servers in service')
    wait_for(cur, "select count(*) from oceanbase.GV$OB_LOG_STAT where in_sync = 'NO'",
             0, 'logs in sync')
    wait_for(cur, SCHEMA_REFRESHED, 1, 'schemas refreshed')
    if zone:
        one_build(cur, zone)


SCHEMA_REFRESHED = (
    "select if (a.cnt = b.cnt, 1, 0) as passed from (select count(*) as cnt from "
    "oceanbase.__all_virtual_server_schema_info where refreshed_schema_version > 1 and "
    "refreshed_schema_version % 8 = 0) as a join (select count(*) as cnt from "
    "oceanbase.__all_server join oceanbase.__all_tenant) as b")


def set_and_wait(cur, name, value):
    """`alter system set` and the wait until every server has the value."""
    rows(cur, "alter system set %s = '%s'" % (name, value))
    wait_for(cur, "select count(*) as cnt from oceanbase.GV$OB_PARAMETERS "
             "where name = '%s' and value != '%s'" % (name, value), 0, name)


def int_version(version):
    a, b, c, d = [int(x) for x in version.split('.')]
    return (a << 32) | (b << 16) | (c << 8) | d
