//! What makes an uploaded RPM an acceptable OceanBase package.
//!
//! These rules are facts about the package alone. Whether it fits a given
//! cluster (edition, current version) is decided by the layers that know the
//! cluster; this service records what they need for that (dep YAML, scripts).

use std::cmp::Ordering;

use obup_rpm::PackageHeader;

use super::{Release, compare_versions};
use crate::Error;

/// Where OceanBase packages install.
const HOME: &str = "/home/admin/oceanbase";
/// Oldest OceanBase version obshell can upgrade (`SUPPORT_MIN_VERSION`).
const MIN_VERSION: &str = "4.2.0.0";
/// Path of the upgrade dependency file inside a server package.
pub const DEP_YAML: &str = "/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml";
/// Scripts the upgrade runs from a server package's `etc/`.
pub const UPGRADE_SCRIPTS: [&str; 4] = [
    "upgrade_checker.py",
    "upgrade_pre.py",
    "upgrade_health_checker.py",
    "upgrade_post.py",
];

/// Every package name obshell accepts on upload, in any edition.
const KNOWN: [&str; 6] = [
    "oceanbase-ce",
    "oceanbase-ce-libs",
    "oceanbase",
    "oceanbase-standalone",
    "obshell",
    "oceanbase-diagnostic-tool",
];

/// The upload rules of obshell's `CheckUpgradePkg`, without the checks that
/// need a cluster.
#[derive(Debug, Clone, Copy, Default)]
pub struct PackageRules;

impl PackageRules {
    /// Checks name, release, version and required files; returns the parsed
    /// release on success.
    pub fn check(&self, h: &PackageHeader) -> Result<Release, Error> {
        if !KNOWN.contains(&h.name.as_str()) {
            return Err(Error::NameNotSupported {
                name: h.name.clone(),
                supported: KNOWN.join(", "),
            });
        }
        let release =
            Release::parse(&h.release).ok_or_else(|| Error::ReleaseFormat(h.release.clone()))?;
        // The diagnostic tool has its own versioning; obshell checks nothing
        // else about it.
        if h.name == "oceanbase-diagnostic-tool" {
            return Ok(release);
        }
        if compare_versions(&h.version, MIN_VERSION) == Ordering::Less {
            return Err(Error::VersionTooOld(h.version.clone()));
        }
        let missing = missing_files(h);
        if !missing.is_empty() {
            return Err(Error::MissingFiles {
                name: h.name.clone(),
                files: missing,
            });
        }
        Ok(release)
    }
}

/// Every file a package of some name may be required to hold.
pub const REQUIRED_FILES: [&str; 2] = [
    "/home/admin/oceanbase/bin/observer",
    "/home/admin/oceanbase/bin/obshell",
];

/// The files (not directories) a package named `name` must hold.
pub fn required_files(name: &str) -> &'static [&'static str] {
    let [observer, obshell] = &REQUIRED_FILES;
    match name {
        "obshell" => std::slice::from_ref(obshell),
        "oceanbase" => std::slice::from_ref(observer),
        "oceanbase-ce" | "oceanbase-standalone" => &REQUIRED_FILES,
        _ => &[],
    }
}

/// Required paths (from the header file list) that the package lacks.
fn missing_files(h: &PackageHeader) -> Vec<String> {
    let dirs: Vec<String> = match h.name.as_str() {
        "oceanbase-ce-libs" => vec![format!("{HOME}/lib")],
        _ => vec![],
    };
    let mut missing: Vec<String> = required_files(&h.name)
        .iter()
        .filter(|p| h.file(p).is_none_or(|f| f.is_dir()))
        .map(|p| (*p).to_owned())
        .collect();
    missing.extend(
        dirs.into_iter()
            .filter(|p| !h.file(p).is_some_and(|f| f.is_dir())),
    );
    missing
}

#[cfg(test)]
mod tests {
    use obup_rpm::FileInfo;

    use super::*;

    fn header(name: &str, version: &str, release: &str, files: &[(&str, u16)]) -> PackageHeader {
        PackageHeader {
            name: name.into(),
            version: version.into(),
            release: release.into(),
            arch: "x86_64".into(),
            files: files
                .iter()
                .map(|(p, mode)| FileInfo {
                    path: (*p).into(),
                    mode: *mode,
                    size: 1,
                })
                .collect(),
            ..Default::default()
        }
    }

    fn check(h: &PackageHeader) -> Result<Release, Error> {
        PackageRules.check(h)
    }

    const FILE: u16 = 0o100755;
    const DIR: u16 = 0o040755;

    #[test]
    fn accepts_a_complete_ce_package() {
        let h = header(
            "oceanbase-ce",
            "4.3.5.0",
            "100000202024123117.el7",
            &[
                ("/home/admin/oceanbase/bin/observer", FILE),
                ("/home/admin/oceanbase/bin/obshell", FILE),
            ],
        );
        assert_eq!(check(&h).unwrap().build, "100000202024123117");
    }

    #[test]
    fn refuses_unknown_names_too_old_versions_and_bad_releases() {
        let e = check(&header("mysql", "8.0", "1.el7", &[])).unwrap_err();
        assert!(matches!(e, Error::NameNotSupported { .. }), "{e}");
        let e = check(&header("obshell", "4.1.0.0", "1.el7", &[])).unwrap_err();
        assert!(matches!(e, Error::VersionTooOld(_)), "{e}");
        let e = check(&header("obshell", "4.2.1.0", "1", &[])).unwrap_err();
        assert!(matches!(e, Error::ReleaseFormat(_)), "{e}");
    }

    #[test]
    fn lists_every_missing_file() {
        let h = header(
            "oceanbase-ce",
            "4.3.5.0",
            "1.el7",
            &[("/home/admin/oceanbase/bin/obshell", DIR)],
        );
        match check(&h).unwrap_err() {
            Error::MissingFiles { files, .. } => assert_eq!(
                files,
                [
                    "/home/admin/oceanbase/bin/observer",
                    "/home/admin/oceanbase/bin/obshell"
                ]
            ),
            e => panic!("{e}"),
        }
        let libs = header(
            "oceanbase-ce-libs",
            "4.3.5.0",
            "1.el7",
            &[("/home/admin/oceanbase/lib", FILE)],
        );
        assert!(matches!(check(&libs), Err(Error::MissingFiles { .. })));
    }

    #[test]
    fn diagnostic_tool_is_not_version_checked() {
        let h = header("oceanbase-diagnostic-tool", "3.0.0", "1.el7", &[]);
        assert!(check(&h).is_ok());
    }
}
