//! The agent's API tests: one binary, real processes and files, a real
//! package store in the same process.

mod confinement;
mod helpers;
mod idempotency;
mod observer;
mod packages;
mod scripts;
mod tls;
