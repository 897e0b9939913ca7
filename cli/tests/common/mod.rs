//! The real `obup` binary, as a user runs it.

#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const OBUP: &str = env!("CARGO_BIN_EXE_obup");

/// The Python the demo agents run the upgrade scripts with: a virtualenv
/// with mysql-connector-python, made once per target dir.
pub fn python() -> std::path::PathBuf {
    obup_local_cluster::python::for_tests()
        .unwrap_or_else(|e| panic!("a Python with mysql-connector-python (pip from PyPI): {e:#}"))
}

/// Flags for `obup dev` with a demo cluster of its own that reacts at once:
/// a `127.A.B` drawn at random but kept across restarts of the same test
/// (the DAG's sub-tasks name their agents by address), agents on obshell's
/// port there.
pub fn demo_flags(prefix: &str) -> Vec<String> {
    vec![
        "--demo".into(),
        "--demo-ip-prefix".into(),
        prefix.into(),
        "--demo-instant".into(),
        "--demo-python".into(),
        python().display().to_string(),
    ]
}

/// A random `127.A.B` for [`demo_flags`].
pub fn random_prefix() -> String {
    let [a, b, c] = obup_obsim::config::random_prefix();
    format!("{a}.{b}.{c}")
}

/// `obup dev` on a free port, killed when dropped.
pub struct DevServer {
    child: Option<Child>,
    pub url: String,
    /// `XDG_CACHE_HOME` of the client commands: what `obup upload`
    /// remembers stays in the test's directory.
    pub cache: std::path::PathBuf,
    /// Kept open: the server's stdout stays a live pipe.
    _stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl DevServer {
    /// Starts `obup dev` on `data` with extra flags.
    pub fn start(data: &Path, flags: &[impl AsRef<std::ffi::OsStr>]) -> Self {
        let mut child = Command::new(OBUP)
            .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().expect("obup dev printed its address").unwrap();
        let url = ready
            .strip_prefix("obup dev listening on ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
            .to_owned();
        Self {
            child: Some(child),
            url,
            cache: data.with_file_name("xdg-cache"),
            _stdout: lines,
        }
    }

    /// An `obup` client command against this server, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(OBUP);
        c.env("XDG_CACHE_HOME", &self.cache)
            .arg("--server")
            .arg(&self.url)
            .args(args);
        c
    }

    /// Runs an `obup` client command against this server.
    pub fn obup(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Kills the server with SIGKILL: no shutdown path runs.
    pub fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
