//! Upgrade mode, root-service jobs and their bookkeeping tables
//! (real-driver.md §2.4, §2.5).

use super::{Def, column_of, count, def, select};
use crate::sql::pattern::CapsExt;
use crate::sql::views::Record;
use crate::sql::{Answer, Query, SqlError, Value};
use crate::state::{Inspection, Job, Op};

pub const DEFS: &[Def] = &[
    def("begin_upgrade", "alter system begin upgrade", |_, _| {
        Ok(Answer::Apply(Op::BeginUpgrade))
    }),
    def(
        "begin_rolling_upgrade",
        "alter system begin rolling upgrade",
        |_, _| Ok(Answer::Apply(Op::BeginRollingUpgrade)),
    ),
    def(
        "end_rolling_upgrade",
        "alter system end rolling upgrade",
        |_, _| Ok(Answer::Apply(Op::EndRollingUpgrade)),
    ),
    def("end_upgrade", "alter system end upgrade", |_, _| {
        Ok(Answer::Apply(Op::EndUpgrade))
    }),
    def(
        "upgrade_virtual_schema",
        "alter system upgrade virtual schema",
        |_, _| Ok(Answer::Ok),
    ),
    def(
        "run_upgrade_job",
        "alter system run upgrade job {job:str}",
        |c, _| {
            Ok(Answer::Apply(Op::RunUpgradeJob(
                c.text("job").unwrap_or_default(),
            )))
        },
    ),
    def(
        "run_root_inspection",
        "alter system run job {job:str}",
        |c, _| {
            let job = c.text("job").unwrap_or_default();
            if job.eq_ignore_ascii_case("root_inspection") {
                Ok(Answer::Apply(Op::RunRootInspection))
            } else {
                // OceanBase's code for an unknown job is unverified.
                Err(SqlError::new(
                    1210,
                    "HY000",
                    format!("Incorrect arguments to run job '{job}'"),
                ))
            }
        },
    ),
    def(
        "last_job_status",
        "select job_status from __all_rootservice_job where job_type = {job:str} order by \
         job_id desc limit 1",
        |c, q| {
            let job = c.text("job").unwrap_or_default();
            let last = jobs(q)
                .into_iter()
                .find(|j| j.job_type.eq_ignore_ascii_case(&job));
            column_of(last.map(|j| Value::str(j.status.word())))
        },
    ),
    def(
        "max_job_id",
        "select job_id from __all_rootservice_job order by job_id desc limit 1",
        |_, q| column_of(jobs(q).first().map(|j| Value::Int(j.id))),
    ),
    def(
        "job_after",
        "select job_status, rs_svr_ip, rs_svr_port, gmt_create from __all_rootservice_job where \
         job_type = {job:str} and job_id > {id:int} order by job_id desc limit 1",
        |c, q| {
            let job = c.text("job").unwrap_or_default();
            let after = c.int("id").unwrap_or(0);
            let rows: Vec<Record> = jobs(q)
                .into_iter()
                .filter(|j| j.job_type.eq_ignore_ascii_case(&job) && j.id > after)
                .take(1)
                .map(|j| {
                    vec![
                        ("job_status", Value::str(j.status.word())),
                        ("rs_svr_ip", Value::str(j.rs_ip.to_string())),
                        ("rs_svr_port", Value::Int(j.rs_port.into())),
                        ("gmt_create", q.session.timestamp(j.created_ms * 1000)),
                    ]
                })
                .collect();
            select("job_after", &rows)
        },
    ),
    def(
        "rs_on_server",
        "select {c:count} from __all_virtual_core_meta_table where role = 1 and svr_ip = \
         {ip:str} and svr_port = {port:int}",
        |c, q| {
            let rs = q.cluster.rootserver();
            let here = c.text("ip").as_deref() == Some(&rs.ip.to_string())
                && c.int("port") == Some(rs.rpc_port.into());
            count(c, usize::from(here))
        },
    ),
    def(
        "rs_restarted",
        "select {c:count} from __all_rootservice_event_history where gmt_create > {t:str} and \
         event = 'full_rootservice'",
        |c, _| count(c, 0),
    ),
    def(
        "core_table_present",
        "select {c:count} from __all_table where table_name = {t:str}",
        |c, _| {
            let present = c.text("t").is_some_and(|t| t == "__all_virtual_core_table");
            count(c, usize::from(present))
        },
    ),
    def(
        "core_table_versions",
        "select {c:count} from __all_virtual_core_table where column_name in \
         ('target_data_version', 'current_data_version') and column_value = {v:int} \
         [and tenant_id in {ids:list}]",
        |c, q| {
            let v = c.int("v").unwrap_or(-1);
            let ids: Vec<i64> = c
                .list("ids")
                .iter()
                .filter_map(|x| x.parse().ok())
                .collect();
            let n: usize = q
                .cluster
                .tenants
                .iter()
                .filter(|t| ids.is_empty() || ids.contains(&t.id))
                .map(|t| {
                    usize::from(t.target_data_version as i64 == v)
                        + usize::from(t.current_data_version as i64 == v)
                })
                .sum();
            count(c, n)
        },
    ),
    def(
        "inspection_failures",
        "select {c:count} from __all_virtual_upgrade_inspection where info != 'succeed'",
        |c, q| {
            // One row per inspected item; obsim inspects one per tenant.
            let n = match &q.cluster.inspection {
                Inspection::Done { info } if info != "succeed" => q.cluster.tenants.len(),
                Inspection::Running => q.cluster.tenants.len(),
                _ => 0,
            };
            count(c, n)
        },
    ),
];

/// The root-service jobs, newest first.
fn jobs<'a>(q: &'a Query<'_>) -> Vec<&'a Job> {
    let mut v: Vec<&Job> = q.cluster.jobs.iter().collect();
    v.sort_by_key(|j| std::cmp::Reverse(j.id));
    v
}
