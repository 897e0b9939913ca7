//! `obup`: the all-in-one dev server and the client commands, as a library
//! so that end-to-end tests can drive the same code in-process.
//!
//! # Layout
//! - `dev`: `obup dev`, every service in one process on embedded storage;
//!   `demo`: its `--demo` packages.
//! - `upload`, `packages`: the package store's commands.
//! - `upgrade`, `dag`, `cluster`: the orchestrator's commands; `watch`: the
//!   live view.
//! - `health`: a gRPC health probe. `client`: connections and errors.
//! - `audit`: the services' audit trails.

mod audit;
mod client;
pub use client::{use_tls_for, use_token_for};
mod cluster;
mod dag;
pub mod demo;
pub mod dev;
pub mod dev_tls;
pub mod dev_tokens;
mod health;
mod packages;
mod token;
pub mod token_files;
mod upgrade;
pub mod upload;
mod watch;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use obup_proto::pb::orchestrator::v1::DagFilter;

/// Stores OceanBase upgrade packages and runs OceanBase cluster upgrades.
///
/// Start everything locally with `obup dev --demo`, then:
///   obup upgrade plan --version 4.3.5.0 --release 100000202024123117.el7
///   obup upgrade start --version 4.3.5.0 --release 100000202024123117.el7 --watch
#[derive(Debug, Parser)]
#[command(name = "obup", version, about, verbatim_doc_comment)]
pub struct Cli {
    /// The obup server.
    #[arg(
        long,
        global = true,
        env = "OBUP_SERVER",
        default_value = "http://127.0.0.1:2886"
    )]
    pub server: String,
    /// The API token to call the server with (`obup token create` makes
    /// them). Default: the one `obup dev` wrote for this server's loopback
    /// address under ~/.config/obup/tokens.
    #[arg(long, global = true, env = "OBUP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificates (PEM) to trust for an `https://` server. Default: the
    /// CA `obup dev --tls` published for the server's loopback address,
    /// else the system's.
    #[arg(long, global = true, env = "OBUP_TLS_CA")]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) to present over TLS: an identity instead
    /// of a token, when the server trusts its CA. Needs --key.
    #[arg(long, global = true, env = "OBUP_TLS_CLIENT_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The key of --cert (PEM).
    #[arg(long, global = true, env = "OBUP_TLS_CLIENT_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs every obup service in one process on embedded storage (SQLite
    /// and local files under --data-dir), upgrading a simulated cluster.
    ///
    /// Example: obup dev --demo
    Dev(Box<dev::DevArgs>),
    /// Uploads RPM packages with a progress bar and prints what was stored.
    ///
    /// Each file is read once, its SHA-256 computed while it is sent. An
    /// interrupted upload resumes where the server stopped when the same
    /// command is run again; bytes the server already holds are not sent,
    /// and a file uploaded before is not sent at all if the server still
    /// holds it (remembered under $XDG_CACHE_HOME/obup, else ~/.cache/obup).
    ///
    /// Example: obup upload oceanbase-ce-4.3.5.0-100000202024123117.el7.x86_64.rpm
    Upload {
        /// RPM files to upload.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the package records as JSON.
        #[arg(long)]
        json: bool,
        /// Send at most this many bytes per second (e.g. not to saturate a
        /// link); 0 for no limit.
        #[arg(long, default_value_t = 0)]
        limit_rate: u64,
    },
    /// Lists stored packages, newest first; `obup packages rm ID` deletes one.
    ///
    /// Example: obup packages --name oceanbase-ce --version 4.3.5.0
    Packages {
        #[command(subcommand)]
        action: Option<PackagesAction>,
        #[command(flatten)]
        filter: packages::Filter,
        #[arg(long)]
        json: bool,
    },
    /// Plans, checks or starts an upgrade of the cluster.
    #[command(subcommand)]
    Upgrade(UpgradeCommand),
    /// Shows, watches and operates on DAGs (upgrades and checks).
    #[command(subcommand)]
    Dag(DagCommand),
    /// Registers, lists, shows and removes clusters.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Checks that a server answers gRPC health checks; exits non-zero if
    /// not. For container health checks and scripts.
    ///
    /// Example: obup health obup.packagestore.v1.PackageStore
    Health {
        /// Services that must be serving (default: the server as a whole).
        services: Vec<String>,
    },
    /// Makes, lists and revokes API tokens (admin).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Prints the audit trail (admin): every mutating call, allowed or
    /// refused, of the orchestrator and the package store, merged by time,
    /// one per line: time, journal, actor (role, credential), method,
    /// target, result, source address, trace id.
    ///
    /// `--follow` keeps printing new events; it asks the server once a
    /// second. Example: obup audit --follow
    Audit(audit::AuditArgs),
    /// Prints a shell completion script.
    ///
    /// Example: obup completions bash > /etc/bash_completion.d/obup
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Makes a token and prints its secret, once.
    ///
    /// Example: obup token create --name ci --role operator --expires 30d > ci.token
    Create(token::CreateArgs),
    /// Lists tokens with their last use. Example: obup token ls
    Ls {
        /// Revoked tokens too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token: it stops working at once. Example: obup token rm ci
    Rm { name: String },
}

#[derive(Debug, Subcommand)]
pub enum PackagesAction {
    /// Deletes a package. Example: obup packages rm 3
    Rm { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum UpgradeCommand {
    /// Prints the route (hops, barriers, the package serving each hop and
    /// architecture) and the stages; starts nothing.
    ///
    /// Example: obup upgrade plan --version 4.3.5.0 --release 100000202024123117.el7
    Plan {
        #[command(flatten)]
        target: upgrade::Target,
        #[arg(long)]
        json: bool,
    },
    /// Runs the check DAG: download, verify and unpack every package the
    /// upgrade needs, then clean up.
    ///
    /// Example: obup upgrade check --version 4.3.5.0 --release 100000202024123117.el7 --watch
    Check {
        #[command(flatten)]
        target: upgrade::Target,
        /// Follow the DAG live; exit non-zero unless it succeeds.
        #[arg(long)]
        watch: bool,
    },
    /// Starts the upgrade.
    ///
    /// Example: obup upgrade start --version 4.3.5.0 --release 100000202024123117.el7 --mode rolling --watch
    Start {
        #[command(flatten)]
        target: upgrade::Target,
        /// Follow the DAG live; exit non-zero unless it succeeds.
        #[arg(long)]
        watch: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Registers a cluster: its SQL endpoints, sys user and password, and
    /// its hosts' agents. The cluster is asked for its topology first.
    ///
    /// Example: obup cluster add prod --sql 10.0.0.1:2881 --password-file pw.txt --agent 10.0.0.1:2886 --agent 10.0.0.2:2886
    Add(cluster::AddArgs),
    /// Lists registered clusters. Example: obup cluster ls
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Shows a cluster with its live topology. Example: obup cluster show prod
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Removes a registration (its finished DAGs are kept). Example: obup cluster rm prod
    Rm { name: String },
}

#[derive(Debug, Subcommand)]
pub enum DagCommand {
    /// Shows a DAG with its stages and sub-tasks. Example: obup dag show 1
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Follows a DAG live until it ends; exits non-zero unless it succeeded.
    /// Example: obup dag watch 1
    Watch { id: i64 },
    /// Lists DAGs, newest first. Example: obup dag ls --unfinished
    Ls {
        /// Only DAGs still to finish (a failed upgrade stays unfinished).
        #[arg(long, conflicts_with = "maintenance")]
        unfinished: bool,
        /// The latest maintenance (upgrade) DAG.
        #[arg(long)]
        maintenance: bool,
        /// Only this cluster's DAGs.
        #[arg(long, default_value = "")]
        cluster: String,
        #[arg(long)]
        json: bool,
    },
    /// Runs the failed stage of a FAILED DAG again. Example: obup dag retry 1
    Retry { id: i64 },
    /// Undoes a FAILED DAG's stages, back to the first. Example: obup dag rollback 1
    Rollback { id: i64 },
    /// Stops an unfinished DAG; it ends FAILED. Example: obup dag cancel 1
    Cancel { id: i64 },
    /// Marks a FAILED DAG's remaining stages done. Example: obup dag pass 1
    Pass { id: i64 },
}

/// Runs a parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let server = cli.server.as_str();
    if !matches!(cli.command, Command::Dev(_) | Command::Completions { .. }) {
        client::use_token(cli.token.as_deref())?;
        client::use_tls(
            cli.ca_file.as_deref(),
            cli.cert.as_deref(),
            cli.key.as_deref(),
        )?;
    }
    runtime.block_on(async {
        match cli.command {
            Command::Dev(args) => dev::run(*args).await,
            Command::Upload {
                files,
                json,
                limit_rate,
            } => upload::run(server, &files, json, limit_rate).await,
            Command::Packages {
                action,
                filter,
                json,
            } => match action {
                Some(PackagesAction::Rm { id }) => packages::remove(server, id).await,
                None => packages::list(server, filter, json).await,
            },
            Command::Upgrade(UpgradeCommand::Plan { target, json }) => {
                upgrade::plan(server, &target, json).await
            }
            Command::Upgrade(UpgradeCommand::Check { target, watch }) => {
                upgrade::start(server, &target, true, watch).await
            }
            Command::Upgrade(UpgradeCommand::Start { target, watch }) => {
                upgrade::start(server, &target, false, watch).await
            }
            Command::Dag(DagCommand::Show { id, json }) => dag::show(server, id, json).await,
            Command::Dag(DagCommand::Watch { id }) => watch::watch(server, id).await,
            Command::Dag(DagCommand::Ls {
                unfinished,
                maintenance,
                cluster,
                json,
            }) => {
                let filter = match (unfinished, maintenance) {
                    (true, _) => DagFilter::Unfinished,
                    (_, true) => DagFilter::Maintenance,
                    _ => DagFilter::All,
                };
                dag::list(server, filter, &cluster, json).await
            }
            Command::Dag(DagCommand::Retry { id }) => dag::operate(server, id, "RETRY").await,
            Command::Dag(DagCommand::Rollback { id }) => dag::operate(server, id, "ROLLBACK").await,
            Command::Dag(DagCommand::Cancel { id }) => dag::operate(server, id, "CANCEL").await,
            Command::Dag(DagCommand::Pass { id }) => dag::operate(server, id, "PASS").await,
            Command::Cluster(ClusterCommand::Add(args)) => cluster::add(server, &args).await,
            Command::Cluster(ClusterCommand::Ls { json }) => cluster::list(server, json).await,
            Command::Cluster(ClusterCommand::Show { name, json }) => {
                cluster::show(server, &name, json).await
            }
            Command::Cluster(ClusterCommand::Rm { name }) => cluster::remove(server, &name).await,
            Command::Token(TokenCommand::Create(args)) => token::create(server, &args).await,
            Command::Token(TokenCommand::Ls { all, json }) => token::list(server, all, json).await,
            Command::Token(TokenCommand::Rm { name }) => token::revoke(server, &name).await,
            Command::Health { services } => health::run(server, &services).await,
            Command::Audit(args) => audit::run(server, &args).await,
            Command::Completions { shell } => {
                clap_complete::generate(shell, &mut Cli::command(), "obup", &mut std::io::stdout());
                Ok(())
            }
        }
    })
}
