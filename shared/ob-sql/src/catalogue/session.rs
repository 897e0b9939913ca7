//! Session statements clients send by themselves (real-driver.md §1.1):
//! mysql.connector's (pure Python and C extension), obshell's Go driver,
//! OBD's upgrade plugin, and the identity probes. Column types are those the
//! PyPI kernel answers with (§0.1), where it could be asked.

use super::SqlType::*;
use super::{Shape, col, null};

pub const SESSION: &[Shape] = &[
    // `SET NAMES utf8mb4` (C extension, go-sql-driver) and
    // `SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'` (pure Python).
    Shape {
        id: "set_names",
        example: "SET NAMES utf8mb4",
        columns: &[],
    },
    // `SET @@session.autocommit = OFF|ON` (pure Python), `set autocommit=0|1`
    // (C extension).
    Shape {
        id: "set_autocommit",
        example: "SET @@session.autocommit = OFF",
        columns: &[],
    },
    Shape {
        id: "set_ob_trx_timeout",
        example: "SET SESSION ob_trx_timeout = 1000000000",
        columns: &[],
    },
    // The session's `time_zone` (`+08:00` by default on OceanBase) decides
    // how the `DBA_` views' TIMESTAMP columns read.
    Shape {
        id: "set_time_zone",
        example: "SET time_zone = '+00:00'",
        columns: &[],
    },
    // sqlx 0.9's connect-time statement when a client keeps its default
    // options (`sqlx-mysql-0.9.0/src/options/connect.rs`); the PyPI kernel
    // accepts it. The driver connects without it (real-driver.md §4.3).
    Shape {
        id: "sqlx_connect",
        example: "SET sql_mode=(SELECT CONCAT(@@sql_mode, ',PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION')),\
                  time_zone='+00:00',NAMES utf8mb4;",
        columns: &[],
    },
    // `START TRANSACTION`, `BEGIN`, `COMMIT`, `ROLLBACK`.
    Shape {
        id: "transaction",
        example: "START TRANSACTION",
        columns: &[],
    },
    Shape {
        id: "use_database",
        example: "use oceanbase",
        columns: &[],
    },
    // OBD's liveness probe after `use oceanbase`.
    Shape {
        id: "show_tables",
        example: "show tables",
        columns: &[col("Tables_in_oceanbase", Varchar)],
    },
    Shape {
        id: "system_time_zone",
        example: "SELECT @@system_time_zone",
        columns: &[null("@@system_time_zone", Varchar)],
    },
    Shape {
        id: "time_zone",
        example: "SELECT @@time_zone",
        columns: &[null("@@time_zone", Varchar)],
    },
    // What the mysql/mariadb command-line client asks when it starts.
    Shape {
        id: "version_comment",
        example: "select @@version_comment limit 1",
        columns: &[null("@@version_comment", Varchar)],
    },
    Shape {
        id: "ob_version",
        example: "select ob_version()",
        columns: &[null("ob_version()", Varchar)],
    },
    Shape {
        id: "utc_timestamp",
        example: "SELECT UTC_TIMESTAMP(6)",
        columns: &[col("UTC_TIMESTAMP(6)", DateTime)],
    },
    Shape {
        id: "current_timestamp",
        example: "SELECT CURRENT_TIMESTAMP(6)",
        columns: &[null("CURRENT_TIMESTAMP(6)", DateTime)],
    },
    // obshell's edition test (§1.2).
    Shape {
        id: "version_is_ce",
        example: r"select version() REGEXP 'OceanBase[\s_]CE'",
        columns: &[null(r"version() REGEXP 'OceanBase[\s_]CE'", Int)],
    },
];
