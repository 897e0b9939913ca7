//! Health and pre-checks: log sync, schema refresh, compactions, backups,
//! restores, DDL, tenants, `__all_server`, build versions, the zlib checks,
//! and minor freezes with their checkpoints.

use super::{Def, column_of, count, def, distinct, select};
use crate::sql::pattern::CapsExt;
use crate::sql::views::{self, get, text};
use crate::sql::{Answer, SqlError, Value};
use crate::state::Op;

pub const DEFS: &[Def] = &[
    // ---- logs and schema ----
    def(
        "unsynced_logs",
        "SELECT {c:count} FROM GV$OB_LOG_STAT WHERE in_sync = 'NO'",
        |c, q| {
            let n = views::log_stat(q.cluster)
                .iter()
                .filter(|r| text(r, "IN_SYNC") == "NO")
                .count();
            count(c, n)
        },
    ),
    def(
        "log_stat_unsynced",
        "select * from GV$OB_LOG_STAT where in_sync = 'NO'",
        |_, q| {
            let rows: Vec<_> = views::log_stat(q.cluster)
                .into_iter()
                .filter(|r| text(r, "IN_SYNC") == "NO")
                .collect();
            select("log_stat_unsynced", &rows)
        },
    ),
    def(
        "unrefreshed_schema_tenants",
        "SELECT DISTINCT tenant_name FROM (SELECT tenant_id, tenant_name, svr_ip, svr_port \
         FROM DBA_OB_TENANTS, DBA_OB_SERVERS) AS ts LEFT JOIN GV$OB_SERVER_SCHEMA_INFO AS os \
         ON ts.tenant_id = os.tenant_id AND ts.svr_ip = os.svr_ip AND ts.svr_port = os.svr_port \
         WHERE refreshed_schema_version IS NULL OR refreshed_schema_version <= 1 \
         OR refreshed_schema_version % 8 != 0",
        |_, q| {
            // A tenant is unrefreshed on a server that reports no schema.
            let info = views::schema_info(q.cluster);
            let mut names = Vec::new();
            for t in &q.cluster.tenants {
                for s in &q.cluster.servers {
                    let refreshed = info.iter().any(|r| {
                        get(r, "tenant_id") == &Value::Int(t.id)
                            && text(r, "svr_ip") == s.ip.to_string()
                    });
                    if !refreshed {
                        names.push(t.name.clone());
                    }
                }
            }
            column_of(distinct(names))
        },
    ),
    def(
        "schema_refreshed",
        "select if (a.cnt = b.cnt, 1, 0) as passed from (select count(*) as cnt from \
         __all_virtual_server_schema_info where refreshed_schema_version > 1 and \
         refreshed_schema_version % 8 = 0) as a join (select count(*) as cnt from __all_server \
         join __all_tenant) as b",
        |_, q| {
            let a = views::schema_info(q.cluster).len();
            let b = q.cluster.servers.len() * q.cluster.tenants.len();
            column_of([Value::Int((a == b).into())])
        },
    ),
    // ---- compactions, backups, restores, DDL, jobs ----
    def(
        "merging_tablets",
        "SELECT {c:count} FROM __all_virtual_tablet_compaction_info WHERE max_received_scn > \
         finished_scn AND max_received_scn > 0",
        |c, q| count(c, q.cluster.counters.merging_tablets.max(0) as usize),
    ),
    def(
        "running_major_compactions",
        "SELECT {c:count} FROM CDB_OB_MAJOR_COMPACTION WHERE STATUS != 'IDLE'",
        |c, q| count(c, compactions(q)),
    ),
    def(
        "major_compaction_busy",
        "select {c:count} from CDB_OB_MAJOR_COMPACTION where (GLOBAL_BROADCAST_SCN > LAST_SCN \
         or STATUS != 'IDLE')",
        |c, q| count(c, compactions(q)),
    ),
    def(
        "backup_jobs",
        "SELECT {c:count} FROM CDB_OB_BACKUP_JOBS",
        |c, q| count(c, q.cluster.counters.backup_jobs.max(0) as usize),
    ),
    def(
        "restore_progress",
        "select {c:count} from CDB_OB_RESTORE_PROGRESS",
        |c, q| count(c, q.cluster.counters.restore_jobs.max(0) as usize),
    ),
    def(
        "ddl_tasks",
        "select {c:count} from __all_virtual_ddl_task_status",
        |c, q| count(c, q.cluster.counters.ddl_tasks.max(0) as usize),
    ),
    def(
        "tenant_jobs_inprogress",
        "select {c:count} from DBA_OB_TENANT_JOBS where job_status = 'INPROGRESS' and \
         result_code is null",
        |c, q| count(c, q.cluster.counters.tenant_jobs_inprogress.max(0) as usize),
    ),
    def(
        "ls_replica_tasks",
        "select {c:count} from CDB_OB_LS_REPLICA_TASKS",
        |c, q| count(c, q.cluster.counters.ls_replica_tasks.max(0) as usize),
    ),
    // ---- tenants ----
    def(
        "tenants_not_normal",
        "select {c:count} from DBA_OB_TENANTS where status != 'NORMAL'",
        |c, q| {
            count(
                c,
                q.cluster
                    .tenants
                    .iter()
                    .filter(|t| t.status != "NORMAL")
                    .count(),
            )
        },
    ),
    def(
        "tenant_roles_unexpected",
        "select {c:count} from __all_virtual_tenant_info where tenant_role != 'PRIMARY' and \
         tenant_role != 'STANDBY'",
        |c, q| {
            let n = q
                .cluster
                .tenants
                .iter()
                .filter(|t| t.role != "PRIMARY" && t.role != "STANDBY")
                .count();
            count(c, n)
        },
    ),
    def(
        "tenants_locked",
        "select {c:count} from DBA_OB_TENANTS where LOCKED = 'YES'",
        |c, q| count(c, q.cluster.tenants.iter().filter(|t| t.locked).count()),
    ),
    def(
        "tenant_names",
        "select tenant_name from DBA_OB_TENANTS",
        |_, q| column_of(q.cluster.tenants.iter().map(|t| Value::str(&t.name))),
    ),
    def(
        "oracle_tenants",
        "select tenant_id from __all_tenant where compatibility_mode = 1",
        |_, q| {
            column_of(
                q.cluster
                    .tenants
                    .iter()
                    .filter(|t| t.compatibility_mode == 1)
                    .map(|t| Value::Int(t.id)),
            )
        },
    ),
    def(
        "standby_replication_user",
        "select count(1) = {k:int} from __all_virtual_user where user_name = \
         'STANDBY_REPLICATION' and tenant_id = {t:int}",
        |c, _| {
            // No tenant has the user (obsim has no Oracle tenants).
            let k = c.int("k").unwrap_or(1);
            Ok(Answer::Rows {
                rows: vec![vec![Value::Int((k == 0).into())]],
                rename: Some(format!("count(1)={k}")),
            })
        },
    ),
    def(
        "tenant_count",
        "select {c:count} from __all_tenant",
        |c, q| count(c, q.cluster.tenants.len()),
    ),
    def(
        "tenant_ids",
        "select tenant_id from __all_tenant",
        |_, q| column_of(q.cluster.tenants.iter().map(|t| Value::Int(t.id))),
    ),
    def(
        "tenant_ids_desc",
        "select distinct tenant_id from __all_tenant order by tenant_id desc",
        |_, q| {
            let mut ids: Vec<i64> = q.cluster.tenants.iter().map(|t| t.id).collect();
            ids.sort_by(|a, b| b.cmp(a));
            column_of(ids.into_iter().map(Value::Int))
        },
    ),
    def(
        "nonstandby_tenants",
        "select tenant_id from __all_tenant except select tenant_id from \
         __all_virtual_tenant_info where tenant_role = 'STANDBY'",
        |_, q| {
            column_of(
                q.cluster
                    .tenants
                    .iter()
                    .filter(|t| t.role != "STANDBY")
                    .map(|t| Value::Int(t.id)),
            )
        },
    ),
    // ---- __all_server ----
    def(
        "server_count",
        "select {c:count} from __all_server",
        |c, q| count(c, q.cluster.servers.len()),
    ),
    def(
        "servers_not_active",
        "select {c:count} from __all_server where (start_service_time <= 0 or status != 'active')",
        |c, q| {
            let n = views::all_server(q.cluster)
                .iter()
                .filter(|r| {
                    get(r, "start_service_time") == &Value::Int(0)
                        || !text(r, "status").eq_ignore_ascii_case("active")
                })
                .count();
            count(c, n)
        },
    ),
    def(
        "servers_inactive",
        "select {c:count} from __all_server where (start_service_time <= 0 or status = \
         'inactive') [and zone = {zone:str}]",
        |c, q| {
            let zone = c.text("zone");
            let n = views::all_server(q.cluster)
                .iter()
                .filter(|r| zone.as_deref().is_none_or(|z| text(r, "zone") == z))
                .filter(|r| {
                    get(r, "start_service_time") == &Value::Int(0)
                        || text(r, "status").eq_ignore_ascii_case("inactive")
                })
                .count();
            count(c, n)
        },
    ),
    def(
        "build_versions",
        "select distinct(substring_index(build_version, '_', 1)) from __all_server [where zone \
         = {zone:str}]",
        |c, q| {
            let zone = c.text("zone");
            column_of(distinct(
                views::all_server(q.cluster)
                    .iter()
                    .filter(|r| zone.as_deref().is_none_or(|z| text(r, "zone") == z))
                    .map(|r| {
                        text(r, "build_version")
                            .split('_')
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    }),
            ))
        },
    ),
    // ---- zlib (none in use) ----
    def(
        "zlib_log_transport",
        "select {c:count} from __all_virtual_tenant_parameter_info where (name like \
         'log_transport_compress_func' and value like 'zlib_1.0')",
        |c, q| {
            let n = views::tenant_parameter_info(q.cluster)
                .iter()
                .filter(|r| text(r, "name") == "log_transport_compress_func")
                .filter(|r| text(r, "value").starts_with("zlib"))
                .count();
            count(c, n)
        },
    ),
    def(
        "zlib_tables",
        "select {c:count} from __all_virtual_table where (compress_func_name like '%zlib%')",
        |c, _| count(c, 0),
    ),
    def(
        "zlib_tableapi",
        "select {c:count} from GV$OB_PARAMETERS where (name like \
         'tableapi_transport_compress_func' and value like 'zlib%')",
        |c, q| {
            let n = views::parameters(q.cluster)
                .iter()
                .filter(|r| text(r, "NAME") == "tableapi_transport_compress_func")
                .filter(|r| text(r, "VALUE").starts_with("zlib"))
                .count();
            count(c, n)
        },
    ),
    // ---- freezes ----
    def(
        "min_checkpoint_scn",
        "SELECT checkpoint_scn FROM __all_virtual_ls_info WHERE svr_ip = {ip:str} AND svr_port \
         = {port:int} ORDER BY checkpoint_scn ASC LIMIT 1",
        |c, q| {
            let ip = c.text("ip").unwrap_or_default();
            let port = c.int("port").unwrap_or(-1);
            // A server that is not serving has no log stream: no row.
            let scn = q
                .cluster
                .servers
                .iter()
                .find(|s| s.ip.to_string() == ip && i64::from(s.rpc_port) == port && s.serving())
                .map(|s| Value::UInt(s.checkpoint_scn));
            column_of(scn)
        },
    ),
    def(
        "minor_freeze",
        "ALTER SYSTEM MINOR FREEZE SERVER [=] {servers:list}",
        |c, _| Ok(Answer::Apply(Op::MinorFreezeServers(c.list("servers")))),
    ),
    // Without a TENANT clause, as the PyPI kernel accepts it: in the sys
    // tenant it freezes the sys tenant, whose log streams are on every
    // server [inferred].
    def(
        "minor_freeze_tenant",
        "ALTER SYSTEM MINOR FREEZE [TENANT [=] {tenant:name}]",
        |c, q| {
            if let Some(t) = c.text("tenant") {
                tenant_exists(q, &t)?;
            }
            Ok(Answer::Apply(Op::MinorFreezeAll))
        },
    ),
    def(
        "major_freeze_tenant",
        "alter system major freeze [tenant [=] {tenant:name}]",
        |c, q| {
            if let Some(t) = c.text("tenant") {
                tenant_exists(q, &t)?;
            }
            Ok(Answer::Apply(Op::MajorFreeze))
        },
    ),
    def(
        "merge_control",
        "alter system {op:re:suspend|resume} merge [tenant [=] {tenant:name}]",
        |c, _| {
            let suspend = c
                .text("op")
                .is_some_and(|o| o.eq_ignore_ascii_case("suspend"));
            Ok(Answer::Apply(Op::MergeControl { suspend }))
        },
    ),
];

fn compactions(q: &crate::sql::Query<'_>) -> usize {
    if views::compacting(q.cluster) {
        q.cluster.tenants.len()
    } else {
        0
    }
}

/// `sys`, `all`, `all_user`, `all_meta` or a tenant's name. An unknown one
/// is refused with OceanBase's "Unknown tenant" [code unverified].
fn tenant_exists(q: &crate::sql::Query<'_>, name: &str) -> Result<(), SqlError> {
    let special = ["all", "all_user", "all_meta"];
    if special.iter().any(|s| s.eq_ignore_ascii_case(name))
        || q.cluster
            .tenants
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(name))
    {
        Ok(())
    } else {
        Err(SqlError::new(
            5160,
            "HY000",
            format!("Unknown tenant '{name}'"),
        ))
    }
}
