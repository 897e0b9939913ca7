//! The upgrade orchestrator: plans OceanBase upgrade routes from a package's
//! dep YAML, lays them out as a DAG of stages, runs the DAG durably and
//! streams every state change.
//!
//! # Layout
//! - `domain`: routes, DAG templates, states and the DAG's transition rules
//!   (no I/O).
//! - `storage`: the DAG repository over PostgreSQL or SQLite; every change
//!   and its event in one transaction.
//! - `engine`: claims READY sub-tasks under leases and runs them, driven by
//!   changes rather than a tick.
//! - `tasks`: what each sub-task does: SQL through the cluster's driver,
//!   host work through the agent on each host.
//! - `clusters`: registered clusters, their sealed passwords, their agents
//!   and topology; `driver`: SQL to a sys tenant.
//! - `tokens`: API tokens (made, listed, revoked; checked by every
//!   service's gate).
//! - `packages`: the package store, as the orchestrator uses it.
//! - `plan`: checks and planning of an upgrade request.
//! - `events`: in-process fan-out of committed events; `relay`: events of
//!   other orchestrators on the same PostgreSQL, into that fan-out.
//! - [`Orchestrator`]: the operations; `grpc`: the thin gRPC layer.

pub mod clusters;
mod config;
pub mod domain;
pub mod driver;
pub mod engine;
mod error;
pub mod events;
pub mod grpc;
pub mod packages;
pub mod plan;
mod relay;
mod service;
pub mod startup;
pub mod storage;
pub mod tasks;
pub mod tokens;

pub use config::{AgentTlsFiles, Config, SecretKeySource};
pub use error::{Error, Result};
pub use service::{Orchestrator, WatchItem};
