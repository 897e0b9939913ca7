//! Install: obshell's copy of an unpacked home onto the observer home.
//! Each destination file is removed, then copied: a new inode, so a
//! running binary is replaced rather than overwritten (no `ETXTBSY`).
//! Directories are created with the source's mode. Not interruptible once
//! started: a half-installed home is worse than a finished install.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::tree::{self, Plan};
use super::{blocking, confine};
use crate::domain::{Install, InstallOutput, InstallScope, OpFailure, OpOutput};
use crate::host::Area;
use crate::ops::context::OpContext;

pub async fn install(w: &Install, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let source = confine(ctx, &w.source, Area::BelowUpgradeDir)?;
    let scope = w.scope;
    let plan = {
        let source = source.clone();
        let shown = w.source.to_string();
        blocking(move || {
            tree::plan(&source, scope)
                .map_err(|e| OpFailure::unexpected(format!("cannot read {shown}: {e}")))
        })
        .await?
    };
    let home = tree::check_destinations(&plan, &ctx.host)?;
    ctx.stop.check("before the install started")?;
    let what = match scope {
        InstallScope::Observer => "the observer",
        InstallScope::Agent => "obshell",
    };
    ctx.log
        .info(format!(
            "installing {what} from {} into {}: {} files, {} symlinks, {} directories",
            w.source,
            ctx.host.home(),
            plan.files.len(),
            plan.symlinks.len(),
            plan.dirs.len()
        ))
        .await;
    let out = blocking(move || {
        apply(&plan, &source, &home)
            .map_err(|e| OpFailure::unexpected(format!("install failed: {e}")))
    })
    .await?;
    ctx.log
        .info(format!(
            "installed {} files, {} symlinks; created {} directories; left out {}",
            out.files, out.symlinks, out.dirs, out.skipped
        ))
        .await;
    Ok(OpOutput::Install(out))
}

/// Copies `plan` from `source` to `home`.
pub fn apply(plan: &Plan, source: &Path, home: &Path) -> io::Result<InstallOutput> {
    let mut out = InstallOutput {
        skipped: plan.skipped,
        ..Default::default()
    };
    for (rel, mode) in &plan.dirs {
        let dst = home.join(rel);
        if !dst.is_dir() {
            std::fs::create_dir_all(&dst)?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(*mode | 0o700))?;
            out.dirs += 1;
        }
    }
    for rel in &plan.files {
        let (src, dst) = (source.join(rel), home.join(rel));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        replace(&dst)?;
        // `copy` keeps the source's permission bits.
        std::fs::copy(&src, &dst).map_err(|e| with_path(e, &dst))?;
        out.files += 1;
    }
    for (rel, target) in &plan.symlinks {
        let dst = home.join(rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        replace(&dst)?;
        std::os::unix::fs::symlink(target, &dst).map_err(|e| with_path(e, &dst))?;
        out.symlinks += 1;
    }
    Ok(out)
}

/// Removes what is at `dst` (a file or a symlink), if anything.
fn replace(dst: &Path) -> io::Result<()> {
    match std::fs::remove_file(dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(with_path(e, dst)),
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
