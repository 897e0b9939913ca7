//! The host agent: a gRPC server on each OceanBase host, driven by
//! whichever orchestrator holds a sub-task. It does typed host operations
//! (never arbitrary shell), journals them so that each runs once per
//! attempt, and survives its own restarts and its clients' (real-driver.md
//! §5.2).
//!
//! # Layout
//! - `domain`: work items, outputs, failures, events (no I/O).
//! - `host`: the registered home and upgrade dir and path confinement; the
//!   observer process, its ports and `-V`; Pythons; free space.
//! - `journal`: the SQLite journal of operations and their logs.
//! - `ops`: admission of `Run`s (start, attach, continue, refuse), cancel,
//!   forget; the log writer; the event streams.
//! - `work`: what each operation does.
//! - `facts`: what the host is.
//! - `grpc`: the thin gRPC layer; `client`: the typed client.
//! - `startup`: the server and its in-process handle; `config`: flags.

pub mod client;
pub mod config;
pub mod domain;
mod error;
pub mod facts;
pub mod grpc;
pub mod host;
pub mod journal;
pub mod ops;
pub mod startup;
pub mod work;

pub use client::AgentClient;
pub use config::Config;
pub use error::{Error, Result};
pub use startup::{Agent, AgentHandle};
