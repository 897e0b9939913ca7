//! Zones, servers, tenants and parameters: reads and changes (the driver's
//! statements, obshell's and OBD's others, and the scripts' parameter
//! statements).

use obup_types::Edition;
use regex::Captures;

use super::{Def, column_of, compare, count, def, distinct, select};
use crate::sql::pattern::CapsExt;
use crate::sql::views::{self, get, text};
use crate::sql::{Answer, Query, SqlError, Value};
use crate::state::{Op, SetScope};

pub const DEFS: &[Def] = &[
    // ---- identity ----
    def(
        "license_count",
        "SELECT {c:count} FROM DBA_OB_LICENSE",
        |c, q| match Edition::from_word(&q.cluster.edition) {
            Some(Edition::Standalone) => count(c, 1),
            _ => Err(SqlError::no_table("DBA_OB_LICENSE")),
        },
    ),
    // ---- zones ----
    def(
        "zones",
        "SELECT ZONE, STATUS, REGION, IDC FROM DBA_OB_ZONES",
        |_, q| select("zones", &views::zones(q.cluster, q.session)),
    ),
    def("zones_all", "SELECT * FROM DBA_OB_ZONES", |_, q| {
        select("zones_all", &views::zones(q.cluster, q.session))
    }),
    def(
        "zone_status_count",
        "SELECT {c:count} FROM DBA_OB_ZONES WHERE STATUS = {status:str} AND ZONE = {zone:str}",
        |c, q| {
            let (st, zone) = (c.text("status").unwrap_or_default(), c.text("zone"));
            let n = views::zones(q.cluster, q.session)
                .iter()
                .filter(|r| text(r, "STATUS").eq_ignore_ascii_case(&st))
                .filter(|r| Some(text(r, "ZONE")) == zone.as_deref())
                .count();
            count(c, n)
        },
    ),
    def(
        "zone_count",
        "select {c:count} from DBA_OB_ZONES [where zone = {zone:str}]",
        |c, q| {
            let zone = c.text("zone");
            let n = q
                .cluster
                .zones
                .iter()
                .filter(|z| zone.as_deref().is_none_or(|x| x == z.name))
                .count();
            count(c, n)
        },
    ),
    def(
        "all_zone_not_active",
        "select * from __all_zone where name = 'status' and zone = {zone:str} and info != 'ACTIVE'",
        |c, q| {
            let zone = c.text("zone").unwrap_or_default();
            let rows: Vec<_> = views::all_zone(q.cluster, q.session)
                .into_iter()
                .filter(|r| text(r, "name") == "status" && text(r, "zone") == zone)
                .filter(|r| text(r, "info") != "ACTIVE")
                .collect();
            select("all_zone_not_active", &rows)
        },
    ),
    def("stop_zone", "ALTER SYSTEM STOP ZONE {zone:name}", |c, _| {
        Ok(Answer::Apply(Op::StopZone(
            c.text("zone").unwrap_or_default(),
        )))
    }),
    def(
        "start_zone",
        "ALTER SYSTEM START ZONE {zone:name}",
        |c, _| {
            Ok(Answer::Apply(Op::StartZone(
                c.text("zone").unwrap_or_default(),
            )))
        },
    ),
    // ---- servers ----
    def(
        "servers",
        "SELECT SVR_IP, SVR_PORT, SQL_PORT, ZONE, ID, STATUS, WITH_ROOTSERVER, \
         START_SERVICE_TIME, STOP_TIME, BUILD_VERSION FROM DBA_OB_SERVERS",
        |_, q| select("servers", &views::servers(q.cluster, q.session)),
    ),
    def(
        "servers_all",
        "SELECT * FROM DBA_OB_SERVERS [WHERE ZONE = {zone:str}]",
        |c, q| {
            let zone = c.text("zone");
            let rows: Vec<_> = views::servers(q.cluster, q.session)
                .into_iter()
                .filter(|r| zone.as_deref().is_none_or(|z| text(r, "ZONE") == z))
                .collect();
            select("servers_all", &rows)
        },
    ),
    def(
        "servers_not_ready",
        "select * from DBA_OB_SERVERS where STATUS != 'ACTIVE' or STOP_TIME is not NULL \
         or START_SERVICE_TIME is NULL",
        |_, q| select("servers_not_ready", &not_ready(q)),
    ),
    def(
        "servers_not_ready_count",
        "select {c:count} from DBA_OB_SERVERS where STATUS != 'ACTIVE' or STOP_TIME is not NULL \
         or START_SERVICE_TIME is NULL",
        |c, q| count(c, not_ready(q).len()),
    ),
    def(
        "server_build_version",
        "select BUILD_VERSION from dba_ob_servers where dba_ob_servers.SVR_IP = {ip:str} \
         and dba_ob_servers.SQL_PORT = {port:int}",
        |c, q| {
            let (ip, port) = (c.text("ip").unwrap_or_default(), c.int("port"));
            let rows: Vec<_> = views::servers(q.cluster, q.session)
                .into_iter()
                .filter(|r| {
                    text(r, "SVR_IP") == ip && get(r, "SQL_PORT") == &Value::Int(port.unwrap_or(-1))
                })
                .collect();
            select("server_build_version", &rows)
        },
    ),
    // ---- tenants ----
    def(
        "tenants",
        "SELECT TENANT_ID, TENANT_NAME, STATUS FROM DBA_OB_TENANTS",
        |_, q| select("tenants", &views::tenants(q.cluster)),
    ),
    def(
        "tenant_name",
        "SELECT TENANT_NAME FROM DBA_OB_TENANTS WHERE TENANT_ID = {id:int}",
        |c, q| {
            let id = Value::Int(c.int("id").unwrap_or(-1));
            let rows: Vec<_> = views::tenants(q.cluster)
                .into_iter()
                .filter(|r| get(r, "TENANT_ID") == &id)
                .collect();
            select("tenant_name", &rows)
        },
    ),
    def(
        "tenant_pools",
        "select a.tenant_name, a.tenant_id, group_concat(zone_list separator ';') as zone_list \
         from DBA_OB_TENANTS as a left join (select zone_list, tenant_id from \
         DBA_OB_RESOURCE_POOLS) as b on a.tenant_id = b.tenant_id where a.tenant_name not like \
         'META$%' group by tenant_id",
        |_, q| {
            // Every tenant's pool spans every zone.
            let zones: Vec<&str> = q.cluster.zones.iter().map(|z| z.name.as_str()).collect();
            let rows = q
                .cluster
                .tenants
                .iter()
                .filter(|t| t.kind != "META")
                .map(|t| {
                    vec![
                        Value::str(&t.name),
                        Value::Int(t.id),
                        Value::str(zones.join(";")),
                    ]
                })
                .collect();
            Ok(Answer::rows(rows))
        },
    ),
    // ---- parameters: reads ----
    def(
        "parameter_values",
        "SELECT DISTINCT VALUE FROM GV$OB_PARAMETERS WHERE NAME = {name:str}",
        |c, q| {
            let name = c.text("name").unwrap_or_default();
            let rows = views::parameters(q.cluster);
            column_of(distinct(
                rows.iter()
                    .filter(|r| text(r, "NAME").eq_ignore_ascii_case(&name))
                    .map(|r| text(r, "VALUE").to_owned()),
            ))
        },
    ),
    def(
        "parameters",
        "SELECT SVR_IP, SVR_PORT, ZONE, SCOPE, TENANT_ID, NAME, VALUE FROM GV$OB_PARAMETERS \
         WHERE NAME IN {names:list}",
        |c, q| {
            let names = c.list("names");
            let rows: Vec<_> = views::parameters(q.cluster)
                .into_iter()
                .filter(|r| {
                    names
                        .iter()
                        .any(|n| n.eq_ignore_ascii_case(text(r, "NAME")))
                })
                .collect();
            select("parameters", &rows)
        },
    ),
    def(
        "parameter_rows",
        "SELECT * FROM GV$OB_PARAMETERS WHERE NAME = {name:str} [AND VALUE = {value:str}]",
        |c, q| {
            let (name, value) = (c.text("name").unwrap_or_default(), c.text("value"));
            let rows: Vec<_> = views::parameters(q.cluster)
                .into_iter()
                .filter(|r| text(r, "NAME").eq_ignore_ascii_case(&name))
                .filter(|r| value.as_deref().is_none_or(|v| text(r, "VALUE") == v))
                .collect();
            select("parameter_rows", &rows)
        },
    ),
    def(
        "parameter_count",
        "select {c:count} from GV$OB_PARAMETERS where name = {name:str} and value {op:re:=|!=} \
         {value:str}",
        |c, q| {
            let (name, value) = (
                c.text("name").unwrap_or_default(),
                c.text("value").unwrap_or_default(),
            );
            let n = views::parameters(q.cluster)
                .iter()
                .filter(|r| text(r, "NAME").eq_ignore_ascii_case(&name))
                .filter(|r| compare(c, text(r, "VALUE"), &value))
                .count();
            count(c, n)
        },
    ),
    def(
        "sys_param_stat_values",
        "select distinct value from __all_virtual_sys_parameter_stat where name = {name:str}",
        |c, q| {
            let name = c.text("name").unwrap_or_default();
            column_of(distinct(
                views::sys_parameter_stat(q.cluster)
                    .iter()
                    .filter(|r| text(r, "name").eq_ignore_ascii_case(&name))
                    .map(|r| text(r, "value").to_owned()),
            ))
        },
    ),
    def(
        "sys_param_stat_rows",
        "select value from __all_virtual_sys_parameter_stat where name = {name:str} and value = \
         {value:str}",
        |c, q| {
            let (name, value) = (
                c.text("name").unwrap_or_default(),
                c.text("value").unwrap_or_default(),
            );
            column_of(
                views::sys_parameter_stat(q.cluster)
                    .iter()
                    .filter(|r| {
                        text(r, "name").eq_ignore_ascii_case(&name) && text(r, "value") == value
                    })
                    .map(|r| Value::str(text(r, "value"))),
            )
        },
    ),
    def(
        "sys_param_stat_count",
        "select {c:count} from __all_virtual_sys_parameter_stat where name = {name:str} and value \
         {op:re:=|!=} {value:str}",
        |c, q| {
            let (name, value) = (
                c.text("name").unwrap_or_default(),
                c.text("value").unwrap_or_default(),
            );
            let n = views::sys_parameter_stat(q.cluster)
                .iter()
                .filter(|r| text(r, "name").eq_ignore_ascii_case(&name))
                .filter(|r| compare(c, text(r, "value"), &value))
                .count();
            count(c, n)
        },
    ),
    def(
        "syslog_levels",
        "select svr_ip, svr_port, value from __all_virtual_sys_parameter_stat where name = \
         {name:str}",
        |c, q| {
            let name = c.text("name").unwrap_or_default();
            let rows: Vec<_> = views::sys_parameter_stat(q.cluster)
                .into_iter()
                .filter(|r| text(r, "name").eq_ignore_ascii_case(&name))
                .collect();
            select("syslog_levels", &rows)
        },
    ),
    def(
        "tenant_compatible_values",
        "select distinct value from __all_virtual_tenant_parameter_info where name = {name:str}",
        |c, q| {
            let name = c.text("name").unwrap_or_default();
            column_of(distinct(
                views::tenant_parameter_info(q.cluster)
                    .iter()
                    .filter(|r| text(r, "name").eq_ignore_ascii_case(&name))
                    .map(|r| text(r, "value").to_owned()),
            ))
        },
    ),
    def(
        "tenant_param_count",
        "select {c:count} from __all_virtual_tenant_parameter_info where name = {name:str} and \
         value {op:re:=|!=} {value:str} [and tenant_id = {tid:int}] [and tenant_id in {tids:list}]",
        |c, q| {
            let (name, value) = (
                c.text("name").unwrap_or_default(),
                c.text("value").unwrap_or_default(),
            );
            let tid = c.int("tid");
            let tids: Vec<i64> = c
                .list("tids")
                .iter()
                .filter_map(|t| t.parse().ok())
                .collect();
            let n = views::tenant_parameter_info(q.cluster)
                .iter()
                .filter(|r| text(r, "name").eq_ignore_ascii_case(&name))
                .filter(|r| compare(c, text(r, "value"), &value))
                .filter(|r| {
                    let Value::Int(t) = get(r, "tenant_id") else {
                        return false;
                    };
                    tid.is_none_or(|x| x == *t) && (tids.is_empty() || tids.contains(t))
                })
                .count();
            count(c, n)
        },
    ),
    def(
        "sys_parameter_value",
        "select value from __all_sys_parameter where name = {name:str}",
        |c, q| {
            // A row only for a parameter ever set with ALTER SYSTEM SET.
            let name = c.text("name").unwrap_or_default().to_ascii_lowercase();
            let value = q
                .cluster
                .set_parameters
                .contains(&name)
                .then(|| q.cluster.cluster_param(&name))
                .flatten();
            column_of(value.map(Value::str))
        },
    ),
    // ---- parameters: changes ----
    def(
        "set_parameter",
        "ALTER SYSTEM SET {name:ident} = {value:value}",
        |c, _| set(c, SetScope::Default),
    ),
    def(
        "set_parameter_on_server",
        "ALTER SYSTEM SET {name:ident} = {value:value} SERVER [=] {server:str}",
        |c, _| set(c, SetScope::Server(c.text("server").unwrap_or_default())),
    ),
    def(
        "set_parameter_for_tenant",
        "ALTER SYSTEM SET {name:ident} = {value:value} TENANT [=] {tenant:name}",
        |c, _| set(c, SetScope::Tenant(c.text("tenant").unwrap_or_default())),
    ),
];

fn set(c: &Captures<'_>, scope: SetScope) -> Result<Answer, SqlError> {
    Ok(Answer::Apply(Op::SetParam {
        name: c.text("name").unwrap_or_default(),
        value: c.text("value").unwrap_or_default(),
        scope,
    }))
}

/// OBD's and obshell's "not back yet": not ACTIVE, stopped, or not serving.
fn not_ready(q: &Query<'_>) -> Vec<views::Record> {
    views::servers(q.cluster, q.session)
        .into_iter()
        .filter(|r| {
            text(r, "STATUS") != "ACTIVE"
                || get(r, "STOP_TIME") != &Value::Null
                || get(r, "START_SERVICE_TIME") == &Value::Null
        })
        .collect()
}
