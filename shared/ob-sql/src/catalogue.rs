//! Every statement shape the simulator answers, with the columns OceanBase
//! answers it with: the driver's statements (their examples are exactly
//! what [`crate::statements`] builds), the upgrade scripts' (§2) and the
//! session statements clients send by themselves (§1.1).
//!
//! obsim's tests send each example over the MySQL protocol, with sqlx and
//! with mysql.connector, text and prepared, and compare the answer's column
//! names and types with these. A statement is answered with an OK packet
//! when `columns` is empty.

/// A column type as the MySQL protocol reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlType {
    /// `INT` (`MYSQL_TYPE_LONG`): what OceanBase answers for a boolean
    /// expression such as `version() REGEXP '...'` or `count(1)=1` (seen on
    /// the PyPI kernel, real-driver.md §0.1).
    Int,
    /// `BIGINT` (counts, ports, ids). `count(*)` and `count(1)` are BIGINT,
    /// signed and nullable, on the PyPI kernel.
    BigInt,
    /// `BIGINT UNSIGNED` (SCNs).
    BigIntUnsigned,
    /// `DECIMAL`.
    Decimal,
    /// `VARCHAR`.
    Varchar,
    /// `LONGTEXT` (long values).
    LongText,
    /// `DATETIME(6)`: `UTC_TIMESTAMP(6)`, `CURRENT_TIMESTAMP(6)`.
    DateTime,
    /// `TIMESTAMP(6)`: the times of the `DBA_` views. `DBA_OB_SERVERS`
    /// defines `START_SERVICE_TIME` as `usec_to_time(start_service_time)`
    /// (OceanBase's inner-table schema), and `usec_to_time` is a TIMESTAMP
    /// shown in the session's `time_zone` (`+08:00` by default) on the PyPI
    /// kernel.
    Timestamp,
}

/// One column of a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// As OceanBase names it in the result (the case matters to clients
    /// that read rows into maps, such as the upgrade scripts).
    pub name: &'static str,
    pub ty: SqlType,
    pub nullable: bool,
}

const fn col(name: &'static str, ty: SqlType) -> Column {
    Column {
        name,
        ty,
        nullable: false,
    }
}

const fn null(name: &'static str, ty: SqlType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
    }
}

/// A statement shape: its id, an instance of it, and its result columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub id: &'static str,
    pub example: &'static str,
    pub columns: &'static [Column],
}

use SqlType::*;

// `count(*)` is a nullable BIGINT on the PyPI kernel (no NOT_NULL flag).
const COUNT: &[Column] = &[null("count(*)", BigInt)];
const COUNT1: &[Column] = &[null("count(1)", BigInt)];

/// The driver's statements (see `statements.rs`).
pub const DRIVER: &[Shape] = &[
    Shape {
        id: "set_ob_query_timeout",
        example: "SET SESSION ob_query_timeout = 60000000",
        columns: &[],
    },
    Shape {
        id: "version",
        example: "SELECT version()",
        columns: &[col("version()", Varchar)],
    },
    Shape {
        id: "license_count",
        example: "SELECT COUNT(*) FROM oceanbase.DBA_OB_LICENSE",
        columns: &[null("COUNT(*)", BigInt)],
    },
    Shape {
        id: "zones",
        example: "SELECT ZONE, STATUS, REGION, IDC FROM oceanbase.DBA_OB_ZONES",
        columns: &[
            col("ZONE", Varchar),
            col("STATUS", Varchar),
            col("REGION", Varchar),
            col("IDC", Varchar),
        ],
    },
    Shape {
        id: "servers",
        example: "SELECT SVR_IP, SVR_PORT, SQL_PORT, ZONE, ID, STATUS, WITH_ROOTSERVER, \
                  START_SERVICE_TIME, STOP_TIME, BUILD_VERSION FROM oceanbase.DBA_OB_SERVERS",
        columns: &[
            col("SVR_IP", Varchar),
            col("SVR_PORT", BigInt),
            col("SQL_PORT", BigInt),
            col("ZONE", Varchar),
            col("ID", BigInt),
            col("STATUS", Varchar),
            col("WITH_ROOTSERVER", Varchar),
            null("START_SERVICE_TIME", Timestamp),
            null("STOP_TIME", Timestamp),
            col("BUILD_VERSION", Varchar),
        ],
    },
    Shape {
        id: "tenants",
        example: "SELECT TENANT_ID, TENANT_NAME, STATUS FROM oceanbase.DBA_OB_TENANTS",
        columns: &[
            col("TENANT_ID", BigInt),
            col("TENANT_NAME", Varchar),
            col("STATUS", Varchar),
        ],
    },
    Shape {
        id: "tenant_name",
        example: "SELECT TENANT_NAME FROM oceanbase.DBA_OB_TENANTS WHERE TENANT_ID = 1",
        columns: &[col("TENANT_NAME", Varchar)],
    },
    Shape {
        id: "parameter_values",
        example: "SELECT DISTINCT VALUE FROM oceanbase.GV$OB_PARAMETERS WHERE NAME = 'min_observer_version'",
        columns: &[col("VALUE", Varchar)],
    },
    Shape {
        id: "unrefreshed_schema_tenants",
        example: "SELECT DISTINCT tenant_name FROM (SELECT tenant_id, tenant_name, svr_ip, svr_port \
                  FROM oceanbase.DBA_OB_TENANTS, oceanbase.DBA_OB_SERVERS) AS ts \
                  LEFT JOIN oceanbase.GV$OB_SERVER_SCHEMA_INFO AS os \
                  ON ts.tenant_id = os.tenant_id AND ts.svr_ip = os.svr_ip AND ts.svr_port = os.svr_port \
                  WHERE refreshed_schema_version IS NULL OR refreshed_schema_version <= 1 \
                  OR refreshed_schema_version % 8 != 0",
        columns: &[col("tenant_name", Varchar)],
    },
    Shape {
        id: "merging_tablets",
        example: "SELECT count(1) FROM oceanbase.__all_virtual_tablet_compaction_info \
                  WHERE max_received_scn > finished_scn AND max_received_scn > 0",
        columns: COUNT1,
    },
    Shape {
        id: "running_major_compactions",
        example: "SELECT count(*) FROM oceanbase.CDB_OB_MAJOR_COMPACTION WHERE STATUS != 'IDLE'",
        columns: COUNT,
    },
    Shape {
        id: "backup_jobs",
        example: "SELECT count(1) FROM oceanbase.CDB_OB_BACKUP_JOBS",
        columns: COUNT1,
    },
    Shape {
        id: "unsynced_logs",
        example: "SELECT count(*) FROM oceanbase.GV$OB_LOG_STAT WHERE in_sync = 'NO'",
        columns: COUNT,
    },
    Shape {
        id: "parameters",
        example: "SELECT SVR_IP, SVR_PORT, ZONE, SCOPE, TENANT_ID, NAME, VALUE \
                  FROM oceanbase.GV$OB_PARAMETERS WHERE NAME IN \
                  ('server_permanent_offline_time', 'enable_rebalance', 'enable_rereplication')",
        columns: &[
            col("SVR_IP", Varchar),
            col("SVR_PORT", BigInt),
            col("ZONE", Varchar),
            col("SCOPE", Varchar),
            null("TENANT_ID", BigInt),
            col("NAME", Varchar),
            col("VALUE", Varchar),
        ],
    },
    Shape {
        id: "set_parameter_on_server",
        example: "ALTER SYSTEM SET server_permanent_offline_time = '3600s' SERVER = '127.0.0.1:2882'",
        columns: &[],
    },
    Shape {
        id: "set_parameter_for_tenant",
        example: "ALTER SYSTEM SET enable_rebalance = 'True' TENANT = sys",
        columns: &[],
    },
    Shape {
        id: "stop_zone",
        example: "ALTER SYSTEM STOP ZONE 'zone1'",
        columns: &[],
    },
    Shape {
        id: "start_zone",
        example: "ALTER SYSTEM START ZONE 'zone1'",
        columns: &[],
    },
    Shape {
        id: "min_checkpoint_scn",
        example: "SELECT checkpoint_scn FROM oceanbase.__all_virtual_ls_info \
                  WHERE svr_ip = '127.0.0.1' AND svr_port = 2882 ORDER BY checkpoint_scn ASC LIMIT 1",
        columns: &[col("checkpoint_scn", BigIntUnsigned)],
    },
    Shape {
        id: "minor_freeze",
        example: "ALTER SYSTEM MINOR FREEZE SERVER = ('127.0.0.1:2882', '127.0.0.2:2882')",
        columns: &[],
    },
];

mod scripts;
mod session;
mod tools;

pub use scripts::SCRIPTS;
pub use session::SESSION;
pub use tools::TOOLS;

/// Every statement shape obsim answers. The driver's come first; then the
/// session statements clients send by themselves, the other statements of
/// obshell and OBD, and the upgrade scripts'.
pub const CATALOGUE: &[&[Shape]] = &[DRIVER, SESSION, TOOLS, SCRIPTS];

/// Every shape, in catalogue order.
pub fn shapes() -> impl Iterator<Item = &'static Shape> {
    CATALOGUE.iter().flat_map(|s| s.iter())
}

/// The shape with `id`, if any.
pub fn shape(id: &str) -> Option<&'static Shape> {
    shapes().find(|s| s.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ident;
    use crate::statements::{self as st, SvrAddr};

    fn ident(s: &str) -> Ident {
        Ident::parse("test", s).unwrap()
    }

    /// Each builder, called with its example's arguments, builds exactly the
    /// example obsim is tested with.
    #[test]
    fn every_driver_statement_is_its_catalogue_example() {
        let a = SvrAddr {
            ip: [127, 0, 0, 1].into(),
            port: 2882,
        };
        let b = SvrAddr {
            ip: [127, 0, 0, 2].into(),
            port: 2882,
        };
        let names = [
            "server_permanent_offline_time",
            "enable_rebalance",
            "enable_rereplication",
        ]
        .map(ident);
        let built = [
            st::set_query_timeout(60_000_000),
            st::version(),
            st::license_count(),
            st::zones(),
            st::servers(),
            st::tenants(),
            st::tenant_name(1),
            st::parameter_values(&ident("min_observer_version")),
            st::unrefreshed_schema_tenants(),
            st::merging_tablets(),
            st::running_major_compactions(),
            st::backup_jobs(),
            st::unsynced_logs(),
            st::parameters(&names),
            st::set_parameter_on_server(&ident("server_permanent_offline_time"), "3600s", a)
                .unwrap(),
            st::set_parameter_for_tenant(&ident("enable_rebalance"), "True", &ident("sys"))
                .unwrap(),
            st::stop_zone(&ident("zone1")),
            st::start_zone(&ident("zone1")),
            st::min_checkpoint_scn(a),
            st::minor_freeze(&[a, b]),
        ];
        assert_eq!(built.len(), DRIVER.len(), "one example per builder");
        for sql in built {
            let shape = shape(sql.id).unwrap_or_else(|| panic!("{} is not catalogued", sql.id));
            assert_eq!(sql.text, shape.example, "{}", sql.id);
        }
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = CATALOGUE
            .iter()
            .flat_map(|s| s.iter())
            .map(|s| s.id)
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
