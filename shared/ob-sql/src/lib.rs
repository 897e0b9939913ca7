//! The SQL obup speaks to an OceanBase sys tenant, and nothing else.
//!
//! This crate is **the only place SQL text for OceanBase is built** (the
//! driver sends nothing it did not build) and the catalogue the simulator
//! answers, so that the two cannot drift apart: every statement builder
//! names its [`catalogue`] entry, and a test checks that the builder's text
//! is the entry's example. obsim's tests send every entry's example over the
//! MySQL protocol and check the columns it answers with.
//!
//! Sources: `../shared/spec/real-driver.md` §1 (obshell's and OBD's
//! statements), §2 (the upgrade scripts'), §4.3 (what OceanBase refuses).
//!
//! # Layout
//! - `ident`: validated identifiers and escaped string literals.
//! - `statements`: one function per statement the driver sends.
//! - `catalogue`: every statement shape obsim answers, with its columns.
//! - `row`: a result row as text, and tolerant scalar decoding.
//! - `decode`: rows into domain types (zones, servers, parameters).

pub mod catalogue;
pub mod decode;
pub mod ident;
pub mod row;
pub mod statements;

pub use catalogue::{CATALOGUE, Column, Shape, SqlType};
pub use decode::{ParamRow, Scope, ServerRow, ServerStatus, ZoneRow, ZoneStatus};
pub use ident::{Ident, IdentError};
pub use row::scalar_int;
pub use row::{DecodeError, Row};
pub use statements::Sql;
