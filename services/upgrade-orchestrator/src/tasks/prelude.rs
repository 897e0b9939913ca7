//! The host stages before the hops: the python check, the task directory,
//! the packages (pulled by each agent from the package store, checked,
//! unpacked), and the obshell binary; and "Remove upgrade check task dir".

use obup_agent::domain::{
    Backup, CheckBinary, CheckPython, ExpectedBuild, FetchPackage, Install, InstallScope, OpOutput,
    PrepareDir, RemoveDir, RestoreBackup, Unpack, VerifyPackage, Work,
};

use super::TaskContext;
use super::layout::{HostLayout, path};
use crate::{Error, Result};

/// obshell's "Check the python environment": an interpreter with
/// `mysql.connector` (`Environment.WithoutPython`/`WithoutModule`).
pub(super) async fn check_python(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let out = ctx
        .host_op(
            agent,
            "python",
            Work::CheckPython(CheckPython { script: None }),
        )
        .await?;
    if let OpOutput::CheckPython { python } = out {
        ctx.line(format!(
            "{} ({}) {} has mysql.connector",
            python.command, python.path, python.version
        ))
        .await;
    }
    Ok(())
}

/// The task dir, which must not exist yet or be empty (`Common.DirNotEmpty`).
pub(super) async fn create_dir(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    let work = Work::PrepareDir(PrepareDir {
        path: path(&l.task)?,
        require_empty: true,
    });
    ctx.host_op(agent, "mkdir", work).await?;
    ctx.line(format!("created {}", l.task)).await;
    Ok(())
}

/// Each package of this host's architecture, pulled by the agent from the
/// package store (SHA-256 checked as it arrives): the bytes never pass
/// through the orchestrator.
pub(super) async fn download(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    for (hop, p) in l.packages(&ctx.params.hops) {
        let work = Work::FetchPackage(FetchPackage {
            store_url: ctx.store_url.clone(),
            package_id: p.id,
            sha256: p.sha256.clone(),
            size: p.file_size,
            dest: path(&l.package(hop, p))?,
        });
        let out = ctx.host_op(agent, &format!("fetch-{}", p.id), work).await?;
        if let OpOutput::FetchPackage(f) = out {
            ctx.line(format!(
                "downloaded {} ({} bytes, sha256 {}{})",
                p.file_name,
                f.bytes,
                &f.sha256[..12.min(f.sha256.len())],
                if f.resumed_from > 0 {
                    format!(", resumed from byte {}", f.resumed_from)
                } else {
                    String::new()
                }
            ))
            .await;
        }
    }
    Ok(())
}

/// Re-checks every downloaded package: signature size and MD5, SHA-256.
pub(super) async fn verify(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    for (hop, p) in l.packages(&ctx.params.hops) {
        let work = Work::VerifyPackage(VerifyPackage {
            path: path(&l.package(hop, p))?,
            sha256: p.sha256.clone(),
            md5: p.md5.clone(),
            size: p.file_size,
        });
        ctx.host_op(agent, &format!("verify-{}", p.id), work)
            .await?;
        ctx.line(format!("{} verified (MD5, size, SHA-256)", p.file_name))
            .await;
    }
    Ok(())
}

/// Unpacks every package where it lies, then runs each hop's
/// `bin/observer -V` (obshell's binary check), which must report the hop.
pub(super) async fn unpack(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    for (hop, p) in l.packages(&ctx.params.hops) {
        let work = Work::Unpack(Unpack {
            rpm: path(&l.package(hop, p))?,
            dest: path(&l.rpm_dir(hop))?,
        });
        ctx.host_op(agent, &format!("unpack-{}", p.id), work)
            .await?;
        ctx.line(format!("unpacked {} into {}", p.file_name, l.rpm_dir(hop)))
            .await;
    }
    for (i, hop) in ctx.params.hops.iter().enumerate() {
        let work = Work::CheckBinary(CheckBinary {
            home: path(&l.unpacked_home(hop))?,
            expect: ExpectedBuild {
                version: Some(hop.version.clone()),
                build: hop.build.clone(),
            },
        });
        if let OpOutput::CheckBinary { build } = ctx
            .host_op(agent, &format!("check-binary-{i}"), work)
            .await?
        {
            ctx.line(format!(
                "hop {}: bin/observer -V reports {} {}-{}",
                i + 1,
                build.product,
                build.version,
                build.build
            ))
            .await;
        }
    }
    Ok(())
}

/// Undoes the unpack: each hop's unpacked tree.
pub(super) async fn remove_unpacked(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    for (i, hop) in ctx.params.hops.iter().enumerate() {
        let dir = format!("{}/home", l.rpm_dir(hop));
        let work = Work::RemoveDir(RemoveDir { path: path(&dir)? });
        ctx.host_op(agent, &format!("remove-unpacked-{i}"), work)
            .await?;
    }
    Ok(())
}

fn last_hop(ctx: &TaskContext) -> Result<&crate::domain::params::PlannedHop> {
    ctx.params
        .hops
        .last()
        .ok_or_else(|| Error::Internal("the plan has no hop".into()))
}

/// "Backup for upgrade": the obshell binary "Install new obshell" replaces.
pub(super) async fn backup_agent(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    let work = Work::Backup(Backup {
        sources: vec![path(&l.unpacked_home(last_hop(ctx)?))?],
        scope: InstallScope::Agent,
        backup_dir: path(&l.backup("agent"))?,
    });
    if let OpOutput::Backup(m) = ctx.host_op(agent, "backup", work).await? {
        ctx.line(format!(
            "backed up {} file(s) to {}",
            m.entries.len(),
            m.backup_dir
        ))
        .await;
    }
    Ok(())
}

pub(super) async fn remove_agent_backup(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    let work = Work::RemoveDir(RemoveDir {
        path: path(&l.backup("agent"))?,
    });
    ctx.host_op(agent, "remove-backup", work).await.map(drop)
}

/// "Install new obshell": the obshell binary of the target package.
pub(super) async fn install_agent(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    let work = Work::Install(Install {
        source: path(&l.unpacked_home(last_hop(ctx)?))?,
        scope: InstallScope::Agent,
    });
    if let OpOutput::Install(i) = ctx.host_op(agent, "install", work).await? {
        ctx.line(format!(
            "installed obshell from the target package ({} file)",
            i.files
        ))
        .await;
    }
    Ok(())
}

/// Undoes "Install new obshell" from its backup.
pub(super) async fn restore_agent(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    let work = Work::RestoreBackup(RestoreBackup {
        backup_dir: path(&l.backup("agent"))?,
    });
    ctx.host_op(agent, "restore", work).await?;
    ctx.line("restored the previous obshell").await;
    Ok(())
}

/// The task dir and everything in it. obshell removes the whole upgrade
/// dir on rollback; obup removes only this DAG's, so a shared upgrade dir
/// survives.
pub(super) async fn remove_dir(ctx: &TaskContext) -> Result<()> {
    let agent = ctx.my_agent()?;
    let l = HostLayout::of(ctx, agent).await?;
    let work = Work::RemoveDir(RemoveDir {
        path: path(&l.task)?,
    });
    ctx.host_op(agent, "remove-task-dir", work).await?;
    ctx.line(format!("removed {}", l.task)).await;
    Ok(())
}
