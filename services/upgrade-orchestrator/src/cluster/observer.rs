//! The observer process of one home, handled the way obshell's agent
//! handles it (real-driver.md §3.1): found by `<home>/run/observer.pid`,
//! stopped with SIGKILL, started as `cd <home>; LD_LIBRARY_PATH=<home>/lib
//! <home>/bin/observer` (it daemonizes and writes its pid file itself), its
//! build read from `bin/observer -V`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use obup_types::ObserverVersion;

use crate::{Error, Result};

/// How long a stopped observer may take to disappear, and a started one to
/// write its pid file. obshell tries a kill 15 times 5 s apart.
const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

fn pid_file(home: &Path) -> PathBuf {
    home.join("run/observer.pid")
}

/// The pid in the home's pid file, if that process is alive and is this
/// home's observer: its working directory is the home (observers are
/// started in it), which guards against a reused pid, as obshell's check of
/// the process's directory does.
pub fn running_pid(home: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file(home))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (alive(pid) && same_dir(pid, home)).then_some(pid)
}

/// Whether `pid` exists and is not a zombie (a killed daemon whose parent,
/// often PID 1 in a container, has not reaped it yet).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn same_dir(pid: i32, home: &Path) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
    match (cwd, home.canonicalize()) {
        (Ok(cwd), Ok(home)) => cwd == home,
        _ => false,
    }
}

/// Kills the home's observer, if one runs, and waits until it is gone.
pub async fn stop(home: &Path) -> Result<Option<i32>> {
    let Some(pid) = running_pid(home) else {
        return Ok(None);
    };
    match kill(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => {
            return Err(Error::Cluster(format!(
                "cannot kill observer {pid} of {}: {e}",
                home.display()
            )));
        }
    }
    wait_for(
        || !alive(pid),
        || format!("observer {pid} did not exit after SIGKILL"),
    )
    .await?;
    Ok(Some(pid))
}

/// Starts the home's observer as obshell does and waits until the daemon
/// has written its pid file; returns its pid.
pub async fn start(home: &Path) -> Result<i32> {
    let observer = home.join("bin/observer");
    let status = tokio::process::Command::new("/bin/bash")
        .arg("-c")
        // obshell's `export LD_LIBRARY_PATH='<home>/lib'; <home>/bin/observer`,
        // with the paths passed as arguments instead of quoted into the text.
        .args(["export LD_LIBRARY_PATH=\"$1\"; \"$2\"", "observer-start"])
        .arg(home.join("lib"))
        .arg(&observer)
        .current_dir(home)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .map_err(|e| Error::Cluster(format!("cannot run {}: {e}", observer.display())))?;
    if !status.success() {
        return Err(Error::Cluster(format!(
            "{} exited with {status} at start",
            observer.display()
        )));
    }
    wait_for(
        || running_pid(home).is_some(),
        || {
            format!(
                "{} started but wrote no live pid to run/observer.pid",
                observer.display()
            )
        },
    )
    .await?;
    running_pid(home)
        .ok_or_else(|| Error::Cluster(format!("{} exited at once", observer.display())))
}

/// What the home's `bin/observer -V` reports (with `LD_LIBRARY_PATH` set to
/// its `lib/`, as obshell runs it); stdout and stderr are read together,
/// since the real binary prints to stderr.
pub async fn version(home: &Path) -> Result<ObserverVersion> {
    let observer = home.join("bin/observer");
    let out = tokio::process::Command::new(&observer)
        .arg("-V")
        .env("LD_LIBRARY_PATH", home.join("lib"))
        .output()
        .await
        .map_err(|e| Error::Cluster(format!("cannot run {} -V: {e}", observer.display())))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    if !out.status.success() {
        return Err(Error::Cluster(format!(
            "{} -V exited with {}: {text}",
            observer.display(),
            out.status
        )));
    }
    ObserverVersion::parse(&text).map_err(|e| {
        Error::Cluster(format!(
            "cannot read the version {} -V printed ({e}): {text}",
            observer.display()
        ))
    })
}

async fn wait_for(done: impl Fn() -> bool, timeout: impl Fn() -> String) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Cluster(timeout()));
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}
