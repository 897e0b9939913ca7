//! The gRPC face of the package store. Handlers only translate: decode into
//! domain types (`convert`), call the [`PackageStore`](crate::PackageStore),
//! encode, and map errors (`status`).

pub mod access;
mod convert;
mod handler;
mod status;

pub use handler::{MAX_MESSAGE_BYTES, server};
