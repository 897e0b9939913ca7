//! `observer -V`, run as obshell runs it before an install
//! (`upgrade_pkg_install.go`): with `LD_LIBRARY_PATH=<home>/lib`. A real
//! observer prints its version block on stderr and exits 0 (format:
//! real-driver.md §0, parsed by `obup_types::ObserverVersion`).

use std::path::Path;
use std::time::Duration;

use obup_types::ObserverVersion;

use crate::domain::{ExpectedBuild, FailureCode, ObserverBuild, OpFailure};

/// `-V` prints and exits at once; a binary that hangs is broken.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What `<home>/bin/observer -V` reports.
pub async fn version(home: &Path) -> Result<ObserverVersion, OpFailure> {
    let observer = home.join("bin/observer");
    let invalid = |why: String| OpFailure::new(FailureCode::BinaryInvalid, why);
    let run = tokio::process::Command::new(&observer)
        .arg("-V")
        .env("LD_LIBRARY_PATH", home.join("lib"))
        .current_dir(home)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(TIMEOUT, run).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(invalid(format!(
                "cannot run {} -V: {e}",
                observer.display()
            )));
        }
        Err(_) => {
            return Err(invalid(format!(
                "{} -V did not finish within {}s",
                observer.display(),
                TIMEOUT.as_secs()
            )));
        }
    };
    // The block is on stderr; read both, as a wrapper may print to stdout.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    if !out.status.success() {
        return Err(invalid(format!(
            "{} -V exited with {}: {}",
            observer.display(),
            out.status,
            tail(&text)
        )));
    }
    ObserverVersion::parse(&text).map_err(|e| {
        invalid(format!(
            "{} -V printed no version block ({e}): {}",
            observer.display(),
            tail(&text)
        ))
    })
}

/// Checks a reported build against what the work item expects.
pub fn check_expected(build: &ObserverBuild, expect: &ExpectedBuild) -> Result<(), OpFailure> {
    let version_ok = expect.version.as_ref().is_none_or(|v| *v == build.version);
    let build_ok = expect.build.as_ref().is_none_or(|b| *b == build.build);
    if version_ok && build_ok {
        return Ok(());
    }
    Err(OpFailure::new(
        FailureCode::BinaryVersionUnexpected,
        format!(
            "the observer reports {}-{}, expected {}-{}",
            build.version,
            build.build,
            expect.version.as_deref().unwrap_or("*"),
            expect.build.as_deref().unwrap_or("*")
        ),
    ))
}

/// The last 1 KiB of `text`, for error messages.
fn tail(text: &str) -> &str {
    let text = text.trim();
    let mut start = text.len().saturating_sub(1024);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
