//! `obup cluster add|ls|show|rm`: registered clusters.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use obup_proto::pb::orchestrator::v1 as pb;

use crate::client::{self, describe};

/// How to reach a cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct AddArgs {
    /// A name for the cluster (letters, digits, '_' and '-').
    pub name: String,
    /// `host:port` of an observer's SQL port; repeat for more (the others
    /// are learned from the cluster).
    #[arg(long = "sql", required = true, value_name = "HOST:PORT")]
    pub sql_endpoints: Vec<String>,
    /// The sys tenant's user.
    #[arg(long, default_value = "root")]
    pub user: String,
    /// Read the password from this file (its first line). Never given as a
    /// flag value, where `ps` would show it. Without this or
    /// --password-stdin the password is empty, as on a fresh cluster.
    #[arg(long, conflicts_with = "password_stdin", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read the password from standard input (its first line).
    #[arg(long)]
    pub password_stdin: bool,
    /// `host:port` of a host's obup-agent; repeat for every host.
    #[arg(long = "agent", value_name = "HOST:PORT")]
    pub agents: Vec<String>,
    /// TLS to the sys tenant.
    #[arg(long, default_value = "preferred", value_parser = ["disabled", "preferred", "required"])]
    pub ssl: String,
    /// Change an existing registration instead of refusing.
    #[arg(long)]
    pub replace: bool,
    #[arg(long)]
    pub json: bool,
}

/// The first line of `text`, without its line end.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

fn password(args: &AddArgs) -> anyhow::Result<String> {
    if let Some(file) = &args.password_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the password file {}", file.display()))?;
        return Ok(first_line(&text));
    }
    if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from standard input")?;
        return Ok(first_line(&text));
    }
    Ok(String::new())
}

pub async fn add(server: &str, args: &AddArgs) -> anyhow::Result<()> {
    let request = pb::RegisterClusterRequest {
        name: args.name.clone(),
        sql_endpoints: args.sql_endpoints.clone(),
        sys_user: args.user.clone(),
        password: password(args)?,
        agents: args.agents.clone(),
        ssl_mode: match args.ssl.as_str() {
            "disabled" => pb::SslMode::Disabled,
            "required" => pb::SslMode::Required,
            _ => pb::SslMode::Preferred,
        } as i32,
        replace: args.replace,
    };
    let cluster = client::orchestrator(server)
        .await?
        .register_cluster(request)
        .await
        .map_err(describe)?
        .into_inner();
    print(&cluster, args.json)
}

pub async fn list(server: &str, json: bool) -> anyhow::Result<()> {
    let clusters = client::orchestrator(server)
        .await?
        .list_clusters(pb::ListClustersRequest {})
        .await
        .map_err(describe)?
        .into_inner()
        .clusters;
    if json {
        let out: Vec<_> = clusters.iter().map(cluster_json).collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if clusters.is_empty() {
        println!("no clusters: register one with `obup cluster add`");
    }
    for c in &clusters {
        println!(
            "{:<20} sql {:<40} agents {}",
            c.name,
            c.sql_endpoints.join(","),
            c.agents.len()
        );
    }
    Ok(())
}

pub async fn show(server: &str, name: &str, json: bool) -> anyhow::Result<()> {
    let cluster = client::orchestrator(server)
        .await?
        .get_cluster(pb::GetClusterRequest { name: name.into() })
        .await
        .map_err(describe)?
        .into_inner();
    print(&cluster, json)
}

pub async fn remove(server: &str, name: &str) -> anyhow::Result<()> {
    client::orchestrator(server)
        .await?
        .remove_cluster(pb::RemoveClusterRequest { name: name.into() })
        .await
        .map_err(describe)?;
    println!("removed cluster {name} (its finished DAGs are kept)");
    Ok(())
}

fn print(c: &pb::Cluster, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&cluster_json(c))?);
        return Ok(());
    }
    println!("cluster {}", c.name);
    println!("  sql endpoints {}", c.sql_endpoints.join(", "));
    println!("  user          {}", c.sys_user);
    println!("  agents        {}", c.agents.join(", "));
    if !c.topology_error.is_empty() {
        println!("  unreachable:  {}", c.topology_error);
    }
    if let Some(t) = &c.topology {
        println!("  edition       {}", t.edition);
        println!("  build         {}", t.build_version);
        for z in &t.zones {
            println!("  zone {:<10} {}", z.name, z.status);
            for s in &z.servers {
                println!(
                    "    {}:{} (sql {}) {:<8} {}{}",
                    s.svr_ip,
                    s.svr_port,
                    s.sql_port,
                    s.status,
                    s.build_version,
                    if s.with_rootserver {
                        "  [root service]"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    Ok(())
}

fn cluster_json(c: &pb::Cluster) -> serde_json::Value {
    let topology = c.topology.as_ref().map(|t| {
        serde_json::json!({
            "edition": t.edition,
            "build_version": t.build_version,
            "zones": t.zones.iter().map(|z| serde_json::json!({
                "name": z.name,
                "status": z.status,
                "region": z.region,
                "idc": z.idc,
                "servers": z.servers.iter().map(|s| serde_json::json!({
                    "svr_ip": s.svr_ip,
                    "svr_port": s.svr_port,
                    "sql_port": s.sql_port,
                    "status": s.status,
                    "build_version": s.build_version,
                    "with_rootserver": s.with_rootserver,
                    "start_service_time_ms": s.start_service_time_ms,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    });
    serde_json::json!({
        "name": c.name,
        "sql_endpoints": c.sql_endpoints,
        "sys_user": c.sys_user,
        "agents": c.agents,
        "created_at_ms": c.created_at_ms,
        "topology": topology,
        "topology_error": c.topology_error,
    })
}
