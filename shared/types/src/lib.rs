//! Vocabulary shared by obup's services, free of I/O.
//!
//! # Layout
//! - `version`: release tags and obshell's version ordering.

mod version;

pub use version::{Release, compare_versions};
