//! What each operation does on the host, one file per operation family.
//! Every operation is written to be run again (a retry, a continue) without
//! harm: it checks what is done instead of assuming a clean slate.
//!
//! Paths are checked twice: [`validate`] before the operation is accepted
//! (nothing happens to a refused one), and again by each operation right
//! before it touches them (a symlink may have appeared since).
//!
//! # Layout
//! - `dirs`: PrepareDir, RemoveDir.
//! - `fetch`: FetchPackage (resumable download from the package store).
//! - `package`: VerifyPackage, Unpack, CheckBinary.
//! - `tree`: what an install copies, shared by Backup and Install.
//! - `backup`: Backup, RestoreBackup.
//! - `install`: Install.
//! - `observer`: StopObserver, StartObserver.
//! - `script`: RunUpgradeScript, CheckPython.
//! - `interpreter`: the Python a script runs in, started ahead.

mod backup;
mod dirs;
mod fetch;
mod install;
pub(crate) mod interpreter;
mod observer;
mod package;
mod script;
mod tree;

use std::path::PathBuf;

use crate::domain::{FailureCode, HostPath, OpFailure, OpOutput, Work};
use crate::host::{Area, Host};
use crate::journal::Record;
use crate::ops::context::OpContext;
use crate::{Error, Result};

/// Checks a work item before it is accepted: every path in its area, every
/// field well-formed. A refusal has had no effect.
pub fn validate(work: &Work, host: &Host) -> Result<()> {
    let check = |p: &HostPath, area: Area| {
        host.confine(p, area)
            .map(|_| ())
            .map_err(|r| Error::InvalidPath {
                path: r.path,
                reason: r.reason,
            })
    };
    match work {
        Work::PrepareDir(w) => check(&w.path, Area::UpgradeDir),
        Work::RemoveDir(w) => check(&w.path, Area::BelowUpgradeDir),
        Work::FetchPackage(w) => {
            check(&w.dest, Area::BelowUpgradeDir)?;
            hex_digest("sha256", &w.sha256, 64)?;
            if !(w.store_url.starts_with("http://") || w.store_url.starts_with("https://")) {
                return Err(invalid("store_url", "must be http:// or https://"));
            }
            if w.size == 0 {
                return Err(invalid("size", "must be above 0"));
            }
            Ok(())
        }
        Work::VerifyPackage(w) => {
            check(&w.path, Area::BelowUpgradeDir)?;
            hex_digest("sha256", &w.sha256, 64)?;
            hex_digest("md5", &w.md5, 32)
        }
        Work::Unpack(w) => {
            check(&w.rpm, Area::BelowUpgradeDir)?;
            check(&w.dest, Area::BelowUpgradeDir)
        }
        // `chmod 0755 bin/observer` writes to the unpacked tree.
        Work::CheckBinary(w) => check(&w.home, Area::BelowUpgradeDir),
        Work::Backup(w) => {
            if w.sources.is_empty() {
                return Err(invalid("sources", "name at least one unpacked home"));
            }
            for s in &w.sources {
                check(s, Area::BelowUpgradeDir)?;
            }
            check(&w.backup_dir, Area::BelowUpgradeDir)
        }
        Work::StopObserver | Work::StartObserver(_) => Ok(()),
        Work::Install(w) => check(&w.source, Area::BelowUpgradeDir),
        Work::RunUpgradeScript(w) => {
            check(&w.script, Area::BelowUpgradeDir)?;
            check(&w.work_dir, Area::BelowUpgradeDir)?;
            script::validate(w)
        }
        Work::RestoreBackup(w) => check(&w.backup_dir, Area::BelowUpgradeDir),
        Work::CheckPython(w) => match &w.script {
            Some(s) => check(s, Area::Registered),
            None => Ok(()),
        },
    }
}

fn invalid(field: &'static str, reason: &str) -> Error {
    Error::InvalidArgument {
        field,
        reason: reason.to_owned(),
    }
}

fn hex_digest(field: &'static str, value: &str, len: usize) -> Result<()> {
    let ok = value.len() == len
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            &format!("must be {len} lower-case hex digits"),
        ))
    }
}

/// Does the work.
pub async fn execute(work: &Work, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    ctx.stop.check("before it started")?;
    match work {
        Work::PrepareDir(w) => dirs::prepare(w, ctx).await,
        Work::RemoveDir(w) => dirs::remove(w, ctx).await,
        Work::FetchPackage(w) => fetch::fetch(w, ctx).await,
        Work::VerifyPackage(w) => package::verify(w, ctx).await,
        Work::Unpack(w) => package::unpack(w, ctx).await,
        Work::CheckBinary(w) => package::check_binary(w, ctx).await,
        Work::Backup(w) => backup::backup(w, ctx).await,
        Work::StopObserver => observer::stop(ctx).await,
        Work::Install(w) => install::install(w, ctx).await,
        Work::StartObserver(w) => observer::start(w, ctx).await,
        Work::RunUpgradeScript(w) => script::run(w, ctx).await,
        Work::RestoreBackup(w) => backup::restore(w, ctx).await,
        Work::CheckPython(w) => script::check_python(w, ctx).await,
    }
}

/// Before an interrupted operation is continued or failed: what its
/// previous run may have left behind (a script's processes) is stopped.
pub async fn reap_leftovers(record: &Record) {
    match &record.work {
        Work::RunUpgradeScript(_) => script::reap(record.checkpoint.as_deref()),
        Work::PrepareDir(_)
        | Work::RemoveDir(_)
        | Work::FetchPackage(_)
        | Work::VerifyPackage(_)
        | Work::Unpack(_)
        | Work::CheckBinary(_)
        | Work::Backup(_)
        | Work::StopObserver
        | Work::Install(_)
        | Work::StartObserver(_)
        | Work::RestoreBackup(_)
        | Work::CheckPython(_) => {}
    }
}

/// `path`'s real location, checked against `area` right before use.
fn confine(ctx: &OpContext, path: &HostPath, area: Area) -> Result<PathBuf, OpFailure> {
    ctx.host.confine(path, area).map_err(|r| {
        OpFailure::new(
            FailureCode::InvalidPath,
            format!("path '{}' is not valid: {}", r.path, r.reason),
        )
    })
}

/// Runs blocking filesystem work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OpFailure> + Send + 'static,
) -> Result<T, OpFailure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpFailure::unexpected(format!("a blocking task failed: {e}")))?
}
