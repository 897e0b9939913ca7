//! The upgrade scripts' statements (real-driver.md §2.2-§2.5), as the
//! project's own fixture scripts send them (`shared/rpm-build/scripts/`):
//! the statement families of upstream's scripts, in their spelling
//! (double-quoted literals, hints, `if(...)`, `substring_index`, `except`,
//! trailing `;`). Scalar types follow the PyPI kernel: `count(...)` is a
//! nullable BIGINT, `if(...)` a NOT NULL BIGINT, `count(1)=1` an INT.

use super::SqlType::*;
use super::{COUNT, COUNT1, Column, Shape, col, null};

const CNT: &[Column] = &[null("cnt", BigInt)];
const TENANT_ID: &[Column] = &[col("tenant_id", BigInt)];

pub const SCRIPTS: &[Shape] = &[
    // ---- upgrade_checker.py (§2.2) ----
    Shape {
        id: "sys_param_stat_values",
        example: "select distinct value from __all_virtual_sys_parameter_stat where name='min_observer_version'",
        columns: &[col("value", Varchar)],
    },
    Shape {
        id: "tenant_compatible_values",
        example: "select distinct value from oceanbase.__all_virtual_tenant_parameter_info where name='compatible'",
        columns: &[col("value", Varchar)],
    },
    Shape {
        id: "tenant_count",
        example: "select count(*) from oceanbase.__all_tenant",
        columns: COUNT,
    },
    // The int version is (a<<32)|(b<<16)|(c<<8)|d: 4.2.1.0 here.
    Shape {
        id: "core_table_versions",
        example: "select count(*) from __all_virtual_core_table where column_name in ('target_data_version', 'current_data_version') and column_value = 17180000512",
        columns: COUNT,
    },
    Shape {
        id: "tenant_jobs_inprogress",
        example: "select count(1) as cnt from DBA_OB_TENANT_JOBS where job_status='INPROGRESS' and result_code is null",
        columns: CNT,
    },
    Shape {
        id: "ls_replica_tasks",
        example: "select count(1) as rebalance_task_cnt from CDB_OB_LS_REPLICA_TASKS",
        columns: &[null("rebalance_task_cnt", BigInt)],
    },
    Shape {
        id: "major_compaction_busy",
        example: "select count(1) from CDB_OB_MAJOR_COMPACTION where (GLOBAL_BROADCAST_SCN > LAST_SCN or STATUS != 'IDLE')",
        columns: COUNT1,
    },
    Shape {
        id: "tenants_not_normal",
        example: "select count(*) as count from DBA_OB_TENANTS where status != 'NORMAL'",
        columns: &[null("count", BigInt)],
    },
    Shape {
        id: "tenant_roles_unexpected",
        example: "select count(*) as count from oceanbase.__all_virtual_tenant_info where tenant_role != 'PRIMARY' and tenant_role != 'STANDBY'",
        columns: &[null("count", BigInt)],
    },
    Shape {
        id: "tenants_locked",
        example: "select count(*) from DBA_OB_TENANTS where LOCKED = 'YES'",
        columns: COUNT,
    },
    Shape {
        id: "restore_progress",
        example: "select count(1) from CDB_OB_RESTORE_PROGRESS",
        columns: COUNT1,
    },
    Shape {
        id: "ddl_tasks",
        example: "select count(1) from __all_virtual_ddl_task_status",
        columns: COUNT1,
    },
    Shape {
        id: "servers_not_active",
        example: "select count(*) from oceanbase.__all_server where (start_service_time <= 0 or status != \"active\")",
        columns: COUNT,
    },
    Shape {
        id: "schema_refreshed",
        example: "select if (a.cnt = b.cnt, 1, 0) as passed from (select count(*) as cnt from oceanbase.__all_virtual_server_schema_info where refreshed_schema_version > 1 and refreshed_schema_version % 8 = 0) as a join (select count(*) as cnt from oceanbase.__all_server join oceanbase.__all_tenant) as b",
        columns: &[col("passed", BigInt)],
    },
    // Also `... where zone = '<z>'` (the health checker's `-z`).
    Shape {
        id: "build_versions",
        example: "select distinct(substring_index(build_version, '_', 1)) from __all_server",
        columns: &[null("(substring_index(build_version, '_', 1))", Varchar)],
    },
    Shape {
        id: "tenant_names",
        example: "select tenant_name from oceanbase.DBA_OB_TENANTS",
        columns: &[col("tenant_name", Varchar)],
    },
    Shape {
        id: "oracle_tenants",
        example: "select tenant_id from oceanbase.__all_tenant where compatibility_mode = 1",
        columns: TENANT_ID,
    },
    Shape {
        id: "standby_replication_user",
        example: "select count(1)=1 from oceanbase.__all_virtual_user where user_name='STANDBY_REPLICATION' and tenant_id=1002",
        columns: &[null("count(1)=1", Int)],
    },
    Shape {
        id: "zlib_log_transport",
        example: "select count(1) as cnt from oceanbase.__all_virtual_tenant_parameter_info where (name like \"log_transport_compress_func\" and value like \"zlib_1.0\")",
        columns: CNT,
    },
    Shape {
        id: "zlib_tables",
        example: "select /*+ query_timeout(1000000000) */ count(1) from __all_virtual_table where (compress_func_name like '%zlib%')",
        columns: COUNT1,
    },
    Shape {
        id: "zlib_tableapi",
        example: "select count(1) as cnt from GV$OB_PARAMETERS where (name like \"tableapi_transport_compress_func\" and value like \"zlib%\");",
        columns: CNT,
    },
    // A cluster-wide set, without SERVER or TENANT.
    Shape {
        id: "set_parameter",
        example: "alter system set server_permanent_offline_time = '72h'",
        columns: &[],
    },
    // The sync waits: `value != '<v>'` (0 when done) or `value = '<v>'`.
    Shape {
        id: "sys_param_stat_count",
        example: "select count(*) as cnt from oceanbase.__all_virtual_sys_parameter_stat where name = 'server_permanent_offline_time' and value != '72h'",
        columns: CNT,
    },
    // ---- upgrade_health_checker.py (§2.3) ----
    // Also `... and zone = '<z>'`.
    Shape {
        id: "servers_inactive",
        example: "select count(*) from oceanbase.__all_server where (start_service_time <= 0 or status='inactive')",
        columns: COUNT,
    },
    // ---- upgrade_pre.py (§2.4) ----
    Shape {
        id: "parameter_count",
        example: "select count(*) as cnt from oceanbase.GV$OB_PARAMETERS where name = 'enable_upgrade_mode' and value != 'True'",
        columns: CNT,
    },
    Shape {
        id: "begin_upgrade",
        example: "alter system begin upgrade",
        columns: &[],
    },
    Shape {
        id: "begin_rolling_upgrade",
        example: "alter system begin rolling upgrade",
        columns: &[],
    },
    // Also `... and tenant_id = <id>` and `... and tenant_id in (<ids>)`.
    Shape {
        id: "tenant_param_count",
        example: "select count(*) as cnt from oceanbase.__all_virtual_tenant_parameter_info where name = 'enable_rebalance' and value != 'False' and tenant_id = 1",
        columns: CNT,
    },
    // Newer bundles' `do_suspend_merge` / `do_resume_merge`.
    Shape {
        id: "merge_control",
        example: "alter system suspend merge tenant = all",
        columns: &[],
    },
    // ---- upgrade_post.py (§2.5) ----
    Shape {
        id: "end_rolling_upgrade",
        example: "alter system end rolling upgrade",
        columns: &[],
    },
    Shape {
        id: "core_table_present",
        example: "select count(*) from oceanbase.__all_table where table_name = '__all_virtual_core_table'",
        columns: COUNT,
    },
    Shape {
        id: "tenant_ids",
        example: "select tenant_id from oceanbase.__all_tenant",
        columns: TENANT_ID,
    },
    // The scripts' time limits: tenants x N seconds.
    Shape {
        id: "tenant_ids_desc",
        example: "select distinct tenant_id from oceanbase.__all_tenant order by tenant_id desc",
        columns: TENANT_ID,
    },
    Shape {
        id: "last_job_status",
        example: "select job_status from oceanbase.__all_rootservice_job where job_type = 'UPGRADE_ALL' order by job_id desc limit 1",
        columns: &[col("job_status", Varchar)],
    },
    Shape {
        id: "sys_parameter_value",
        example: "select value from oceanbase.__all_sys_parameter where name = 'enable_ddl'",
        columns: &[col("value", Varchar)],
    },
    Shape {
        id: "max_job_id",
        example: "select job_id from oceanbase.__all_rootservice_job order by job_id desc limit 1",
        columns: &[col("job_id", BigInt)],
    },
    Shape {
        id: "run_upgrade_job",
        example: "alter system run upgrade job 'UPGRADE_ALL'",
        columns: &[],
    },
    Shape {
        id: "job_after",
        example: "select job_status, rs_svr_ip, rs_svr_port, gmt_create from oceanbase.__all_rootservice_job where job_type = 'UPGRADE_ALL' and job_id > 0 order by job_id desc limit 1",
        columns: &[
            col("job_status", Varchar),
            col("rs_svr_ip", Varchar),
            col("rs_svr_port", BigInt),
            null("gmt_create", Timestamp),
        ],
    },
    Shape {
        id: "rs_on_server",
        example: "select count(*) from oceanbase.__all_virtual_core_meta_table where role = 1 and svr_ip = '127.0.0.1' and svr_port = 2882",
        columns: COUNT,
    },
    Shape {
        id: "rs_restarted",
        example: "select count(*) from oceanbase.__all_rootservice_event_history where gmt_create > '2024-01-01 00:00:00' and event = 'full_rootservice'",
        columns: COUNT,
    },
    Shape {
        id: "run_root_inspection",
        example: "alter system run job 'root_inspection'",
        columns: &[],
    },
    Shape {
        id: "upgrade_virtual_schema",
        example: "alter system upgrade virtual schema",
        columns: &[],
    },
    Shape {
        id: "syslog_levels",
        example: "select svr_ip, svr_port, value from oceanbase.__all_virtual_sys_parameter_stat where name = 'syslog_level'",
        columns: &[
            col("svr_ip", Varchar),
            col("svr_port", BigInt),
            col("value", Varchar),
        ],
    },
    Shape {
        id: "end_upgrade",
        example: "alter system end upgrade",
        columns: &[],
    },
    Shape {
        id: "nonstandby_tenants",
        example: "select tenant_id from oceanbase.__all_tenant except select tenant_id from oceanbase.__all_virtual_tenant_info where tenant_role = 'STANDBY'",
        columns: TENANT_ID,
    },
    Shape {
        id: "server_count",
        example: "select count(*) from oceanbase.__all_server",
        columns: COUNT,
    },
    Shape {
        id: "inspection_failures",
        example: "select count(*) from oceanbase.__all_virtual_upgrade_inspection where info != 'succeed'",
        columns: COUNT,
    },
];
