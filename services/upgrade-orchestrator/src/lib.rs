//! The upgrade orchestrator: plans OceanBase upgrade routes from a package's
//! dep YAML, lays them out as a DAG of stages, runs the DAG durably and
//! streams every state change.
//!
//! # Layout
//! - `domain`: routes, DAG templates, states and operators (no I/O).

pub mod domain;
