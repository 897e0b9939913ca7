//! The interpreter the upgrade scripts need: Python with
//! `mysql.connector` (mysql-connector-python, the scripts' only
//! dependency, real-driver.md §2.1). A fresh machine's Python usually lacks
//! it, so `obup dev` makes a virtualenv with it on first start.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// The version real-driver.md §1.1 checked against the scripts' use.
pub const MYSQL_CONNECTOR: &str = "mysql-connector-python==8.0.33";

/// A virtualenv at `dir` with `requirements` installed, made once (a
/// marker file says it is complete, so an interrupted install is redone);
/// returns its interpreter.
pub fn venv(dir: &Path, requirements: &[&str]) -> anyhow::Result<PathBuf> {
    let python = dir.join("bin/python");
    let done = dir.join(".obup-complete");
    if done.exists() {
        return Ok(python);
    }
    // Two processes (parallel tests, two `obup dev`) make it once.
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let lock = std::fs::File::create(dir.with_extension("lock"))?;
    lock.lock()?;
    if done.exists() {
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(dir);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .context("python3 is needed to make a virtualenv")?;
    anyhow::ensure!(
        made.status.success(),
        "python3 -m venv {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(requirements)
        .output()
        .context("running pip")?;
    anyhow::ensure!(
        pip.status.success(),
        "pip install {} failed: {}",
        requirements.join(" "),
        String::from_utf8_lossy(&pip.stderr)
    );
    std::fs::write(&done, requirements.join("\n"))?;
    Ok(python)
}

/// A virtualenv with [`MYSQL_CONNECTOR`] at `dir`.
pub fn mysql_connector(dir: &Path) -> anyhow::Result<PathBuf> {
    venv(dir, &[MYSQL_CONNECTOR])
}

/// The virtualenv with [`MYSQL_CONNECTOR`] that tests and benchmarks share,
/// made once per Cargo target dir: `$CARGO_TARGET_DIR`, else the one
/// holding the running test or bench binary (`<target>/<profile>/deps/`).
pub fn for_tests() -> anyhow::Result<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()?
            .ancestors()
            .nth(3)
            .context("a test binary lives in <target>/<profile>/deps")?
            .to_owned(),
    };
    mysql_connector(&target.join("obup-venvs/mysql-connector-8.0.33"))
}
