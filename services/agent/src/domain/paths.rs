//! Host paths as work items carry them: absolute, normalised, without `..`.
//! Where such a path may point (under the observer home or the upgrade dir,
//! after symlinks) is decided by `host::Host::confine`, which needs the
//! filesystem; this type is only the syntax.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// An absolute host path (`/home/admin/oceanbase/bin`), normalised: no `.`,
/// no `..`, no empty components, no trailing `/` (except the root itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPath(String);

/// Why a string is not a host path. The wording completes obshell's
/// `Common.InvalidPath` message "path '%s' is not valid: %s".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathSyntaxError {
    #[error("it is empty")]
    Empty,
    #[error("it is not absolute")]
    NotAbsolute,
    #[error("it contains `..`")]
    DotDot,
    #[error("it contains a NUL byte")]
    Nul,
    #[error("it is longer than 4096 bytes")]
    TooLong,
}

impl HostPath {
    /// Parses and normalises (`/a//b/./c/` is `/a/b/c`).
    pub fn parse(s: &str) -> Result<Self, PathSyntaxError> {
        if s.is_empty() {
            return Err(PathSyntaxError::Empty);
        }
        // PATH_MAX: anything longer cannot be opened anyway.
        if s.len() > 4096 {
            return Err(PathSyntaxError::TooLong);
        }
        if s.contains('\0') {
            return Err(PathSyntaxError::Nul);
        }
        if !s.starts_with('/') {
            return Err(PathSyntaxError::NotAbsolute);
        }
        let mut parts = Vec::new();
        for part in s.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(PathSyntaxError::DotDot),
                p => parts.push(p),
            }
        }
        Ok(Self(format!("/{}", parts.join("/"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }

    /// The components after the leading `/`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|p| !p.is_empty())
    }

    /// This path with `rel` (a relative path of plain components) appended.
    pub fn join(&self, rel: &str) -> Result<Self, PathSyntaxError> {
        Self::parse(&format!("{}/{rel}", self.0))
    }

    /// Whether this path is `base` or lies below it (by components:
    /// `/a/bc` is not below `/a/b`).
    pub fn is_within(&self, base: &HostPath) -> bool {
        self.relative_to(base).is_some()
    }

    /// Whether this path lies strictly below `base`.
    pub fn is_below(&self, base: &HostPath) -> bool {
        self.relative_to(base).is_some_and(|r| !r.is_empty())
    }

    /// The part of this path below `base` (`""` for `base` itself).
    pub fn relative_to(&self, base: &HostPath) -> Option<&str> {
        if base.0 == "/" {
            return Some(self.0.trim_start_matches('/'));
        }
        let rest = self.0.strip_prefix(&base.0)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('/')
        }
    }

    /// The last component (`""` for the root).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }

    /// The directory holding this path (the root for the root).
    pub fn parent(&self) -> HostPath {
        match self.0.rsplit_once('/') {
            Some(("", _)) | None => Self("/".into()),
            Some((dir, _)) => Self(dir.into()),
        }
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for HostPath {
    type Error = PathSyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<HostPath> for String {
    fn from(p: HostPath) -> Self {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses() {
        assert_eq!(HostPath::parse("/a//b/./c/").unwrap().as_str(), "/a/b/c");
        assert_eq!(HostPath::parse("/").unwrap().as_str(), "/");
        assert_eq!(HostPath::parse("a/b"), Err(PathSyntaxError::NotAbsolute));
        assert_eq!(HostPath::parse("/a/../b"), Err(PathSyntaxError::DotDot));
        assert_eq!(HostPath::parse("/a/.."), Err(PathSyntaxError::DotDot));
        assert_eq!(HostPath::parse(""), Err(PathSyntaxError::Empty));
        assert_eq!(HostPath::parse("/a\0b"), Err(PathSyntaxError::Nul));
        // `..` inside a name is just a name.
        assert!(HostPath::parse("/a/..b/c..").is_ok());
    }

    #[test]
    fn containment_is_by_components() {
        let home = HostPath::parse("/home/admin/oceanbase").unwrap();
        let bin = HostPath::parse("/home/admin/oceanbase/bin/observer").unwrap();
        let sibling = HostPath::parse("/home/admin/oceanbase2/bin").unwrap();
        assert!(bin.is_below(&home));
        assert_eq!(bin.relative_to(&home), Some("bin/observer"));
        assert!(home.is_within(&home));
        assert!(!home.is_below(&home));
        assert!(!sibling.is_within(&home));
        let root = HostPath::parse("/").unwrap();
        assert_eq!(
            bin.relative_to(&root),
            Some("home/admin/oceanbase/bin/observer")
        );
        assert_eq!(bin.parent().as_str(), "/home/admin/oceanbase/bin");
        assert_eq!(HostPath::parse("/x").unwrap().parent().as_str(), "/");
        assert_eq!(bin.file_name(), "observer");
    }
}
