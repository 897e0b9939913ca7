//! Failures of operations: a stable code (obshell's where it has one) and a
//! specific message. These are results, not RPC errors.

use serde::{Deserialize, Serialize};

/// The failure codes the agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// Cancel asked for it.
    Cancelled,
    /// The deadline (or a script's timeout) passed.
    Timeout,
    /// The agent restarted under the operation and it could not continue.
    Interrupted,
    /// A path resolved outside the home and upgrade dir (a symlink met
    /// while working).
    InvalidPath,
    DirNotEmpty,
    WithoutPython,
    WithoutModule,
    DiskSpaceNotEnough,
    /// The package store could not be reached or refused the download.
    DownloadFailed,
    /// The downloaded bytes are not the package asked for.
    DownloadMismatch,
    Md5Mismatch,
    SizeMismatch,
    Sha256Mismatch,
    /// The file is not a readable package; the code is the package store's
    /// for the same defect.
    Package(&'static str),
    /// `observer -V` did not run, exit 0 or print a version block.
    BinaryInvalid,
    /// The binary reports another version or build than expected.
    BinaryVersionUnexpected,
    StopTimeout,
    StartFailed,
    StartTimeout,
    ScriptFailed,
    /// A backup dir or manifest is missing or damaged.
    BackupInvalid,
    /// Anything else (I/O errors): the message says what.
    Unexpected,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "Task.Cancelled",
            Self::Timeout => "Task.Timeout",
            Self::Interrupted => "Task.Interrupted",
            Self::InvalidPath => "Common.InvalidPath",
            Self::DirNotEmpty => "Common.DirNotEmpty",
            Self::WithoutPython => "Environment.WithoutPython",
            Self::WithoutModule => "Environment.WithoutModule",
            Self::DiskSpaceNotEnough => "Environment.DiskSpaceNotEnough",
            Self::DownloadFailed => "Package.Download.Failed",
            Self::DownloadMismatch => "Package.Download.Mismatch",
            Self::Md5Mismatch => "Package.Md5.Mismatch",
            Self::SizeMismatch => "Package.Size.Mismatch",
            Self::Sha256Mismatch => "Package.Sha256.Mismatch",
            Self::Package(code) => code,
            Self::BinaryInvalid => "OB.Binary.Invalid",
            Self::BinaryVersionUnexpected => "OB.Binary.Version.Unexpected",
            Self::StopTimeout => "OB.Server.Stop.Timeout",
            Self::StartFailed => "OB.Server.Start.Failed",
            Self::StartTimeout => "OB.Server.Start.Timeout",
            Self::ScriptFailed => "OB.Upgrade.Script.Failed",
            Self::BackupInvalid => "Backup.Invalid",
            Self::Unexpected => "Common.Unexpected",
        }
    }

    /// The package store's code for an unreadable package, so that a
    /// defect is named the same wherever it is found.
    pub fn of_rpm(e: &obup_rpm::Error) -> Self {
        use obup_rpm::Error as R;
        match e {
            R::NotRpm(_) => Self::Package("Package.NotRpm"),
            R::Truncated(_) => Self::Package("Package.Truncated"),
            R::BadHeader { .. } => Self::Package("Package.Header.Invalid"),
            R::HeaderTooLarge { .. } => Self::Package("Package.Header.TooLarge"),
            R::UnsupportedCompressor(_) => Self::Package("Package.Compression.NotSupported"),
            R::CorruptPayload(_) => Self::Package("Package.Payload.Corrupted"),
            R::UnsafePath(_) => Self::Package("Package.Payload.UnsafePath"),
            R::SpecialFile(_) => Self::Package("Package.Payload.SpecialFile"),
            R::NotInHeader(_) => Self::Package("Package.FileList.Mismatch"),
            R::PayloadTooLarge { .. } => Self::Package("Package.Payload.TooLarge"),
            R::PayloadLargerThanDeclared { .. } => Self::Package("Package.Payload.TooLarge"),
            R::CapturedFileTooLarge { .. } => Self::Package("Package.DepYaml.TooLarge"),
            R::Io(_) => Self::Unexpected,
        }
    }
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct OpFailure {
    /// A [`FailureCode`]'s string (kept as a string: a client may talk to a
    /// newer agent with codes it does not know).
    pub code: String,
    pub message: String,
}

impl OpFailure {
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }

    /// obshell's wording for a task found running after a restart.
    pub fn interrupted() -> Self {
        Self::new(
            FailureCode::Interrupted,
            "task unexpectedly interrupted and cannot continue",
        )
    }

    pub fn unexpected(message: impl Into<String>) -> Self {
        Self::new(FailureCode::Unexpected, message)
    }

    pub fn has_code(&self, code: FailureCode) -> bool {
        self.code == code.as_str()
    }
}

/// An I/O error while doing `what` to `path`.
pub fn io_failure(what: &str, path: impl std::fmt::Display, e: std::io::Error) -> OpFailure {
    OpFailure::unexpected(format!("cannot {what} {path}: {e}"))
}
