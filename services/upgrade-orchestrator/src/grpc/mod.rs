//! The gRPC face of the orchestrator. Handlers only translate: decode into
//! domain types (`convert`), call the [`Orchestrator`](crate::Orchestrator),
//! encode, and map errors (`status`).

mod clusters;
mod convert;
mod handler;
mod status;

pub use handler::server;
