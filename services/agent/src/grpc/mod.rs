//! The thin gRPC layer: `handler` translates calls, `convert` translates
//! messages, `status` translates errors.

pub mod convert;
mod handler;
mod status;

pub use handler::{Handler, server};
