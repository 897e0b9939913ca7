//! Bad input tables against the whole system as `obup dev` runs it: REST
//! requests through the gateway and gRPC calls to both services. Each row
//! gets its specific error; nothing is stored.

mod audit;
mod auth;
#[path = "../common/mod.rs"]
mod common;
mod console;
mod grpc;
mod rest;
mod tls;
