//! The 96-byte lead that opens every RPM file.

use std::io::Read;

use crate::Error;

/// Bytes in the lead.
pub const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xED, 0xAB, 0xEE, 0xDB];

/// What the lead says. Modern tools ignore most of it (the header is
/// authoritative); we keep the format version for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    pub major: u8,
    pub minor: u8,
}

impl Lead {
    pub(crate) fn read(r: &mut impl Read) -> Result<Self, Error> {
        let mut buf = [0u8; LEAD_SIZE];
        let mut filled = 0;
        while filled < LEAD_SIZE {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
        if filled == 0 {
            return Err(Error::NotRpm("the stream is empty".into()));
        }
        // A short file that does not start like an RPM is not an RPM; one
        // that does is a truncated RPM.
        if filled < 4 || buf[..4] != LEAD_MAGIC {
            return Err(Error::NotRpm(format!(
                "bad lead magic {:02x}{:02x}{:02x}{:02x}",
                buf[0], buf[1], buf[2], buf[3]
            )));
        }
        if filled < LEAD_SIZE {
            return Err(Error::Truncated("lead"));
        }
        let (major, minor) = (buf[4], buf[5]);
        if !(3..=4).contains(&major) {
            return Err(Error::NotRpm(format!(
                "unsupported RPM format {major}.{minor}"
            )));
        }
        Ok(Self { major, minor })
    }
}

/// Reads exactly `buf.len()` bytes; an early end is `Truncated(what)`.
pub(crate) fn read_full(
    r: &mut impl Read,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), Error> {
    r.read_exact(buf).map_err(Error::reading(what))
}
