//! The only place where package-store errors become gRPC codes and stable
//! error codes. Exhaustive on purpose: a new error variant must be mapped.

use tonic::{Code, Status};

use crate::Error;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        let (code, error_code) = classify(&e);
        if e.is_internal() {
            tracing::error!(error = %e, error.debug = ?e, error_code, "internal error");
            return obup_kit::status::with_code(code, error_code, public_message(&e));
        }
        obup_kit::status::with_code(code, error_code, e.to_string())
    }
}

/// gRPC code and stable error code of an error. obshell's codes are used
/// where obshell has one for the same condition.
pub(crate) fn classify(e: &Error) -> (Code, &'static str) {
    use Code::*;
    match e {
        Error::Rpm(inner) => classify_rpm(inner),
        Error::NameNotSupported { .. } => (InvalidArgument, "OB.Package.Name.NotSupport"),
        Error::ReleaseFormat(_) => (InvalidArgument, "Package.ReleaseFormat.Invalid"),
        Error::VersionTooOld(_) => (InvalidArgument, "Agent.OBVersionNotSupported"),
        Error::MissingFiles { .. } => (InvalidArgument, "OB.Package.MissingFile"),
        Error::Md5Mismatch { .. } => (InvalidArgument, "Package.Md5.Mismatch"),
        Error::SizeMismatch { .. } => (InvalidArgument, "Package.Size.Mismatch"),
        Error::DigestMismatch { .. } => (InvalidArgument, "Package.Digest.Mismatch"),
        Error::DigestMissing => (InvalidArgument, "Package.Digest.Missing"),
        Error::MissingFromPayload { .. } => (InvalidArgument, "Package.FileList.Mismatch"),
        Error::DepYamlNotUtf8 { .. } => (InvalidArgument, "Package.DepYaml.NotUtf8"),
        Error::Sha256Mismatch { .. } => (InvalidArgument, "Package.Sha256.Mismatch"),
        Error::EmptyStream => (InvalidArgument, "Package.Upload.Empty"),
        Error::MisplacedStart => (InvalidArgument, "Package.Upload.MisplacedStart"),
        Error::NoData => (InvalidArgument, "Package.Upload.Empty"),
        Error::OffsetMismatch { .. } => (FailedPrecondition, "Package.Upload.OffsetMismatch"),
        Error::Incomplete { .. } => (FailedPrecondition, "Package.Upload.Incomplete"),
        Error::Interrupted { .. } => (Aborted, "Package.Upload.Interrupted"),
        Error::MessageTooLarge(_) => (OutOfRange, "Package.Upload.MessageTooLarge"),
        Error::TooLarge { .. } => (InvalidArgument, "Package.Upload.TooLarge"),
        Error::UploadBusy(_) => (Aborted, "Package.Upload.Busy"),
        Error::UploadNotFound(_) => (NotFound, "Package.Upload.NotFound"),
        Error::InvalidArgument { .. } => (InvalidArgument, "Common.IllegalArgument"),
        Error::PackageNotFound(_) => (NotFound, "Package.NotFound"),
        Error::NoMatchingPackage(_) => (NotFound, "OB.Package.NotExist"),
        Error::OffsetOutOfRange { .. } => (OutOfRange, "Package.Download.OffsetOutOfRange"),
        Error::Database(_) | Error::Migrate(_) | Error::Db(_) => (Unavailable, "Common.Unexpected"),
        Error::ObjectStore(_) => (Unavailable, "Common.Unexpected"),
        Error::Config(_) | Error::Internal(_) => (Internal, "Common.Unexpected"),
    }
}

/// What a caller is told about an infrastructure error: which part failed
/// and whether retrying makes sense, not the cause (that goes to the log).
fn public_message(e: &Error) -> &'static str {
    match e {
        Error::Database(_) | Error::Migrate(_) | Error::Db(_) => {
            "the package store's database is unavailable; retry (an upload resumes from the \
             offset GetUploadStatus reports); details are in the package store's log"
        }
        Error::ObjectStore(_) => {
            "the package store's object storage is unavailable; retry; details are in the \
             package store's log"
        }
        _ => "internal error; see the package store's log",
    }
}

fn classify_rpm(e: &obup_rpm::Error) -> (Code, &'static str) {
    use Code::*;
    use obup_rpm::Error as R;
    match e {
        R::NotRpm(_) => (InvalidArgument, "Package.NotRpm"),
        R::Truncated(_) => (InvalidArgument, "Package.Truncated"),
        R::BadHeader { .. } => (InvalidArgument, "Package.Header.Invalid"),
        R::HeaderTooLarge { .. } => (InvalidArgument, "Package.Header.TooLarge"),
        R::UnsupportedCompressor(_) => (InvalidArgument, "Package.Compression.NotSupported"),
        R::CorruptPayload(_) => (InvalidArgument, "Package.Payload.Corrupted"),
        R::UnsafePath(_) => (InvalidArgument, "Package.Payload.UnsafePath"),
        R::SpecialFile(_) => (InvalidArgument, "Package.Payload.SpecialFile"),
        R::NotInHeader(_) => (InvalidArgument, "Package.FileList.Mismatch"),
        R::PayloadTooLarge { .. } => (InvalidArgument, "Package.Payload.TooLarge"),
        R::PayloadLargerThanDeclared { .. } => (InvalidArgument, "Package.Payload.TooLarge"),
        R::CapturedFileTooLarge { .. } => (InvalidArgument, "Package.DepYaml.TooLarge"),
        R::Io(_) => (Internal, "Common.Unexpected"),
    }
}
