//! The real `obup` binary, driven as a user would: `obup dev`, then
//! `obup upload` against it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use obup_test_support::{Compression, RpmSpec};

const OBUP: &str = env!("CARGO_BIN_EXE_obup");

/// `obup dev` on a free port, killed when dropped.
struct DevServer {
    child: Child,
    url: String,
    /// Kept open: the server's stdout stays a live pipe.
    _stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
    _dir: tempfile::TempDir,
}

impl DevServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(OBUP)
            .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.next().expect("obup dev printed its address").unwrap();
        let url = ready
            .strip_prefix("obup dev listening on ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
            .to_owned();
        Self {
            child,
            url,
            _stdout: lines,
            _dir: dir,
        }
    }

    fn upload(&self, args: &[&str]) -> std::process::Output {
        Command::new(OBUP)
            .args(["upload", "--server", &self.url])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dev_mode_accepts_uploads_from_the_cli() {
    let server = DevServer::start();
    let dir = tempfile::tempdir().unwrap();
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

    let out = server.upload(&["--json", xz.to_str().unwrap(), zstd.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let again = server.upload(&["--json", xz.to_str().unwrap()]);
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again[0]["pkg_id"], records[0]["pkg_id"]);
}

#[test]
fn bad_uploads_fail_with_the_error_code() {
    let server = DevServer::start();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-package.rpm");
    std::fs::write(&bad, b"hello, this is not an rpm").unwrap();
    let out = server.upload(&[bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Package.NotRpm"), "{stderr}");

    let out = server.upload(&[dir.path().join("missing.rpm").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
}
