//! Turning what the readers found into a decision: the checks run in a fixed
//! order so that the same bad package always gets the same error, the most
//! fundamental one first (not an RPM, truncated, tampered, then unacceptable).

use obup_rpm::{Compressor, Digests, PackageHeader, Preamble};

use super::pipeline::Ingested;
use crate::domain::{DEP_YAML, PackageRules, Release, Sha256Hex, UPGRADE_SCRIPTS};
use crate::{Error, Result};

/// Algorithm id of SHA-256 in rpm's PAYLOADDIGESTALGO.
const PGPHASHALGO_SHA256: u64 = 8;

/// A package that passed every check, with the facts to record.
#[derive(Debug, Clone)]
pub struct Verified {
    pub header: PackageHeader,
    pub release: Release,
    pub digests: Digests,
    pub compressor: Compressor,
    pub dep_yaml: String,
    pub scripts: Vec<String>,
}

/// The paths a scan captures and notes.
pub fn scan_targets() -> (Vec<String>, Vec<String>) {
    let capture = vec![DEP_YAML.to_owned()];
    let note = UPGRADE_SCRIPTS
        .iter()
        .map(|s| format!("/home/admin/oceanbase/etc/{s}"))
        .collect();
    (capture, note)
}

pub fn verify(
    ingested: Ingested,
    declared_sha256: Option<&Sha256Hex>,
    rules: &PackageRules,
) -> Result<Verified> {
    let (preamble, digests) = ingested.digest?;
    check_integrity(&preamble, &digests)?;
    let actual = Sha256Hex::from_bytes(&digests.sha256);
    if let Some(declared) = declared_sha256.filter(|d| **d != actual) {
        return Err(Error::Sha256Mismatch {
            declared: declared.to_string(),
            actual: actual.to_string(),
        });
    }
    let scan = ingested.scan?;
    let release = rules.check(&preamble.header)?;
    let dep_yaml = scan
        .captured
        .iter()
        .find(|(path, _)| path == DEP_YAML)
        .map(|(_, body)| String::from_utf8_lossy(body).into_owned())
        .unwrap_or_default();
    let scripts = scan
        .noted
        .iter()
        .filter_map(|p| p.rsplit('/').next())
        .map(str::to_owned)
        .collect();
    Ok(Verified {
        header: preamble.header,
        release,
        digests,
        compressor: scan.compressor,
        dep_yaml,
        scripts,
    })
}

/// Size and digests from the signature against what was received.
fn check_integrity(p: &Preamble, d: &Digests) -> Result<()> {
    if let Some(expected) = p.signature.size {
        if d.header_payload_len < expected {
            return Err(obup_rpm::Error::Truncated("payload").into());
        }
        if d.header_payload_len > expected {
            return Err(Error::SizeMismatch {
                expected,
                actual: d.header_payload_len,
            });
        }
    }
    if let Some(expected) = &p.signature.header_sha256 {
        let actual = hex::encode(d.header_sha256);
        if !expected.eq_ignore_ascii_case(&actual) {
            return Err(Error::DigestMismatch {
                what: "header SHA-256",
                expected: expected.clone(),
                actual,
            });
        }
    }
    match (
        &p.signature.md5,
        &p.header.payload_digest,
        &d.payload_sha256,
    ) {
        (Some(expected), _, _) => {
            if *expected != d.md5 {
                return Err(Error::Md5Mismatch {
                    expected: hex::encode(expected),
                    actual: hex::encode(d.md5),
                });
            }
        }
        // Without MD5 (rpm >= 4.16 may omit it), the header's payload digest
        // protects the payload; the header itself is covered by tag 273.
        (None, Some((expected, PGPHASHALGO_SHA256)), Some(actual))
            if p.signature.header_sha256.is_some() =>
        {
            let actual = hex::encode(actual);
            if !expected.eq_ignore_ascii_case(&actual) {
                return Err(Error::DigestMismatch {
                    what: "payload SHA-256",
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        _ => return Err(Error::DigestMissing),
    }
    Ok(())
}
