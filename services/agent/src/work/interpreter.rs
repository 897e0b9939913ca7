//! The process an upgrade script runs in, and the one kept ready for the
//! next script.
//!
//! Starting Python and importing `mysql.connector` (the scripts' only
//! dependency) takes ~0.1 s, most of a short script's run, and an upgrade
//! runs its scripts one after the other. So every interpreter first
//! imports `mysql.connector`, then waits on stdin for the script to run
//! (`{script, args, cwd}` as one JSON line, the password among the args:
//! never argv, never the environment). While one script runs, the next
//! interpreter starts and imports in the background; the next script of
//! the same interpreter takes it ready ([`Interpreters::take`]).
//!
//! What a script sees is what a fresh `python script.py` sees: its own
//! directory first on `sys.path`, its working directory, argv. The
//! import ahead leaves the interpreter's own start directory out of
//! `sys.path` (it is the agent's, not the script's), and a script that
//! ships its own `mysql` package gets that one: the modules imported ahead
//! are dropped first.
//!
//! A ready interpreter is stopped after [`READY_FOR`] without a script; it
//! also exits by itself after [`EXITS_AFTER`], or when the agent that
//! holds its stdin goes away (end of file): nothing outlives the agent.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::process::Child;

use crate::host::python;

/// Runs under Python 2.7 and 3 (json, os, runpy, select are in both).
/// `{idle}` is replaced by [`EXITS_AFTER`] in seconds.
const BOOTSTRAP: &str = r#"import json, os, runpy, select, sys
sys.path.pop(0)
try:
    import mysql.connector
except Exception:
    pass
if not select.select([sys.stdin], [], [], {idle})[0]:
    sys.exit(0)
line = sys.stdin.readline()
if not line:
    sys.exit(0)
d = json.loads(line)
sys.stdin = open(os.devnull)
def s(x):
    return x if isinstance(x, str) else x.encode('utf-8')
sys.argv = [s(a) for a in [d['script']] + d['args']]
here = os.path.dirname(sys.argv[0])
os.chdir(s(d['cwd']))
if os.path.exists(os.path.join(here, 'mysql')) or os.path.exists(os.path.join(here, 'mysql.py')):
    for name in [m for m in sys.modules if m == 'mysql' or m.startswith('mysql.')]:
        del sys.modules[name]
sys.path.insert(0, here)
del d, line
runpy.run_path(sys.argv[0], run_name='__main__')
"#;

/// How long an interpreter waits for its script before it exits.
const EXITS_AFTER: Duration = Duration::from_secs(600);

/// How long a ready interpreter waits for a script before the agent
/// stops it. Well inside [`EXITS_AFTER`], so that a script never reaches
/// one that is exiting by itself.
const READY_FOR: Duration = Duration::from_secs(300);

/// The ready interpreters of one agent, one per executable. An agent's
/// own (not the process's): a child's pipes belong to the runtime that
/// started it, and in-process agents of tests and `obup dev --demo` may
/// each have their own.
#[derive(Debug, Default)]
pub struct Interpreters {
    ready: Mutex<HashMap<PathBuf, Child>>,
}

/// Starts an interpreter at `python` that imports ahead and waits for its
/// script. Its own process group, so that a cancel reaches whatever the
/// script starts.
fn start(python: &Path) -> std::io::Result<Child> {
    python::command(python)
        .arg("-u")
        .arg("-c")
        .arg(BOOTSTRAP.replace("{idle}", &EXITS_AFTER.as_secs().to_string()))
        .current_dir("/")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

impl Interpreters {
    /// An interpreter at `python` for a script: the ready one if it is
    /// still waiting, else a new one. Then the next one starts, for the
    /// next script.
    pub fn take(self: &Arc<Self>, python: &Path) -> std::io::Result<Child> {
        let ready = self
            .ready
            .lock()
            .expect("never poisoned")
            .remove(python)
            .and_then(|mut child| matches!(child.try_wait(), Ok(None)).then_some(child));
        let child = match ready {
            Some(child) => child,
            None => start(python)?,
        };
        self.prepare(python);
        Ok(child)
    }

    /// Starts the next interpreter at `python`, stopped after
    /// [`READY_FOR`] unless a script took it.
    fn prepare(self: &Arc<Self>, python: &Path) {
        let next = match start(python) {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(python = %python.display(), "cannot start an interpreter ahead: {e}");
                return;
            }
        };
        let pid = next.id();
        // Replacing one drops it, and dropping kills it (`kill_on_drop`).
        self.ready
            .lock()
            .expect("never poisoned")
            .insert(python.to_owned(), next);
        let (python, this) = (python.to_owned(), Arc::downgrade(self));
        tokio::spawn(async move {
            tokio::time::sleep(READY_FOR).await;
            let Some(this) = this.upgrade() else { return };
            let mut ready = this.ready.lock().expect("never poisoned");
            if ready.get(&python).is_some_and(|c| c.id() == pid) {
                ready.remove(&python);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A stand-in interpreter: the machine's `python3` with a site dir
    /// holding a `mysql.connector`.
    fn interpreter(dir: &Path) -> PathBuf {
        let site = dir.join("site/mysql");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::write(site.join("__init__.py"), "").unwrap();
        std::fs::write(site.join("connector.py"), "INSTALLED = True\n").unwrap();
        let python3 = python::find("python3").expect("python3 on PATH");
        let path = dir.join("python");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nPYTHONPATH={} exec {} \"$@\"\n",
                dir.join("site").display(),
                python3.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Hands `child` its script and collects what it prints.
    async fn run(child: &mut Child, script: &Path, cwd: &Path) -> (Vec<String>, i32) {
        let doc = serde_json::json!({
            "script": script.display().to_string(),
            "args": ["-h127.0.0.1", "-psecret"],
            "cwd": cwd.display().to_string(),
        });
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(format!("{doc}\n").as_bytes())
            .await
            .unwrap();
        drop(stdin);
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        let code = child.wait().await.unwrap().code().unwrap_or(-1);
        (out.lines().map(str::to_owned).collect(), code)
    }

    const SHOW: &str = "import os, sys\n\
        print('imported ahead: %s' % ('mysql.connector' in sys.modules))\n\
        import mysql.connector\n\
        print(sys.argv)\n\
        print(os.getcwd())\n\
        print(sys.path[0])\n\
        print('installed: %s' % getattr(mysql.connector, 'INSTALLED', False))\n";

    #[tokio::test]
    async fn a_script_sees_argv_cwd_and_its_dir_as_a_fresh_python_would() {
        let dir = tempfile::tempdir().unwrap();
        let python = interpreter(dir.path());
        let (etc, work) = (dir.path().join("etc"), dir.path().join("work"));
        std::fs::create_dir(&etc).unwrap();
        std::fs::create_dir(&work).unwrap();
        let script = etc.join("upgrade_pre.py");
        std::fs::write(&script, SHOW).unwrap();
        let mut child = Arc::new(Interpreters::default()).take(&python).unwrap();
        let (lines, code) = run(&mut child, &script, &work).await;
        assert_eq!(code, 0, "{lines:?}");
        assert_eq!(
            lines,
            [
                "imported ahead: True".to_owned(),
                format!("['{}', '-h127.0.0.1', '-psecret']", script.display()),
                work.canonicalize().unwrap().display().to_string(),
                etc.display().to_string(),
                "installed: True".to_owned(),
            ]
        );
    }

    #[tokio::test]
    async fn a_script_that_ships_its_own_mysql_package_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let python = interpreter(dir.path());
        let etc = dir.path().join("etc");
        std::fs::create_dir_all(etc.join("mysql")).unwrap();
        std::fs::write(etc.join("mysql/__init__.py"), "").unwrap();
        std::fs::write(etc.join("mysql/connector.py"), "SHIPPED = True\n").unwrap();
        let script = etc.join("upgrade_post.py");
        std::fs::write(
            &script,
            "import mysql.connector\nprint(getattr(mysql.connector, 'SHIPPED', False))\n",
        )
        .unwrap();
        let mut child = Arc::new(Interpreters::default()).take(&python).unwrap();
        let (lines, code) = run(&mut child, &script, dir.path()).await;
        assert_eq!((lines, code), (vec!["True".to_owned()], 0));
    }

    #[tokio::test]
    async fn the_next_interpreter_is_started_ahead_and_taken() {
        let dir = tempfile::tempdir().unwrap();
        let python = interpreter(dir.path());
        let interpreters = Arc::new(Interpreters::default());
        let ready = || {
            interpreters
                .ready
                .lock()
                .unwrap()
                .get(&python)
                .and_then(Child::id)
        };
        let first = interpreters.take(&python).unwrap();
        let next = ready().expect("one started ahead");
        assert_ne!(Some(next), first.id());
        let second = interpreters.take(&python).unwrap();
        assert_eq!(second.id(), Some(next), "the ready one was taken");
        assert!(ready().is_some_and(|p| p != next), "and another started");
    }

    #[tokio::test]
    async fn an_interpreter_whose_agent_went_away_exits() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = start(&interpreter(dir.path())).unwrap();
        drop(child.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("exits at end of file")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}
