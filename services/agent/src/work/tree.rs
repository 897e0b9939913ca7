//! What installing an unpacked home copies (obshell's
//! `copyFilesForInstallObserver`): every entry of the tree, recursively,
//! except those whose *name* contains `obshell` at any depth; or, for the
//! agent, `bin/obshell` alone. Backup and Install share this plan, so a
//! backup holds exactly what the install overwrites.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::domain::{FailureCode, HostPath, InstallScope, OpFailure};
use crate::host::{Area, Host};

/// The entries of one install, as paths relative to the tree's root.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Directories with their source mode, parents first.
    pub dirs: Vec<(String, u32)>,
    pub files: Vec<String>,
    pub symlinks: Vec<(String, PathBuf)>,
    /// Entries the scope leaves out.
    pub skipped: u64,
}

impl Plan {
    /// Files and symlinks: what replaces something in the home.
    pub fn leaves(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .map(String::as_str)
            .chain(self.symlinks.iter().map(|(p, _)| p.as_str()))
    }
}

/// Walks `source` (an unpacked home) without following symlinks.
pub fn plan(source: &Path, scope: InstallScope) -> io::Result<Plan> {
    let mut plan = Plan::default();
    match scope {
        InstallScope::Agent => {
            let obshell = source.join("bin/obshell");
            if !std::fs::symlink_metadata(&obshell)?.is_file() {
                return Err(io::Error::other(format!(
                    "{} is not a regular file",
                    obshell.display()
                )));
            }
            plan.files.push("bin/obshell".into());
        }
        InstallScope::Observer => walk(source, "", &mut plan)?,
    }
    Ok(plan)
}

fn walk(dir: &Path, rel: &str, plan: &mut Plan) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    // A stable order: logs and manifests read the same on every run.
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(io::Error::other(format!(
                "{} has a name that is not UTF-8",
                entry.path().display()
            )));
        };
        // obshell's rule: the reinstall never touches obshell itself.
        if name.contains("obshell") {
            plan.skipped += 1;
            continue;
        }
        let path = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        let meta = std::fs::symlink_metadata(entry.path())?;
        if meta.file_type().is_symlink() {
            plan.symlinks
                .push((path, std::fs::read_link(entry.path())?));
        } else if meta.is_dir() {
            plan.dirs
                .push((path.clone(), meta.permissions().mode() & 0o7777));
            walk(&entry.path(), &path, plan)?;
        } else if meta.is_file() {
            plan.files.push(path);
        } else {
            return Err(io::Error::other(format!(
                "{} is neither a file, a directory nor a symlink",
                entry.path().display()
            )));
        }
    }
    Ok(())
}

/// Checks every destination of `plan` in the home before anything is
/// changed: none may resolve outside the home through a symlink the home
/// holds. Returns the home's real path.
pub fn check_destinations(plan: &Plan, host: &Host) -> Result<PathBuf, OpFailure> {
    let invalid = |p: &str, reason: String| {
        OpFailure::new(
            FailureCode::InvalidPath,
            format!("path '{p}' is not valid: {reason}"),
        )
    };
    let home = host.home().clone();
    let all = plan
        .dirs
        .iter()
        .map(|(p, _)| p.as_str())
        .chain(plan.leaves());
    for rel in all {
        let dest = home.join(rel).map_err(|e| invalid(rel, e.to_string()))?;
        // A leaf is replaced, never written through: its parent is what
        // must stay inside.
        let checked: HostPath = if plan.dirs.iter().any(|(d, _)| d == rel) {
            dest
        } else {
            dest.parent()
        };
        host.confine(&checked, Area::Home)
            .map_err(|r| invalid(&r.path, r.reason))?;
    }
    Ok(host.real_home())
}
