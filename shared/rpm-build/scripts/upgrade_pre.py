
def begin_upgrade(cur):
    if not rows(cur, "select * from oceanbase.GV$OB_PARAMETERS "
                "where name = 'enable_upgrade_mode' and value = 'True'"):
        rows(cur, 'alter system begin upgrade')
    wait_for(cur, "select count(*) as cnt from oceanbase.GV$OB_PARAMETERS "
             "where name = 'enable_upgrade_mode' and value != 'True'", 0, 'upgrade mode')


def begin_rolling_upgrade(cur):
    if not rows(cur, "select * from oceanbase.GV$OB_PARAMETERS "
                "where name = '_upgrade_stage' and value = 'DBUPGRADE'"):
        rows(cur, 'alter system begin rolling upgrade')
    wait_for(cur, "select count(*) as cnt from oceanbase.GV$OB_PARAMETERS "
             "where name = '_upgrade_stage' and value != 'DBUPGRADE'", 0, 'rolling upgrade')


def special_action(cur):
    current = rows(cur, "select distinct value from __all_virtual_sys_parameter_stat "
                   "where name='min_observer_version'")
    if len(current) != 1:
        raise Exception('min_observer_version differs between servers: %r' % current)
    if current[0][0] != VERSION:  # noqa: F821
        set_and_wait(cur, 'enable_ddl', 'False')
    rows(cur, "alter system set enable_rebalance = 'False' tenant = 'sys'")
    wait_for(cur, "select count(*) as cnt from oceanbase.__all_virtual_tenant_parameter_info "
             "where name = 'enable_rebalance' and value != 'False' and tenant_id = 1", 0,
             'enable_rebalance')


if __name__ == '__main__':
    o = options()
    conn, cur = connect(o)
    one_build(cur)
    begin_upgrade(cur)
    begin_rolling_upgrade(cur)
    special_action(cur)
    _, health = connect(o)
    health_check(health)
    print('upgrade pre script done')
