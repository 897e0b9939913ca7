//! The sys tenant's views and tables, as records (column name -> value)
//! built from the state. A handler filters records and projects them onto
//! its catalogue entry's columns by name.
//!
//! `GV$` views and `__all_virtual_*` tables gather rows from every server,
//! so a server that is not serving contributes none; `DBA_` views and
//! `__all_*` tables are the root service's and list every server.

use obup_ob_sql::Column;

use super::{Session, Value};
use crate::state::params::{self, ParamScope};
use crate::state::{Cluster, LogSync, MajorCompaction, Server};

/// One row of a view: its columns by name.
pub type Record = Vec<(&'static str, Value)>;

/// The value of column `name` (without case), NULL if the record has none.
pub fn get<'a>(r: &'a Record, name: &str) -> &'a Value {
    r.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or(&Value::Null, |(_, v)| v)
}

pub fn text<'a>(r: &'a Record, name: &str) -> &'a str {
    match get(r, name) {
        Value::Str(s) => s,
        _ => "",
    }
}

/// `records` in `columns`' order.
pub fn project(records: &[Record], columns: &[Column]) -> Vec<Vec<Value>> {
    records
        .iter()
        .map(|r| columns.iter().map(|c| get(r, c.name).clone()).collect())
        .collect()
}

fn opt_ts(s: &Session, us: Option<i64>) -> Value {
    us.map_or(Value::Null, |us| s.timestamp(us))
}

/// `DBA_OB_SERVERS`.
pub fn servers(c: &Cluster, s: &Session) -> Vec<Record> {
    c.servers
        .iter()
        .map(|x| {
            vec![
                ("SVR_IP", Value::str(x.ip.to_string())),
                ("SVR_PORT", Value::Int(x.rpc_port.into())),
                ("ID", Value::Int(x.id)),
                ("ZONE", Value::str(&x.zone)),
                ("SQL_PORT", Value::Int(x.sql_port.into())),
                (
                    "WITH_ROOTSERVER",
                    Value::str(if x.with_rootserver { "YES" } else { "NO" }),
                ),
                ("STATUS", Value::str(x.status.word())),
                ("START_SERVICE_TIME", opt_ts(s, x.start_service_us)),
                ("STOP_TIME", Value::Null),
                ("BLOCK_MIGRATE_IN_TIME", Value::Null),
                ("CREATE_TIME", s.timestamp(x.created_ms * 1000)),
                ("MODIFY_TIME", s.timestamp(x.modified_ms * 1000)),
                ("BUILD_VERSION", Value::str(&x.build.build_version)),
                ("LAST_OFFLINE_TIME", opt_ts(s, x.last_offline_us)),
            ]
        })
        .collect()
}

/// `__all_server`: integer µs times (0 = none), lower-case status.
pub fn all_server(c: &Cluster) -> Vec<Record> {
    c.servers
        .iter()
        .map(|x| {
            vec![
                ("svr_ip", Value::str(x.ip.to_string())),
                ("svr_port", Value::Int(x.rpc_port.into())),
                ("id", Value::Int(x.id)),
                ("zone", Value::str(&x.zone)),
                ("inner_port", Value::Int(x.sql_port.into())),
                ("with_rootserver", Value::Int(x.with_rootserver.into())),
                ("status", Value::str(x.status.word().to_ascii_lowercase())),
                (
                    "start_service_time",
                    Value::Int(x.start_service_us.unwrap_or(0)),
                ),
                ("stop_time", Value::Int(0)),
                ("build_version", Value::str(&x.build.build_version)),
            ]
        })
        .collect()
}

/// `DBA_OB_ZONES`, in zone order.
pub fn zones(c: &Cluster, s: &Session) -> Vec<Record> {
    c.zones
        .iter()
        .map(|z| {
            vec![
                ("ZONE", Value::str(&z.name)),
                ("CREATE_TIME", s.timestamp(c.created_ms * 1000)),
                ("MODIFY_TIME", s.timestamp(z.modified_ms * 1000)),
                ("STATUS", Value::str(z.status.word())),
                ("IDC", Value::str(&z.idc)),
                ("REGION", Value::str(&z.region)),
                ("TYPE", Value::str("ReadWrite")),
            ]
        })
        .collect()
}

/// `__all_zone`: a row per (zone, name) for `status`, `idc`, `region` and
/// `zone_type`.
pub fn all_zone(c: &Cluster, s: &Session) -> Vec<Record> {
    let mut out = Vec::new();
    for z in &c.zones {
        for (name, info) in [
            ("status", z.status.word()),
            ("idc", z.idc.as_str()),
            ("region", z.region.as_str()),
            ("zone_type", "ReadWrite"),
        ] {
            out.push(vec![
                ("gmt_create", s.timestamp(c.created_ms * 1000)),
                ("gmt_modified", s.timestamp(z.modified_ms * 1000)),
                ("zone", Value::str(&z.name)),
                ("name", Value::str(name)),
                ("value", Value::Int(0)),
                ("info", Value::str(info)),
            ]);
        }
    }
    out
}

fn serving(c: &Cluster) -> impl Iterator<Item = &Server> {
    c.servers.iter().filter(|s| s.serving())
}

/// `GV$OB_PARAMETERS`: on every serving server, the cluster parameters and
/// the sys tenant's tenant parameters.
pub fn parameters(c: &Cluster) -> Vec<Record> {
    let sys = c.tenant(1);
    let mut out = Vec::new();
    for x in serving(c) {
        for p in params::PARAMS {
            let (value, tenant) = match p.scope {
                ParamScope::Cluster => (x.params.get(p.name), Value::Null),
                ParamScope::Tenant => (sys.and_then(|t| t.params.get(p.name)), Value::Int(1)),
            };
            let Some(value) = value else { continue };
            let default = p.default.unwrap_or_default();
            out.push(vec![
                ("SVR_IP", Value::str(x.ip.to_string())),
                ("SVR_PORT", Value::Int(x.rpc_port.into())),
                ("ZONE", Value::str(&x.zone)),
                ("SCOPE", Value::str(p.scope.word())),
                ("TENANT_ID", tenant),
                ("NAME", Value::str(p.name)),
                ("DATA_TYPE", Value::str(p.data_type)),
                ("VALUE", Value::str(value)),
                ("INFO", Value::str("")),
                ("SECTION", Value::str(p.section)),
                ("EDIT_LEVEL", Value::str(p.edit_level)),
                ("DEFAULT_VALUE", Value::str(default)),
                (
                    "ISDEFAULT",
                    Value::str(if value == default { "YES" } else { "NO" }),
                ),
            ]);
        }
    }
    out
}

/// `__all_virtual_sys_parameter_stat`: the cluster parameters of every
/// serving server.
pub fn sys_parameter_stat(c: &Cluster) -> Vec<Record> {
    let mut out = Vec::new();
    for x in serving(c) {
        for (name, value) in &x.params {
            out.push(vec![
                ("svr_ip", Value::str(x.ip.to_string())),
                ("svr_port", Value::Int(x.rpc_port.into())),
                ("name", Value::str(name)),
                ("value", Value::str(value)),
            ]);
        }
    }
    out
}

/// `__all_virtual_tenant_parameter_info`: every tenant's tenant parameters
/// on every serving server.
pub fn tenant_parameter_info(c: &Cluster) -> Vec<Record> {
    let mut out = Vec::new();
    for x in serving(c) {
        for t in &c.tenants {
            for (name, value) in &t.params {
                out.push(vec![
                    ("svr_ip", Value::str(x.ip.to_string())),
                    ("svr_port", Value::Int(x.rpc_port.into())),
                    ("tenant_id", Value::Int(t.id)),
                    ("name", Value::str(name)),
                    ("value", Value::str(value)),
                ]);
            }
        }
    }
    out
}

/// `GV$OB_LOG_STAT`: a log stream per tenant (plus the user log stream of
/// user tenants) on every server whose logs are present.
pub fn log_stat(c: &Cluster) -> Vec<Record> {
    let mut out = Vec::new();
    let members: Vec<String> = c
        .servers
        .iter()
        .map(|s| format!("{}:1", s.addr()))
        .collect();
    for x in c.servers.iter().filter(|s| s.log != LogSync::Absent) {
        let in_sync = if x.log == LogSync::InSync {
            "YES"
        } else {
            "NO"
        };
        let leader = x.with_rootserver;
        for t in &c.tenants {
            let streams: &[i64] = if t.kind == "USER" { &[1, 1001] } else { &[1] };
            for &ls in streams {
                out.push(vec![
                    ("TENANT_ID", Value::Int(t.id)),
                    ("LS_ID", Value::Int(ls)),
                    ("SVR_IP", Value::str(x.ip.to_string())),
                    ("SVR_PORT", Value::Int(x.rpc_port.into())),
                    (
                        "ROLE",
                        Value::str(if leader { "LEADER" } else { "FOLLOWER" }),
                    ),
                    ("PROPOSAL_ID", Value::Int(1)),
                    (
                        "CONFIG_VERSION",
                        Value::str("{proposal_id:1, config_seq:1}"),
                    ),
                    ("ACCESS_MODE", Value::str("APPEND")),
                    ("PAXOS_MEMBER_LIST", Value::str(members.join(","))),
                    ("PAXOS_REPLICA_NUM", Value::Int(members.len() as i64)),
                    ("IN_SYNC", Value::str(in_sync)),
                    ("BASE_LSN", Value::UInt(0)),
                    ("BEGIN_LSN", Value::UInt(0)),
                    ("BEGIN_SCN", Value::UInt(1)),
                    ("END_LSN", Value::UInt(4096)),
                    ("END_SCN", Value::UInt(x.checkpoint_scn)),
                    ("MAX_LSN", Value::UInt(4096)),
                    ("MAX_SCN", Value::UInt(x.checkpoint_scn)),
                    ("ARBITRATION_MEMBER", Value::str("")),
                    ("DEGRADED_LIST", Value::str("")),
                    ("LEARNER_LIST", Value::str("")),
                ]);
            }
        }
    }
    out
}

/// `DBA_OB_TENANTS`.
pub fn tenants(c: &Cluster) -> Vec<Record> {
    c.tenants
        .iter()
        .map(|t| {
            vec![
                ("TENANT_ID", Value::Int(t.id)),
                ("TENANT_NAME", Value::str(&t.name)),
                ("TENANT_TYPE", Value::str(&t.kind)),
                ("STATUS", Value::str(&t.status)),
                ("LOCKED", Value::str(if t.locked { "YES" } else { "NO" })),
                ("TENANT_ROLE", Value::str(&t.role)),
                (
                    "COMPATIBILITY_MODE",
                    Value::str(if t.compatibility_mode == 1 {
                        "ORACLE"
                    } else {
                        "MYSQL"
                    }),
                ),
            ]
        })
        .collect()
}

/// `GV$OB_SERVER_SCHEMA_INFO`: a refreshed schema version (a multiple of 8)
/// per tenant on every serving server.
pub fn schema_info(c: &Cluster) -> Vec<Record> {
    let mut out = Vec::new();
    for x in serving(c) {
        for t in &c.tenants {
            out.push(vec![
                ("tenant_id", Value::Int(t.id)),
                ("svr_ip", Value::str(x.ip.to_string())),
                ("svr_port", Value::Int(x.rpc_port.into())),
                ("refreshed_schema_version", Value::Int(c.created_ms * 8)),
            ]);
        }
    }
    out
}

/// Whether a major compaction is running (`CDB_OB_MAJOR_COMPACTION` rows
/// with `STATUS != 'IDLE'`).
pub fn compacting(c: &Cluster) -> bool {
    !matches!(c.major_compaction, MajorCompaction::Idle)
}
