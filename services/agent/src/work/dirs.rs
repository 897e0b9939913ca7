//! PrepareDir and RemoveDir: obshell's "Create upgrade dir" (`mkdir -p`,
//! the task dir absent or empty, `Common.DirNotEmpty`) and "Remove upgrade
//! check task dir".

use std::io;

use super::{blocking, confine};
use crate::domain::{FailureCode, OpFailure, OpOutput, PrepareDir, RemoveDir, io_failure};
use crate::host::Area;
use crate::ops::context::OpContext;

pub async fn prepare(w: &PrepareDir, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let real = confine(ctx, &w.path, Area::UpgradeDir)?;
    let shown = w.path.to_string();
    // A re-run of a continue found its own half-filled directory: accepted.
    let require_empty = w.require_empty && !ctx.continued;
    let created = blocking(move || {
        let existed = real.is_dir();
        if existed
            && require_empty
            && std::fs::read_dir(&real)
                .map_err(|e| io_failure("read", &shown, e))?
                .next()
                .is_some()
        {
            return Err(OpFailure::new(
                FailureCode::DirNotEmpty,
                format!("dir '{shown}' is not empty"),
            ));
        }
        std::fs::create_dir_all(&real).map_err(|e| io_failure("create", &shown, e))?;
        Ok(!existed)
    })
    .await?;
    let what = if created { "created" } else { "exists" };
    ctx.log.info(format!("{} {what}", w.path)).await;
    Ok(OpOutput::PrepareDir { created })
}

pub async fn remove(w: &RemoveDir, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let real = confine(ctx, &w.path, Area::BelowUpgradeDir)?;
    let shown = w.path.to_string();
    // `remove_dir_all` does not follow a symlink it is given or meets: it
    // removes the link itself.
    let existed = blocking(move || match std::fs::remove_dir_all(&real) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_failure("remove", &shown, e)),
    })
    .await?;
    let what = if existed { "removed" } else { "was absent" };
    ctx.log.info(format!("{} {what}", w.path)).await;
    Ok(OpOutput::RemoveDir { existed })
}
