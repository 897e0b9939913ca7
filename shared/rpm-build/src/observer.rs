//! obup's stand-in for OceanBase's `bin/observer`, for test packages and the
//! demo: a small bash program that behaves like the real binary from the
//! outside, so that whatever drives it (obsim, an agent, the tests) drives it
//! as it would drive a real observer.
//!
//! - `observer -V` (or `--version`) prints the real version block on stderr
//!   and exits 0 ([`ObserverVersion::render`]: OceanBase's `print_version`).
//! - Any other invocation daemonizes, as a real observer does when started
//!   as `cd <home>; LD_LIBRARY_PATH=<home>/lib <home>/bin/observer`
//!   (obshell's `start_obsvr.go`, real-driver.md §0 and §3.1): the command
//!   returns at once; the detached server takes the working directory as its
//!   home, writes `run/observer.pid` itself and lives until it is killed.
//!
//! What it does not do: serve anything (obsim answers SQL on its behalf), or
//! check for a second instance. One thing a real observer does not do: it
//! exits by itself within a second once its home's `run/` directory is
//! deleted, so that the temporary homes of tests never leave processes behind.

use obup_types::{Edition, ObserverVersion};
use sha2::{Digest, Sha256};

/// The version block a stand-in of `edition` `version` with build number
/// `build` prints. Fields a package does not determine are fixture values in
/// OceanBase's formats: the source commit is 40 hex digits derived from the
/// version and build; the build time is the date and hour that OceanBase
/// build numbers end with (`100000102023092807` was built on Sep 28 2023 at
/// 07:09:06), in C's `__DATE__ __TIME__` form, minutes and seconds zero.
pub fn standin_version(edition: Edition, version: &str, build: &str) -> ObserverVersion {
    let commit = hex::encode(Sha256::digest(format!("{version}-{build}")));
    ObserverVersion {
        executable: "observer".into(),
        product: edition.product().into(),
        version: version.into(),
        revision: format!("{build}-{}", &commit[..40]),
        branch: "HEAD".into(),
        build_time: build_time(build),
        flags: "RelWithDebInfo".into(),
        info: String::new(),
    }
}

/// `Sep 28 2023 07:00:00` from a build number ending in `2023092807`;
/// `Jan  1 2024 00:00:00` for one that does not.
fn build_time(build: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let start = build.len().checked_sub(10).filter(|_| build.is_ascii());
    let tail = start.map(|start| &build[start..]);
    let parsed = tail
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| {
            let (year, month, day, hour) = (
                &t[..4],
                t[4..6].parse::<usize>().ok()?,
                t[6..8].parse::<u32>().ok()?,
                t[8..10].parse::<u32>().ok()?,
            );
            let name = MONTHS.get(month.checked_sub(1)?)?;
            ((1..=31).contains(&day) && hour < 24)
                .then(|| format!("{name} {day:>2} {year} {hour:02}:00:00"))
        });
    parsed.unwrap_or_else(|| "Jan  1 2024 00:00:00".into())
}

/// The stand-in program for `version`.
pub fn observer_standin(version: &ObserverVersion) -> Vec<u8> {
    format!(
        r#"#!/bin/bash
# obup's stand-in for OceanBase's observer (obup-rpm-build: tests and the demo).
# -V prints the real version block on stderr; any other start daemonizes: the
# detached server keeps the working directory as its home, writes
# run/observer.pid and runs until killed, or until its run/ is deleted.
case "${{1-}}" in
-V | --version)
	cat >&2 <<'OBUP_OBSERVER_VERSION'
{block}OBUP_OBSERVER_VERSION
	exit 0
	;;
esac
mkdir -p run log || exit 1
setsid /bin/bash -c '
	echo $$ >run/observer.pid.tmp && mv -f run/observer.pid.tmp run/observer.pid
	while [ -d "$1/run" ]; do sleep 1; done
' observer "$PWD" </dev/null >>log/observer.log 2>&1 &
exit 0
"#,
        block = version.render()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_time_comes_from_the_build_number() {
        assert_eq!(build_time("100000102023092807"), "Sep 28 2023 07:00:00");
        assert_eq!(build_time("100000202024010117"), "Jan  1 2024 17:00:00");
        assert_eq!(build_time("1"), "Jan  1 2024 00:00:00");
        assert_eq!(build_time("100000102023139907"), "Jan  1 2024 00:00:00");
    }

    #[test]
    fn the_standin_reads_back_as_what_it_stands_for() {
        let v = standin_version(Edition::Business, "4.3.5.0", "100000202024123117");
        assert_eq!(v.edition(), Some(Edition::Business));
        assert_eq!(v.version_build(), "4.3.5.0-100000202024123117");
        assert_eq!(v.revision.len(), "100000202024123117".len() + 41);
    }
}
