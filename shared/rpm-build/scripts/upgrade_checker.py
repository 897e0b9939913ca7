
def check(cur):
    """upgrade_checker.py's checks (§2.2): each failed one is a reason."""
    reasons = []

    def want(sql, value, reason):
        got = scalar(cur, sql)
        if got != value:
            reasons.append('%s (%r)' % (reason, got))

    versions = rows(cur, "select distinct value from __all_virtual_sys_parameter_stat "
                    "where name='min_observer_version'")
    if len(versions) != 1:
        reasons.append('min_observer_version differs between servers: %r' % versions)
    compatible = rows(cur, "select distinct value from "
                      "oceanbase.__all_virtual_tenant_parameter_info where name='compatible'")
    if len(compatible) != 1:
        reasons.append('tenants differ in compatible: %r' % compatible)
    else:
        tenants = scalar(cur, 'select count(*) from oceanbase.__all_tenant')
        want("select count(*) from __all_virtual_core_table where column_name in "
             "('target_data_version', 'current_data_version') and column_value = %d"
             % int_version(compatible[0][0]), 2 * tenants, 'data versions differ')
    want("select count(1) as unsync_cnt from GV$OB_LOG_STAT where in_sync = 'NO'", 0,
         'logs out of sync')
    want("select count(1) as cnt from DBA_OB_TENANT_JOBS where job_status='INPROGRESS' "
         "and result_code is null", 0, 'tenant jobs in progress')
    want('select count(1) as rebalance_task_cnt from CDB_OB_LS_REPLICA_TASKS', 0,
         'rebalance tasks running')
    want("select count(1) from CDB_OB_MAJOR_COMPACTION where "
         "(GLOBAL_BROADCAST_SCN > LAST_SCN or STATUS != 'IDLE')", 0, 'major compaction running')
    want("select count(*) as count from DBA_OB_TENANTS where status != 'NORMAL'", 0,
         'tenants not NORMAL')
    want("select count(*) from DBA_OB_TENANTS where LOCKED = 'YES'", 0, 'tenants locked')
    want('select count(1) from CDB_OB_RESTORE_PROGRESS', 0, 'restore running')
    want('select count(1) from __all_virtual_ddl_task_status', 0, 'DDL running')
    want('select count(1) from CDB_OB_BACKUP_JOBS', 0, 'backup running')
    want('select count(*) from oceanbase.__all_server where '
         '(start_service_time <= 0 or status != "active")', 0, 'servers not in service')
    want(SCHEMA_REFRESHED, 1, 'schemas not refreshed')
    builds = rows(cur, "select distinct(substring_index(build_version, '_', 1)) "
                  "from __all_server")
    if len(builds) != 1:
        reasons.append('servers run different versions: %r' % builds)
    for (name,) in rows(cur, 'select tenant_name from oceanbase.DBA_OB_TENANTS'):
        if name.lower() in ('all', 'all_user', 'all_meta'):
            reasons.append('a tenant is named %s' % name)
    if reasons:
        raise Exception('upgrade checker failed with %d reasons: %s'
                        % (len(reasons), ', '.join(reasons)))
    rows(cur, "alter system set server_permanent_offline_time = '72h'")
    wait_for(cur, "select count(*) as cnt from oceanbase.__all_virtual_sys_parameter_stat "
             "where name = 'server_permanent_offline_time' and value != '72h'", 0,
             'server_permanent_offline_time')


if __name__ == '__main__':
    conn, cur = connect(options())
    check(cur)
    print('upgrade checker passed')
