//! The agent's vocabulary, free of I/O and of transport types: work items,
//! outputs, failures, events and journal states. `grpc/convert.rs`
//! translates them to and from the proto at the edge.

pub mod facts;
pub mod failure;
pub mod op;
pub mod output;
pub mod paths;
pub mod work;

pub use facts::{DirFacts, HostFacts, ObserverFacts};
pub use failure::{FailureCode, OpFailure, io_failure};
pub use op::{
    Accepted, CancelStatus, Event, Level, LogLine, OpKey, OpState, Progress, RunSpec, Secret,
    now_ms,
};
pub use output::{
    BackupEntry, BackupManifest, FetchOutput, InstallOutput, ObserverBuild, OpOutput, OpResult,
    Outcome, Python, RestoreOutput, ScriptOutput, StartOutput, StopOutput, UnpackOutput,
    VerifyOutput,
};
pub use paths::{HostPath, PathSyntaxError};
pub use work::{
    Backup, CheckBinary, CheckPython, ExpectedBuild, FetchPackage, Install, InstallScope,
    PrepareDir, RemoveDir, RestoreBackup, RunUpgradeScript, StartObserver, Unpack, VerifyPackage,
    Work,
};
