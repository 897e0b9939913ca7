
def end_rolling_upgrade(cur):
    if rows(cur, "select * from oceanbase.GV$OB_PARAMETERS "
            "where name = 'enable_upgrade_mode' and value = 'False'"):
        return
    staged = rows(cur, "select * from oceanbase.GV$OB_PARAMETERS "
                  "where name = '_upgrade_stage' and value = 'POSTUPGRADE'")
    versioned = rows(cur, "select * from oceanbase.GV$OB_PARAMETERS "
                     "where name = 'min_observer_version' and value = '%s'" % VERSION)  # noqa: F821
    if not (staged and versioned):
        rows(cur, 'alter system end rolling upgrade')
    wait_for(cur, "select count(*) as cnt from oceanbase.GV$OB_PARAMETERS "
             "where name = 'min_observer_version' and value != '%s'" % VERSION,  # noqa: F821
             0, 'min_observer_version')
    wait_for(cur, "select count(*) as cnt from oceanbase.GV$OB_PARAMETERS "
             "where name = '_upgrade_stage' and value != 'POSTUPGRADE'", 0, 'upgrade stage')


def run_upgrade_job(cur, job):
    last = scalar(cur, "select job_status from oceanbase.__all_rootservice_job "
                  "where job_type = '%s' order by job_id desc limit 1" % job)
    if last == 'INPROGRESS':
        raise Exception('job %s is already in progress' % job)
    enable_ddl = scalar(cur, "select value from oceanbase.__all_sys_parameter "
                        "where name = 'enable_ddl'")
    if enable_ddl == 'False':
        set_and_wait(cur, 'enable_ddl', 'True')
    set_and_wait(cur, 'enable_sys_table_ddl', 'True')
    before = scalar(cur, 'select job_id from oceanbase.__all_rootservice_job '
                    'order by job_id desc limit 1') or 0
    rows(cur, "alter system run upgrade job '%s'" % job)
    deadline = time.time() + WAIT_SECONDS
    while True:
        found = rows(cur, "select job_status, rs_svr_ip, rs_svr_port, gmt_create from "
                     "oceanbase.__all_rootservice_job where job_type = '%s' and job_id > %d "
                     "order by job_id desc limit 1" % (job, before))
        status = found[0][0] if found else None
        if status == 'SUCCESS':
            break
        if status == 'FAILED':
            raise Exception('job %s failed' % job)
        if time.time() > deadline:
            raise Exception('timed out waiting for job %s (%r)' % (job, status))
        time.sleep(POLL_SECONDS)
    set_and_wait(cur, 'enable_sys_table_ddl', 'False')
    if enable_ddl == 'False':
        set_and_wait(cur, 'enable_ddl', 'False')


def tenant_upgrade(cur):
    tenants = [t for (t,) in rows(cur, 'select tenant_id from oceanbase.__all_tenant')]
    present = scalar(cur, "select count(*) from oceanbase.__all_table "
                     "where table_name = '__all_virtual_core_table'")
    at_version = scalar(cur, "select count(*) from __all_virtual_core_table where column_name "
                        "in ('target_data_version', 'current_data_version') and column_value = %d"
                        % int_version(VERSION))  # noqa: F821
    stale = scalar(cur, "select count(*) from oceanbase.__all_virtual_tenant_parameter_info "
                   "where name = 'compatible' and value != '%s'" % VERSION)  # noqa: F821
    if present != 1 or at_version != 2 * len(tenants) or stale != 0:
        run_upgrade_job(cur, 'UPGRADE_ALL')
    else:
        run_upgrade_job(cur, 'UPGRADE_VIRTUAL_SCHEMA')


def root_inspection_and_syslog(cur):
    rows(cur, "alter system run job 'root_inspection'")
    levels = rows(cur, "select svr_ip, svr_port, value from "
                  "oceanbase.__all_virtual_sys_parameter_stat where name = 'syslog_level'")
    if any(value == 'INFO' for (_, _, value) in levels):
        rows(cur, "alter system set syslog_level = 'WDIAG'")


def end_upgrade(cur):
    if not rows(cur, "select * from oceanbase.GV$OB_PARAMETERS "
                "where name = 'enable_upgrade_mode' and value = 'False'"):
        rows(cur, 'alter system end upgrade')
    wait_for(cur, "select count(*) as cnt from oceanbase.GV$OB_PARAMETERS "
             "where name = 'enable_upgrade_mode' and value != 'False'", 0, 'upgrade mode off')


def post_check(cur):
    wait_for(cur, "select count(*) as cnt from oceanbase.GV$OB_PARAMETERS "
             "where name = 'min_observer_version' and value != '%s'" % VERSION,  # noqa: F821
             0, 'min_observer_version')
    tenants = [t for (t,) in rows(cur, "select tenant_id from oceanbase.__all_tenant except "
                                  "select tenant_id from oceanbase.__all_virtual_tenant_info "
                                  "where tenant_role = 'STANDBY'")]
    servers = scalar(cur, 'select count(*) from oceanbase.__all_server')
    ids = '(%s)' % ', '.join(str(t) for t in tenants)
    wait_for(cur, "select count(*) as cnt from oceanbase.__all_virtual_tenant_parameter_info "
             "where name = 'compatible' and value = '%s' and tenant_id in %s"
             % (VERSION, ids), servers * len(tenants), 'compatible')  # noqa: F821
    expect(cur, "select count(*) from __all_virtual_core_table where column_name in "
           "('target_data_version', 'current_data_version') and column_value = %d "
           "and tenant_id in %s" % (int_version(VERSION), ids), 2 * len(tenants),  # noqa: F821
           'data versions')
    wait_for(cur, "select count(*) from oceanbase.__all_virtual_upgrade_inspection "
             "where info != 'succeed'", 0, 'root inspection')


if __name__ == '__main__':
    o = options()
    conn, cur = connect(o)
    one_build(cur)
    rows(cur, 'commit')
    health_check(cur)
    end_rolling_upgrade(cur)
    tenant_upgrade(cur)
    root_inspection_and_syslog(cur)
    end_upgrade(cur)
    post_check(cur)
    print('upgrade post script done')
