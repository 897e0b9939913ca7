//! What `observer -V` prints, and the build string OceanBase derives from it.
//!
//! The block comes from `print_version` in OceanBase's `src/observer/main.cpp`
//! (`MPRINT("observer (%s)\n", PACKAGE_STRING)`, then `REVISION`,
//! `BUILD_BRANCH`, `BUILD_TIME`, `BUILD_FLAGS`, `BUILD_INFO` and the
//! copyright line), written to stderr with exit code 0. A real 4.x observer:
//!
//! ```text
//! observer (OceanBase_CE 4.2.1.0)
//!
//! REVISION: 100000102023092807-7b0f43693565654bb1d7343f728bba7a1e3c4b35
//! BUILD_BRANCH: HEAD
//! BUILD_TIME: Sep 28 2023 07:09:06
//! BUILD_FLAGS: RelWithDebInfo
//! BUILD_INFO:
//!
//! Copyright (c) 2011-present OceanBase Inc.
//! ```
//!
//! There is no `BUILD_VERSION` line: the version is the last word in the
//! parentheses of the first line, the build is `REVISION` up to its first
//! `-` (the rest is the source commit). The OceanBase-derived server in
//! PyPI's `pylibseekdb` (run here) prints the same layout, preceded by a
//! `Starting seekdb (...) source revision ...` line, with `BUILD_INFO: `
//! keeping its trailing space and a space-padded day in `BUILD_TIME`
//! (`Sep  8 2026`, C's `__DATE__`).

use std::fmt;

use crate::Edition;

/// What one `observer -V` printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserverVersion {
    /// The executable's name on the first line: `observer` (`seekdb` for
    /// the PyPI kernel).
    pub executable: String,
    /// What precedes the version in the parentheses: `OceanBase_CE`,
    /// `OceanBase`, `OceanBase seekdb`.
    pub product: String,
    /// e.g. `4.2.1.0`
    pub version: String,
    /// `<build>-<source commit>`, e.g.
    /// `100000102023092807-7b0f43693565654bb1d7343f728bba7a1e3c4b35`.
    pub revision: String,
    /// `BUILD_BRANCH`, e.g. `HEAD`.
    pub branch: String,
    /// `BUILD_TIME` as printed, e.g. `Sep 28 2023 07:09:06`.
    pub build_time: String,
    /// `BUILD_FLAGS`, e.g. `RelWithDebInfo`.
    pub flags: String,
    /// `BUILD_INFO`, usually empty.
    pub info: String,
}

/// Why a `-V` output could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionParseError {
    /// No line `<executable> (<product> <version>)`.
    NoVersionLine,
    /// No `REVISION:` line after the version line.
    NoRevision,
    /// `REVISION` has no build number before its `-`.
    EmptyBuild(String),
}

impl fmt::Display for VersionParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoVersionLine => write!(
                f,
                "no version line of the form `observer (OceanBase_CE 4.2.1.0)`"
            ),
            Self::NoRevision => write!(f, "no `REVISION:` line after the version line"),
            Self::EmptyBuild(r) => write!(f, "REVISION `{r}` has no build number"),
        }
    }
}

impl std::error::Error for VersionParseError {}

impl ObserverVersion {
    /// Reads the block out of everything a `-V` run printed (stdout and
    /// stderr together, in any order, with other lines around it).
    pub fn parse(text: &str) -> Result<Self, VersionParseError> {
        let mut lines = text.lines().map(str::trim_end);
        let (executable, product, version) = lines
            .by_ref()
            .find_map(version_line)
            .ok_or(VersionParseError::NoVersionLine)?;
        let mut fields = Fields::default();
        for line in lines {
            if let Some((key, value)) = line.split_once(':') {
                fields.set(key.trim(), value.trim());
            }
        }
        let revision = fields.revision.ok_or(VersionParseError::NoRevision)?;
        let build = revision.split('-').next().unwrap_or_default();
        if build.is_empty() || build.contains(char::is_whitespace) {
            return Err(VersionParseError::EmptyBuild(revision));
        }
        Ok(Self {
            executable: executable.to_owned(),
            product: product.to_owned(),
            version: version.to_owned(),
            revision,
            branch: fields.branch.unwrap_or_default(),
            build_time: fields.build_time.unwrap_or_default(),
            flags: fields.flags.unwrap_or_default(),
            info: fields.info.unwrap_or_default(),
        })
    }

    /// The edition the product name stands for.
    pub fn edition(&self) -> Option<Edition> {
        Edition::from_product(&self.product)
    }

    /// The build number: `REVISION` up to its first `-`.
    pub fn build(&self) -> &str {
        self.revision.split('-').next().unwrap_or_default()
    }

    /// obup's `<version>-<build>` (the RPM's version and the build number
    /// of its release tag), e.g. `4.2.1.0-100000102023092807`.
    pub fn version_build(&self) -> String {
        format!("{}-{}", self.version, self.build())
    }

    /// `DBA_OB_SERVERS.BUILD_VERSION` of a server running this binary:
    /// `<version>_<REVISION>(<BUILD_TIME>)` (real-driver.md §0).
    pub fn server_build_version(&self) -> String {
        format!("{}_{}({})", self.version, self.revision, self.build_time)
    }

    /// The block exactly as an observer prints it: each `MPRINT` adds a
    /// newline, so the version line and `BUILD_INFO` are followed by an
    /// empty line and the copyright by one more.
    pub fn render(&self) -> String {
        format!(
            "{} ({} {})\n\nREVISION: {}\nBUILD_BRANCH: {}\nBUILD_TIME: {}\nBUILD_FLAGS: {}\n\
             BUILD_INFO: {}\n\nCopyright (c) 2011-present OceanBase Inc.\n\n",
            self.executable,
            self.product,
            self.version,
            self.revision,
            self.branch,
            self.build_time,
            self.flags,
            self.info
        )
    }
}

/// `observer (OceanBase_CE 4.2.1.0)` -> (`observer`, `OceanBase_CE`, `4.2.1.0`).
fn version_line(line: &str) -> Option<(&str, &str, &str)> {
    let (executable, rest) = line.trim().split_once(" (")?;
    let inside = rest.strip_suffix(')')?;
    let (product, version) = inside.trim().rsplit_once(' ')?;
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let valid = !executable.is_empty()
        && !executable.contains(char::is_whitespace)
        && !product.trim().is_empty()
        && version.split('.').count() >= 2
        && version.split('.').all(numeric);
    valid.then(|| (executable, product.trim(), version))
}

#[derive(Default)]
struct Fields {
    revision: Option<String>,
    branch: Option<String>,
    build_time: Option<String>,
    flags: Option<String>,
    info: Option<String>,
}

impl Fields {
    /// Keeps the first value of each key: a later line of the same name
    /// would come from something other than the version block.
    fn set(&mut self, key: &str, value: &str) {
        let slot = match key {
            "REVISION" => &mut self.revision,
            "BUILD_BRANCH" => &mut self.branch,
            "BUILD_TIME" => &mut self.build_time,
            "BUILD_FLAGS" => &mut self.flags,
            "BUILD_INFO" => &mut self.info,
            _ => return,
        };
        slot.get_or_insert_with(|| value.to_owned());
    }
}

/// A server's `BUILD_VERSION` as the sys tenant reports it, split the way
/// obshell reads it: cut at the first `-`, then version and build at the
/// `_` (`4.2.1.0_100000102023092807-7b0f...(Sep 28 2023 07:09:06)` ->
/// (`4.2.1.0`, `100000102023092807`)). A value without the commit part is
/// cut at `(` instead.
pub fn split_server_build_version(s: &str) -> Option<(&str, &str)> {
    let head = s.split(['-', '(']).next()?.trim();
    let (version, build) = head.split_once('_')?;
    (!version.is_empty() && !build.is_empty()).then_some((version, build))
}

#[cfg(test)]
mod tests;
