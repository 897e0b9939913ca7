//! Where a DAG's files live on a host: obshell's layout, under the host's
//! upgrade dir (the request's, or the agent's own).
//!
//! ```text
//! <upgrade dir>/rpm-<taskTime>-<dagId>/           the task dir
//!     <arch>/<hop version>/<name>.rpm             a downloaded package
//!     <arch>/<hop version>/home/admin/oceanbase/  what it unpacks to
//!     backup/agent/                               obshell before "Install new obshell"
//!     backup/hop<i>/                              the home before hop i's reinstall
//! ```

use obup_agent::domain::HostPath;

use super::TaskContext;
use crate::domain::params::PlannedHop;
use crate::packages::PackageRef;
use crate::{Error, Result};

/// The directories of one DAG on one host.
#[derive(Debug, Clone)]
pub(super) struct HostLayout {
    pub task: String,
    pub arch: String,
    /// The observer home, as the agent reports it.
    pub home: String,
}

/// `rpm-<taskTime>-<dagId>`. obshell's is `rpm-<taskTime>` alone, which two
/// DAGs created in the same millisecond share (two orchestrators, a burst of
/// check DAGs): one's cleanup then deletes the other's packages mid-download.
pub(super) fn task_dir_name(task_time: i64, dag_id: i64) -> String {
    format!("rpm-{task_time}-{dag_id}")
}

pub(super) fn path(p: &str) -> Result<HostPath> {
    HostPath::parse(p).map_err(|e| Error::InvalidPath {
        path: p.to_owned(),
        reason: e.to_string(),
    })
}

impl HostLayout {
    /// The layout on `agent`'s host, from what the agent reports.
    pub async fn of(ctx: &TaskContext, agent: &str) -> Result<Self> {
        let facts = ctx
            .cluster
            .hosts
            .facts_until(agent, ctx.deadline_ms, ctx.log.as_ref())
            .await?;
        let upgrade = if ctx.params.upgrade_dir.is_empty() {
            facts.upgrade_dir.path.clone()
        } else {
            ctx.params.upgrade_dir.clone()
        };
        let task = format!(
            "{}/{}",
            upgrade.trim_end_matches('/'),
            task_dir_name(ctx.params.task_time, ctx.dag_id)
        );
        Ok(Self {
            task,
            arch: facts.architecture,
            home: facts.observer.home,
        })
    }

    /// `<task>/<arch>/<hop version>`: where a hop's packages are downloaded
    /// and unpacked.
    pub fn rpm_dir(&self, hop: &PlannedHop) -> String {
        format!("{}/{}/{}", self.task, self.arch, hop.version)
    }

    pub fn package(&self, hop: &PlannedHop, p: &PackageRef) -> String {
        format!("{}/{}.rpm", self.rpm_dir(hop), p.name)
    }

    /// The observer home a hop's packages unpack to.
    pub fn unpacked_home(&self, hop: &PlannedHop) -> String {
        format!("{}/home/admin/oceanbase", self.rpm_dir(hop))
    }

    pub fn backup(&self, name: &str) -> String {
        format!("{}/backup/{name}", self.task)
    }

    /// Every package of every hop for this host's architecture, with its
    /// hop.
    pub fn packages<'a>(&self, hops: &'a [PlannedHop]) -> Vec<(&'a PlannedHop, &'a PackageRef)> {
        hops.iter()
            .flat_map(|h| h.packages.iter().map(move |p| (h, p)))
            .filter(|(_, p)| p.architecture == self.arch)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::task_dir_name;

    #[test]
    fn dags_created_in_the_same_millisecond_get_their_own_task_dirs() {
        // obshell's `rpm-<taskTime>` would be the same for both.
        let t = 1_795_295_678_420;
        assert_ne!(task_dir_name(t, 1), task_dir_name(t, 2));
        assert!(task_dir_name(t, 1).starts_with(&format!("rpm-{t}")));
    }
}
