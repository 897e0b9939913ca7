//! A real OceanBase kernel for tests: `seekdb`, the OceanBase 4.3.5-derived
//! single-node server that PyPI's `pylibseekdb` wheel carries
//! (real-driver.md §0.1). obsim imitates OceanBase and the driver talks to
//! obsim; the kernel tests check both against this server, so that obup is
//! not only checked against fixtures it wrote itself.
//!
//! The wheel is installed once per Cargo target dir into a virtualenv (a
//! marker file says the install is complete; a lock file makes two test
//! binaries that race install it once). Each [`Seekdb`] is its own process
//! on a free port with a temporary base dir, stopped with SIGTERM (then
//! SIGKILL after a bound) when dropped. Without PyPI the start fails with a
//! message that says so: a kernel test never passes without the kernel.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::{Connection, Executor};

/// The wheel real-driver.md §0.1 ran (cp311, manylinux x86_64). `--no-deps`:
/// only the server binary is needed, not the Python bindings' dependencies.
pub const PYLIBSEEKDB: &str = "pylibseekdb==1.4.0.post1";

/// How long the server may take to answer a login after it is started
/// (about 4 s on an idle machine; far more on a loaded one).
const START_BOUND: Duration = Duration::from_secs(180);

/// How long a SIGTERM may take before the server is killed.
const STOP_BOUND: Duration = Duration::from_secs(20);

/// A running seekdb, stopped when dropped.
#[derive(Debug)]
pub struct Seekdb {
    /// `sh`, the server's parent: it stops the server when its stdin
    /// closes, which also happens when the test process dies without
    /// running any destructor, so no server outlives its test.
    watchdog: Child,
    /// Closing it tells the watchdog to stop the server.
    watchdog_stdin: Option<ChildStdin>,
    pid: Pid,
    port: u16,
    base: PathBuf,
    /// From spawning the process to its first answered login.
    pub started_in: Duration,
}

impl Seekdb {
    /// Installs the wheel if this target dir has not got it, starts the
    /// server on a free port and waits until it answers a login and a
    /// query over the MySQL protocol.
    pub async fn start() -> anyhow::Result<Self> {
        let binary = tokio::task::spawn_blocking(install_for_tests)
            .await
            .context("the install task panicked")??;
        let base = tempfile::Builder::new()
            .prefix("obup-seekdb-")
            .tempdir()?
            // The watchdog removes it (~400 MB) when the server has stopped,
            // even if this process was killed.
            .keep();
        let port = free_port()?;
        let mut server = Self::spawn(&binary, &base, port)?;
        let spawned = Instant::now();
        loop {
            match server.ping().await {
                Ok(()) => break,
                Err(e) if !server.alive() => {
                    anyhow::bail!(
                        "seekdb on port {port} exited before it answered ({e}); its output:\n{}",
                        server.log_tail()
                    )
                }
                Err(e) if spawned.elapsed() > START_BOUND => {
                    anyhow::bail!(
                        "seekdb on port {port} did not answer within {START_BOUND:?} ({e}); its output:\n{}",
                        server.log_tail()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        server.started_in = spawned.elapsed();
        Ok(server)
    }

    fn spawn(binary: &Path, base: &Path, port: u16) -> anyhow::Result<Self> {
        let lib = binary.parent().context("the binary has a directory")?;
        // The server in the background, its pid on stdout; then wait for
        // stdin to close (`read` returns on EOF), stop the server, remove
        // its base dir.
        let script = r#"
            "$0" --nodaemon --port "$1" --base-dir "$2" \
                --parameter datafile_size=256M --parameter log_disk_size=2G \
                >"$2/stdout.log" 2>&1 </dev/null &
            server=$!
            echo "$server"
            read -r _
            kill -TERM "$server" 2>/dev/null
            wait "$server"
            rm -rf "$2"
        "#;
        let mut watchdog = Command::new("sh")
            .args(["-c", script])
            .arg(binary)
            .arg(port.to_string())
            .arg(base)
            // The wheel ships libaio.so.1 next to the binary; machines
            // without libaio need it found there.
            .env("LD_LIBRARY_PATH", lib)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // The shell's job notices ("Killed" when seekdb ends itself
            // with SIGKILL after a SIGTERM); the server's own output goes
            // to its base dir.
            .stderr(Stdio::null())
            .spawn()
            .context("starting sh for seekdb")?;
        let mut line = String::new();
        BufReader::new(watchdog.stdout.take().expect("stdout is piped")).read_line(&mut line)?;
        let pid: i32 = line
            .trim()
            .parse()
            .with_context(|| format!("the watchdog printed {line:?}, not a pid"))?;
        Ok(Self {
            watchdog_stdin: watchdog.stdin.take(),
            watchdog,
            pid: Pid::from_raw(pid),
            port,
            base: base.to_owned(),
            started_in: Duration::ZERO,
        })
    }

    /// The port it serves MySQL on (all addresses: seekdb has no bind
    /// option).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `root` without a password, database `oceanbase`, no TLS, and none of
    /// sqlx's connect-time statements (the driver's bare options,
    /// real-driver.md §4.3).
    pub fn bare_options(&self) -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username("root")
            .database("oceanbase")
            .ssl_mode(MySqlSslMode::Disabled)
            .pipes_as_concat(false)
            .no_engine_substitution(false)
            .timezone(None)
            .set_names(false)
            .statement_cache_capacity(0)
    }

    /// Resident set size of the server now, in bytes.
    pub fn rss(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")?;
        Ok(kib * 1024)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let mut conn = tokio::time::timeout(
            Duration::from_secs(10),
            MySqlConnection::connect_with(&self.bare_options()),
        )
        .await??;
        conn.execute("SELECT 1").await?;
        conn.close().await?;
        Ok(())
    }

    /// Not exited (a zombie waiting for the watchdog to reap it has).
    fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .ok()
            .and_then(|s| {
                let state = s.rsplit_once(") ")?.1.chars().next()?;
                Some(state != 'Z' && state != 'X')
            })
            .unwrap_or(false)
    }

    /// The end of what the server printed, and its last errors.
    fn log_tail(&self) -> String {
        let mut out = tail(&self.base.join("stdout.log"), 4096);
        let errors: Vec<String> = tail(&self.base.join("log/seekdb.log"), 256 * 1024)
            .lines()
            .filter(|l| l.contains(" ERROR "))
            .map(|l| l.chars().take(400).collect())
            .collect();
        for line in errors.iter().rev().take(10).rev() {
            out.push('\n');
            out.push_str(line);
        }
        out
    }
}

impl Drop for Seekdb {
    fn drop(&mut self) {
        // EOF on its stdin: the watchdog sends SIGTERM and reaps the server.
        drop(self.watchdog_stdin.take());
        let asked = Instant::now();
        while asked.elapsed() < STOP_BOUND {
            if let Ok(Some(_)) = self.watchdog.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Still running: kill it; the watchdog's `wait` then returns. The
        // pid cannot have been reused: the watchdog has not reaped it.
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = self.watchdog.wait();
    }
}

/// The last `max` bytes of a file, or why there are none.
fn tail(path: &Path, max: u64) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// A port nothing listens on now, on any address (seekdb binds 0.0.0.0).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("0.0.0.0:0")?
        .local_addr()?
        .port())
}

/// The seekdb binary of the virtualenv that tests share, installed once
/// per Cargo target dir: `$CARGO_TARGET_DIR`, else the one holding the
/// running test binary (`<target>/<profile>/deps/`).
pub fn install_for_tests() -> anyhow::Result<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()?
            .ancestors()
            .nth(3)
            .context("a test binary lives in <target>/<profile>/deps")?
            .to_owned(),
    };
    install(&target.join("obup-venvs/pylibseekdb-1.4.0.post1"))
}

/// A virtualenv at `dir` with [`PYLIBSEEKDB`], made once (the marker file
/// holds the binary's path and is written last, so an interrupted install
/// is redone); returns the binary. The same scheme as
/// `obup_local_cluster::python::venv`, which this crate cannot depend on.
pub fn install(dir: &Path) -> anyhow::Result<PathBuf> {
    let done = dir.join(".obup-complete");
    let installed = || -> Option<PathBuf> {
        let path = PathBuf::from(std::fs::read_to_string(&done).ok()?);
        path.exists().then_some(path)
    };
    if let Some(binary) = installed() {
        return Ok(binary);
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Two test binaries starting at once install it once.
    let lock = File::create(dir.with_extension("lock"))?;
    lock.lock()?;
    if let Some(binary) = installed() {
        return Ok(binary);
    }
    let _ = std::fs::remove_dir_all(dir);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .context("python3 (with venv) is needed to install seekdb from PyPI")?;
    anyhow::ensure!(
        made.status.success(),
        "python3 -m venv {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(dir.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .arg(PYLIBSEEKDB)
        .output()
        .context("running pip")?;
    anyhow::ensure!(
        pip.status.success(),
        "pip install --no-deps {PYLIBSEEKDB} failed: the kernel tests need it from PyPI \
         (a cp311 manylinux x86_64 wheel, so python3 must be 3.11): {}",
        String::from_utf8_lossy(&pip.stderr)
    );
    let binary = std::fs::read_dir(dir.join("lib"))?
        .flatten()
        .map(|python| python.path().join("site-packages/pylibseekdb/seekdb"))
        .find(|p| p.exists())
        .with_context(|| format!("{PYLIBSEEKDB} has no pylibseekdb/seekdb"))?;
    let mut marker = File::create(&done)?;
    marker.write_all(binary.to_string_lossy().as_bytes())?;
    Ok(binary)
}
