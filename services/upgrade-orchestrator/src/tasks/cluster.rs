//! The SQL stages: parameter backup and restore, zones, the minor freeze.

use super::TaskContext;
use crate::domain::output::{SavedParameter, TaskOutput};
use crate::domain::template::{FreezeScope, TaskKind};
use crate::{Error, Result};

/// "Backup parameters": every value of the parameters the upgrade changes,
/// stored with the sub-task (not on the orchestrator's disk), so that any
/// orchestrator restores them.
pub(super) async fn backup_parameters(ctx: &TaskContext) -> Result<TaskOutput> {
    let rows = ctx.cluster.driver.backup_parameters().await?;
    for r in &rows {
        ctx.line(format!(
            "saved {} = {} ({:?}, {}:{}{})",
            r.name,
            r.value,
            r.scope,
            r.svr_ip,
            r.svr_port,
            r.tenant_id
                .map(|t| format!(", tenant {t}"))
                .unwrap_or_default()
        ))
        .await;
    }
    Ok(TaskOutput::Parameters { rows })
}

/// Applies the values "Backup parameters" of this hop saved, one row at a
/// time, recording each applied row so that a resumed restore goes on
/// where it stopped. A backup that cannot be found is an error: succeeding
/// without restoring would leave rebalancing off on the cluster.
///
/// `record` is false when undoing the backup itself (ROLLBACK), whose own
/// output is the backup and must not be overwritten.
pub(super) async fn restore_parameters(ctx: &TaskContext, record: bool) -> Result<()> {
    let rows = saved_parameters(ctx)?;
    let mut applied = match ctx.dag.task(ctx.task_id).and_then(|t| t.output.clone()) {
        Some(TaskOutput::Restored { applied }) if ctx.resume => applied,
        _ => Vec::new(),
    };
    if !applied.is_empty() {
        ctx.line(format!(
            "{} value(s) were restored before the interruption",
            applied.len()
        ))
        .await;
    }
    for (i, row) in rows.iter().enumerate() {
        if applied.contains(&i) {
            continue;
        }
        ctx.cluster.driver.restore_parameter(row).await?;
        applied.push(i);
        if record {
            ctx.log
                .checkpoint(TaskOutput::Restored {
                    applied: applied.clone(),
                })
                .await?;
        }
        ctx.line(format!(
            "restored {} = {} ({:?}, {}:{})",
            row.name, row.value, row.scope, row.svr_ip, row.svr_port
        ))
        .await;
    }
    Ok(())
}

/// The rows the "Backup parameters" stage of this sub-task's hop saved.
fn saved_parameters(ctx: &TaskContext) -> Result<Vec<SavedParameter>> {
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
            hop.map_or_else(|| "?".into(), |h| (h + 1).to_string()),
            ctx.dag_id
        ))
    })
}

pub(super) async fn stop_zone(ctx: &TaskContext) -> Result<()> {
    ctx.cluster
        .driver
        .stop_zone(ctx.zone()?, ctx.log.as_ref())
        .await
}

pub(super) async fn start_zone(ctx: &TaskContext) -> Result<()> {
    ctx.cluster
        .driver
        .start_zone(ctx.zone()?, ctx.log.as_ref())
        .await
}

pub(super) async fn minor_freeze(ctx: &TaskContext) -> Result<()> {
    let scope = ctx.node.freeze.clone().unwrap_or(FreezeScope::Global);
    ctx.cluster
        .driver
        .minor_freeze(&scope, ctx.log.as_ref())
        .await?;
    ctx.line(format!("minor freeze of {scope:?} done")).await;
    Ok(())
}
