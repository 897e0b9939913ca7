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

/// `<target>` of the running test binary (`<target>/debug/deps/<test>-*`).
pub fn target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

/// The Python of a virtualenv `<target>/<name>` with `requirement` from
/// PyPI, made once per target dir and reused (as the demo's own is).
pub fn venv_python(name: &str, requirement: &str) -> std::path::PathBuf {
    obup_local_cluster::python::venv(&target_dir().join(name), &[requirement])
        .unwrap_or_else(|e| panic!("a virtualenv with {requirement} (python3 and PyPI): {e:#}"))
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
    /// Where this server writes the CLI's token (`OBUP_TOKEN_DIR`), so that
    /// tests never touch the user's config directory.
    pub token_dir: std::path::PathBuf,
    data: std::path::PathBuf,
    /// `XDG_CACHE_HOME` of the client commands: what `obup upload`
    /// remembers stays in the test's directory.
    pub cache: std::path::PathBuf,
    /// Kept open: the server's stdout stays a live pipe.
    _stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl DevServer {
    /// Starts `obup dev` on `data` with extra flags.
    pub fn start(data: &Path, flags: &[impl AsRef<std::ffi::OsStr>]) -> Self {
        Self::start_on("127.0.0.1:0", data, flags)
    }

    /// The same on `listen` (a restart that must keep its address: a
    /// browser's page stays on its origin).
    pub fn start_on(listen: &str, data: &Path, flags: &[impl AsRef<std::ffi::OsStr>]) -> Self {
        let token_dir = token_dir(data);
        let mut child = Command::new(OBUP)
            .env("OBUP_TOKEN_DIR", &token_dir)
            .args(["dev", "--listen", listen, "--data-dir"])
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
            token_dir,
            data: data.to_owned(),
            cache: data.with_file_name("xdg-cache"),
            _stdout: lines,
        }
    }

    /// An `obup` client command against this server, not yet run: its
    /// token and upload cache kept in the test's directory.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(OBUP);
        c.env("XDG_CACHE_HOME", &self.cache)
            .env("OBUP_TOKEN_DIR", &self.token_dir)
            .env_remove("OBUP_TOKEN")
            .arg("--server")
            .arg(&self.url)
            .args(args);
        c
    }

    /// Runs an `obup` client command against this server.
    pub fn obup(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The admin token the server made (in its data dir).
    pub fn admin_token(&self) -> obup_kit::auth::Token {
        obup_kit::auth::read_token_file(&self.data.join("tokens/admin.token"))
            .unwrap()
            .expect("obup dev made an admin token")
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

/// The CLI token directory of the server on `data`: beside it, not in it
/// (a test may wipe the data dir and start again).
pub fn token_dir(data: &Path) -> std::path::PathBuf {
    let mut name = data.file_name().unwrap_or_default().to_owned();
    name.push("-cli-tokens");
    data.with_file_name(name)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
