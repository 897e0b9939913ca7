//! Free space, as obshell checks it before a download
//! (`Environment.DiskSpaceNotEnough`).

use std::path::Path;

/// Free bytes (for an unprivileged user) and total bytes of the filesystem
/// holding `path`, or its nearest existing ancestor.
pub fn space(path: &Path) -> Option<(u64, u64)> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let st = nix::sys::statvfs::statvfs(existing).ok()?;
    let frsize = st.fragment_size() as u64;
    Some((
        st.blocks_available() as u64 * frsize,
        st.blocks() as u64 * frsize,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_path_reports_its_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let (free, total) = super::space(&dir.path().join("not/yet")).unwrap();
        assert!(total > 0 && free <= total);
    }
}
