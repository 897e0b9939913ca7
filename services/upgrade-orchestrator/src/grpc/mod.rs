//! The gRPC face of the orchestrator. Handlers only translate: decode into
//! domain types (`convert`), call the [`Orchestrator`](crate::Orchestrator),
//! encode, and map errors (`status`).

pub mod access;
mod clusters;
mod convert;
mod handler;
mod status;
mod tokens;

pub use handler::server;
pub use tokens::tokens_server;
