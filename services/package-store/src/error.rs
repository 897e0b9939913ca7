//! The package store's one error type. `grpc/status.rs` is the only place
//! that turns it into codes.

/// Everything the package store can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- the package itself ----
    /// The bytes are not a readable RPM (inner variant says why).
    #[error(transparent)]
    Rpm(#[from] obup_rpm::Error),
    #[error("Unsupported name '{name}', the supported names are [{supported}]")]
    NameNotSupported { name: String, supported: String },
    #[error("Release format {0} is illegal")]
    ReleaseFormat(String),
    #[error("Unsupported OB version '{0}', the minimum supported version is '4.2.0.0'")]
    VersionTooOld(String),
    #[error("These files are missing in package '{name}': '[{}]'", files.join(" "))]
    MissingFiles { name: String, files: Vec<String> },
    #[error(
        "MD5 checksum validation failed: the signature says {expected}, header and payload hash to {actual}"
    )]
    Md5Mismatch { expected: String, actual: String },
    #[error(
        "size mismatch: the signature says header and payload are {expected} bytes, but {actual} were received"
    )]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("{what} digest mismatch: the package says {expected}, the bytes hash to {actual}")]
    DigestMismatch {
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("the package has no digest of its payload (neither signature MD5 nor payload SHA-256)")]
    DigestMissing,
    #[error(
        "the header of package '{name}' lists files its payload does not hold: '[{}]'", files.join(" ")
    )]
    MissingFromPayload { name: String, files: Vec<String> },
    #[error("{path} is not UTF-8 text")]
    DepYamlNotUtf8 { path: &'static str },
    #[error("SHA-256 mismatch: the upload declared {declared}, the bytes hash to {actual}")]
    Sha256Mismatch { declared: String, actual: String },

    // ---- the upload protocol ----
    #[error("the upload stream is empty: its first message must be `start`")]
    EmptyStream,
    #[error("the first message of an upload must be `start`, and only the first")]
    MisplacedStart,
    #[error("the upload carried no data")]
    NoData,
    #[error(
        "wrong offset {got}: the upload has received {expected} bytes, so the next chunk must start there"
    )]
    OffsetMismatch { expected: u64, got: u64 },
    #[error("upload {id} stopped at {received} of {total} bytes; resume it from offset {received}")]
    Incomplete {
        id: String,
        received: u64,
        total: u64,
    },
    #[error("upload {id} was interrupted at offset {received} ({reason}); resume it from there")]
    Interrupted {
        id: String,
        received: u64,
        reason: String,
    },
    #[error(
        "an upload message is larger than the server accepts ({0}); send data in chunks of at most 1 MiB"
    )]
    MessageTooLarge(String),
    #[error("the upload exceeds {limit} bytes ({what})")]
    TooLarge { limit: u64, what: &'static str },
    #[error("upload {0} is already being written by another stream")]
    UploadBusy(String),
    #[error("upload session {0} does not exist (it finished, failed or expired)")]
    UploadNotFound(String),
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },

    // ---- lookups ----
    #[error("package {0} does not exist")]
    PackageNotFound(i64),
    #[error("These packages are missing: '[{0}]'")]
    NoMatchingPackage(String),
    #[error("offset {offset} is past the end of package {id} ({size} bytes)")]
    OffsetOutOfRange { id: i64, offset: u64, size: u64 },

    // ---- infrastructure ----
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Db(#[from] obup_kit::db::DbError),
    #[error("object storage error: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error("configuration error: {0}")]
    Config(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// True for errors caused by the infrastructure rather than the request;
    /// these are logged with their cause and answered with a generic message.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Database(_)
                | Self::Migrate(_)
                | Self::ObjectStore(_)
                | Self::Config(_)
                | Self::Internal(_)
        ) || matches!(self, Self::Rpm(obup_rpm::Error::Io(_)))
    }
}

/// The package store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
