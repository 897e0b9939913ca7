//! The package store: streamed RPM ingest into SQL metadata and object
//! storage, served over gRPC (`obup.packagestore.v1.PackageStore`).
//!
//! # Layout
//! - `domain`: packages, releases, upload sessions and the package rules.
//! - `storage`: the SQL [`Repository`](storage::Repository) (PostgreSQL or
//!   SQLite) and [`Blobs`](storage::Blobs) (object storage).
//! - `upload`: the upload path: sessions, the one-pass pipeline, verification,
//!   commit and the sweeper.
//! - [`PackageStore`]: the operations, independent of transport.
//! - `grpc`: the thin gRPC layer.
//! - `startup`: wiring for a standalone server.

pub mod config;
pub mod domain;
mod error;
pub mod grpc;
mod service;
pub mod startup;
pub mod storage;
pub mod upload;

pub use config::Config;
pub use error::{Error, Result};
pub use service::PackageStore;
