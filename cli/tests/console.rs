//! The web console in a real browser: Debian's Chromium, driven by
//! Selenium (PyPI) through Debian's ChromeDriver, against `obup dev
//! --demo` with a failure injected into the upgrade. The scenario is in
//! `tests/console/drive.py`: sign in, upload by the page, plan, check,
//! start, watch it fail, retry from the page, watch it succeed, the other
//! pages, sign out, phone width; no console error anywhere. Screenshots
//! are kept under `<target>/obup-console-screenshots/`.

mod common;

use std::process::Command;

use common::DevServer;

const SELENIUM: &str = "selenium==4.50.0";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/console/drive.py");
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A free loopback port (bound, then released for `obup dev` to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_upgrade_runs_through_the_web_console_in_a_real_browser() {
    use std::io::{BufRead, Write};

    for needed in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(needed).exists(),
            "{needed} is missing: install Debian's chromium and chromium-driver (scripts/test does)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut packages = Vec::new();
    for spec in obup_cli::demo::ce_packages() {
        let path = dir.path().join(spec.file_name());
        std::fs::write(&path, spec.build()).unwrap();
        packages.push(path);
    }
    let mut flags = common::demo_flags(&common::random_prefix());
    flags.extend([
        "--demo-no-packages".into(),
        // Starting a zone takes 1.5 s: the retried upgrade runs long
        // enough for obup to be killed and restarted under the page.
        "--demo-delay".into(),
        "start_zone=1500".into(),
    ]);
    // The restarted obup runs without the fault: its count of executions
    // starts again, and the second "start zone" would fail once more.
    let restart_flags = flags.clone();
    flags.extend(["--demo-fail".into(), "start_zone@2".into()]);
    let data = dir.path().join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = DevServer::start_on(&listen, &data, &flags);
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, server.admin_token().secret()).unwrap();
    let viewer = server.obup(&[
        "token",
        "create",
        "--name",
        "console-viewer",
        "--role",
        "viewer",
    ]);
    assert!(viewer.status.success(), "{}", common::stderr(&viewer));
    let viewer_file = dir.path().join("viewer.token");
    std::fs::write(&viewer_file, common::stdout(&viewer).trim()).unwrap();
    let screenshots = common::target_dir().join("obup-console-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    std::fs::create_dir_all(&screenshots).unwrap();

    let mut drive = Command::new(common::venv_python("obup-console-venv-4.50.0", SELENIUM));
    drive
        .arg(SCRIPT)
        .args(["--url", &server.url])
        .arg("--token-file")
        .arg(&token_file)
        .arg("--screenshots")
        .arg(&screenshots)
        .args(["--version", obup_cli::demo::VERSION])
        .args(["--release", obup_cli::demo::RELEASE])
        .arg("--viewer-token-file")
        .arg(&viewer_file)
        .arg("--restart-on-request");
    for p in &packages {
        drive.arg("--package").arg(p);
    }
    let mut child = drive
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_script = child.stdin.take().unwrap();
    let mut restarts = 0;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        println!("{line}");
        // The script asks, mid-upgrade: SIGKILL obup and start it again on
        // the same address and data; the page must reconnect by itself.
        if line.trim() == "RESTART" {
            server.kill();
            server = DevServer::start_on(&listen, &data, &restart_flags);
            restarts += 1;
            writeln!(to_script, "restarted").unwrap();
            to_script.flush().unwrap();
        }
    }
    let status = child.wait().unwrap();
    println!("screenshots in {}", screenshots.display());
    assert!(
        status.success(),
        "the browser scenario failed (screenshots in {})",
        screenshots.display()
    );
    assert_eq!(restarts, 1, "the script asked for one restart of obup");
}
