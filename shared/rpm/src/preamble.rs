//! Everything before the payload: lead, signature (padded to 8 bytes) and the
//! main header.

use std::io::Read;

use crate::Error;
use crate::header::{Header, PackageHeader, Signature};
use crate::lead::{LEAD_SIZE, Lead};

/// Bounds on what a package may make us hold in memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest signature header (index + store) accepted.
    pub signature_bytes: u64,
    /// Largest main header (index + store) accepted. Real OceanBase packages
    /// have headers of a few hundred KiB.
    pub header_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            signature_bytes: 1 << 20,
            header_bytes: 32 << 20,
        }
    }
}

/// Lead, signature and main header of a package.
#[derive(Debug, Clone)]
pub struct Preamble {
    pub lead: Lead,
    pub signature: Signature,
    pub header: PackageHeader,
    /// The main header's raw bytes, as hashed by signature digests.
    pub header_raw: Vec<u8>,
    /// File offset of the main header (lead + signature + padding).
    pub header_offset: u64,
}

/// Reads lead, signature and main header from `r`, leaving `r` at the first
/// payload byte.
pub fn read_preamble(r: &mut impl Read, limits: &Limits) -> Result<Preamble, Error> {
    let lead = Lead::read(r)?;
    let (sig, sig_raw) = Header::read(r, "signature", limits.signature_bytes)?;
    let pad = (8 - sig_raw.len() % 8) % 8;
    let mut padding = [0u8; 8];
    r.read_exact(&mut padding[..pad])
        .map_err(Error::reading("signature padding"))?;
    let signature = Signature::from_header(&sig)?;
    let (main, header_raw) = Header::read(r, "header", limits.header_bytes)?;
    Ok(Preamble {
        lead,
        signature,
        header: PackageHeader::from_header(&main, limits.header_bytes)?,
        header_offset: (LEAD_SIZE + sig_raw.len() + pad) as u64,
        header_raw,
    })
}
