//! Upgrade scripts: the password reaches the script but never argv or the
//! log, the interpreter must import mysql.connector, cancel stops a long
//! script.

use std::time::Duration;

use obup_agent::domain::{
    CheckPython, FailureCode, OpKey, OpOutput, RunUpgradeScript, Secret, Work,
};
use tokio_stream::StreamExt;

use crate::helpers::*;

const RPM_DIR: &str = "/home/admin/oceanbase/upgrade/rpm-1-1/x86_64/4.3.5.0";

fn script_path(name: &str) -> String {
    format!("{RPM_DIR}/home/admin/oceanbase/etc/{name}")
}

/// An agent whose `--python` is a virtualenv's (with a stand-in
/// mysql.connector when `with_connector`), and a script written into the
/// unpacked package. `None` without python3.
async fn agent_with_script(
    name: &str,
    text: &str,
    with_connector: bool,
) -> Option<(TestAgent, tempfile::TempDir)> {
    let venv_dir = tempfile::tempdir().unwrap();
    let python = venv(venv_dir.path(), with_connector)?;
    let agent = TestAgent::start_with(|c| c.python = Some(python)).await;
    let path = agent.real(&script_path(name));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    Some((agent, venv_dir))
}

fn script(name: &str, zone: Option<&str>) -> Work {
    Work::RunUpgradeScript(RunUpgradeScript {
        script: hp(&script_path(name)),
        work_dir: hp(RPM_DIR),
        host: "127.0.0.1".into(),
        port: 2881,
        user: "root".into(),
        zone: zone.map(str::to_owned),
        timeout_secs: None,
        can_continue: true,
    })
}

const PASSWORD: &str = "S3cr3t-pa55word!";

/// Prints what it got, the way the real scripts read it, and lingers so
/// that the test can look at every process's command line meanwhile.
const ARGV_SCRIPT: &str = r#"import getopt, os, sys, time
opts, _ = getopt.getopt(sys.argv[1:], 'h:P:u:p:z:')
opts = dict(opts)
print('argc=%d' % len(sys.argv))
print('argv0 is me: %s' % (os.path.abspath(sys.argv[0]) == os.path.abspath(__file__)))
print('host=%s port=%s user=%s zone=%s' % (opts['-h'], opts['-P'], opts['-u'], opts.get('-z')))
print('password=%s' % opts['-p'])
sys.stderr.write('connecting with -p%s\n' % opts['-p'])
print('cwd=%s' % os.getcwd())
open('upgrade_test.log', 'w').write('written in the cwd\n')
time.sleep(1.5)
"#;

#[tokio::test]
async fn the_password_reaches_the_script_but_never_argv_or_the_log() {
    let Some((mut agent, _venv)) =
        agent_with_script("upgrade_health_checker.py", ARGV_SCRIPT, true).await
    else {
        return;
    };
    let mut spec = spec(
        "health",
        1,
        script("upgrade_health_checker.py", Some("zone1")),
    );
    spec.password = Secret::new(PASSWORD);
    let mut client = agent.client.clone();
    let run = client.run_to_end(&spec);
    tokio::pin!(run);
    // Sample every process's command line while the script runs.
    let mut samples = 0;
    let finished = loop {
        tokio::select! {
            r = &mut run => break r.unwrap(),
            () = tokio::time::sleep(Duration::from_millis(25)) => {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                        let text = String::from_utf8_lossy(&cmdline);
                        assert!(!text.contains(PASSWORD), "the password is in {:?}: {text}", entry.path());
                        samples += 1;
                    }
                }
            }
        }
    };
    assert!(samples > 0);
    assert!(
        finished.result.is_success(),
        "{:?} {:?}",
        finished.result,
        finished.lines
    );
    let log: Vec<&str> = finished.lines.iter().map(|l| l.line.as_str()).collect();
    assert!(
        log.contains(&"argc=6"),
        "-h -P -u -p -z and argv[0]: {log:?}"
    );
    assert!(log.contains(&"argv0 is me: True"), "{log:?}");
    assert!(
        log.contains(&"host=127.0.0.1 port=2881 user=root zone=zone1"),
        "{log:?}"
    );
    assert!(log.contains(&"password=******"), "{log:?}");
    assert!(
        log.contains(&"connecting with -p******"),
        "stderr is masked too: {log:?}"
    );
    assert!(log.iter().all(|l| !l.contains(PASSWORD)));
    let cwd = agent.real(RPM_DIR).canonicalize().unwrap();
    assert!(
        log.contains(&format!("cwd={}", cwd.display()).as_str()),
        "{log:?}"
    );
    assert!(agent.real(RPM_DIR).join("upgrade_test.log").is_file());
    let Some(OpOutput::RunUpgradeScript(out)) = finished.result.output() else {
        panic!()
    };
    assert_eq!(out.exit_code, 0);
    assert!(out.python.mysql_connector);

    // Nor is it anywhere in the journal's files.
    for entry in std::fs::read_dir(agent.state_dir()).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        let found = bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes());
        assert!(!found, "the password is in {}", entry.path().display());
    }

    // A re-attach replays the same, masked, lines.
    let again = agent.try_run(spec.clone()).await.unwrap();
    assert!(again.accepted.attached);
    assert_eq!(again.lines, finished.lines);
}

#[tokio::test]
async fn a_failing_script_fails_with_its_exit_code_and_output() {
    let text = "import sys\nprint('checking')\nsys.stderr.write('upgrade checker failed with 2 reasons\\n')\nsys.exit(3)\n";
    let Some((mut agent, _venv)) = agent_with_script("upgrade_checker.py", text, true).await else {
        return;
    };
    let r = agent
        .run("checker", 1, script("upgrade_checker.py", None))
        .await;
    let f = r.result.failure().expect("exit 3 fails");
    assert!(f.has_code(FailureCode::ScriptFailed), "{f}");
    assert!(
        f.message.contains("exit status: 3") && f.message.contains("2 reasons"),
        "{f}"
    );
}

#[tokio::test]
async fn without_mysql_connector_the_script_is_refused_before_it_runs() {
    let text = "open('ran', 'w').write('x')\n";
    let Some((mut agent, _venv)) = agent_with_script("upgrade_post.py", text, false).await else {
        return;
    };
    let r = agent.run("post", 1, script("upgrade_post.py", None)).await;
    let f = r.result.failure().expect("no mysql.connector");
    assert!(f.has_code(FailureCode::WithoutModule), "{f}");
    assert!(
        f.message
            .contains("Please check if Python module 'mysql.connector' is installed"),
        "{f}"
    );
    assert!(
        !agent.real(RPM_DIR).join("ran").exists(),
        "the script never ran"
    );
    let r = agent
        .run("check", 1, Work::CheckPython(CheckPython { script: None }))
        .await;
    assert!(
        r.result
            .failure()
            .unwrap()
            .has_code(FailureCode::WithoutModule)
    );
    // The facts behind the orchestrator's request-time check name the
    // configured interpreter alone: one on PATH with the module would not
    // be the one the scripts run in.
    let facts = agent.client.facts().await.unwrap();
    let pythons: Vec<(bool, bool)> = facts
        .pythons
        .iter()
        .map(|p| (p.path.ends_with("bin/python3"), p.mysql_connector))
        .collect();
    assert_eq!(pythons, [(true, false)], "{:?}", facts.pythons);
}

#[tokio::test]
async fn cancel_stops_a_long_script_with_sigterm_then_sigkill() {
    // Ignores SIGTERM: only the SIGKILL after the grace period ends it.
    let text = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.stdout.write('ignoring SIGTERM\\n'))\nprint('started', flush=True)\ntime.sleep(600)\n";
    let Some((mut agent, _venv)) = agent_with_script("upgrade_pre.py", text, true).await else {
        return;
    };
    let spec = spec("pre", 1, script("upgrade_pre.py", None));
    let mut events = agent.client.run(&spec).await.unwrap();
    // Wait for the script to be running.
    loop {
        match events.next().await.unwrap().unwrap() {
            obup_agent::domain::Event::Log(l) if l.line == "started" => break,
            _ => {}
        }
    }
    let key = OpKey::new("pre", 1).unwrap();
    let started = std::time::Instant::now();
    let status = agent.client.cancel(&key).await.unwrap();
    assert_eq!(status, obup_agent::domain::CancelStatus::Cancelling);
    let mut result = None;
    let mut lines = Vec::new();
    while let Some(e) = events.next().await {
        match e.unwrap() {
            obup_agent::domain::Event::Result(r) => result = Some(r),
            obup_agent::domain::Event::Log(l) => lines.push(l.line),
            _ => {}
        }
    }
    let result = result.expect("the stream ends with the result");
    let f = result.failure().expect("cancelled");
    assert!(f.has_code(FailureCode::Cancelled), "{f}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "{took:?}"
    );
    assert!(lines.iter().any(|l| l == "ignoring SIGTERM"), "{lines:?}");
    // Cancelling a finished operation changes nothing.
    assert_eq!(
        agent.client.cancel(&key).await.unwrap(),
        obup_agent::domain::CancelStatus::Finished
    );
}
