//! The observer process of a home, found as obshell finds it
//! (real-driver.md §3.1): the pid in `<home>/run/observer.pid` (written by
//! the observer itself), alive if `/proc/<pid>` exists and is not a zombie,
//! and this home's if its working directory is the home (observers are
//! started in their home), which guards against a reused pid.

use std::path::{Path, PathBuf};

pub fn pid_file(home: &Path) -> PathBuf {
    home.join("run/observer.pid")
}

/// The pid the pid file names, whatever that process is.
pub fn recorded_pid(home: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file(home))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&pid| pid > 0)
}

/// The pid of this home's live observer.
pub fn observer_pid(home: &Path) -> Option<i32> {
    recorded_pid(home).filter(|&pid| alive(pid) && runs_in(pid, home))
}

/// Whether `pid` exists and is not a zombie (a killed daemon whose parent,
/// often PID 1 in a container, has not reaped it yet: it holds no files or
/// sockets any more).
pub fn alive(pid: i32) -> bool {
    matches!(state(pid), Some(s) if s != 'Z' && s != 'X')
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `D`, `Z`...).
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat)?.first()?.chars().next()
}

/// The fields of a `/proc/<pid>/stat` line after the parenthesised command
/// name (which may itself hold spaces and parentheses): field 3 (`state`)
/// is the first.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

/// Whether `pid`'s working directory is `home` (both canonical).
pub fn runs_in(pid: i32, home: &Path) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
    match (cwd, home.canonicalize()) {
        (Ok(cwd), Ok(home)) => cwd == home,
        _ => false,
    }
}

/// The process's start time in ms since the epoch: `starttime` (field 22 of
/// `/proc/<pid>/stat`, clock ticks after boot) plus `btime` of `/proc/stat`.
pub fn start_time_ms(pid: i32) -> Option<i64> {
    let ticks = start_ticks(pid)?;
    let btime: i64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&hz| hz > 0)
        // USER_HZ, what /proc counts in on every Linux architecture.
        .unwrap_or(100) as i64;
    Some(btime * 1000 + (ticks as i64) * 1000 / hz)
}

/// Field 22 of `/proc/<pid>/stat`: with the pid, it identifies a process
/// across pid reuse.
pub fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 3 is index 0 after the command, so field 22 is index 19.
    stat_fields(&stat)?.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        let start = start_time_ms(me).unwrap();
        let now = crate::domain::now_ms();
        assert!(
            start <= now && start > now - 24 * 3600 * 1000,
            "{start} vs {now}"
        );
        assert!(start_ticks(me).is_some());
        assert!(runs_in(me, &std::env::current_dir().unwrap()));
    }

    #[test]
    fn parses_commands_with_spaces_and_parentheses() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 777 1 1";
        let f = stat_fields(stat).unwrap();
        assert_eq!(f[0], "S");
        assert_eq!(f[19], "777");
    }

    #[test]
    fn missing_or_garbage_pid_files_name_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(observer_pid(dir.path()), None);
        std::fs::create_dir(dir.path().join("run")).unwrap();
        std::fs::write(pid_file(dir.path()), "not a pid\n").unwrap();
        assert_eq!(recorded_pid(dir.path()), None);
        // Our own pid, but we do not run in that directory.
        std::fs::write(pid_file(dir.path()), format!("{}\n", std::process::id())).unwrap();
        assert_eq!(observer_pid(dir.path()), None);
    }
}
