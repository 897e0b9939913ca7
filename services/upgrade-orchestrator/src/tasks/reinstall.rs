//! "Reinstall and restart observer" on one host: back up what the install
//! overwrites, kill the observer, install the hop's files, start it (it
//! daemonizes), then wait on the sys tenant until the *new* process serves.
//!
//! What the sys tenant showed before the kill is read once and recorded
//! before anything is stopped, so that a resumed execution compares with
//! the old process and not with a view taken after the kill.

use obup_agent::domain::{
    Backup, ExpectedBuild, Install, InstallScope, OpOutput, StartObserver, Work,
};

use super::TaskContext;
use super::layout::{HostLayout, path};
use crate::domain::output::{Restart, TaskOutput};
use crate::{Error, Result};

pub(super) async fn run(ctx: &TaskContext) -> Result<TaskOutput> {
    let agent = ctx.my_agent()?;
    let (i, hop) = ctx.hop()?;
    let topology = ctx
        .cluster
        .topology_until(ctx.deadline_ms, ctx.log.as_ref())
        .await?;
    let server = topology
        .server(agent)
        .ok_or_else(|| Error::Cluster(format!("no server of the cluster runs on agent {agent}")))?
        .clone();
    let l = HostLayout::of(ctx, agent).await?;

    let mut restart = match ctx.dag.task(ctx.task_id).and_then(|t| t.output.clone()) {
        Some(TaskOutput::Restart(r)) if ctx.resume => r,
        _ => {
            let before = ctx
                .cluster
                .driver
                .before_restart(std::slice::from_ref(&server.svr_ip))
                .await?
                .remove(0);
            Restart::before(before)
        }
    };
    ctx.log
        .checkpoint(TaskOutput::Restart(restart.clone()))
        .await?;

    let unpacked = path(&l.unpacked_home(hop))?;
    let backup = Work::Backup(Backup {
        sources: vec![unpacked.clone()],
        scope: InstallScope::Observer,
        backup_dir: path(&l.backup(&format!("hop{i}")))?,
    });
    if let OpOutput::Backup(m) = ctx
        .host_op(agent, &format!("backup-hop{i}"), backup)
        .await?
    {
        ctx.line(format!(
            "backed up {} file(s) the install overwrites to {}",
            m.entries.len(),
            m.backup_dir
        ))
        .await;
    }

    if let OpOutput::StopObserver(s) = ctx
        .host_op(agent, &format!("stop-hop{i}"), Work::StopObserver)
        .await?
    {
        restart.killed_pid = s.killed_pid;
        restart.kill_time_ms = s.kill_time_ms;
        ctx.line(match s.killed_pid {
            Some(pid) => format!("observer {pid} on {agent} killed, its ports released"),
            None => format!("no observer was running on {agent}"),
        })
        .await;
    }

    let install = Work::Install(Install {
        source: unpacked,
        scope: InstallScope::Observer,
    });
    if let OpOutput::Install(n) = ctx
        .host_op(agent, &format!("install-hop{i}"), install)
        .await?
    {
        ctx.line(format!("installed {} file(s) into {}", n.files, l.home))
            .await;
    }

    let start = Work::StartObserver(StartObserver {
        expect: ExpectedBuild {
            version: Some(hop.version.clone()),
            build: hop.build.clone(),
        },
    });
    if let OpOutput::StartObserver(s) = ctx.host_op(agent, &format!("start-hop{i}"), start).await? {
        restart.pid = Some(s.pid);
        restart.build = Some(format!("{}-{}", s.build.version, s.build.build));
        ctx.line(format!(
            "observer started as pid {} ({} {}-{})",
            s.pid, s.build.product, s.build.version, s.build.build
        ))
        .await;
    }
    ctx.log
        .checkpoint(TaskOutput::Restart(restart.clone()))
        .await?;

    let target = restart.build.clone().unwrap_or_else(|| hop.build_version());
    let avoid: Vec<String> = ctx.node.zone.iter().cloned().collect();
    ctx.cluster
        .driver
        .wait_restarted(
            std::slice::from_ref(&restart.before),
            &target,
            &avoid,
            ctx.log.as_ref(),
        )
        .await?;
    ctx.line(format!(
        "{}:{} serves {target}",
        server.svr_ip, server.svr_port
    ))
    .await;
    Ok(TaskOutput::Restart(restart))
}
