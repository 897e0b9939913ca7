//! StopObserver and StartObserver, as obshell does them (real-driver.md
//! §3.1) with obup's fixes (§5.2):
//! - stop: `kill -9` the home's observer (pid file, pid-reuse guard), then
//!   wait until it is gone (a zombie counts as gone) *and* its SQL and RPC
//!   ports are released, as OBD waits (§3.2); report the kill time;
//! - start: `cd <home>; LD_LIBRARY_PATH=<home>/lib <home>/bin/observer`
//!   (it daemonizes), wait for a live pid in `run/observer.pid`, report
//!   the pid, its start time and the build `-V` reports.
//!
//! Neither stops half-way when cancelled: a kill or a start completes, and
//! the driver then reports the cancellation with what was done.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::domain::{
    FailureCode, ObserverBuild, OpFailure, OpOutput, StartObserver, StartOutput, StopOutput, now_ms,
};
use crate::host::{binary, ports, process};
use crate::ops::context::OpContext;

/// How often a wait reports what it is still waiting for.
const NOTE_EVERY: Duration = Duration::from_secs(5);

/// What a stop did, saved before it waits: a continue after an agent
/// crash reports this kill instead of finding nothing to kill.
#[derive(Debug, Serialize, Deserialize)]
struct Killed {
    pid: i32,
    /// With the pid, identifies the process (`/proc/<pid>/stat` field 22).
    start_ticks: Option<u64>,
    kill_time_ms: i64,
}

pub async fn stop(ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let home = ctx.host.real_home();
    if ctx.continued
        && let Some(k) = ctx.checkpoint.previous::<Killed>()
    {
        ctx.log
            .info(format!(
                "an earlier run killed observer {} at {}; making sure it is gone",
                k.pid, k.kill_time_ms
            ))
            .await;
        wait_gone(ctx, &k).await?;
        return Ok(stopped(Some(k.pid), k.kill_time_ms));
    }
    let Some(pid) = process::observer_pid(&home) else {
        ctx.log
            .info(format!(
                "no observer of {} is running (pid file {:?})",
                ctx.host.home(),
                process::recorded_pid(&home)
            ))
            .await;
        return Ok(stopped(None, now_ms()));
    };
    let killed = Killed {
        pid,
        start_ticks: process::start_ticks(pid),
        kill_time_ms: now_ms(),
    };
    send_kill(pid)?;
    ctx.log
        .info(format!(
            "sent SIGKILL to observer {pid} at {}",
            killed.kill_time_ms
        ))
        .await;
    if let Err(e) = ctx.checkpoint.save(&killed).await {
        ctx.log.warn(format!("cannot journal the kill: {e}")).await;
    }
    wait_gone(ctx, &killed).await?;
    Ok(stopped(Some(pid), killed.kill_time_ms))
}

fn stopped(pid: Option<i32>, kill_time_ms: i64) -> OpOutput {
    OpOutput::StopObserver(StopOutput {
        killed_pid: pid,
        kill_time_ms,
    })
}

fn send_kill(pid: i32) -> Result<(), OpFailure> {
    match kill(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(OpFailure::unexpected(format!(
            "cannot kill observer {pid}: {e}"
        ))),
    }
}

/// Whether the killed process still has a `/proc` entry, zombie or not
/// (the same process: a reused pid is another one).
fn same_process(k: &Killed) -> bool {
    let ticks = process::start_ticks(k.pid);
    ticks.is_some() && ticks == k.start_ticks
}

/// Waits until the killed observer is gone and no longer listens on the
/// SQL or RPC port; kills it again while it lingers (obshell retries the
/// kill, OBD `pkill`s near the end of its wait).
async fn wait_gone(ctx: &OpContext, k: &Killed) -> Result<(), OpFailure> {
    let s = &ctx.settings;
    let ports = [s.sql_port, s.rpc_port];
    let started = tokio::time::Instant::now();
    let mut noted = started;
    loop {
        let same = same_process(k);
        let alive = same && process::alive(k.pid);
        // A zombie has closed its files, so this is empty for it; a
        // process still tearing down may hold its listeners a while.
        let held = if same {
            ports::held_by(k.pid, &ports)
        } else {
            Vec::new()
        };
        if !alive && held.is_empty() {
            ctx.log
                .info(format!(
                    "observer {} is gone; ports {} and {} are released",
                    k.pid, s.sql_port, s.rpc_port
                ))
                .await;
            return Ok(());
        }
        if started.elapsed() >= s.stop_timeout {
            return Err(OpFailure::new(
                FailureCode::StopTimeout,
                format!(
                    "observer {} is {} {}s after SIGKILL{}",
                    k.pid,
                    if alive { "still alive" } else { "gone" },
                    s.stop_timeout.as_secs(),
                    if held.is_empty() {
                        String::new()
                    } else {
                        format!(" and holds port(s) {held:?}")
                    }
                ),
            ));
        }
        if noted.elapsed() >= NOTE_EVERY {
            noted = tokio::time::Instant::now();
            ctx.log
                .info(format!(
                    "waiting for observer {} to exit (listening on {held:?})",
                    k.pid
                ))
                .await;
            if alive {
                send_kill(k.pid)?;
            }
        }
        tokio::time::sleep(s.poll).await;
    }
}

pub async fn start(w: &StartObserver, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let home = ctx.host.real_home();
    if let Some(pid) = process::observer_pid(&home) {
        ctx.log
            .info(format!(
                "observer {pid} of {} is running already",
                ctx.host.home()
            ))
            .await;
        return started(ctx, pid, true, w).await;
    }
    let observer = home.join("bin/observer");
    let shown = format!("{}/bin/observer", ctx.host.home());
    if !observer.is_file() {
        return Err(OpFailure::new(
            FailureCode::StartFailed,
            format!("{shown} does not exist"),
        ));
    }
    // obshell's `export LD_LIBRARY_PATH='<home>/lib'; <home>/bin/observer`
    // with cwd = home, without the shell: no arguments (a restart reads
    // etc/observer.config.bin).
    let launch = tokio::process::Command::new(&observer)
        .current_dir(&home)
        .env("LD_LIBRARY_PATH", home.join("lib"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let status = match tokio::time::timeout(ctx.settings.start_timeout, launch).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            return Err(OpFailure::new(
                FailureCode::StartFailed,
                format!("cannot run {shown}: {e}"),
            ));
        }
        Err(_) => {
            return Err(OpFailure::new(
                FailureCode::StartFailed,
                format!("{shown} did not return (it should daemonize)"),
            ));
        }
    };
    if !status.success() {
        return Err(OpFailure::new(
            FailureCode::StartFailed,
            format!(
                "{shown} exited with {status}; see {}/log/observer.log",
                ctx.host.home()
            ),
        ));
    }
    ctx.log
        .info(format!(
            "started {shown} (LD_LIBRARY_PATH={}/lib); waiting for run/observer.pid",
            ctx.host.home()
        ))
        .await;
    let launched = tokio::time::Instant::now();
    let pid = loop {
        if let Some(pid) = process::observer_pid(&home) {
            break pid;
        }
        if launched.elapsed() >= ctx.settings.start_timeout {
            return Err(OpFailure::new(
                FailureCode::StartTimeout,
                format!(
                    "{shown} wrote no live pid to run/observer.pid within {}s",
                    ctx.settings.start_timeout.as_secs()
                ),
            ));
        }
        tokio::time::sleep(ctx.settings.poll).await;
    };
    started(ctx, pid, false, w).await
}

async fn started(
    ctx: &OpContext,
    pid: i32,
    already_running: bool,
    w: &StartObserver,
) -> Result<OpOutput, OpFailure> {
    let home = ctx.host.real_home();
    let build = ObserverBuild::from(&binary::version(&home).await?);
    binary::check_expected(&build, &w.expect)?;
    let start_time_ms = process::start_time_ms(pid).unwrap_or_else(now_ms);
    ctx.log
        .info(format!(
            "observer {pid} runs {} {} build {}, started at {start_time_ms}",
            build.product, build.version, build.build
        ))
        .await;
    Ok(OpOutput::StartObserver(StartOutput {
        pid,
        start_time_ms,
        build,
        already_running,
    }))
}
