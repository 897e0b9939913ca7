//! A downloaded package: VerifyPackage (obshell's MD5 check plus size and
//! SHA-256), Unpack (the package store's safe unpacker) and CheckBinary
//! (`observer -V` on the unpacked home).

use std::io::BufReader;

use super::{blocking, confine};
use crate::domain::{
    CheckBinary, FailureCode, ObserverBuild, OpFailure, OpOutput, Unpack, UnpackOutput,
    VerifyOutput, VerifyPackage, io_failure,
};
use crate::host::{Area, binary, disk};
use crate::ops::context::OpContext;

/// Read buffer of the package readers.
const BUFFER: usize = 1 << 20;

pub async fn verify(w: &VerifyPackage, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let real = confine(ctx, &w.path, Area::BelowUpgradeDir)?;
    let shown = w.path.to_string();
    let (pre, d) = blocking(move || {
        let file = std::fs::File::open(&real).map_err(|e| io_failure("open", &shown, e))?;
        obup_rpm::digest_package(BufReader::with_capacity(BUFFER, file), &Default::default())
            .map_err(|e| {
                OpFailure::new(
                    FailureCode::of_rpm(&e),
                    format!("{shown} is not a valid package: {e}"),
                )
            })
    })
    .await?;
    let shown = &w.path;
    if let Some(size) = pre.signature.size.filter(|&s| s != d.header_payload_len) {
        return Err(OpFailure::new(
            FailureCode::SizeMismatch,
            format!(
                "{shown}: the signature says header and payload are {size} bytes, they are {}",
                d.header_payload_len
            ),
        ));
    }
    let md5 = hex::encode(d.md5);
    let signed_md5 = pre.signature.md5.map(hex::encode);
    if signed_md5.as_ref().is_some_and(|m| *m != md5) || md5 != w.md5 {
        return Err(OpFailure::new(
            FailureCode::Md5Mismatch,
            format!(
                "MD5 checksum validation failed for {shown}: header and payload hash to {md5}, \
                 the signature says {}, the package store {}",
                signed_md5.as_deref().unwrap_or("nothing"),
                w.md5
            ),
        ));
    }
    if d.file_len != w.size {
        return Err(OpFailure::new(
            FailureCode::SizeMismatch,
            format!(
                "{shown} is {} bytes, the package store says {}",
                d.file_len, w.size
            ),
        ));
    }
    let sha256 = hex::encode(d.sha256);
    if sha256 != w.sha256 {
        return Err(OpFailure::new(
            FailureCode::Sha256Mismatch,
            format!(
                "{shown} hashes to SHA-256 {sha256}, the package store says {}",
                w.sha256
            ),
        ));
    }
    ctx.log
        .info(format!(
            "{shown} verified: size, MD5 {md5}, SHA-256 {sha256}"
        ))
        .await;
    Ok(OpOutput::VerifyPackage(VerifyOutput {
        size: d.file_len,
        md5,
        sha256,
    }))
}

pub async fn unpack(w: &Unpack, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let rpm = confine(ctx, &w.rpm, Area::BelowUpgradeDir)?;
    let dest = confine(ctx, &w.dest, Area::BelowUpgradeDir)?;
    let max_unpacked = ctx.settings.max_unpacked_bytes;
    let shown = w.rpm.to_string();
    // The installed size the header declares (tag 1009), against the free
    // space, before anything is written.
    let declared = {
        let (rpm, shown) = (rpm.clone(), shown.clone());
        blocking(move || {
            let file = std::fs::File::open(&rpm).map_err(|e| io_failure("open", &shown, e))?;
            let pre = obup_rpm::read_preamble(&mut BufReader::new(file), &Default::default())
                .map_err(|e| {
                    OpFailure::new(
                        FailureCode::of_rpm(&e),
                        format!("{shown} is not a valid package: {e}"),
                    )
                })?;
            Ok(pre.header.long_size.or(pre.header.size).unwrap_or(0))
        })
        .await?
    };
    if let Some((free, _)) = disk::space(&dest)
        && free < declared
    {
        return Err(OpFailure::new(
            FailureCode::DiskSpaceNotEnough,
            format!(
                "The remaining disk space is insufficient, the remaining disk space is {free}, \
                 and the required disk space is {declared}"
            ),
        ));
    }
    ctx.log
        .info(format!(
            "unpacking {shown} ({declared} bytes installed) into {}",
            w.dest
        ))
        .await;
    let unpacked = blocking(move || {
        let file = std::fs::File::open(&rpm).map_err(|e| io_failure("open", &shown, e))?;
        let opts = obup_rpm::UnpackOptions {
            max_unpacked,
            ..Default::default()
        };
        obup_rpm::unpack_package(BufReader::with_capacity(BUFFER, file), &dest, &opts).map_err(
            |e| {
                OpFailure::new(
                    FailureCode::of_rpm(&e),
                    format!("cannot unpack {shown}: {e}"),
                )
            },
        )
    })
    .await?;
    ctx.log
        .info(format!(
            "unpacked {} files, {} directories, {} symlinks ({} bytes)",
            unpacked.files, unpacked.dirs, unpacked.symlinks, unpacked.bytes
        ))
        .await;
    Ok(OpOutput::Unpack(UnpackOutput {
        files: unpacked.files,
        dirs: unpacked.dirs,
        symlinks: unpacked.symlinks,
        bytes: unpacked.bytes,
    }))
}

pub async fn check_binary(w: &CheckBinary, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let home = confine(ctx, &w.home, Area::BelowUpgradeDir)?;
    let observer = home.join("bin/observer");
    let shown = format!("{}/bin/observer", w.home);
    // obshell's `chmod 0755 bin/observer` before running it.
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(&observer)
            .map_err(|e| OpFailure::new(FailureCode::BinaryInvalid, format!("{shown}: {e}")))?;
        if !meta.is_file() {
            return Err(OpFailure::new(
                FailureCode::BinaryInvalid,
                format!("{shown} is not a regular file"),
            ));
        }
        std::fs::set_permissions(&observer, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_failure("chmod", &shown, e))?;
    }
    let version = binary::version(&home).await?;
    let build = ObserverBuild::from(&version);
    binary::check_expected(&build, &w.expect)?;
    ctx.log
        .info(format!(
            "{shown} -V: {} {} build {} ({})",
            build.product, build.version, build.build, build.build_time
        ))
        .await;
    Ok(OpOutput::CheckBinary { build })
}
