
if __name__ == '__main__':
    o = options(with_zone=True)
    conn, cur = connect(o)
    health_check(cur, o['zone'])
    print('cluster healthy' + (' in zone %s' % o['zone'] if o['zone'] else ''))
