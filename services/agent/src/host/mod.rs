//! The host the agent runs on: its registered observer home and upgrade
//! dir, where host paths really are (under `--root`), and the rule that
//! every path an operation touches lies under those two (obshell's
//! `Common.InvalidPath`), symlinks included.
//!
//! # Layout
//! - `process`: the observer process (pid file, liveness, cwd, start time).
//! - `ports`: listening sockets from `/proc/net/tcp*`, matched to a pid.
//! - `binary`: `observer -V`.
//! - `python`: finding interpreters and what they can import.
//! - `disk`: free space (statvfs).

pub mod binary;
pub mod disk;
pub mod ports;
pub mod process;
pub mod python;

use std::io;
use std::path::{Path, PathBuf};

use crate::domain::HostPath;

/// Where a path may lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The home or the upgrade dir, or below either.
    Registered,
    /// The upgrade dir itself or below it: what `PrepareDir` creates.
    UpgradeDir,
    /// Strictly below the upgrade dir: what an operation writes or
    /// removes, and the packages and unpacked trees it reads.
    BelowUpgradeDir,
    /// The home or below it: install destinations.
    Home,
}

/// Why a path was refused: the second half of obshell's "path '%s' is not
/// valid: %s".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: String,
    pub reason: String,
}

/// The host's registered places.
#[derive(Debug, Clone)]
pub struct Host {
    /// `--root`, canonical.
    root: PathBuf,
    home: HostPath,
    upgrade_dir: HostPath,
}

impl Host {
    /// `root` must exist; home and upgrade dir need not (yet).
    pub fn new(root: &Path, home: HostPath, upgrade_dir: HostPath) -> io::Result<Self> {
        Ok(Self {
            root: root.canonicalize()?,
            home,
            upgrade_dir,
        })
    }

    pub fn home(&self) -> &HostPath {
        &self.home
    }

    pub fn upgrade_dir(&self) -> &HostPath {
        &self.upgrade_dir
    }

    /// Where a host path is on this machine (no checks).
    pub fn real(&self, path: &HostPath) -> PathBuf {
        let mut out = self.root.clone();
        out.extend(path.components());
        out
    }

    /// The home's real path (no checks: the home is registered).
    pub fn real_home(&self) -> PathBuf {
        self.real(&self.home)
    }

    /// Checks that `path` lies in `area`, both as written and once
    /// symlinks are followed, and returns its real path. Nothing is
    /// created or changed.
    pub fn confine(&self, path: &HostPath, area: Area) -> Result<PathBuf, Refusal> {
        let refuse = |reason: String| Refusal {
            path: path.to_string(),
            reason,
        };
        let lexical = match area {
            Area::Registered => path.is_within(&self.home) || path.is_within(&self.upgrade_dir),
            Area::UpgradeDir => path.is_within(&self.upgrade_dir),
            Area::BelowUpgradeDir => path.is_below(&self.upgrade_dir),
            Area::Home => path.is_within(&self.home),
        };
        if !lexical {
            return Err(refuse(match area {
                Area::Registered => format!(
                    "it is outside the observer home {} and the upgrade dir {}",
                    self.home, self.upgrade_dir
                ),
                Area::UpgradeDir => format!("it is outside the upgrade dir {}", self.upgrade_dir),
                Area::BelowUpgradeDir => format!(
                    "operations write and remove only below the upgrade dir {}",
                    self.upgrade_dir
                ),
                Area::Home => format!("it is outside the observer home {}", self.home),
            }));
        }
        let real = self.real(path);
        let resolved = resolve(&real).map_err(|e| refuse(e.to_string()))?;
        let roots: Vec<&HostPath> = match area {
            Area::Registered => vec![&self.home, &self.upgrade_dir],
            Area::UpgradeDir | Area::BelowUpgradeDir => vec![&self.upgrade_dir],
            Area::Home => vec![&self.home],
        };
        for root in roots {
            let root_resolved = resolve(&self.real(root)).map_err(|e| refuse(e.to_string()))?;
            if resolved.starts_with(&root_resolved) {
                return Ok(real);
            }
        }
        Err(refuse(format!(
            "through a symlink it resolves to {}, outside the allowed directories",
            resolved.display()
        )))
    }
}

/// `path` with every existing symlink on it followed: its longest existing
/// prefix canonicalised, plus the components that do not exist yet. A
/// dangling symlink on the way is refused: creating through it would
/// create its target, wherever that is.
fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut rest = Vec::new();
    let mut at = path;
    loop {
        match at.canonicalize() {
            Ok(mut base) => {
                base.extend(rest.iter().rev());
                return Ok(base);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(at).is_ok() {
                    return Err(io::Error::other(format!(
                        "{} is a dangling symlink",
                        at.display()
                    )));
                }
                let (Some(parent), Some(name)) = (at.parent(), at.file_name()) else {
                    return Err(e);
                };
                rest.push(name.to_owned());
                at = parent;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(root: &Path) -> Host {
        Host::new(
            root,
            HostPath::parse("/home/admin/oceanbase").unwrap(),
            HostPath::parse("/home/admin/oceanbase/upgrade").unwrap(),
        )
        .unwrap()
    }

    fn p(s: &str) -> HostPath {
        HostPath::parse(s).unwrap()
    }

    #[test]
    fn areas_are_checked_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let h = host(dir.path());
        assert!(
            h.confine(&p("/home/admin/oceanbase/bin"), Area::Registered)
                .is_ok()
        );
        assert!(h.confine(&p("/etc/passwd"), Area::Registered).is_err());
        assert!(
            h.confine(&p("/home/admin/oceanbase2"), Area::Registered)
                .is_err()
        );
        let up = p("/home/admin/oceanbase/upgrade");
        assert!(h.confine(&up, Area::UpgradeDir).is_ok());
        assert!(
            h.confine(&up, Area::BelowUpgradeDir).is_err(),
            "not the dir itself"
        );
        assert!(
            h.confine(&p("/home/admin/oceanbase/upgrade/x"), Area::BelowUpgradeDir)
                .is_ok()
        );
        assert!(
            h.confine(&p("/home/admin/oceanbase/bin"), Area::BelowUpgradeDir)
                .is_err()
        );
        let real = h
            .confine(&p("/home/admin/oceanbase/upgrade/x"), Area::BelowUpgradeDir)
            .unwrap();
        assert!(real.starts_with(dir.path().canonicalize().unwrap()));
    }

    #[test]
    fn symlinks_out_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let h = host(dir.path());
        let up = dir.path().join("home/admin/oceanbase/upgrade");
        std::fs::create_dir_all(&up).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), up.join("out")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/obup", up.join("dangling")).unwrap();
        std::os::unix::fs::symlink(&up, up.join("loop-back")).unwrap();
        let e = h
            .confine(
                &p("/home/admin/oceanbase/upgrade/out/x"),
                Area::BelowUpgradeDir,
            )
            .unwrap_err();
        assert!(e.reason.contains("symlink"), "{e:?}");
        let e = h
            .confine(
                &p("/home/admin/oceanbase/upgrade/dangling/x"),
                Area::BelowUpgradeDir,
            )
            .unwrap_err();
        assert!(e.reason.contains("dangling"), "{e:?}");
        // A symlink that stays inside is fine.
        assert!(
            h.confine(
                &p("/home/admin/oceanbase/upgrade/loop-back/x"),
                Area::BelowUpgradeDir
            )
            .is_ok()
        );
    }
}
