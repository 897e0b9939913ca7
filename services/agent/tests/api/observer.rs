//! The stand-in observer (it daemonizes and writes `run/observer.pid`, as
//! a real one does) stopped and started through the agent.

use obup_agent::domain::{ExpectedBuild, FailureCode, OpOutput, StartObserver, StartOutput, Work};
use obup_agent::host::process;

use crate::helpers::*;

fn start(version: Option<&str>) -> Work {
    Work::StartObserver(StartObserver {
        expect: ExpectedBuild {
            version: version.map(str::to_owned),
            build: None,
        },
    })
}

async fn started(agent: &mut TestAgent, op: &str, version: Option<&str>) -> StartOutput {
    let r = agent.run(op, 1, start(version)).await;
    match r.result.output() {
        Some(OpOutput::StartObserver(s)) => s.clone(),
        _ => panic!("{op}: {:?}", r.result),
    }
}

#[tokio::test]
async fn stop_kills_the_observer_and_start_brings_up_a_new_one_in_its_home() {
    let mut agent = TestAgent::start().await;
    let home = agent.home();
    install_standin(&home, "4.2.1.0", "100000102023092807");

    let first = started(&mut agent, "start-1", Some("4.2.1.0")).await;
    assert!(!first.already_running);
    assert_eq!(first.build.build, "100000102023092807");
    assert!(process::alive(first.pid) && process::runs_in(first.pid, &home));
    assert_eq!(process::observer_pid(&home), Some(first.pid));

    // Starting again reports the running one instead of a second server.
    let again = started(&mut agent, "start-2", None).await;
    assert_eq!((again.pid, again.already_running), (first.pid, true));

    let r = agent.run("stop-1", 1, Work::StopObserver).await;
    let Some(OpOutput::StopObserver(stop)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!(stop.killed_pid, Some(first.pid));
    assert!(
        !process::alive(first.pid),
        "a killed observer is gone (or a zombie)"
    );
    assert!(stop.kill_time_ms >= first.start_time_ms);
    assert!(
        r.lines.iter().any(|l| l.line.contains("SIGKILL")),
        "{:?}",
        r.lines
    );

    // Nothing to stop now.
    let r = agent.run("stop-2", 1, Work::StopObserver).await;
    let Some(OpOutput::StopObserver(none)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!(none.killed_pid, None);

    // The new binary is installed, then started: a new pid, in the home,
    // reporting the new build, started after the kill.
    install_standin(&home, "4.3.5.0", "100000202024123117");
    let second = started(&mut agent, "start-3", Some("4.3.5.0")).await;
    assert_ne!(second.pid, first.pid);
    assert!(process::runs_in(second.pid, &home));
    assert_eq!(second.build.version, "4.3.5.0");
    assert!(
        second.start_time_ms >= stop.kill_time_ms - 1000,
        "{second:?} vs {stop:?}"
    );

    // A build other than the expected one is a failure with its code.
    let r = agent.run("start-4", 1, start(Some("4.4.0.0"))).await;
    let f = r.result.failure().expect("unexpected version");
    assert!(f.has_code(FailureCode::BinaryVersionUnexpected), "{f}");

    assert!(
        agent
            .run("stop-3", 1, Work::StopObserver)
            .await
            .result
            .is_success()
    );
}

/// An observer that listens on the SQL port: the stop returns once the
/// process is gone and the port is free to bind again.
#[tokio::test]
async fn a_stop_waits_for_the_ports_to_be_released() {
    if obup_agent::host::python::find("python3").is_none() {
        eprintln!("no python3; skipped");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut agent = TestAgent::start_with(|c| c.sql_port = port).await;
    let home = agent.home();
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::create_dir_all(home.join("run")).unwrap();
    // A daemon in the home that writes its pid file and listens.
    let server = format!(
        "import os, socket, time\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {port})); s.listen(8)\n\
         open('run/observer.pid', 'w').write(str(os.getpid()))\n\
         while os.path.isdir('run'): time.sleep(0.2)\n"
    );
    std::fs::write(home.join("server.py"), server).unwrap();
    let child = std::process::Command::new("python3")
        .arg("server.py")
        .current_dir(&home)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    eventually("the listener", 10, || {
        process::observer_pid(&home) == Some(pid)
    })
    .await;
    assert_eq!(obup_agent::host::ports::held_by(pid, &[port]), vec![port]);

    let r = agent.run("stop", 1, Work::StopObserver).await;
    let Some(OpOutput::StopObserver(stop)) = r.result.output() else {
        panic!("{:?}", r.result)
    };
    assert_eq!(stop.killed_pid, Some(pid));
    assert!(obup_agent::host::ports::held_by(pid, &[port]).is_empty());
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
    drop(child);
}

#[tokio::test]
async fn facts_describe_the_host_and_its_observer() {
    let mut agent = TestAgent::start_with(|c| c.svr_ip = "127.0.0.9".into()).await;
    install_standin(&agent.home(), "4.2.1.0", "100000102023092807");
    let started = started(&mut agent, "start", None).await;
    let facts = agent.client.facts().await.unwrap();
    // Rust names x86_64 and aarch64 as RPM does.
    assert_eq!(facts.architecture, std::env::consts::ARCH);
    assert!(facts.cpu_count >= 1 && facts.memory_total_bytes > 0);
    assert!(!facts.hostname.is_empty() && !facts.ips.is_empty());
    assert_eq!(facts.home.path, HOME);
    assert!(facts.home.exists && facts.home.free_bytes > 0);
    assert_eq!(
        (facts.upgrade_dir.path.as_str(), facts.upgrade_dir.exists),
        (UPGRADE, false)
    );
    assert!(
        facts.upgrade_dir.total_bytes > 0,
        "the filesystem of its nearest ancestor"
    );
    assert_eq!(facts.observer.pid, Some(started.pid));
    assert_eq!(
        (
            facts.observer.svr_ip.as_str(),
            facts.observer.sql_port,
            facts.observer.rpc_port
        ),
        ("127.0.0.9", 2881, 2882)
    );
    let build = facts.observer.build.clone().unwrap();
    assert_eq!(
        (build.version.as_str(), build.build.as_str()),
        ("4.2.1.0", "100000102023092807")
    );
    assert!(!facts.agent_version.is_empty());
    assert!(
        agent
            .run("stop", 1, Work::StopObserver)
            .await
            .result
            .is_success()
    );
}
