//! `obup`: the all-in-one dev server and the client commands, as a library
//! so that end-to-end tests can drive the same code in-process.
//!
//! # Layout
//! - `dev`: `obup dev`, every service in one process on embedded storage.
//! - `upload`: `obup upload`, resumable client-streamed uploads.
//! - `health`: `obup health`, a gRPC health probe.

pub mod dev;
pub mod health;
pub mod upload;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Stores OceanBase upgrade packages and runs OceanBase cluster upgrades.
#[derive(Debug, Parser)]
#[command(name = "obup", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs every obup service in one process on embedded storage (SQLite
    /// and local files under --data-dir).
    ///
    /// Example: obup dev --listen 127.0.0.1:2886 --data-dir ./obup-data
    Dev(dev::DevArgs),
    /// Uploads RPM packages to the package store and prints what was stored.
    ///
    /// An interrupted upload resumes where the server stopped when the same
    /// command is run again; bytes the server already holds are not sent.
    ///
    /// Example: obup upload oceanbase-ce-4.3.5.0-100000202024123117.el7.x86_64.rpm
    Upload {
        /// RPM files to upload.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The obup server.
        #[arg(long, env = "OBUP_SERVER", default_value = "http://127.0.0.1:2886")]
        server: String,
        /// Print the package records as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Checks that a server answers gRPC health checks; exits non-zero if
    /// not. For container health checks and scripts.
    ///
    /// Example: obup health --server http://127.0.0.1:2886 obup.packagestore.v1.PackageStore
    Health {
        /// The obup server.
        #[arg(long, env = "OBUP_SERVER", default_value = "http://127.0.0.1:2886")]
        server: String,
        /// Services that must be serving (default: the server as a whole).
        services: Vec<String>,
    },
}

/// Runs a parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Dev(args) => runtime.block_on(dev::run(args)),
        Command::Upload {
            files,
            server,
            json,
        } => runtime.block_on(upload::run(&server, &files, json)),
        Command::Health { server, services } => runtime.block_on(health::run(&server, &services)),
    }
}
