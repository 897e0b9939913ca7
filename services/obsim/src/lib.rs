//! obsim: an OceanBase cluster's sys tenant over the MySQL protocol, with
//! real observer processes that it observes, for the real driver, the agent
//! and the upgrade scripts to run against (real-driver.md §5.3).
//!
//! It is not a SQL engine: it answers a closed catalogue of statements
//! (`obup_ob_sql::CATALOGUE`, shared with the driver) from a cluster state
//! that changes when observer processes die and come back, and refuses
//! everything else loudly.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! let sim = obup_obsim::Simulator::start(obup_obsim::Config::for_tests("/tmp/d")).await?;
//! let endpoints = sim.sql_endpoints(); // 127.A.B.n:2881, one per server
//! sim.stop().await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `config`: the typed configuration (CLI and in-process), unverified
//!   error codes as parameters.
//! - `state/`: the cluster model and its transitions, pure.
//! - `sql/`: normalization, the pattern table, views and handlers.
//! - `engine`: the shared core: state lock, matcher, transcript, faults.
//! - `mysql`, `wire`, `wire_in`: listeners, the opensrv-mysql shim, the packet
//!   writer, the packet-at-a-time reader.
//! - `hosts`, `observe`: homes laid out from packages; processes observed.
//! - `faults`, `transcript`, `status`, `control`: the control surface.
//! - `sim`: start, stop, and the in-process `Handle`.

pub mod config;
pub mod control;
pub mod engine;
pub mod faults;
pub mod hosts;
pub mod mysql;
pub mod observe;
pub mod sim;
pub mod sql;
pub mod state;
pub mod status;
pub mod transcript;
pub mod wire;
pub mod wire_in;

pub use config::{Config, ErrorCodes, Scenario};
pub use faults::{FaultAction, FaultSpec};
pub use sim::{Handle, Info, Simulator};
pub use state::{Timing, Transition};
pub use status::Status;
