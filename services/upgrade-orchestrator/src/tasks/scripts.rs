//! The upgrade scripts of a hop's package, run on a host by its agent:
//! `cd <rpm dir>; python <home>/etc/<script> -h<ip> -P<port> -u<user>
//! [-p<password>] [-z<zone>]` (obshell's `upgrade_exec_script.go`), with the
//! password handed to Python on stdin instead of its command line.

use obup_agent::domain::{OpOutput, RunUpgradeScript, Secret, Work};

use super::TaskContext;
use super::layout::{HostLayout, path};
use crate::clusters::Server;
use crate::domain::template::{Script, TaskKind};
use crate::{Error, Result};

/// The server a script talks to, and runs beside: a serving server outside
/// the zone being upgraded (obshell uses its maintainer's own observer;
/// obup avoids the zone whose observers are being replaced).
fn target<'a>(servers: &'a [Server], avoid: Option<&str>) -> Option<&'a Server> {
    servers
        .iter()
        .filter(|s| s.serving)
        .find(|s| avoid.is_none_or(|z| s.zone != z))
        .or_else(|| servers.iter().find(|s| s.serving))
}

pub(super) async fn run(ctx: &TaskContext, script: Script) -> Result<()> {
    let (i, hop) = ctx.hop()?;
    let zone = match script {
        Script::ZoneHealthChecker => Some(ctx.zone()?.to_owned()),
        Script::Checker | Script::Pre | Script::HealthChecker | Script::Post => None,
    };
    let topology = ctx
        .cluster
        .topology_until(ctx.deadline_ms, ctx.log.as_ref())
        .await?;
    let server = target(&topology.servers, zone.as_deref()).ok_or_else(|| Error::Precheck {
        code: "OB.Server.Unavailable",
        message: "no observer of the cluster is serving to run the script against".into(),
    })?;
    let l = HostLayout::of(ctx, &server.agent).await?;
    let file = format!("{}/etc/{}", l.unpacked_home(hop), script.file_name());
    ctx.line(format!(
        "running {file} on {} against {}:{}{}",
        server.agent,
        server.svr_ip,
        server.sql_port,
        zone.as_deref()
            .map(|z| format!(" for {z}"))
            .unwrap_or_default()
    ))
    .await;
    let work = Work::RunUpgradeScript(RunUpgradeScript {
        script: path(&file)?,
        work_dir: path(&l.rpm_dir(hop))?,
        host: server.svr_ip.clone(),
        port: server.sql_port,
        user: ctx.cluster.record.sys_user.clone(),
        zone,
        timeout_secs: None,
        // obshell's flag: the pre script cannot continue.
        can_continue: TaskKind::ExecuteScript(script).capabilities().resume,
    });
    let password = Secret::new(ctx.cluster.password.expose());
    let out = ctx
        .host_op_with(&server.agent, &format!("script-hop{i}"), work, password)
        .await?;
    if let OpOutput::RunUpgradeScript(s) = out {
        ctx.line(format!(
            "{} exited {} ({} {})",
            script.file_name(),
            s.exit_code,
            s.python.command,
            s.python.version
        ))
        .await;
    }
    Ok(())
}
