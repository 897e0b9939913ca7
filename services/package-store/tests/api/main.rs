//! API tests of the package store: the real gRPC server on a loopback port,
//! real SQLite / PostgreSQL, real local files / S3 (s3s-fs).

mod bad_input;
mod helpers;
mod hostile;
mod lookup;
mod repository;
mod resume;
mod single_pass;
mod system_rpm;
mod upload;
