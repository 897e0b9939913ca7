//! Turning what the readers found into a decision: the checks run in a fixed
//! order so that the same bad package always gets the same error, the most
//! fundamental one first (not an RPM, truncated, tampered, then unacceptable).

use obup_rpm::{Compressor, Digests, PackageHeader, Preamble};

use super::pipeline::Ingested;
use crate::domain::{
    DEP_YAML, PackageRules, REQUIRED_FILES, Release, Sha256Hex, UPGRADE_SCRIPTS, required_files,
};
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

/// The paths a scan captures and notes: the upgrade scripts, and the files
/// the rules require (their header entries must be backed by the payload).
pub fn scan_targets() -> (Vec<String>, Vec<String>) {
    let capture = vec![DEP_YAML.to_owned()];
    let note = UPGRADE_SCRIPTS
        .iter()
        .map(|s| script_path(s))
        .chain(REQUIRED_FILES.iter().map(|p| (*p).to_owned()))
        .collect();
    (capture, note)
}

/// Where the upgrade scripts live in a server package.
const SCRIPT_DIR: &str = "/home/admin/oceanbase/etc/";

fn script_path(name: &str) -> String {
    format!("{SCRIPT_DIR}{name}")
}

/// `declared` holds the SHA-256s the client declared (at start, at finish):
/// each must be the one of the bytes received.
pub fn verify(
    ingested: Ingested,
    declared: &[&Sha256Hex],
    rules: &PackageRules,
) -> Result<Verified> {
    let (preamble, digests) = ingested.digest?;
    check_integrity(&preamble, &digests)?;
    let actual = Sha256Hex::from_bytes(&digests.sha256);
    if let Some(declared) = declared.iter().find(|d| ***d != actual) {
        return Err(Error::Sha256Mismatch {
            declared: declared.to_string(),
            actual: actual.to_string(),
        });
    }
    let scan = ingested.scan?;
    let release = rules.check(&preamble.header)?;
    // The rules read the header; the files they require must also be in the
    // payload, or the upgrade would install a package without them.
    let absent: Vec<String> = required_files(&preamble.header.name)
        .iter()
        .filter(|p| !scan.noted.iter().any(|n| n == *p))
        .map(|p| (*p).to_owned())
        .collect();
    if !absent.is_empty() {
        return Err(Error::MissingFromPayload {
            name: preamble.header.name.clone(),
            files: absent,
        });
    }
    let dep_yaml = match scan.captured.into_iter().find(|(path, _)| path == DEP_YAML) {
        // Stored as text and parsed as YAML by the orchestrator: bytes that
        // are not UTF-8 would be changed by either.
        Some((_, body)) => {
            String::from_utf8(body).map_err(|_| Error::DepYamlNotUtf8 { path: DEP_YAML })?
        }
        None => String::new(),
    };
    let scripts = scan
        .noted
        .iter()
        .filter_map(|p| p.strip_prefix(SCRIPT_DIR))
        .filter(|name| UPGRADE_SCRIPTS.contains(name))
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
