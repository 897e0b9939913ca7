//! obshell's request-time pre-checks (`preCheckForObUpgrade`,
//! real-driver.md §1.2), with its error codes and messages.

use obup_ob_sql::statements as st;

use super::{Driver, ident};
use crate::domain::template::Mode;
use crate::{Error, Result};

/// obshell compares `min_observer_version` with this to decide whether the
/// tenants' `compatible` must agree too.
const COMPATIBLE_CHECK_BELOW: &str = "4.3.3.0";

fn refuse(code: &'static str, message: String) -> Error {
    Error::Precheck { code, message }
}

impl Driver {
    /// The least zones a rolling upgrade needs: 3, or 2 when the cluster
    /// runs on shared storage (`ob_startup_mode`).
    pub async fn rolling_min_zones(&self) -> Result<usize> {
        let values = self
            .rows(
                st::parameter_values(&ident("parameter", "ob_startup_mode")?),
                &[],
            )
            .await?;
        let shared = values.iter().any(|r| {
            r.at(0)
                .is_some_and(|v| v.eq_ignore_ascii_case("shared_storage"))
        });
        Ok(if shared { 2 } else { 3 })
    }

    /// Every check obshell makes on the sys tenant before creating an
    /// upgrade DAG, in its order; the first that fails is the answer. (The
    /// caller checks the hosts' Python between the two halves, as obshell
    /// does.)
    pub async fn precheck(&self, mode: Mode) -> Result<()> {
        self.precheck_servers_and_mode(mode).await?;
        self.precheck_state().await
    }

    /// Every observer serving; enough zones for a rolling upgrade.
    pub async fn precheck_servers_and_mode(&self, mode: Mode) -> Result<()> {
        let servers = self.servers().await?;
        let down: Vec<String> = servers
            .iter()
            .filter(|s| !s.serving())
            .map(|s| format!("{}:{}", s.svr_ip, s.sql_port))
            .collect();
        if !down.is_empty() {
            return Err(refuse(
                "OB.Server.Unavailable",
                format!("Observer '{}' is not available", down.join(",")),
            ));
        }
        if mode == Mode::Rolling {
            let zones = self.zones().await?.len();
            let min = self.rolling_min_zones().await?;
            if zones < min {
                return Err(Error::UnableToRollingUpgrade(zones));
            }
        }
        Ok(())
    }

    /// Schemas refreshed, no merging or major compaction, versions in sync,
    /// no backup running.
    pub async fn precheck_state(&self) -> Result<()> {
        let stale: Vec<String> = self
            .rows(st::unrefreshed_schema_tenants(), &[])
            .await?
            .iter()
            .filter_map(|r| r.at(0).map(str::to_owned))
            .collect();
        if !stale.is_empty() {
            return Err(refuse(
                "OB.Upgrade.TenantsSchemaNotRefreshed",
                format!(
                    "There are tenants with unfreshed schema: {}",
                    stale.join(",")
                ),
            ));
        }
        let merging = self.count(st::merging_tablets()).await?;
        if merging > 0 {
            return Err(refuse(
                "OB.Upgrade.TabletInMerging",
                format!("There are {merging} tablets merging"),
            ));
        }
        let compacting = self.count(st::running_major_compactions()).await?;
        if compacting > 0 {
            return Err(refuse(
                "OB.Upgrade.TenantInMajorCompaction",
                format!("There are {compacting} tenants merging"),
            ));
        }
        self.check_versions_in_sync().await?;
        let backups = self.count(st::backup_jobs()).await?;
        if backups > 0 {
            return Err(refuse(
                "OB.Upgrade.HasRunningBackupTask",
                format!(
                    "There are {backups} running backup tasks, upgrade is not allowed temporarily"
                ),
            ));
        }
        Ok(())
    }

    async fn distinct_values(&self, name: &str) -> Result<Vec<String>> {
        let rows = self
            .rows(st::parameter_values(&ident("parameter", name)?), &[])
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.at(0).map(str::to_owned))
            .collect())
    }

    /// One `min_observer_version`; below 4.3.3.0 also one `compatible`.
    /// obshell compares the versions as strings (`"4.10.0.0" < "4.3.3.0"`);
    /// obup compares them as versions.
    async fn check_versions_in_sync(&self) -> Result<()> {
        let versions = self.distinct_values("min_observer_version").await?;
        if versions.len() > 1 {
            return Err(refuse(
                "OB.Upgrade.MinObserverVersionNotSync",
                "min_observer_version is not sync".into(),
            ));
        }
        let below = versions.first().is_some_and(|v| needs_compatible_check(v));
        if below && self.distinct_values("compatible").await?.len() > 1 {
            return Err(refuse(
                "OB.Upgrade.TenantCompatibleNotSync",
                "Tenant compatible is not sync".into(),
            ));
        }
        Ok(())
    }
}

/// Whether `min_observer_version` is below 4.3.3.0, compared as versions.
fn needs_compatible_check(min_observer_version: &str) -> bool {
    obup_types::compare_versions(min_observer_version, COMPATIBLE_CHECK_BELOW)
        == std::cmp::Ordering::Less
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream bug: obshell's `strings.Compare(v, "4.3.3.0") < 0` calls
    /// 4.10.0.0 older than 4.3.3.0 and checks `compatible` needlessly (and
    /// would skip it for a "4.3.10.0" < "4.3.3.0"-style pair the other way).
    #[test]
    fn versions_are_compared_as_versions_not_strings() {
        assert!("4.10.0.0" < COMPATIBLE_CHECK_BELOW, "what obshell does");
        assert!(!needs_compatible_check("4.10.0.0"));
        assert!(needs_compatible_check("4.2.1.0"));
        assert!(!needs_compatible_check("4.3.3.0"));
        assert!(needs_compatible_check("4.3.2.9"));
    }
}
