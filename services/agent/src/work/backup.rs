//! Backup and RestoreBackup. obshell backs up only `<home>/bin` (and puts
//! back only obshell); obup backs up every file the install would overwrite
//! (bin, lib, etc: the same plan as Install), and records the files the
//! install would create, so that a restore returns the home to what it was.
//!
//! Layout of a backup dir: `files/<path relative to the home>` and
//! `manifest.json` (a [`BackupManifest`]), written last: a backup without
//! a manifest is incomplete. A complete backup is never overwritten: a
//! re-run after an install must not back up the new binaries.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::tree;
use super::{blocking, confine};
use crate::domain::{
    Backup, BackupEntry, BackupManifest, FailureCode, OpFailure, OpOutput, RestoreBackup,
    RestoreOutput, io_failure,
};
use crate::host::{Area, Host};
use crate::ops::context::OpContext;

const MANIFEST: &str = "manifest.json";
const FILES: &str = "files";

pub async fn backup(w: &Backup, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let dir = confine(ctx, &w.backup_dir, Area::BelowUpgradeDir)?;
    if let Ok(existing) = read_manifest(&dir) {
        ctx.log
            .info(format!(
                "{} holds a complete backup ({} files): kept",
                w.backup_dir,
                existing.entries.len()
            ))
            .await;
        return Ok(OpOutput::Backup(existing));
    }
    let mut leaves = BTreeSet::new();
    for source in &w.sources {
        let real = confine(ctx, source, Area::BelowUpgradeDir)?;
        let scope = w.scope;
        let shown = source.to_string();
        let plan = blocking(move || {
            tree::plan(&real, scope)
                .map_err(|e| OpFailure::unexpected(format!("cannot read {shown}: {e}")))
        })
        .await?;
        tree::check_destinations(&plan, &ctx.host)?;
        leaves.extend(plan.leaves().map(str::to_owned));
    }
    let home = ctx.host.real_home();
    let mut manifest = BackupManifest {
        backup_dir: w.backup_dir.to_string(),
        manifest: format!("{}/{MANIFEST}", w.backup_dir),
        entries: Vec::new(),
        created: Vec::new(),
    };
    let manifest = blocking(move || {
        // An incomplete backup of an earlier run is redone from scratch.
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_failure("clear", dir.display(), e)),
        }
        for rel in leaves {
            save(&home, &dir, &rel, &mut manifest)
                .map_err(|e| OpFailure::unexpected(format!("cannot back up {rel}: {e}")))?;
        }
        write_manifest(&dir, &manifest)
            .map_err(|e| io_failure("write", manifest.manifest.as_str(), e))?;
        Ok(manifest)
    })
    .await?;
    ctx.log
        .info(format!(
            "backed up {} files of {} to {} ({} would be new)",
            manifest.entries.len(),
            ctx.host.home(),
            w.backup_dir,
            manifest.created.len()
        ))
        .await;
    Ok(OpOutput::Backup(manifest))
}

/// Saves `home/rel` (if it exists) under `dir/files/rel`.
fn save(home: &Path, dir: &Path, rel: &str, manifest: &mut BackupManifest) -> io::Result<()> {
    let src = home.join(rel);
    let meta = match std::fs::symlink_metadata(&src) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            manifest.created.push(rel.to_owned());
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let dst = dir.join(FILES).join(rel);
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mode = meta.permissions().mode() & 0o7777;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&src)?;
        manifest.entries.push(BackupEntry {
            path: rel.to_owned(),
            sha256: String::new(),
            mode,
            size: 0,
            link_target: Some(target.display().to_string()),
        });
        return Ok(());
    }
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a file, and the install would replace it with one",
            src.display()
        )));
    }
    let (size, sha256) = copy_hashing(&src, &dst)?;
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(mode))?;
    manifest.entries.push(BackupEntry {
        path: rel.to_owned(),
        sha256,
        mode,
        size,
        link_target: None,
    });
    Ok(())
}

/// Copies `src` to `dst` and returns its size and SHA-256; `dst` is synced.
fn copy_hashing(src: &Path, dst: &Path) -> io::Result<(u64, String)> {
    let mut from = std::fs::File::open(src)?;
    let mut to = std::fs::File::create(dst)?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        size += n as u64;
    }
    to.sync_all()?;
    Ok((size, hex::encode(sha.finalize())))
}

fn sha256_of(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut sha = Sha256::new();
    io::copy(&mut f, &mut sha)?;
    Ok(hex::encode(sha.finalize()))
}

fn write_manifest(dir: &Path, manifest: &BackupManifest) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(MANIFEST))?;
    std::fs::File::open(dir)?.sync_all()
}

fn read_manifest(dir: &Path) -> io::Result<BackupManifest> {
    let text = std::fs::read(dir.join(MANIFEST))?;
    serde_json::from_slice(&text).map_err(io::Error::other)
}

pub async fn restore(w: &RestoreBackup, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let dir = confine(ctx, &w.backup_dir, Area::BelowUpgradeDir)?;
    let invalid = |why: String| OpFailure::new(FailureCode::BackupInvalid, why);
    let manifest = read_manifest(&dir)
        .map_err(|e| invalid(format!("{} has no readable {MANIFEST}: {e}", w.backup_dir)))?;
    // Every destination is checked, and every saved file verified, before
    // the home is touched.
    let mut targets = Vec::new();
    for rel in manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .chain(manifest.created.iter().map(String::as_str))
    {
        targets.push(destination(&ctx.host, rel)?);
    }
    ctx.stop.check("before the restore started")?;
    let out = blocking(move || {
        for e in manifest.entries.iter().filter(|e| e.link_target.is_none()) {
            let saved = dir.join(FILES).join(&e.path);
            let sha =
                sha256_of(&saved).map_err(|err| invalid(format!("{}: {err}", saved.display())))?;
            if sha != e.sha256 {
                return Err(invalid(format!(
                    "the saved {} hashes to {sha}, the manifest says {}",
                    e.path, e.sha256
                )));
            }
        }
        let mut out = RestoreOutput::default();
        let (put_back, created) = targets.split_at(manifest.entries.len());
        for (e, dst) in manifest.entries.iter().zip(put_back) {
            put(&dir, e, dst).map_err(|err| io_failure("restore", &e.path, err))?;
            out.restored += 1;
        }
        for dst in created {
            match std::fs::remove_file(dst) {
                Ok(()) => out.removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_failure("remove", dst.display(), e)),
            }
        }
        Ok(out)
    })
    .await?;
    ctx.log
        .info(format!(
            "restored {} files of {} from {}; removed {} the install had added",
            out.restored,
            ctx.host.home(),
            w.backup_dir,
            out.removed
        ))
        .await;
    Ok(OpOutput::RestoreBackup(out))
}

/// The real path of `rel` in the home; its directory must stay inside.
fn destination(host: &Host, rel: &str) -> Result<PathBuf, OpFailure> {
    let invalid = |reason: String| {
        OpFailure::new(
            FailureCode::BackupInvalid,
            format!("the manifest names {rel:?}: {reason}"),
        )
    };
    let path = host.home().join(rel).map_err(|e| invalid(e.to_string()))?;
    if !path.is_below(host.home()) {
        return Err(invalid("it is not below the home".into()));
    }
    host.confine(&path.parent(), Area::Home)
        .map_err(|r| invalid(r.reason))?;
    Ok(host.real(&path))
}

fn put(dir: &Path, e: &BackupEntry, dst: &Path) -> io::Result<()> {
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::remove_file(dst) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    match &e.link_target {
        Some(target) => std::os::unix::fs::symlink(target, dst),
        None => {
            std::fs::copy(dir.join(FILES).join(&e.path), dst)?;
            std::fs::set_permissions(dst, std::fs::Permissions::from_mode(e.mode))
        }
    }
}
