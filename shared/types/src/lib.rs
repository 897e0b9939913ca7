//! Vocabulary shared by obup's services, free of I/O.
//!
//! # Layout
//! - `version`: release tags and obshell's version ordering.
//! - `edition`: OceanBase's editions, their packages and product names.
//! - `observer`: what `observer -V` prints, and `DBA_OB_SERVERS.BUILD_VERSION`.

mod edition;
mod observer;
mod version;

pub use edition::Edition;
pub use observer::{ObserverVersion, VersionParseError, split_server_build_version};
pub use version::{Release, compare_versions};
