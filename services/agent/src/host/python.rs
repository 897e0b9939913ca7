//! Python interpreters for the upgrade scripts (real-driver.md §2.1, §5.2).
//!
//! obshell runs whatever `python` is on PATH after checking
//! `python -c "import sys; print(sys.version_info.major)"` and
//! `python -c "import mysql.connector"` (`upgrade_ob.go`,
//! `Environment.WithoutPython` / `Environment.WithoutModule`). Upgrade
//! bundles differ: 4.2.4.0's scripts run on both Pythons, 4.3.0.0's
//! `actions.py` is Python 2 only. So the agent takes the configured
//! interpreter if there is one; otherwise `python3`, unless the script does
//! not parse as Python 3 (`ast.parse`), then `python2`, or `python` when
//! that is a 2.x.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::domain::{FailureCode, OpFailure, Python};

/// Interpreter start-up plus an import: generous, since a cold disk or a
/// large site-packages can be slow, yet bounded.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// obshell's two checks in one interpreter start (valid Python 2 and 3):
/// the version on the first line, `mysql.connector` on the second when it
/// imports. Interpreter starts are most of what a pre-check waits for.
const PROBE: &str = "import sys\n\
print('%d.%d.%d' % tuple(sys.version_info[:3]))\n\
try:\n    import mysql.connector\n    print('mysql.connector')\n\
except Exception:\n    pass\n";

/// Compiles the script without running it.
const PARSES: &str = "import ast, sys; ast.parse(open(sys.argv[1], 'rb').read(), sys.argv[1])";

/// A command to run Python with the agent's locale and no user site noise.
pub fn command(python: &Path) -> Command {
    let mut c = Command::new(python);
    // A UTF-8 locale: scripts print non-ASCII, and an upgrade failing until
    // LANG=en_US.UTF-8 is set is a reported OBD problem. C.UTF-8 exists on
    // every glibc since 2.35 and on the distributions OceanBase supports.
    c.env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    c
}

/// Runs `python -c <code> [args]`; `Some(stdout)` when it exits 0 in time.
async fn run(python: &Path, code: &str, args: &[&Path]) -> Option<String> {
    let out = command(python).arg("-c").arg(code).args(args).output();
    match tokio::time::timeout(PROBE_TIMEOUT, out).await {
        Ok(Ok(out)) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
        _ => None,
    }
}

/// Where `command` is: itself if it names a path, else the first
/// executable of that name on PATH.
pub fn find(command: &str) -> Option<PathBuf> {
    if command.contains('/') {
        let p = PathBuf::from(command);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The interpreter `command` names, if it runs (a pyenv shim for a version
/// that is not selected is found on PATH but fails here). A recent good
/// probe of the same executable is reused ([`TRUSTED`]).
pub async fn probe(command: &str) -> Option<Python> {
    let path = find(command)?;
    if let Some(mut recent) = recently_good(&path) {
        recent.command = command.to_owned();
        return Some(recent);
    }
    let out = run(&path, PROBE, &[]).await?;
    let mut lines = out.lines().map(str::trim);
    let version = lines.next().filter(|v| !v.is_empty())?.to_owned();
    let mysql_connector = lines.any(|l| l == "mysql.connector");
    let python = Python {
        command: command.to_owned(),
        path: path.display().to_string(),
        version,
        mysql_connector,
    };
    if mysql_connector {
        GOOD.lock()
            .expect("never poisoned")
            .insert(path, (std::time::Instant::now(), python.clone()));
    }
    Some(python)
}

/// Whether `script` parses under `python`.
pub async fn parses(python: &Python, script: &Path) -> bool {
    run(Path::new(&python.path), PARSES, &[script])
        .await
        .is_some()
}

/// Every interpreter the agent could use, for the host's facts: the
/// configured one alone when there is one ([`choose`] never looks further,
/// so the request-time pre-check asks exactly what the scripts will get),
/// else `python3`, `python2` and `python`, probed at once. Probing the
/// others too cost each request an interpreter start per name and host
/// (a pyenv shim is a shell script that forks several more).
pub async fn available(configured: Option<&Path>) -> Vec<Python> {
    let names: Vec<String> = match configured {
        Some(c) => vec![c.display().to_string()],
        None => ["python3", "python2", "python"].map(String::from).into(),
    };
    futures::future::join_all(names.iter().map(|n| probe(n)))
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// How long an interpreter that imported `mysql.connector` is trusted
/// without starting it again: a request's pre-check probes every Python on
/// every host, the DAG's first stage checks again, and an upgrade runs ten
/// scripts in a row; each probe is an interpreter start (on a simulated
/// cluster, all hosts' starts share the machine's cores). One that failed
/// is probed every time, so a fix is seen at once.
const TRUSTED: Duration = Duration::from_secs(30);

/// The last good probe of each executable (by path: the same command finds
/// another executable when PATH changes).
static GOOD: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<PathBuf, (std::time::Instant, Python)>>,
> = std::sync::LazyLock::new(Default::default);

fn recently_good(path: &Path) -> Option<Python> {
    GOOD.lock()
        .expect("never poisoned")
        .get(path)
        .filter(|(at, _)| at.elapsed() < TRUSTED)
        .map(|(_, p)| p.clone())
}

/// The interpreter for `script` (any script when `None`), which must be
/// able to import `mysql.connector`.
pub async fn choose(configured: Option<&Path>, script: Option<&Path>) -> Result<Python, OpFailure> {
    let chosen = match configured {
        Some(c) => probe(&c.display().to_string()).await.ok_or_else(|| {
            OpFailure::new(
                FailureCode::WithoutPython,
                format!(
                    "Please check if Python is installed: the configured {} does not run",
                    c.display()
                ),
            )
        })?,
        None => default_for(script).await?,
    };
    if !chosen.mysql_connector {
        return Err(OpFailure::new(
            FailureCode::WithoutModule,
            format!(
                "Please check if Python module 'mysql.connector' is installed (for {} {})",
                chosen.path, chosen.version
            ),
        ));
    }
    Ok(chosen)
}

async fn default_for(script: Option<&Path>) -> Result<Python, OpFailure> {
    let three = match probe("python3").await {
        Some(p) => Some(p),
        None => probe("python").await.filter(|p| p.major() == 3),
    };
    if let Some(py3) = &three {
        let fits = match script {
            Some(s) => parses(py3, s).await,
            None => true,
        };
        if fits {
            return Ok(py3.clone());
        }
    }
    let two = match probe("python2").await {
        Some(p) => Some(p),
        None => probe("python").await.filter(|p| p.major() == 2),
    };
    match (two, three, script) {
        (Some(py2), _, _) => Ok(py2),
        (None, Some(_), Some(s)) => Err(OpFailure::new(
            FailureCode::WithoutPython,
            format!(
                "Please check if Python is installed: {} does not parse as Python 3 and no \
                 python2 (or python 2.x) runs",
                s.display()
            ),
        )),
        (None, _, _) => Err(OpFailure::new(
            FailureCode::WithoutPython,
            "Please check if Python is installed: none of python3, python2, python runs",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn finds_a_python3_that_parses_python3() {
        let Some(py3) = probe("python3").await else {
            eprintln!("no python3 here; skipped");
            return;
        };
        assert_eq!(py3.major(), 3);
        let dir = tempfile::tempdir().unwrap();
        let three = dir.path().join("three.py");
        std::fs::write(&three, "print('x')\n").unwrap();
        let two = dir.path().join("two.py");
        std::fs::write(
            &two,
            "print 'x'\ntry:\n  pass\nexcept Exception, e:\n  pass\n",
        )
        .unwrap();
        assert!(parses(&py3, &three).await);
        assert!(!parses(&py3, &two).await);
    }

    /// A stand-in interpreter that counts its starts and answers the probe
    /// as a Python with (or without) `mysql.connector` would.
    fn counting_python(dir: &Path, with_connector: bool) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("python");
        let connector = if with_connector {
            "echo mysql.connector"
        } else {
            ""
        };
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho x >> {}\necho 3.11.7\n{connector}\n",
                dir.join("starts").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn starts(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("starts"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn a_good_interpreter_is_started_once_and_a_bad_one_every_time() {
        let good = tempfile::tempdir().unwrap();
        let python = counting_python(good.path(), true).display().to_string();
        for _ in 0..3 {
            let p = probe(&python).await.unwrap();
            assert!(p.mysql_connector && p.version == "3.11.7", "{p:?}");
        }
        assert_eq!(starts(good.path()), 1, "trusted after its first probe");

        let bad = tempfile::tempdir().unwrap();
        let python = counting_python(bad.path(), false).display().to_string();
        for _ in 0..3 {
            assert!(!probe(&python).await.unwrap().mysql_connector);
        }
        assert_eq!(
            starts(bad.path()),
            3,
            "a missing module is looked for again"
        );
    }

    #[test]
    fn find_needs_an_executable() {
        assert!(find("sh").is_some());
        assert!(find("/nonexistent/python3").is_none());
        assert!(find("obup-no-such-python").is_none());
    }
}
