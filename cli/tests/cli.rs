//! The real `obup` binary, driven as a user would, against `obup dev`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{DevServer, OBUP, stderr, stdout};
use obup_test_support::{Compression, RpmSpec};

const TARGET: [&str; 4] = [
    "--version",
    "4.3.5.0",
    "--release",
    "100000202024123117.el7",
];

#[test]
fn dev_mode_accepts_uploads_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(&dir.path().join("data"), &[] as &[&str]);
    let xz = dir.path().join("oceanbase-ce-4.3.5.0-1.el7.x86_64.rpm");
    std::fs::write(&xz, RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").build()).unwrap();
    let zstd = dir
        .path()
        .join("oceanbase-ce-libs-4.3.5.0-1.el7.x86_64.rpm");
    std::fs::write(
        &zstd,
        RpmSpec::oceanbase_ce_libs("4.3.5.0", "1.el7")
            .compression(Compression::Zstd)
            .build(),
    )
    .unwrap();

    let out = server.obup(&[
        "upload",
        "--json",
        xz.to_str().unwrap(),
        zstd.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["name"], "oceanbase-ce");
    assert_eq!(records[0]["release"], "1");
    assert_eq!(records[0]["distribution"], "el7");
    assert_eq!(records[0]["has_upgrade_dep_yaml"], true);
    assert_eq!(records[1]["name"], "oceanbase-ce-libs");
    assert_eq!(records[1]["payload_compressor"], "zstd");

    // The same bytes again: the same package.
    let again = server.obup(&["upload", "--json", xz.to_str().unwrap()]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again[0]["pkg_id"], records[0]["pkg_id"]);

    // Listing, filtering and deleting.
    let listed = server.obup(&["packages", "--json", "--name", "oceanbase-ce-libs"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let table = stdout(&server.obup(&["packages"]));
    assert!(
        table.contains("oceanbase-ce-libs") && table.contains("1.el7"),
        "{table}"
    );
    let id = listed[0]["pkg_id"].to_string();
    assert!(server.obup(&["packages", "rm", &id]).status.success());
    let gone = server.obup(&["packages", "rm", &id]);
    assert!(!gone.status.success());
    assert!(stderr(&gone).contains("does not exist"));
}

/// `obup dev --tls` keeps the quickstart: the CLI on the same machine finds
/// the development CA beside the token, so `--server https://...` is the
/// only change; elsewhere it says what is missing.
#[test]
fn dev_mode_over_tls_needs_only_the_https_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(&dir.path().join("data"), &["--tls"]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let rpm = dir.path().join("oceanbase-ce-4.3.5.0-1.el7.x86_64.rpm");
    std::fs::write(&rpm, RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").build()).unwrap();
    let out = server.obup(&["upload", "--json", rpm.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&server.obup(&["packages"]));
    assert!(table.contains("oceanbase-ce"), "{table}");
    let health = server.obup(&["health"]);
    assert!(health.status.success(), "{}", stderr(&health));

    // Another user (no CA and no token of this server): refused, saying why.
    let elsewhere = dir.path().join("elsewhere");
    let out = server
        .command(&["packages"])
        .env("OBUP_TOKEN_DIR", &elsewhere)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot connect"), "{err}");
    // With the CA given, the missing token is what it says.
    let ca = dir.path().join("data/tls/ca.pem");
    let out = server
        .command(&["packages", "--ca-file", ca.to_str().unwrap()])
        .env("OBUP_TOKEN_DIR", &elsewhere)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Auth.Token.Missing"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_uploads_fail_with_the_error_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(&dir.path().join("data"), &[] as &[&str]);
    let bad = dir.path().join("not-a-package.rpm");
    std::fs::write(&bad, b"hello, this is not an rpm").unwrap();
    let out = server.obup(&["upload", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Package.NotRpm"), "{}", stderr(&out));

    let out = server.obup(&["upload", dir.path().join("missing.rpm").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot open"));
}

/// A zstd package of `mib` MiB of noise (it does not compress).
fn noise_package(mib: usize) -> Vec<u8> {
    let mut noise = vec![0u8; mib << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    RpmSpec::oceanbase_ce("4.3.5.0", "1.el7")
        .compression(Compression::Zstd)
        .file("/home/admin/oceanbase/lib/big.so", noise)
        .build()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn an_upload_killed_midway_resumes_when_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(&dir.path().join("data"), &[] as &[&str]);
    // 24 MiB sent at 8 MiB/s: about 3 s.
    let bytes = noise_package(24);
    let file = dir.path().join("big.rpm");
    std::fs::write(&file, &bytes).unwrap();

    let mut first = server
        .command(&["upload", "--limit-rate", "8388608"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    first.kill().unwrap();
    first.wait().unwrap();

    let second = server.obup(&["upload", "--json", file.to_str().unwrap()]);
    let err = stderr(&second);
    assert!(second.status.success(), "{err}");
    assert!(err.contains("resuming at"), "{err}");
    // The SHA-256 of the bytes the server had came from a state saved while
    // they were read, not from reading them again.
    assert!(!err.contains("no saved SHA-256 state"), "{err}");
    let record: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(record[0]["sha256"], sha256_hex(&bytes));
    let partial = server.cache.join("obup/partial");
    let left: Vec<_> = std::fs::read_dir(&partial).unwrap().collect();
    assert!(
        left.is_empty(),
        "checkpoints removed after the upload: {left:?}"
    );
}

#[test]
fn a_file_uploaded_before_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(&dir.path().join("data"), &[] as &[&str]);
    let bytes = noise_package(24);
    let file = dir.path().join("big.rpm");
    std::fs::write(&file, &bytes).unwrap();
    let first = server.obup(&["upload", "--json", file.to_str().unwrap()]);
    assert!(first.status.success(), "{}", stderr(&first));
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();

    // At 1 MiB/s, sending the 24 MiB again would take 24 s.
    let began = std::time::Instant::now();
    let again = server.obup(&[
        "upload",
        "--json",
        "--limit-rate",
        "1048576",
        file.to_str().unwrap(),
    ]);
    let took = began.elapsed();
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already stored, nothing sent"),
        "{}",
        stderr(&again)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again[0]["pkg_id"], first[0]["pkg_id"]);

    // The same bytes under another name: not in the client's cache, so
    // they are sent, and the server finds them stored when it commits.
    let copy = dir.path().join("copy.rpm");
    std::fs::copy(&file, &copy).unwrap();
    let third = server.obup(&["upload", "--json", copy.to_str().unwrap()]);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(
        !stderr(&third).contains("nothing sent"),
        "{}",
        stderr(&third)
    );
    let third: serde_json::Value = serde_json::from_slice(&third.stdout).unwrap();
    assert_eq!(third[0]["pkg_id"], first[0]["pkg_id"]);
    let listed = server.obup(&["packages", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Found by its SHA-256.
    let sha = sha256_hex(&bytes);
    let by_sha = server.obup(&["packages", "--json", "--sha256", &sha]);
    let by_sha: serde_json::Value = serde_json::from_slice(&by_sha.stdout).unwrap();
    assert_eq!(by_sha[0]["pkg_id"], first[0]["pkg_id"]);
}

#[test]
fn an_upgrade_runs_from_the_cli_and_reports_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let mut flags = common::demo_flags(&common::random_prefix());
    flags.extend(["--demo-fail".into(), "start_zone@2".into()]);
    let server = DevServer::start(&dir.path().join("data"), &flags);

    let plan = server.obup(&[&["upgrade", "plan"][..], &TARGET].concat());
    assert!(plan.status.success(), "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains("route (1 hop)") && text.contains("(28 stages)"),
        "{text}"
    );
    let json = server.obup(&[&["upgrade", "plan", "--json"][..], &TARGET].concat());
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["stages"].as_array().unwrap().len(), 28);

    let check = server.obup(&[&["upgrade", "check", "--watch"][..], &TARGET].concat());
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(stdout(&check).contains("SUCCEED"));

    // The injected failure makes the watched upgrade fail: exit non-zero.
    let start = server.obup(&[&["upgrade", "start", "--watch"][..], &TARGET].concat());
    assert!(!start.status.success());
    assert!(
        stderr(&start).contains("ended FAILED"),
        "{}",
        stderr(&start)
    );
    assert!(
        stdout(&start).contains("Start zone2"),
        "plain event lines when not a terminal"
    );

    let ls = stdout(&server.obup(&["dag", "ls", "--unfinished"]));
    assert!(
        ls.contains("FAILED") && ls.contains("OB rolling upgrade"),
        "{ls}"
    );
    let id = ls.split_whitespace().next().unwrap().to_owned();
    let show = server.obup(&["dag", "show", &id, "--json"]);
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(show["state"], "FAILED");

    let rollback = server.obup(&["dag", "rollback", &id]);
    assert!(!rollback.status.success());
    assert!(stderr(&rollback).contains("Task.Dag.Operator.RollbackNotAllowed"));
    assert!(server.obup(&["dag", "retry", &id]).status.success());
    let watched = server.obup(&["dag", "watch", &id]);
    assert!(watched.status.success(), "{}", stderr(&watched));
    assert!(stdout(&watched).contains("SUCCEED"));
    let maintenance = stdout(&server.obup(&["dag", "ls", "--maintenance"]));
    assert!(maintenance.contains("SUCCEED"), "{maintenance}");
}

#[test]
fn help_and_completions() {
    let help = Command::new(OBUP)
        .args(["upgrade", "start", "--help"])
        .output()
        .unwrap();
    assert!(stdout(&help).contains("Example: obup upgrade start"));
    let bash = Command::new(OBUP)
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(stdout(&bash).contains("_obup"));
}

#[test]
fn the_audit_trail_is_printed_and_followed() {
    use std::io::BufRead;

    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(&dir.path().join("data"), &[] as &[&str]);
    let rpm = dir.path().join("oceanbase-ce-4.3.5.0-1.el7.x86_64.rpm");
    std::fs::write(&rpm, RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").build()).unwrap();
    assert!(
        server
            .obup(&["upload", rpm.to_str().unwrap()])
            .status
            .success()
    );
    let made = server.obup(&["token", "create", "--name", "ci", "--role", "viewer"]);
    assert!(made.status.success(), "{}", stderr(&made));

    // Both journals, merged by time, one event per line.
    let out = server.obup(&["audit"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let upload = text
        .lines()
        .position(|l| {
            l.contains("package-store")
                && l.contains(" Upload ")
                && l.contains("(oceanbase-ce 4.3.5.0)")
        })
        .unwrap_or_else(|| panic!("no upload in:\n{text}"));
    let token = text
        .lines()
        .position(|l| {
            l.contains("orchestrator")
                && l.contains("CreateToken")
                && l.contains("token ci (viewer)")
        })
        .unwrap_or_else(|| panic!("no token in:\n{text}"));
    assert!(upload < token, "by time:\n{text}");
    assert!(
        text.lines()
            .all(|l| l.contains("dev-admin (admin, token)") && l.contains(" OK ")),
        "{text}"
    );
    let json = server.obup(&["audit", "--json", "--limit", "1"]);
    let rows: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "--limit 1");
    assert_eq!(rows[0]["method"], "CreateToken");

    // --follow prints what happens after it started.
    let mut follower = server
        .command(&["audit", "--follow", "--json", "--limit", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Only what is recorded after its first read is new to it: wait for it.
    // (The pipe stays open until the end: a closed stderr would fail it.)
    let mut ready = String::new();
    let mut errors = std::io::BufReader::new(follower.stderr.take().unwrap());
    errors.read_line(&mut ready).unwrap();
    assert!(ready.starts_with("following new events"), "{ready:?}");
    let lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let refused = server
        .command(&["token", "rm", "ci"])
        .env(
            "OBUP_TOKEN",
            "obup_notatokenatallnotatokenatallnotatokenatall00",
        )
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let revoked = server.obup(&["token", "rm", "ci"]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|v: &serde_json::Value| v["method"] == "RevokeToken" && v["result"] == "OK")
    {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("--follow printed no revocation; got {seen:?}"));
        seen.push(serde_json::from_str(&line).unwrap());
    }
    let _ = follower.kill();
    let _ = follower.wait();
    drop(errors);
    assert_eq!(seen.len(), 2, "the refusal, then the revocation: {seen:?}");
    assert_eq!(seen[0]["result"], "Auth.Token.Invalid", "{seen:?}");
    assert_eq!(seen[0]["actor"], "anonymous");
}
