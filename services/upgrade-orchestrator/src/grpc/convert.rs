//! Conversions between protobuf messages and domain types, in one place.

use obup_proto::pb::orchestrator::v1 as pb;

use crate::domain::dag::{Dag, Node, SubTask};
use crate::domain::template::Mode;
use crate::plan::{Plan, UpgradeRequest};
use crate::storage::{DagFilter, Event, EventBody, LogRow};
use crate::{Error, WatchItem};

/// An enum number this build does not know (a newer client) is refused, not
/// read as the default.
pub(crate) fn request(m: pb::UpgradeRequest) -> Result<UpgradeRequest, Error> {
    Ok(UpgradeRequest {
        version: m.version,
        release: m.release,
        mode: match pb::Mode::try_from(m.mode) {
            Ok(pb::Mode::Rolling) => Some(Mode::Rolling),
            Ok(pb::Mode::StopService) => Some(Mode::StopService),
            Ok(pb::Mode::Unspecified) => None,
            Err(_) => return Err(Error::ModeNotSupported(format!("mode number {}", m.mode))),
        },
        upgrade_dir: m.upgrade_dir,
        freeze_server: m.freeze_server,
        package_ids: m.package_ids,
        cluster: m.cluster,
    })
}

pub(crate) fn filter(m: i32) -> Result<DagFilter, Error> {
    match pb::DagFilter::try_from(m) {
        Ok(pb::DagFilter::Unfinished) => Ok(DagFilter::Unfinished),
        Ok(pb::DagFilter::Maintenance) => Ok(DagFilter::Maintenance),
        Ok(pb::DagFilter::All) => Ok(DagFilter::All),
        Err(_) => Err(Error::InvalidArgument {
            field: "filter",
            reason: format!("unknown DagFilter number {m}"),
        }),
    }
}

pub(crate) fn plan(p: Plan) -> pb::Plan {
    pb::Plan {
        current_build_version: p.current,
        hops: p
            .params
            .hops
            .into_iter()
            .map(|h| pb::Hop {
                version: h.version,
                build: h.build.unwrap_or_default(),
                require_from_binary: h.require_from_binary,
                deprecated_builds: h.deprecated_builds,
                packages: h
                    .packages
                    .into_iter()
                    .map(|p| pb::HopPackage {
                        name: p.name,
                        architecture: p.architecture,
                        package_id: p.id,
                        file_name: p.file_name,
                    })
                    .collect(),
            })
            .collect(),
        dag_name: p.spec.name,
        stages: p.spec.nodes.into_iter().map(|n| n.name).collect(),
    }
}

pub(crate) fn dag(d: &Dag, details: bool) -> pb::Dag {
    pb::Dag {
        id: d.id,
        name: d.name.clone(),
        stage: d.stage,
        max_stage: d.max_stage(),
        state: d.state.as_str().into(),
        operator: d.operator.as_str().into(),
        maintenance: d.maintenance,
        finished: d.finished,
        start_time_ms: d.start_ms,
        end_time_ms: d.end_ms,
        nodes: if details {
            d.nodes.iter().map(node).collect()
        } else {
            Vec::new()
        },
        seq: d.last_seq,
        cluster_id: d.cluster_id.clone(),
    }
}

pub(crate) fn node(n: &Node) -> pb::Node {
    pb::Node {
        id: n.id,
        name: n.name.clone(),
        stage: n.stage,
        state: n.state.as_str().into(),
        operator: n.operator.as_str().into(),
        parallel: n.parallel,
        start_time_ms: n.start_ms,
        end_time_ms: n.end_ms,
        sub_tasks: n.tasks.iter().map(|t| sub_task(t, 0)).collect(),
    }
}

pub(crate) fn sub_task(t: &SubTask, dag_id: i64) -> pb::SubTask {
    pb::SubTask {
        id: t.id,
        node_id: t.node_id,
        name: t.name.clone(),
        state: t.state.as_str().into(),
        operator: t.operator.as_str().into(),
        agent: t.agent.clone().unwrap_or_default(),
        execute_times: t.execute_times,
        start_time_ms: t.start_ms,
        end_time_ms: t.end_ms,
        can_retry: t.caps.retry,
        can_rollback: t.caps.rollback,
        can_pass: t.caps.pass,
        can_cancel: t.caps.cancel,
        can_continue: t.caps.resume,
        dag_id,
    }
}

pub(crate) fn logs(rows: Vec<LogRow>) -> pb::SubTaskLogs {
    pb::SubTaskLogs {
        logs: rows
            .into_iter()
            .map(|r| pb::SubTaskLog {
                id: r.id,
                sub_task_id: r.sub_task_id,
                execute_times: r.execute_times,
                content: r.content,
                created_at_ms: r.created_at_ms,
            })
            .collect(),
    }
}

pub(crate) fn watch_item(item: &WatchItem) -> pb::DagEvent {
    match item {
        WatchItem::Snapshot(d) => pb::DagEvent {
            dag_id: d.id,
            seq: d.last_seq,
            at_ms: 0,
            kind: Some(pb::dag_event::Kind::Snapshot(dag(d, true))),
        },
        WatchItem::Event(e) => event(e),
    }
}

pub(crate) fn event(e: &Event) -> pb::DagEvent {
    use pb::dag_event::Kind;
    let kind = match &e.body {
        EventBody::Dag {
            state,
            operator,
            stage,
        } => Kind::Dag(pb::DagChange {
            state: state.as_str().into(),
            operator: operator.as_str().into(),
            stage: *stage,
        }),
        EventBody::Node {
            node_id,
            name,
            state,
            operator,
        } => Kind::Node(pb::NodeChange {
            node_id: *node_id,
            name: name.clone(),
            state: state.as_str().into(),
            operator: operator.as_str().into(),
        }),
        EventBody::SubTask {
            sub_task_id,
            node_id,
            name,
            state,
            operator,
            execute_times,
            agent,
        } => Kind::SubTask(pb::SubTaskChange {
            sub_task_id: *sub_task_id,
            node_id: *node_id,
            name: name.clone(),
            state: state.as_str().into(),
            operator: operator.as_str().into(),
            execute_times: *execute_times,
            agent: agent.clone().unwrap_or_default(),
        }),
        EventBody::Log {
            sub_task_id,
            execute_times,
            content,
        } => Kind::Log(pb::LogLine {
            sub_task_id: *sub_task_id,
            execute_times: *execute_times,
            content: content.clone(),
        }),
    };
    pb::DagEvent {
        dag_id: e.dag_id,
        seq: e.seq,
        at_ms: e.at_ms,
        kind: Some(kind),
    }
}
