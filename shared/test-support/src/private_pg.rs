//! A PostgreSQL server of a test's own: `initdb` into a temporary directory,
//! a free port, and `pg_ctl` to stop it hard and start it again while the
//! services under test keep running. Restarting the machine's shared server
//! instead would break every other test running at the time.
//!
//! The binaries come from `OBUP_PG_BINDIR`, or the newest
//! `/usr/lib/postgresql/<version>/bin` (Debian's layout). PostgreSQL refuses
//! to run as root, so as root the server runs as the `postgres` user.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// A running server; stopped (immediately) and deleted when dropped.
#[derive(Debug)]
pub struct PrivatePostgres {
    bindir: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePostgres {
    /// Creates a cluster (trust auth, user `postgres`) and starts it.
    pub fn start() -> anyhow::Result<Self> {
        let bindir = bindir()?;
        let dir = tempfile::Builder::new().prefix("obup-pg-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let pg = Self { bindir, dir, port };
        if is_root() {
            // The postgres user must own the directory it initialises.
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(pg.dir.path()))?;
        }
        run(pg
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(pg.data()))?;
        pg.start_server()?;
        Ok(pg)
    }

    /// `postgres://...` for database `postgres` on this server.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way a crash would (`-m immediate`: no checkpoint,
    /// connections cut), so clients see their connections die.
    pub fn stop(&self) -> anyhow::Result<()> {
        run(self
            .command("pg_ctl")
            .args(["-m", "immediate", "-w", "stop", "-D"])
            .arg(self.data()))
    }

    /// Starts the server again on the same port and data.
    pub fn start_server(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(self.dir.path().join("server.log"))
            .arg("start")
            .arg("-D")
            .arg(self.data()))
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// One of the server's binaries, run as the postgres user when we are
    /// root.
    fn command(&self, program: &str) -> Command {
        let path = self.bindir.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn bindir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("OBUP_PG_BINDIR") {
        return Ok(dir.into());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL's binaries not found: set OBUP_PG_BINDIR")?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!("no /usr/lib/postgresql/<version>/bin/initdb: set OBUP_PG_BINDIR"),
    }
}

fn is_root() -> bool {
    // Owner of /proc/self is the effective uid; no libc call needed.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
