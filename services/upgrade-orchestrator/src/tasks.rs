//! What each kind of sub-task does, and how it is undone.
//!
//! Tasks act only through [`Cluster`] and [`Host`], so the same code drives
//! the simulated cluster and, later, a real one. Every task is written to
//! be run again after an interruption (resume) without harm: it checks what
//! is already done instead of assuming a clean slate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cluster::{Cluster, Host, Skip};
use crate::domain::dag::Dag;
use crate::domain::output::TaskOutput;
use crate::domain::params::{DagParams, NodeParams};
use crate::domain::state::Operator;
use crate::domain::template::{FreezeScope, Script, TaskKind};
use crate::packages::{PackageRef, PackageSource};
use crate::{Error, Result};

/// What a running sub-task reports: log lines (to its log and watchers)
/// and progress (kept with it in case it is resumed).
#[async_trait::async_trait]
pub trait TaskIo: Send + Sync {
    async fn line(&self, line: String);
    /// Records how far the execution got; durable when this returns.
    async fn checkpoint(&self, output: TaskOutput) -> Result<()>;
}

/// Everything one execution needs.
pub struct TaskContext {
    pub kind: TaskKind,
    pub dag_id: i64,
    pub task_id: i64,
    pub params: DagParams,
    pub node: NodeParams,
    /// The DAG as it stood when this execution was claimed: outputs of
    /// earlier sub-tasks, and this one's own progress when resuming.
    pub dag: Arc<Dag>,
    /// `None`: runs on the coordinator.
    pub agent: Option<String>,
    pub operator: Operator,
    pub resume: bool,
    pub cluster: Arc<dyn Cluster>,
    pub packages: Arc<dyn PackageSource>,
    pub log: Arc<dyn TaskIo>,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("kind", &self.kind)
            .field("dag_id", &self.dag_id)
            .field("agent", &self.agent)
            .field("operator", &self.operator)
            .finish()
    }
}

/// Runs the execution the context describes (RUN, or ROLLBACK); returns
/// what it produced for later sub-tasks, if anything.
pub async fn run(ctx: &TaskContext) -> Result<Option<TaskOutput>> {
    if ctx.resume {
        ctx.log
            .line("resuming an interrupted execution".into())
            .await;
    }
    match ctx.operator {
        Operator::Rollback => rollback(ctx).await.map(|()| None),
        _ => execute(ctx).await,
    }
}

async fn execute(ctx: &TaskContext) -> Result<Option<TaskOutput>> {
    if ctx.kind == TaskKind::BackupParameters {
        let rows = ctx.cluster.backup_parameters().await?;
        ctx.log
            .line(format!("saved {} parameter values", rows.len()))
            .await;
        return Ok(Some(TaskOutput::Parameters { rows }));
    }
    execute_step(ctx).await.map(|()| None)
}

async fn execute_step(ctx: &TaskContext) -> Result<()> {
    match ctx.kind {
        TaskKind::CheckPythonEnv => {
            ctx.log
                .line("python and mysql.connector are available (simulated host)".into())
                .await;
            Ok(())
        }
        TaskKind::CreateUpgradeDir => create_upgrade_dir(ctx).await,
        TaskKind::DownloadPackages => download(ctx).await,
        TaskKind::CheckPackages => check(ctx).await,
        TaskKind::UnpackPackages => unpack(ctx).await,
        TaskKind::BackupForUpgrade => {
            let (host, dirs) = host_dirs(ctx).await?;
            let n = host
                .copy_tree(&host.home().join("bin"), &dirs.backup(), Skip::Nothing)
                .await?;
            ctx.log
                .line(format!(
                    "backed up {n} files of bin/ to {}",
                    dirs.backup().display()
                ))
                .await;
            Ok(())
        }
        TaskKind::InstallAgent => install_agent(ctx).await,
        TaskKind::RestartAgent => {
            ctx.log
                .line("obshell restarted on the new binary".into())
                .await;
            Ok(())
        }
        TaskKind::AgentTableMaintain => {
            ctx.log.line("agent tables are up to date".into()).await;
            Ok(())
        }
        TaskKind::BackupParameters => Err(Error::Internal(
            "the parameter backup returns its rows: run it through `execute`".into(),
        )),
        TaskKind::RestoreParameters => restore_parameters(ctx, true).await,
        TaskKind::ExecuteScript(script) => execute_script(ctx, script).await,
        TaskKind::StopZone => {
            let zone = zone(ctx)?;
            ctx.cluster.stop_zone(zone).await?;
            ctx.log.line(format!("{zone} is INACTIVE")).await;
            Ok(())
        }
        TaskKind::StartZone => {
            let zone = zone(ctx)?;
            ctx.cluster.start_zone(zone).await?;
            ctx.log.line(format!("{zone} is ACTIVE")).await;
            Ok(())
        }
        TaskKind::MinorFreeze => {
            let scope = ctx.node.freeze.clone().unwrap_or(FreezeScope::Global);
            ctx.cluster.minor_freeze(&scope).await?;
            ctx.log
                .line(format!("minor freeze of {scope:?} done"))
                .await;
            Ok(())
        }
        TaskKind::ReinstallObserver => reinstall_observer(ctx).await,
        TaskKind::RemoveUpgradeDir => {
            let (host, dirs) = host_dirs(ctx).await?;
            host.remove_dir(&dirs.task).await?;
            ctx.log
                .line(format!("removed {}", dirs.task.display()))
                .await;
            Ok(())
        }
    }
}

async fn rollback(ctx: &TaskContext) -> Result<()> {
    match ctx.kind {
        TaskKind::CreateUpgradeDir | TaskKind::DownloadPackages => {
            // obshell removes the whole upgrade dir; obup removes only what
            // this DAG created, so a shared upgrade dir survives.
            let (host, dirs) = host_dirs(ctx).await?;
            host.remove_dir(&dirs.task).await?;
            ctx.log
                .line(format!("removed {}", dirs.task.display()))
                .await;
        }
        TaskKind::UnpackPackages => {
            let (host, dirs) = host_dirs(ctx).await?;
            for (hop, _) in ctx.params.hops.iter().enumerate() {
                host.remove_dir(&dirs.rpm_dir(ctx, hop)?.join("home"))
                    .await?;
            }
            ctx.log.line("removed unpacked files".into()).await;
        }
        TaskKind::BackupForUpgrade => {
            let (host, dirs) = host_dirs(ctx).await?;
            host.remove_dir(&dirs.backup()).await?;
        }
        TaskKind::InstallAgent => {
            let (host, dirs) = host_dirs(ctx).await?;
            let backup = dirs.backup();
            host.copy_tree(&backup, &host.home().join("bin"), Skip::AllBut("obshell"))
                .await?;
            ctx.log.line("restored the previous obshell".into()).await;
        }
        TaskKind::BackupParameters => restore_parameters(ctx, false).await?,
        TaskKind::CheckPythonEnv | TaskKind::CheckPackages | TaskKind::MinorFreeze => {}
        kind => {
            return Err(Error::Internal(format!(
                "{} cannot be rolled back",
                kind.key()
            )));
        }
    }
    ctx.log.line("rolled back".into()).await;
    Ok(())
}

/// The directories of a DAG on one host.
struct Dirs {
    upgrade: PathBuf,
    task: PathBuf,
    arch: String,
}

impl Dirs {
    fn backup(&self) -> PathBuf {
        self.task.join("backup")
    }

    /// `<task dir>/<arch>/<hop version>`: where a hop's packages are
    /// downloaded and unpacked.
    fn rpm_dir(&self, ctx: &TaskContext, hop: usize) -> Result<PathBuf> {
        let hop = ctx
            .params
            .hops
            .get(hop)
            .ok_or_else(|| Error::Internal(format!("hop {hop} is not in the plan")))?;
        Ok(self.task.join(&self.arch).join(&hop.version))
    }

    /// The unpacked observer home of a hop.
    fn unpacked_home(&self, ctx: &TaskContext, hop: usize) -> Result<PathBuf> {
        Ok(self.rpm_dir(ctx, hop)?.join("home/admin/oceanbase"))
    }
}

/// The host a sub-task acts on (for coordinator tasks: the first server's,
/// obshell's maintainer) and its directories.
async fn host_dirs(ctx: &TaskContext) -> Result<(Arc<dyn Host>, Dirs)> {
    let topology = ctx.cluster.topology().await?;
    let agent = match &ctx.agent {
        Some(a) => a.clone(),
        None => topology
            .servers
            .first()
            .map(|s| s.agent.clone())
            .ok_or_else(|| Error::Cluster("the cluster has no servers".into()))?,
    };
    let arch = topology
        .server(&agent)
        .map(|s| s.arch.clone())
        .ok_or_else(|| Error::Cluster(format!("no server with agent {agent}")))?;
    let host = ctx.cluster.host(&agent)?;
    let upgrade = if ctx.params.upgrade_dir.is_empty() {
        host.home().join("upgrade")
    } else {
        PathBuf::from(&ctx.params.upgrade_dir)
    };
    let task = upgrade.join(task_dir_name(ctx.params.task_time, ctx.dag_id));
    Ok((
        host,
        Dirs {
            upgrade,
            task,
            arch,
        },
    ))
}

/// `rpm-<taskTime>-<dagId>`. obshell's is `rpm-<taskTime>` alone, which two
/// DAGs created in the same millisecond share (two orchestrators, a burst of
/// check DAGs): one's cleanup then deletes the other's packages mid-download.
fn task_dir_name(task_time: i64, dag_id: i64) -> String {
    format!("rpm-{task_time}-{dag_id}")
}

fn zone(ctx: &TaskContext) -> Result<&str> {
    ctx.node
        .zone
        .as_deref()
        .ok_or_else(|| Error::Internal(format!("{} needs a zone", ctx.kind.key())))
}

fn hop(ctx: &TaskContext) -> Result<usize> {
    ctx.node
        .hop
        .ok_or_else(|| Error::Internal(format!("{} needs a hop", ctx.kind.key())))
}

/// Packages of every hop for this host's architecture, with their paths.
fn my_packages(ctx: &TaskContext, dirs: &Dirs) -> Result<Vec<(PackageRef, PathBuf)>> {
    let mut out = Vec::new();
    for (i, hop) in ctx.params.hops.iter().enumerate() {
        for p in hop.packages.iter().filter(|p| p.architecture == dirs.arch) {
            out.push((
                p.clone(),
                dirs.rpm_dir(ctx, i)?.join(format!("{}.rpm", p.name)),
            ));
        }
    }
    Ok(out)
}

async fn create_upgrade_dir(ctx: &TaskContext) -> Result<()> {
    let (host, dirs) = host_dirs(ctx).await?;
    host.create_dir(&dirs.upgrade).await?;
    if !ctx.resume && !host.dir_is_empty(&dirs.task).await? {
        return Err(Error::Cluster(format!(
            "Common.DirNotEmpty: {} is not empty",
            dirs.task.display()
        )));
    }
    host.create_dir(&dirs.task).await?;
    ctx.log
        .line(format!("created {}", dirs.task.display()))
        .await;
    Ok(())
}

async fn download(ctx: &TaskContext) -> Result<()> {
    let (host, dirs) = host_dirs(ctx).await?;
    for (package, path) in my_packages(ctx, &dirs)? {
        // Resuming: a package already downloaded and intact is kept.
        if ctx.resume && host.verify(&package, &path).await.is_ok() {
            ctx.log
                .line(format!("{} already downloaded", package.file_name))
                .await;
            continue;
        }
        host.download(ctx.packages.as_ref(), &package, &path)
            .await?;
        ctx.log
            .line(format!(
                "downloaded {} ({} bytes, sha256 {}) to {}",
                package.file_name,
                package.file_size,
                &package.sha256[..12.min(package.sha256.len())],
                path.display()
            ))
            .await;
    }
    Ok(())
}

async fn check(ctx: &TaskContext) -> Result<()> {
    let (host, dirs) = host_dirs(ctx).await?;
    for (package, path) in my_packages(ctx, &dirs)? {
        host.verify(&package, &path).await?;
        ctx.log
            .line(format!("{} verified (MD5, size, SHA-256)", path.display()))
            .await;
    }
    Ok(())
}

async fn unpack(ctx: &TaskContext) -> Result<()> {
    let (host, dirs) = host_dirs(ctx).await?;
    for (package, path) in my_packages(ctx, &dirs)? {
        let dest = path.parent().map(Path::to_path_buf).unwrap_or_default();
        host.unpack(&path, &dest).await?;
        ctx.log
            .line(format!(
                "unpacked {} into {}",
                package.file_name,
                dest.display()
            ))
            .await;
    }
    Ok(())
}

async fn install_agent(ctx: &TaskContext) -> Result<()> {
    let (host, dirs) = host_dirs(ctx).await?;
    let last = ctx.params.hops.len().saturating_sub(1);
    let unpacked = dirs.unpacked_home(ctx, last)?.join("bin");
    let copied = host
        .copy_tree(&unpacked, &host.home().join("bin"), Skip::AllBut("obshell"))
        .await?;
    ctx.log
        .line(format!(
            "installed obshell from the target package ({copied} file)"
        ))
        .await;
    Ok(())
}

/// Applies the values "Backup parameters" of this hop saved, one row at a
/// time, recording each applied row so that a resumed restore goes on
/// where it stopped. A backup that cannot be found is an error: succeeding
/// without restoring would leave rebalancing off on the cluster.
///
/// `record` is false when undoing the backup itself (ROLLBACK), whose own
/// output is the backup and must not be overwritten.
async fn restore_parameters(ctx: &TaskContext, record: bool) -> Result<()> {
    let rows = saved_parameters(ctx)?;
    let mut applied = match &ctx.dag.task(ctx.task_id).and_then(|t| t.output.clone()) {
        Some(TaskOutput::Restored { applied }) if ctx.resume => applied.clone(),
        _ => Vec::new(),
    };
    for (i, row) in rows.iter().enumerate() {
        if applied.contains(&i) {
            continue;
        }
        ctx.cluster.restore_parameter(row).await?;
        applied.push(i);
        if record {
            ctx.log
                .checkpoint(TaskOutput::Restored {
                    applied: applied.clone(),
                })
                .await?;
        }
        ctx.log
            .line(format!(
                "restored {} = {} ({:?} {}:{})",
                row.name, row.value, row.scope, row.svr_ip, row.svr_port
            ))
            .await;
    }
    Ok(())
}

/// The rows the "Backup parameters" stage of this sub-task's hop saved.
fn saved_parameters(ctx: &TaskContext) -> Result<Vec<crate::domain::output::SavedParameter>> {
    let hop = ctx.node.hop;
    let backup = ctx
        .dag
        .nodes
        .iter()
        .filter(|n| n.kind == TaskKind::BackupParameters && n.params.hop == hop)
        .flat_map(|n| n.tasks.iter())
        .find_map(|t| match &t.output {
            Some(TaskOutput::Parameters { rows }) => Some(rows.clone()),
            _ => None,
        });
    backup.ok_or_else(|| {
        Error::Cluster(format!(
            "no parameters were backed up for hop {} of DAG {}: \"Backup parameters\" has no saved rows",
            hop.map_or_else(|| "?".into(), |h| h.to_string()),
            ctx.dag_id
        ))
    })
}

async fn execute_script(ctx: &TaskContext, script: Script) -> Result<()> {
    let (host, dirs) = host_dirs(ctx).await?;
    let path = dirs
        .unpacked_home(ctx, hop(ctx)?)?
        .join("etc")
        .join(script.file_name());
    let real = host.root().join(path.strip_prefix("/").unwrap_or(&path));
    let zone = match script {
        Script::ZoneHealthChecker => Some(zone(ctx)?),
        _ => None,
    };
    let output = ctx.cluster.run_script(&real, zone).await?;
    ctx.log.line(output).await;
    if matches!(script, Script::HealthChecker | Script::ZoneHealthChecker) {
        ctx.cluster.wait_healthy(zone).await?;
    }
    Ok(())
}

async fn reinstall_observer(ctx: &TaskContext) -> Result<()> {
    let agent = ctx
        .agent
        .clone()
        .ok_or_else(|| Error::Internal("the reinstall runs on an agent".into()))?;
    let (host, dirs) = host_dirs(ctx).await?;
    let hop_index = hop(ctx)?;
    let hop = &ctx.params.hops[hop_index];
    host.stop_observer().await?;
    ctx.cluster.observer_stopped(&agent).await?;
    ctx.log.line(format!("observer on {agent} stopped")).await;
    // obshell's rule: the observer tree is replaced, obshell itself is not.
    let copied = host
        .copy_tree(
            &dirs.unpacked_home(ctx, hop_index)?,
            &host.home(),
            Skip::Containing("obshell"),
        )
        .await?;
    let running = host.start_observer().await?;
    let expected = match &hop.build {
        Some(b) => format!("{}-{b}", hop.version),
        None => hop.version.clone(),
    };
    if !(running == expected || running.starts_with(&format!("{expected}-"))) {
        return Err(Error::Cluster(format!(
            "after installing {copied} files, {agent} runs {running}, not {expected}"
        )));
    }
    ctx.cluster.observer_started(&agent, &running).await?;
    ctx.log
        .line(format!(
            "installed {copied} files; observer on {agent} runs {running}"
        ))
        .await;
    Ok(())
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
