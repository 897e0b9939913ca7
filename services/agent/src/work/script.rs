//! RunUpgradeScript and CheckPython (real-driver.md §2.1, §5.2).
//!
//! The real scripts take `-h<ip> -P<port> -uroot [-p<pwd>] [-z<zone>]`
//! (obshell's command line), and obshell puts the password in argv, where
//! `ps` shows it. The agent runs `python -u -c <bootstrap>` instead
//! (`interpreter`): the bootstrap reads `{script, args, cwd}` as JSON from
//! stdin, sets `sys.argv` (argv[0] = the script path: the pre and post
//! scripts extract their modules next to themselves) and runs the script
//! with `runpy.run_path(..., run_name="__main__")`. The working directory
//! is the unpacked rpm dir (the scripts write their logs there), the locale
//! UTF-8. Output lines become log lines, the password masked wherever it
//! appears; exit code 0 is success. A cancel sends SIGTERM to the script's process group, then
//! SIGKILL after a grace period.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::confine;
use crate::domain::{
    CheckPython, FailureCode, Level, OpFailure, OpOutput, RunUpgradeScript, ScriptOutput,
};
use crate::host::{Area, process, python};
use crate::ops::context::OpContext;
use crate::ops::live::StopReason;
use crate::{Error, Result};

/// Longest output line kept whole; the rest of a longer one follows as the
/// next line.
const MAX_LINE: usize = 64 << 10;
/// Output lines quoted in the failure message.
const TAIL_LINES: usize = 20;

/// The running script, saved so that what a crashed agent left running can
/// be stopped before the operation continues or fails.
#[derive(Debug, Serialize, Deserialize)]
struct Running {
    pid: i32,
    start_ticks: Option<u64>,
}

/// Field checks beyond paths: what goes into argv is plain.
pub fn validate(w: &RunUpgradeScript) -> Result<()> {
    let plain = |field: &'static str, v: &str, extra: &[u8]| {
        let ok = !v.is_empty()
            && v.len() <= 253
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b));
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                field,
                reason: format!("{v:?} is not a valid {field}"),
            })
        }
    };
    plain("host", &w.host, b".-:_")?;
    plain("user", &w.user, b"_-.@#")?;
    if let Some(zone) = &w.zone {
        plain("zone", zone, b"_")?;
    }
    if w.port == 0 {
        return Err(Error::InvalidArgument {
            field: "port",
            reason: "must be above 0".into(),
        });
    }
    Ok(())
}

/// The script's arguments, as obshell passes them.
fn args(w: &RunUpgradeScript, password: &str) -> Vec<String> {
    let mut a = vec![
        format!("-h{}", w.host),
        format!("-P{}", w.port),
        format!("-u{}", w.user),
    ];
    if !password.is_empty() {
        a.push(format!("-p{password}"));
    }
    if let Some(zone) = &w.zone {
        a.push(format!("-z{zone}"));
    }
    a
}

pub async fn check_python(w: &CheckPython, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let script = match &w.script {
        Some(s) => Some(confine(ctx, s, Area::Registered)?),
        None => None,
    };
    let python = python::choose(ctx.settings.python.as_deref(), script.as_deref()).await?;
    ctx.log
        .info(format!(
            "{} {} at {} imports mysql.connector",
            python.command, python.version, python.path
        ))
        .await;
    Ok(OpOutput::CheckPython { python })
}

pub async fn run(w: &RunUpgradeScript, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let script = confine(ctx, &w.script, Area::BelowUpgradeDir)?;
    let work_dir = confine(ctx, &w.work_dir, Area::BelowUpgradeDir)?;
    if !script.is_file() {
        return Err(OpFailure::new(
            FailureCode::ScriptFailed,
            format!("{} does not exist", w.script),
        ));
    }
    let python = python::choose(ctx.settings.python.as_deref(), Some(&script)).await?;
    ctx.log
        .info(format!(
            "running {} with {} {} in {}",
            w.script, python.path, python.version, w.work_dir
        ))
        .await;
    let document = serde_json::json!({
        "script": script.display().to_string(),
        "args": args(w, ctx.password.expose()),
        "cwd": work_dir.display().to_string(),
    });
    let mut child = ctx
        .interpreters
        .take(Path::new(&python.path))
        .map_err(|e| OpFailure::unexpected(format!("cannot run {}: {e}", python.path)))?;
    let pid = child.id().map(|p| p as i32).unwrap_or(0);
    let group = Group(pid);
    let running = Running {
        pid,
        start_ticks: process::start_ticks(pid),
    };
    if let Err(e) = ctx.checkpoint.save(&running).await {
        ctx.log
            .warn(format!("cannot journal the script's pid: {e}"))
            .await;
    }
    // The password travels here, on stdin, never in argv or the environment.
    if let Some(mut stdin) = child.stdin.take() {
        let mut line = document.to_string();
        line.push('\n');
        if let Err(e) = stdin.write_all(line.as_bytes()).await {
            ctx.log
                .warn(format!("cannot hand the script its arguments: {e}"))
                .await;
        }
    }
    let stdout = child.stdout.take().map(BufReader::new);
    let stderr = child.stderr.take().map(BufReader::new);
    let tail = std::sync::Mutex::new(std::collections::VecDeque::new());
    let pump = async {
        tokio::join!(
            lines(stdout, Level::Info, ctx, &tail),
            lines(stderr, Level::Warn, ctx, &tail)
        );
    };
    let timeout = w.timeout_secs.map(|s| Duration::from_secs(s.into()));
    let wait = async {
        let ((), status) = tokio::join!(pump, child.wait());
        status
    };
    tokio::pin!(wait);
    let stop = async {
        match timeout {
            Some(t) => tokio::select! {
                r = ctx.stop.requested() => (r, None),
                () = tokio::time::sleep(t) => (StopReason::Deadline, timeout),
            },
            None => (ctx.stop.requested().await, None),
        }
    };
    let status = tokio::select! {
        status = &mut wait => status,
        (reason, timed_out) = stop => {
            ctx.log
                .warn(format!("stopping the script: SIGTERM, SIGKILL after {}s", ctx.settings.script_grace.as_secs()))
                .await;
            group.signal(Signal::SIGTERM);
            if tokio::time::timeout(ctx.settings.script_grace, &mut wait).await.is_err() {
                group.signal(Signal::SIGKILL);
                let _ = wait.await;
            }
            let detail = match timed_out {
                Some(t) => format!("the script ran longer than its {}s timeout", t.as_secs()),
                None => "the script was stopped".to_owned(),
            };
            return Err(reason.failure(&detail));
        }
    };
    group.disarm();
    let status =
        status.map_err(|e| OpFailure::unexpected(format!("cannot wait for the script: {e}")))?;
    let code = status.code().unwrap_or(-1);
    if code != 0 {
        let tail = tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<String>>().join("\n"))
            .unwrap_or_default();
        return Err(OpFailure::new(
            FailureCode::ScriptFailed,
            format!(
                "{} exited with {status}; last output:\n{tail}",
                w.script.file_name()
            ),
        ));
    }
    Ok(OpOutput::RunUpgradeScript(ScriptOutput {
        exit_code: code,
        python,
    }))
}

/// Forwards one output stream as log lines (masked by the log), keeping
/// the last few for the failure message.
async fn lines(
    reader: Option<impl AsyncBufRead + Unpin>,
    level: Level,
    ctx: &OpContext,
    tail: &std::sync::Mutex<std::collections::VecDeque<String>>,
) {
    let Some(mut reader) = reader else { return };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line(&mut reader, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = ctx
            .log
            .redact(String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']));
        if let Ok(mut t) = tail.lock() {
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line.clone());
        }
        ctx.log.line(level, line).await;
    }
}

/// Reads up to a newline, or [`MAX_LINE`] bytes: a script that prints
/// megabytes without a newline must not grow the agent's memory.
async fn read_line(
    r: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(buf.len());
        }
        let room = MAX_LINE - buf.len();
        let (take, done) = match available.iter().take(room).position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (
                available.len().min(room),
                buf.len() + available.len() >= MAX_LINE,
            ),
        };
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if done {
            return Ok(buf.len());
        }
    }
}

/// The script's process group: killed if the work is dropped (the agent
/// shutting down) before the script ended.
struct Group(i32);

impl Group {
    fn signal(&self, signal: Signal) {
        if self.0 > 0 {
            let _ = killpg(Pid::from_raw(self.0), signal);
        }
    }

    fn disarm(mut self) {
        self.0 = 0;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// Kills the process group a crashed agent's run of this operation left,
/// if that process still runs (the same one, not a reused pid).
pub fn reap(checkpoint: Option<&str>) {
    let Some(r) = checkpoint.and_then(|c| serde_json::from_str::<Running>(c).ok()) else {
        return;
    };
    if r.pid > 0 && process::alive(r.pid) && process::start_ticks(r.pid) == r.start_ticks {
        tracing::warn!(
            pid = r.pid,
            "killing the script an earlier agent left running"
        );
        let _ = killpg(Pid::from_raw(r.pid), Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HostPath;

    fn work(zone: Option<&str>) -> RunUpgradeScript {
        RunUpgradeScript {
            script: HostPath::parse("/u/x/etc/upgrade_pre.py").unwrap(),
            work_dir: HostPath::parse("/u/x").unwrap(),
            host: "127.0.0.1".into(),
            port: 2881,
            user: "root".into(),
            zone: zone.map(str::to_owned),
            timeout_secs: None,
            can_continue: false,
        }
    }

    #[test]
    fn argv_is_obshells() {
        assert_eq!(args(&work(None), ""), ["-h127.0.0.1", "-P2881", "-uroot"]);
        assert_eq!(
            args(&work(Some("zone1")), "pw"),
            ["-h127.0.0.1", "-P2881", "-uroot", "-ppw", "-zzone1"]
        );
    }

    #[test]
    fn argv_fields_are_plain() {
        assert!(validate(&work(Some("zone1"))).is_ok());
        assert!(validate(&work(Some("zone 1"))).is_err());
        let mut w = work(None);
        w.host = "127.0.0.1; rm -rf /".into();
        assert!(validate(&w).is_err());
    }

    #[tokio::test]
    async fn long_lines_are_cut_into_pieces() {
        let text = format!("{}\nshort\n", "x".repeat(MAX_LINE + 10));
        let mut r = BufReader::new(text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), MAX_LINE);
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), 11);
        buf.clear();
        read_line(&mut r, &mut buf).await.unwrap();
        assert_eq!(buf, b"short\n");
    }
}
