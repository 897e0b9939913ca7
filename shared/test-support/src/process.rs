//! obup's service binaries run as real processes on free ports: started,
//! killed with SIGKILL (no shutdown path runs), and measured.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// One of obup's service binaries as its own process on a free port,
/// killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    child: Child,
    /// `http://host:port`.
    pub url: String,
}

impl ServiceProcess {
    /// Starts the binary at `path` with `OBUP_LISTEN=127.0.0.1:0` and `env`,
    /// and waits for its first line, `<name> listening on <url>`. Logs at
    /// `OBUP_BENCH_LOG` (default `warn`) go to stderr.
    pub fn start(path: &Path, env: &[(&str, OsString)]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            path.exists(),
            "{} is missing: run `cargo build --release --workspace --bins` first",
            path.display()
        );
        let mut child = Command::new(path)
            .env("OBUP_LISTEN", "127.0.0.1:0")
            .env(
                "RUST_LOG",
                std::env::var("OBUP_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped")).read_line(&mut line)?;
        let url = line
            .split_once(" listening on ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .ok_or_else(|| {
                anyhow::anyhow!("unexpected first line of {}: {line:?}", path.display())
            })?
            .to_owned();
        Ok(Self { child, url })
    }

    /// Kills the process with SIGKILL and reaps it: no shutdown path runs,
    /// as in a crash or an OOM kill.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// VmHWM: the resident set's high-water mark, in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        peak_rss(self.child.id())
    }
}

impl ServiceProcess {
    /// CPU seconds (user and system, all threads) the process has used.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(self.child.id())
    }
}

/// CPU seconds of process `pid` so far: `utime + stime` of
/// `/proc/<pid>/stat`, in clock ticks of 1/100 s (Linux's USER_HZ on every
/// architecture it reports to user space).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces and parentheses: fields follow the
    // last ')'; utime and stime are the 14th and 15th fields in all.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("malformed /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?
            .parse()?)
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// VmHWM of process `pid`: its resident set's high-water mark, in bytes.
pub fn peak_rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/{pid}/status"))?;
    Ok(kib * 1024)
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
