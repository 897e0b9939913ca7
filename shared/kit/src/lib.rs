//! Plumbing every obup service shares, so that each service crate holds only
//! its own logic.
//!
//! # Layout
//! - `audit`: the audit trail of mutating calls (allowed and refused).
//! - `auth`: bearer tokens with roles, checked in front of every gRPC route.
//! - `db`: SQL pools over PostgreSQL or SQLite with per-backend migrations.
//! - `telemetry`: tracing subscriber set-up.
//! - `fs`: files only their owner may read (keys, tokens).
//! - `grpc`: serving gRPC services with health and reflection on one router.
//! - `status`: stable error codes carried on `tonic::Status`.
//! - `shutdown`: the process shutdown signal.
//! - `tls`: mutual TLS configs from PEM files, and a development PKI.

pub mod audit;
pub mod auth;
pub mod db;
pub mod fs;
pub mod grpc;
pub mod sha256;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod tls;
