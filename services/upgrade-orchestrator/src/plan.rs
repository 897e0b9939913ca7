//! Turning an upgrade request into a plan: checks in obshell's order (spec
//! §2.2), the route from the target package's dep YAML, the package for
//! every hop and architecture, and the DAG layout.

use std::cmp::Ordering;
use std::path::{Component, Path};

use obup_types::{Release, compare_versions};

use crate::clusters::{Cluster, Topology};
use crate::domain::params::{DagParams, PlannedHop};
use crate::domain::route::{BuildVersion, parse_dep_yaml, plan_route};
use crate::domain::template::{DagSpec, Mode, UpgradeLayout, check_dag, upgrade_dag};
use crate::packages::{Lookup, PackageInfo, PackageSource};
use crate::{Error, Result};

/// Oldest version obshell can upgrade to (`SUPPORT_MIN_VERSION`).
const MIN_VERSION: &str = "4.2.0.0";

/// An upgrade as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    pub version: String,
    pub release: String,
    /// `None` for a check, which has no mode.
    pub mode: Option<Mode>,
    pub upgrade_dir: String,
    pub freeze_server: bool,
    /// Target packages chosen by id instead of by version and release.
    pub package_ids: Vec<i64>,
    /// The registered cluster; empty while exactly one is registered.
    pub cluster: String,
}

/// What an upgrade would do.
#[derive(Debug, Clone)]
pub struct Plan {
    pub current: String,
    pub params: DagParams,
    pub spec: DagSpec,
}

/// Plans an upgrade (`check = false`) or its check DAG.
pub async fn plan(
    cluster: &Cluster,
    packages: &dyn PackageSource,
    req: &UpgradeRequest,
    check: bool,
    now_ms: i64,
) -> Result<Plan> {
    let release =
        Release::parse(&req.release).ok_or_else(|| Error::ReleaseFormat(req.release.clone()))?;
    let target = BuildVersion::new(&req.version, &release.build);
    if compare_versions(&target.to_string(), MIN_VERSION) == Ordering::Less {
        return Err(Error::VersionNotSupported(req.version.clone()));
    }
    let asked = std::time::Instant::now();
    let topology = cluster.topology().await?;
    if !check {
        // obshell's request-time checks, in its order: observers, mode,
        // python on every host, the upgrade dir, then the cluster's state.
        let mode = req
            .mode
            .ok_or_else(|| Error::ModeNotSupported(String::new()))?;
        cluster.driver.precheck_servers_and_mode(mode).await?;
        check_python(cluster, &topology, asked).await?;
    }
    let upgrade_dir = check_upgrade_dir(&req.upgrade_dir)?;
    if !check {
        cluster.driver.precheck_state().await?;
    }
    let current = topology
        .build_version()
        .ok_or_else(|| Error::Cluster("the cluster has no servers".into()))?
        .to_owned();
    if compare_versions(&target.to_string(), &current) != Ordering::Greater {
        return Err(Error::ToLowerVersion {
            target: target.to_string(),
            current,
        });
    }

    let archs = topology.architectures();
    let target_package = find_target(packages, req, &topology, &release, &archs[0]).await?;
    let current_bv = BuildVersion::parse(&current);
    let route = if current_bv.version == target.version {
        plan_route(&[], &current_bv, &target)?
    } else {
        let yaml = &target_package.upgrade_dep_yaml;
        if yaml.trim().is_empty() {
            return Err(Error::DepYamlMissing(
                target_package.package.file_name.clone(),
            ));
        }
        plan_route(&parse_dep_yaml(yaml)?, &current_bv, &target)?
    };

    // Every hop, every architecture, every package the edition needs; all
    // missing ones are reported together.
    let mut hops = Vec::with_capacity(route.len());
    let mut missing = Vec::new();
    for hop in &route {
        let mut found = Vec::new();
        for arch in &archs {
            for name in topology.edition.required_packages() {
                let lookup = Lookup {
                    name: (*name).into(),
                    version: hop.version.clone(),
                    architecture: arch.clone(),
                    distribution: release.distribution.clone(),
                    build: hop.build.clone(),
                    excluded: hop.deprecated_builds.clone(),
                };
                match packages.find(&lookup).await? {
                    Some(p) => found.push(p.package),
                    None => missing.push(lookup.describe()),
                }
            }
        }
        hops.push(PlannedHop {
            version: hop.version.clone(),
            build: hop.build.clone(),
            require_from_binary: hop.require_from_binary,
            deprecated_builds: hop.deprecated_builds.clone(),
            packages: found,
        });
    }
    if !missing.is_empty() {
        return Err(Error::PackagesMissing(missing));
    }

    let spec = if check {
        check_dag(&req.version, &req.release, &topology.agents())
    } else {
        upgrade_dag(&UpgradeLayout {
            edition: topology.edition,
            mode: req.mode.unwrap_or(Mode::Rolling),
            version: &req.version,
            release: &req.release,
            hops: &route,
            zones: &topology.zones,
            freeze_server: req.freeze_server,
        })
    };
    let params = DagParams {
        version: req.version.clone(),
        release: req.release.clone(),
        mode: req.mode.unwrap_or(Mode::Rolling),
        upgrade_dir,
        task_time: now_ms,
        target_build_version: target.to_string(),
        hops,
    };
    Ok(Plan {
        current,
        params,
        spec,
    })
}

/// obshell's `checkPythonEnvOnRealExecuteAgents`: every host has a Python
/// that can import `mysql.connector`, which the upgrade scripts need.
/// obshell's python pre-check, on reports made since `asked` (this request:
/// a DBA may just have installed the module), asked of every host at once
/// where the topology's are older; reported in the topology's order.
async fn check_python(
    cluster: &Cluster,
    topology: &Topology,
    asked: std::time::Instant,
) -> Result<()> {
    let agents = topology.agents();
    let reports =
        futures::future::try_join_all(agents.iter().map(|a| cluster.hosts.facts_since(a, asked)))
            .await?;
    for (agent, facts) in agents.iter().zip(reports) {
        if facts.pythons.is_empty() {
            return Err(Error::Precheck {
                code: "Environment.WithoutPython",
                message: format!("Please check if Python is installed (host of agent {agent})"),
            });
        }
        if !facts.pythons.iter().any(|p| p.mysql_connector) {
            return Err(Error::Precheck {
                code: "Environment.WithoutModule",
                message: format!(
                    "Please check if Python module 'mysql.connector' is installed (host of agent {agent})"
                ),
            });
        }
    }
    Ok(())
}

/// The target package: by id if given, else by version and exact release.
async fn find_target(
    packages: &dyn PackageSource,
    req: &UpgradeRequest,
    topology: &Topology,
    release: &Release,
    arch: &str,
) -> Result<PackageInfo> {
    let name = topology.edition.package();
    let lookup = Lookup {
        name: name.into(),
        version: req.version.clone(),
        architecture: arch.into(),
        distribution: release.distribution.clone(),
        build: Some(release.build.clone()),
        excluded: Vec::new(),
    };
    if !req.package_ids.is_empty() {
        for id in &req.package_ids {
            if let Some(p) = packages.get(*id).await?
                && p.package.name == name
                && p.package.architecture == arch
                && p.package.version == req.version
                && p.package.release == release.build
            {
                return Ok(p);
            }
        }
        return Err(Error::PackagesMissing(vec![lookup.describe()]));
    }
    packages
        .find(&lookup)
        .await?
        .ok_or_else(|| Error::PackagesMissing(vec![lookup.describe()]))
}

/// obshell's `checkUpgradeDir`: empty is fine (each host's default);
/// otherwise absolute, of safe characters, and not escaping via `..`.
pub fn check_upgrade_dir(dir: &str) -> Result<String> {
    if dir.trim().is_empty() {
        return Ok(String::new());
    }
    let invalid = |reason: &str| Error::InvalidPath {
        path: dir.into(),
        reason: reason.into(),
    };
    if !dir.starts_with('/') {
        return Err(invalid("it must be an absolute path"));
    }
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(c, '-' | '_' | ':' | '@' | '/' | '.')
            || ('\u{4e00}'..='\u{9fa5}').contains(&c)
    };
    if let Some(c) = dir.chars().find(|c| !allowed(*c)) {
        return Err(invalid(&format!("character {c:?} is not allowed")));
    }
    if Path::new(dir)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Err(invalid("it must not contain '..'"));
    }
    Ok(dir.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_dirs_are_checked_like_obshell() {
        assert_eq!(check_upgrade_dir("").unwrap(), "");
        assert_eq!(
            check_upgrade_dir("/data/upgrade/").unwrap(),
            "/data/upgrade"
        );
        assert!(check_upgrade_dir("/data/升级").is_ok());
        for bad in [
            "relative/dir",
            "/data/../etc",
            "/data/$(rm -rf)",
            "/data dir",
        ] {
            assert!(
                matches!(check_upgrade_dir(bad), Err(Error::InvalidPath { .. })),
                "{bad}"
            );
        }
    }
}
