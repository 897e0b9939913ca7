//! `obup upgrade plan|check|start`.

use obup_proto::pb::orchestrator::v1 as pb;

use crate::client::{self, describe};
use crate::watch;

/// What to upgrade to.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Target version, e.g. 4.3.5.0.
    #[arg(long)]
    pub version: String,
    /// Target release tag, e.g. 100000202024123117.el7.
    #[arg(long)]
    pub release: String,
    /// rolling (zone by zone) or stop-service (all at once).
    #[arg(long, default_value = "rolling", value_parser = ["rolling", "stop-service"])]
    pub mode: String,
    /// Where packages are downloaded and unpacked on each host (default:
    /// the observer home's upgrade/).
    #[arg(long, default_value = "")]
    pub upgrade_dir: String,
    /// Minor-freeze servers before stopping them.
    #[arg(long)]
    pub freeze_server: bool,
    /// Use these package ids as the target instead of looking them up.
    #[arg(long = "package-id")]
    pub package_ids: Vec<i64>,
    /// The registered cluster to upgrade (needed when there are several).
    #[arg(long, default_value = "")]
    pub cluster: String,
}

impl Target {
    fn request(&self) -> pb::UpgradeRequest {
        pb::UpgradeRequest {
            version: self.version.clone(),
            release: self.release.clone(),
            mode: match self.mode.as_str() {
                "stop-service" => pb::Mode::StopService,
                _ => pb::Mode::Rolling,
            } as i32,
            upgrade_dir: self.upgrade_dir.clone(),
            freeze_server: self.freeze_server,
            package_ids: self.package_ids.clone(),
            cluster: self.cluster.clone(),
        }
    }
}

pub async fn plan(server: &str, target: &Target, json: bool) -> anyhow::Result<()> {
    let plan = client::orchestrator(server)
        .await?
        .plan_upgrade(target.request())
        .await
        .map_err(describe)?
        .into_inner();
    if json {
        let hops: Vec<_> = plan
            .hops
            .iter()
            .map(|h| {
                serde_json::json!({
                    "version": h.version,
                    "build": h.build,
                    "require_from_binary": h.require_from_binary,
                    "deprecated_builds": h.deprecated_builds,
                    "packages": h.packages.iter().map(|p| serde_json::json!({
                        "name": p.name, "architecture": p.architecture, "package_id": p.package_id, "file_name": p.file_name,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "current": plan.current_build_version,
            "hops": hops,
            "dag_name": plan.dag_name,
            "stages": plan.stages,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("current build: {}", plan.current_build_version);
    println!(
        "route ({} hop{}):",
        plan.hops.len(),
        if plan.hops.len() == 1 { "" } else { "s" }
    );
    for (i, h) in plan.hops.iter().enumerate() {
        let build = if h.build.is_empty() {
            "any build".to_owned()
        } else {
            h.build.clone()
        };
        let barrier = if h.require_from_binary {
            " (barrier)"
        } else {
            ""
        };
        println!("  {}. {} {build}{barrier}", i + 1, h.version);
        for p in &h.packages {
            println!(
                "       {} {}: package {} ({})",
                p.name, p.architecture, p.package_id, p.file_name
            );
        }
    }
    println!("{} ({} stages):", plan.dag_name, plan.stages.len());
    for (i, s) in plan.stages.iter().enumerate() {
        println!("  {:>2}. {s}", i + 1);
    }
    Ok(())
}

/// Starts the check DAG (`check`) or the upgrade DAG, and follows it live
/// with `--watch`; the exit status says whether it succeeded.
pub async fn start(server: &str, target: &Target, check: bool, follow: bool) -> anyhow::Result<()> {
    let mut client = client::orchestrator(server).await?;
    let dag = if check {
        client.check_upgrade(target.request()).await
    } else {
        client.start_upgrade(target.request()).await
    }
    .map_err(describe)?
    .into_inner();
    println!(
        "started DAG {}: {} ({} stages)",
        dag.id, dag.name, dag.max_stage
    );
    if follow {
        watch::watch(server, dag.id).await?;
    } else {
        println!("follow it with: obup dag watch {}", dag.id);
    }
    Ok(())
}
