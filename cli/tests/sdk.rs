//! Acceptance by the official obshell Python SDK (`obshell==0.0.9` from
//! PyPI, unmodified) against `obup dev`: uploads of xz and zstd packages,
//! the check DAG, rolling and stop-service upgrades, every operator as
//! `operate_dag_sync` expects it, a wrong password and a missing package.
//! The scenarios are in `tests/sdk/acceptance.py`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::DevServer;
use obup_test_support::{Compression, OB_HOME, RpmSpec};

const SDK: &str = "obshell==0.0.9";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/sdk/acceptance.py");
const PASSWORD: &str = "Sys@obup-1";

/// A virtualenv with the SDK, made once per target dir and reused.
fn python() -> PathBuf {
    common::venv_python("obup-sdk-venv-0.0.9", SDK)
}

/// Target 4.3.5.0 (xz) and its libs (zstd), plus the 4.2.2.0 barrier the
/// dep YAML routes through.
fn packages(dir: &Path) -> Vec<PathBuf> {
    let dep = format!("{OB_HOME}/etc/oceanbase_upgrade_dep.yml");
    let yaml = "- version: 4.2.1.0\n  can_be_upgraded_to: [4.2.2.0]\n\
                - version: 4.2.2.0\n  can_be_upgraded_to: [4.3.5.0]\n  require_from_binary: true\n\
                - version: 4.3.5.0\n  can_be_upgraded_to: []\n";
    let specs = [
        RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7")
            .without(&dep)
            .file(&dep, yaml.as_bytes().to_vec())
            .compression(Compression::Xz),
        RpmSpec::oceanbase_ce_libs("4.3.5.0", "100000202024123117.el7")
            .compression(Compression::Zstd),
        RpmSpec::oceanbase_ce("4.2.2.0", "100000082024012216.el7").compression(Compression::Xz),
        RpmSpec::oceanbase_ce_libs("4.2.2.0", "100000082024012216.el7")
            .compression(Compression::Zstd),
    ];
    specs
        .iter()
        .map(|s| {
            let path = dir.join(s.file_name());
            std::fs::write(&path, s.build()).unwrap();
            path
        })
        .collect()
}

/// What happens to the stored packages before a scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// The scenario uploads them through the SDK.
    SdkUploads,
    /// The CLI uploads them, then the target server package's stored bytes
    /// are damaged (one byte flipped, as bit rot would): every DAG fails at
    /// "Download all required packages", where it can be rolled back,
    /// cancelled or passed.
    Damaged,
}

fn run(scenario: &str, flags: &[&str], before: Before) {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let rpms = packages(dir.path());
    let mut args: Vec<String> = common::demo_flags(&common::random_prefix());
    // From a file: a flag value would be in the process list.
    let password_file = dir.path().join("root-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    args.extend([
        "--demo-no-packages".into(),
        "--root-password-file".into(),
        password_file.display().to_string(),
    ]);
    args.extend(flags.iter().map(|f| f.to_string()));
    let data = dir.path().join("data");
    let server = DevServer::start(&data, &args);
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let mut scenario_rpms = rpms.clone();
    if before == Before::Damaged {
        let up = server.obup(
            &[
                vec!["upload".to_owned()],
                rpms.iter().map(|p| p.display().to_string()).collect(),
            ]
            .concat()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        );
        assert!(up.status.success(), "{}", common::stderr(&up));
        let target = std::fs::read(&rpms[0]).unwrap();
        let stored = obup_test_support::files_under(&data.join("objects/packages"))
            .into_iter()
            .map(|f| data.join("objects/packages").join(f))
            .find(|f| std::fs::read(f).is_ok_and(|b| b == target))
            .expect("the target package is stored");
        let mut bytes = target;
        let n = bytes.len();
        bytes[n - 50] ^= 0xff;
        std::fs::write(stored, bytes).unwrap();
        scenario_rpms.clear();
    }
    let out = Command::new(python)
        .arg(SCRIPT)
        .args([scenario, &port, PASSWORD])
        .args(&scenario_rpms)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("done"),
        "{scenario}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sdk_uploads_checks_and_upgrades() {
    run("happy", &[], Before::SdkUploads);
}

/// The sys tenant refuses the first parameter restore statement once: the
/// upgrade fails at its last SQL stage, and RETRY finishes it.
#[test]
fn sdk_retries_a_failed_stop_service_upgrade() {
    run(
        "stop_service_retry",
        &["--demo-fail", "set_parameter_on_server@1"],
        Before::SdkUploads,
    );
}

#[test]
fn sdk_rolls_back_cancels_and_passes() {
    run("rollback_cancel_pass", &[], Before::Damaged);
}

#[test]
fn rest_paths_without_an_sdk_method() {
    run("rest", &[], Before::SdkUploads);
}
