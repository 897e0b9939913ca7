//! Whether a process still holds listening sockets on given ports, as OBD's
//! stop checks before it declares an observer stopped
//! (`plugins/oceanbase/4.2.1.4/stop.py`, `port_release_check`): the
//! listening sockets of a port come from `/proc/net/tcp` and `tcp6`, and
//! are matched by inode against the `socket:[<inode>]` links of
//! `/proc/<pid>/fd`.
//!
//! The `/proc/net/tcp*` format (Linux `Documentation/networking/proc_net_tcp.rst`):
//! a header line, then one line per socket whose whitespace-separated
//! fields are `sl local_address rem_address st tx:rx tr:when retrnsmt uid
//! timeout inode ...`; `local_address` is `<hex ip>:<hex port>` and `st`
//! `0A` is LISTEN. OBD reads the same two columns (`$2`, `$10`).

use std::collections::HashSet;

/// TCP state LISTEN in `/proc/net/tcp*`.
const LISTEN: &str = "0A";

/// One socket line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub local_port: u16,
    pub listening: bool,
    pub inode: u64,
}

/// Parses the content of a `/proc/net/tcp` or `tcp6` file; lines that do
/// not parse are skipped (the header, and anything a future kernel adds).
pub fn parse(table: &str) -> Vec<Socket> {
    table
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1)?;
            let (_, port) = local.rsplit_once(':')?;
            Some(Socket {
                local_port: u16::from_str_radix(port, 16).ok()?,
                listening: *f.get(3)? == LISTEN,
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// Socket inodes among `pid`'s open files (empty once it is gone).
pub fn socket_inodes(pid: i32) -> HashSet<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// The ports of `ports` on which `pid` still holds a listening socket.
pub fn held_by(pid: i32, ports: &[u16]) -> Vec<u16> {
    let mine = socket_inodes(pid);
    if mine.is_empty() {
        return Vec::new();
    }
    let mut held: Vec<u16> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| parse(&t))
        .filter(|s| s.listening && mine.contains(&s.inode) && ports.contains(&s.local_port))
        .map(|s| s.local_port)
        .collect();
    held.sort_unstable();
    held.dedup();
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as a 6.x kernel prints them.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0B41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0B42 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31338 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0B41 0100007F:D3A2 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0B41 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn parses_v4_and_v6_tables() {
        let v4 = parse(TCP);
        assert_eq!(v4.len(), 3);
        assert_eq!(
            v4[0],
            Socket {
                local_port: 2881,
                listening: true,
                inode: 31337
            }
        );
        assert_eq!(v4[1].local_port, 2882);
        assert!(!v4[2].listening, "an established connection");
        let v6 = parse(TCP6);
        assert_eq!(
            v6,
            vec![Socket {
                local_port: 2881,
                listening: true,
                inode: 4242
            }]
        );
    }

    #[test]
    fn finds_a_real_listener_of_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id() as i32;
        assert_eq!(held_by(me, &[port, 1]), vec![port]);
        drop(listener);
        assert!(held_by(me, &[port]).is_empty());
    }
}
