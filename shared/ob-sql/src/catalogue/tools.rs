//! The other statements obshell and OBD send (real-driver.md §1.2-§1.5),
//! beyond the driver's own. Columns of `SELECT *` follow the view
//! definitions in OceanBase's inner-table schema (`DBA_OB_SERVERS`,
//! `DBA_OB_ZONES`); `GV$OB_PARAMETERS` is the PyPI kernel's
//! `V$OB_PARAMETERS` with the server columns obshell maps in front
//! (inferred); `GV$OB_LOG_STAT` is obshell's model (§1.3) with the kernel's
//! types for LSNs and SCNs.

use super::SqlType::*;
use super::{COUNT, Column, Shape, col, null};

/// `DBA_OB_SERVERS`, in the view's order.
pub const DBA_OB_SERVERS: &[Column] = &[
    col("SVR_IP", Varchar),
    col("SVR_PORT", BigInt),
    col("ID", BigInt),
    col("ZONE", Varchar),
    col("SQL_PORT", BigInt),
    col("WITH_ROOTSERVER", Varchar),
    col("STATUS", Varchar),
    null("START_SERVICE_TIME", Timestamp),
    null("STOP_TIME", Timestamp),
    null("BLOCK_MIGRATE_IN_TIME", Timestamp),
    null("CREATE_TIME", Timestamp),
    null("MODIFY_TIME", Timestamp),
    col("BUILD_VERSION", Varchar),
    null("LAST_OFFLINE_TIME", Timestamp),
];

/// `DBA_OB_ZONES`, in the view's order.
pub const DBA_OB_ZONES: &[Column] = &[
    col("ZONE", Varchar),
    null("CREATE_TIME", Timestamp),
    null("MODIFY_TIME", Timestamp),
    col("STATUS", Varchar),
    col("IDC", Varchar),
    col("REGION", Varchar),
    col("TYPE", Varchar),
];

/// `GV$OB_PARAMETERS`.
pub const GV_OB_PARAMETERS: &[Column] = &[
    col("SVR_IP", Varchar),
    col("SVR_PORT", BigInt),
    col("ZONE", Varchar),
    col("SCOPE", Varchar),
    null("TENANT_ID", BigInt),
    col("NAME", Varchar),
    null("DATA_TYPE", Varchar),
    col("VALUE", Varchar),
    col("INFO", Varchar),
    col("SECTION", Varchar),
    col("EDIT_LEVEL", Varchar),
    col("DEFAULT_VALUE", Varchar),
    col("ISDEFAULT", Varchar),
];

/// `GV$OB_LOG_STAT`.
pub const GV_OB_LOG_STAT: &[Column] = &[
    col("TENANT_ID", BigInt),
    col("LS_ID", BigInt),
    col("SVR_IP", Varchar),
    col("SVR_PORT", BigInt),
    col("ROLE", Varchar),
    col("PROPOSAL_ID", BigInt),
    col("CONFIG_VERSION", Varchar),
    col("ACCESS_MODE", Varchar),
    col("PAXOS_MEMBER_LIST", Varchar),
    col("PAXOS_REPLICA_NUM", BigInt),
    col("IN_SYNC", Varchar),
    col("BASE_LSN", BigIntUnsigned),
    col("BEGIN_LSN", BigIntUnsigned),
    col("BEGIN_SCN", BigIntUnsigned),
    col("END_LSN", BigIntUnsigned),
    col("END_SCN", BigIntUnsigned),
    col("MAX_LSN", BigIntUnsigned),
    col("MAX_SCN", BigIntUnsigned),
    null("ARBITRATION_MEMBER", Varchar),
    null("DEGRADED_LIST", Varchar),
    null("LEARNER_LIST", Varchar),
];

/// `__all_zone`: one row per (zone, name); `DBA_OB_ZONES` reads `status`,
/// `idc`, `region` and `zone_type` from `info`.
pub const ALL_ZONE: &[Column] = &[
    null("gmt_create", Timestamp),
    null("gmt_modified", Timestamp),
    col("zone", Varchar),
    col("name", Varchar),
    col("value", BigInt),
    col("info", Varchar),
];

pub const TOOLS: &[Shape] = &[
    // obshell's `GetAllZone`: the DAG visits zones in this order.
    Shape {
        id: "zones_all",
        example: "SELECT * FROM oceanbase.DBA_OB_ZONES",
        columns: DBA_OB_ZONES,
    },
    // obshell's stop/start-zone wait (with `ZONE = ?` as a prepared statement).
    Shape {
        id: "zone_status_count",
        example: "SELECT count(*) FROM oceanbase.DBA_OB_ZONES WHERE STATUS = 'INACTIVE' AND ZONE = 'zone1'",
        columns: COUNT,
    },
    // obshell's rolling test; the health checker's `-z` test adds
    // `where zone = '<z>'`.
    Shape {
        id: "zone_count",
        example: "select count(*) from oceanbase.DBA_OB_ZONES",
        columns: COUNT,
    },
    // obshell's `GetAllOBServers` (and `... WHERE ZONE = ?`).
    Shape {
        id: "servers_all",
        example: "SELECT * FROM oceanbase.DBA_OB_SERVERS",
        columns: DBA_OB_SERVERS,
    },
    // OBD's `wait()`.
    Shape {
        id: "servers_not_ready",
        example: "select * from oceanbase.DBA_OB_SERVERS where STATUS != 'ACTIVE' or STOP_TIME is not NULL or START_SERVICE_TIME is NULL",
        columns: DBA_OB_SERVERS,
    },
    // obshell's restart wait.
    Shape {
        id: "servers_not_ready_count",
        example: "select count(*) from oceanbase.DBA_OB_SERVERS where STATUS != 'ACTIVE' or STOP_TIME is not NULL or START_SERVICE_TIME is NULL",
        columns: COUNT,
    },
    // obshell's current build (with `?` for ip and port).
    Shape {
        id: "server_build_version",
        example: "select BUILD_VERSION from oceanbase.dba_ob_servers where oceanbase.dba_ob_servers.SVR_IP = '127.0.0.1' and oceanbase.dba_ob_servers.SQL_PORT = 2881",
        columns: &[col("BUILD_VERSION", Varchar)],
    },
    // obshell's `ob_startup_mode` read; the pre script's
    // `... where name = 'enable_upgrade_mode' and value = 'True'`.
    Shape {
        id: "parameter_rows",
        example: "SELECT * FROM oceanbase.GV$OB_PARAMETERS WHERE NAME = 'ob_startup_mode'",
        columns: GV_OB_PARAMETERS,
    },
    // OBD's `wait()`.
    Shape {
        id: "log_stat_unsynced",
        example: "select * from GV$OB_LOG_STAT where in_sync = 'NO'",
        columns: GV_OB_LOG_STAT,
    },
    // OBD's start-zone check.
    Shape {
        id: "all_zone_not_active",
        example: "select * from oceanbase.__all_zone where name = 'status' and zone = 'zone1' and info != 'ACTIVE'",
        columns: ALL_ZONE,
    },
    // OBD's `upgrade_check`: every user tenant's pools must span 3 zones.
    Shape {
        id: "tenant_pools",
        example: "select a.tenant_name, a.tenant_id, group_concat(zone_list separator ';') as zone_list from oceanbase.DBA_OB_TENANTS as a left join (select zone_list, tenant_id from oceanbase.DBA_OB_RESOURCE_POOLS) as b on a.tenant_id = b.tenant_id where a.tenant_name not like 'META$%' group by tenant_id",
        columns: &[
            col("tenant_name", Varchar),
            col("tenant_id", BigInt),
            null("zone_list", Varchar),
        ],
    },
    // OBD's `compaction` plugin before a stop (`sys`, `all_user`,
    // `all_meta`), with its trailing `;`.
    Shape {
        id: "minor_freeze_tenant",
        example: "ALTER SYSTEM MINOR FREEZE TENANT = sys;",
        columns: &[],
    },
    // OBD's 4.0.0.0 `disable_ddl_and_check`.
    Shape {
        id: "major_freeze_tenant",
        example: "alter system major freeze tenant = all",
        columns: &[],
    },
    // OBD's 4.0.0.0 upgrade-mode wait.
    Shape {
        id: "sys_param_stat_rows",
        example: "select value from oceanbase.__all_virtual_sys_parameter_stat where name = 'enable_upgrade_mode' and value = 'False'",
        columns: &[col("value", Varchar)],
    },
];
