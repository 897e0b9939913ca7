//! Test helpers shared by obup's crates. Everything here is real: RPMs built
//! by the `rpm` crate, an S3 server (s3s-fs) on a loopback port, fresh
//! PostgreSQL databases on the local server, and the real OceanBase kernel
//! from PyPI.
//!
//! # Layout
//! - `rpm_fixture`: RPM packages, normal and hostile (re-exported).
//! - `s3`: an in-process S3 server.
//! - `pg`: a fresh PostgreSQL database per test.
//! - `private_pg`: a PostgreSQL server of a test's own, to stop and restart.
//! - `process`: service binaries as real processes, killed with SIGKILL.
//! - `rpmbuild`: packages made by the system's `rpmbuild` from an `RpmSpec`.
//! - `bench`: what the benchmarks share (package, baseline).
//! - `seekdb`: the real OceanBase kernel from PyPI, for the kernel tests.

pub mod bench;
pub mod pg;
pub mod private_pg;
pub mod process;
pub mod rpmbuild;
pub mod s3;
pub mod seekdb;

/// Real RPM packages, normal and hostile (the `obup-rpm-build` crate).
pub use obup_rpm_build as rpm_fixture;

pub use obup_rpm_build::{Compression, CpioSpec, OB_HOME, RpmSpec, cpio_newc};
pub use pg::TestDb;
pub use private_pg::PrivatePostgres;
pub use process::ServiceProcess;
pub use s3::TestS3;
pub use seekdb::Seekdb;

/// Every file below `root` (none if it does not exist), as sorted paths
/// relative to it: what an object store directory holds, say.
pub fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                out.push(relative.display().to_string());
            }
        }
    }
    out.sort();
    out
}
