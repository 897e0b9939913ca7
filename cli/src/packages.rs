//! `obup packages`: list and delete stored packages.

use obup_proto::pb::packagestore::v1 as pb;

use crate::client::{self, describe};
use crate::upload::package_json;

/// Filters of `obup packages`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filter {
    /// Package name, e.g. oceanbase-ce.
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub version: Option<String>,
    /// Build number or full release tag.
    #[arg(long)]
    pub release: Option<String>,
    /// e.g. el7.
    #[arg(long)]
    pub distribution: Option<String>,
    #[arg(long)]
    pub arch: Option<String>,
    /// SHA-256 of the whole file: is this exact file stored?
    #[arg(long)]
    pub sha256: Option<String>,
}

pub async fn list(server: &str, filter: Filter, json: bool) -> anyhow::Result<()> {
    let packages = client::packages(server)
        .await?
        .list_packages(pb::ListPackagesRequest {
            name: filter.name.unwrap_or_default(),
            version: filter.version.unwrap_or_default(),
            release: filter.release.unwrap_or_default(),
            distribution: filter.distribution.unwrap_or_default(),
            architecture: filter.arch.unwrap_or_default(),
            sha256: filter.sha256.unwrap_or_default(),
        })
        .await
        .map_err(describe)?
        .into_inner()
        .packages;
    if json {
        let records: Vec<_> = packages.iter().map(package_json).collect();
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(());
    }
    if packages.is_empty() {
        println!("no packages");
        return Ok(());
    }
    println!(
        "{:>4}  {:<26} {:<10} {:<26} {:<8} {:>10}  scripts",
        "ID", "NAME", "VERSION", "RELEASE", "ARCH", "SIZE"
    );
    for p in packages {
        println!(
            "{:>4}  {:<26} {:<10} {:<26} {:<8} {:>10}  {}",
            p.id,
            p.name,
            p.version,
            p.release_distribution,
            p.architecture,
            client::bytes(p.file_size),
            p.upgrade_scripts.len()
        );
    }
    Ok(())
}

pub async fn remove(server: &str, id: i64) -> anyhow::Result<()> {
    let deleted = client::packages(server)
        .await?
        .delete_package(pb::DeletePackageRequest { id })
        .await
        .map_err(describe)?
        .into_inner()
        .deleted;
    if !deleted {
        anyhow::bail!("package {id} does not exist");
    }
    println!("deleted package {id}");
    Ok(())
}
