//! One function per statement the driver sends. Each returns a [`Sql`]
//! naming its [`crate::catalogue`] entry; the catalogue's example for that
//! entry is exactly what the function builds for the example's arguments
//! (checked by a test), so obsim is tested against the driver's own text.
//!
//! Text protocol only: values are escaped into the text here (the driver
//! never binds), because OceanBase refuses some statements in the prepared
//! protocol (real-driver.md §4.3 #2).

use std::net::Ipv4Addr;

use crate::ident::{Ident, IdentError, quote};

/// A statement ready to send, and the catalogue entry it is an instance of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql {
    pub id: &'static str,
    pub text: String,
}

impl Sql {
    fn new(id: &'static str, text: impl Into<String>) -> Self {
        Self {
            id,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A server as OceanBase names it in statements: `ip:rpc_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SvrAddr {
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl std::fmt::Display for SvrAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

// ---- session ----

/// Sent after every connect: the only session statement the driver sends
/// (sqlx's own connect-time `SET` is switched off; OceanBase refuses it).
pub fn set_query_timeout(micros: u64) -> Sql {
    Sql::new(
        "set_ob_query_timeout",
        format!("SET SESSION ob_query_timeout = {micros}"),
    )
}

// ---- identity and topology (§1.2, §1.3) ----

/// `5.7.25-OceanBase_CE-v4.3.5.5` on CE; obshell tests it with
/// `REGEXP 'OceanBase[\s_]CE'`, obup reads it in Rust.
pub fn version() -> Sql {
    Sql::new("version", "SELECT version()")
}

/// 1146 on CE and Business; a count of licenses on Standalone (§1.2).
pub fn license_count() -> Sql {
    Sql::new(
        "license_count",
        "SELECT COUNT(*) FROM oceanbase.DBA_OB_LICENSE",
    )
}

/// Zones in the view's order: obshell's DAG visits them in that order.
pub fn zones() -> Sql {
    Sql::new(
        "zones",
        "SELECT ZONE, STATUS, REGION, IDC FROM oceanbase.DBA_OB_ZONES",
    )
}

pub fn servers() -> Sql {
    Sql::new(
        "servers",
        "SELECT SVR_IP, SVR_PORT, SQL_PORT, ZONE, ID, STATUS, WITH_ROOTSERVER, \
         START_SERVICE_TIME, STOP_TIME, BUILD_VERSION FROM oceanbase.DBA_OB_SERVERS",
    )
}

pub fn tenants() -> Sql {
    Sql::new(
        "tenants",
        "SELECT TENANT_ID, TENANT_NAME, STATUS FROM oceanbase.DBA_OB_TENANTS",
    )
}

pub fn tenant_name(tenant_id: i64) -> Sql {
    Sql::new(
        "tenant_name",
        format!("SELECT TENANT_NAME FROM oceanbase.DBA_OB_TENANTS WHERE TENANT_ID = {tenant_id}"),
    )
}

// ---- request-time pre-checks (obshell's `preCheckForObUpgrade`, §1.2) ----

/// The distinct values of one parameter across servers and tenants
/// (`min_observer_version`, `compatible`, `ob_startup_mode`).
pub fn parameter_values(name: &Ident) -> Sql {
    Sql::new(
        "parameter_values",
        format!("SELECT DISTINCT VALUE FROM oceanbase.GV$OB_PARAMETERS WHERE NAME = '{name}'"),
    )
}

/// Tenants whose schema is not refreshed on some server: none may be.
pub fn unrefreshed_schema_tenants() -> Sql {
    Sql::new(
        "unrefreshed_schema_tenants",
        "SELECT DISTINCT tenant_name FROM (SELECT tenant_id, tenant_name, svr_ip, svr_port \
         FROM oceanbase.DBA_OB_TENANTS, oceanbase.DBA_OB_SERVERS) AS ts \
         LEFT JOIN oceanbase.GV$OB_SERVER_SCHEMA_INFO AS os \
         ON ts.tenant_id = os.tenant_id AND ts.svr_ip = os.svr_ip AND ts.svr_port = os.svr_port \
         WHERE refreshed_schema_version IS NULL OR refreshed_schema_version <= 1 \
         OR refreshed_schema_version % 8 != 0",
    )
}

pub fn merging_tablets() -> Sql {
    Sql::new(
        "merging_tablets",
        "SELECT count(1) FROM oceanbase.__all_virtual_tablet_compaction_info \
         WHERE max_received_scn > finished_scn AND max_received_scn > 0",
    )
}

pub fn running_major_compactions() -> Sql {
    Sql::new(
        "running_major_compactions",
        "SELECT count(*) FROM oceanbase.CDB_OB_MAJOR_COMPACTION WHERE STATUS != 'IDLE'",
    )
}

pub fn backup_jobs() -> Sql {
    Sql::new(
        "backup_jobs",
        "SELECT count(1) FROM oceanbase.CDB_OB_BACKUP_JOBS",
    )
}

// ---- health (§1.4) ----

pub fn unsynced_logs() -> Sql {
    Sql::new(
        "unsynced_logs",
        "SELECT count(*) FROM oceanbase.GV$OB_LOG_STAT WHERE in_sync = 'NO'",
    )
}

// ---- parameters: backup and restore (§1.4) ----

/// Every row of the named parameters, with its scope and tenant.
pub fn parameters(names: &[Ident]) -> Sql {
    let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    Sql::new(
        "parameters",
        format!(
            "SELECT SVR_IP, SVR_PORT, ZONE, SCOPE, TENANT_ID, NAME, VALUE \
             FROM oceanbase.GV$OB_PARAMETERS WHERE NAME IN ({})",
            list.join(", ")
        ),
    )
}

/// A CLUSTER-scope value on one server (obshell's restore).
pub fn set_parameter_on_server(
    name: &Ident,
    value: &str,
    server: SvrAddr,
) -> Result<Sql, IdentError> {
    Ok(Sql::new(
        "set_parameter_on_server",
        format!(
            "ALTER SYSTEM SET {name} = {} SERVER = '{server}'",
            quote("parameter value", value)?
        ),
    ))
}

/// A TENANT-scope value for one tenant (obshell's restore: names unquoted).
pub fn set_parameter_for_tenant(
    name: &Ident,
    value: &str,
    tenant: &Ident,
) -> Result<Sql, IdentError> {
    Ok(Sql::new(
        "set_parameter_for_tenant",
        format!(
            "ALTER SYSTEM SET {name} = {} TENANT = {tenant}",
            quote("parameter value", value)?
        ),
    ))
}

// ---- zones (§1.4) ----

pub fn stop_zone(zone: &Ident) -> Sql {
    Sql::new("stop_zone", format!("ALTER SYSTEM STOP ZONE '{zone}'"))
}

pub fn start_zone(zone: &Ident) -> Sql {
    Sql::new("start_zone", format!("ALTER SYSTEM START ZONE '{zone}'"))
}

// ---- minor freeze (§1.4) ----

/// A server's smallest log-stream checkpoint; no row means it has no log
/// stream (done at once).
pub fn min_checkpoint_scn(server: SvrAddr) -> Sql {
    Sql::new(
        "min_checkpoint_scn",
        format!(
            "SELECT checkpoint_scn FROM oceanbase.__all_virtual_ls_info \
             WHERE svr_ip = '{}' AND svr_port = {} ORDER BY checkpoint_scn ASC LIMIT 1",
            server.ip, server.port
        ),
    )
}

pub fn minor_freeze(servers: &[SvrAddr]) -> Sql {
    let list: Vec<String> = servers.iter().map(|s| format!("'{s}'")).collect();
    Sql::new(
        "minor_freeze",
        format!("ALTER SYSTEM MINOR FREEZE SERVER = ({})", list.join(", ")),
    )
}
