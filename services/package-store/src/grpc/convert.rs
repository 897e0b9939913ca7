//! Conversions between protobuf messages and domain types, in one place.

use obup_proto::pb::packagestore::v1 as pb;

use crate::domain::{
    BuildSelector, Package, PackageFilter, PackageQuery, Sha256Hex, UploadId, UploadSession,
    UploadStart,
};
use crate::{Error, Result};

pub(crate) fn upload_start(m: pb::UploadStart) -> Result<UploadStart> {
    let sha256 = match m.sha256.as_str() {
        "" => None,
        s => Some(sha256("sha256", s)?),
    };
    let upload_id = match m.upload_id.as_str() {
        "" => None,
        s => Some(upload_id(s)?),
    };
    Ok(UploadStart {
        file_name: m.file_name,
        total_size: m.total_size,
        sha256,
        upload_id,
    })
}

/// A hex SHA-256 in either case.
pub(crate) fn sha256(field: &'static str, s: &str) -> Result<Sha256Hex> {
    Sha256Hex::parse(&s.to_ascii_lowercase()).ok_or_else(|| Error::InvalidArgument {
        field,
        reason: format!("expected 64 hex digits, got {s:?}"),
    })
}

pub(crate) fn upload_id(s: &str) -> Result<UploadId> {
    UploadId::parse(s).ok_or_else(|| Error::InvalidArgument {
        field: "upload_id",
        reason: format!("expected 1-64 characters of [A-Za-z0-9_.-], got {s:?}"),
    })
}

pub(crate) fn upload_status(s: UploadSession) -> pb::UploadStatus {
    pb::UploadStatus {
        upload_id: s.id.to_string(),
        file_name: s.file_name,
        received: s.received,
        total_size: s.total_size,
        expires_at_ms: s.expires_at_ms,
    }
}

pub(crate) fn package(p: Package) -> pb::Package {
    pb::Package {
        id: p.id,
        name: p.name,
        version: p.version,
        release: p.release.build,
        distribution: p.release.distribution,
        release_distribution: p.release.full,
        architecture: p.architecture,
        size: p.size,
        payload_size: p.payload_size,
        chunk_count: p.chunk_count,
        md5: p.md5,
        sha256: p.sha256.to_string(),
        file_size: p.file_size,
        upgrade_dep_yaml: p.upgrade_dep_yaml,
        upgrade_scripts: p.upgrade_scripts,
        file_name: p.file_name,
        payload_compressor: p.payload_compressor,
        created_at_ms: p.created_at_ms,
    }
}

pub(crate) fn filter(m: pb::ListPackagesRequest) -> Result<PackageFilter> {
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let sha256 = match m.sha256.as_str() {
        "" => None,
        s => Some(sha256("sha256", s)?),
    };
    Ok(PackageFilter {
        name: opt(m.name),
        version: opt(m.version),
        release: opt(m.release),
        distribution: opt(m.distribution),
        architecture: opt(m.architecture),
        sha256,
    })
}

pub(crate) fn query(m: pb::FindPackageRequest) -> Result<PackageQuery> {
    let required = |field: &'static str, v: String| -> Result<String> {
        if v.is_empty() {
            Err(Error::InvalidArgument {
                field,
                reason: "must not be empty".into(),
            })
        } else {
            Ok(v)
        }
    };
    let build = match m.build {
        Some(pb::find_package_request::Build::Release(release)) => BuildSelector::Exact {
            release: required("release", release)?,
            distribution: (!m.distribution.is_empty()).then_some(m.distribution),
        },
        Some(pb::find_package_request::Build::AnyBuild(any)) => BuildSelector::Latest {
            distribution: required("distribution", m.distribution)?,
            excluded: any.excluded_releases,
        },
        None => {
            return Err(Error::InvalidArgument {
                field: "build",
                reason: "set either release or any_build".into(),
            });
        }
    };
    Ok(PackageQuery {
        name: required("name", m.name)?,
        version: required("version", m.version)?,
        architecture: required("architecture", m.architecture)?,
        build,
    })
}
