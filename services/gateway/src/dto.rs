//! obshell's JSON shapes, built from obup's gRPC messages.
//!
//! Generic ids are obshell's: `"1" + id` for cluster objects.

use obup_proto::pb::orchestrator::v1 as opb;
use obup_proto::pb::packagestore::v1 as ppb;
use serde_json::{Value, json};

/// obshell's zero time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(ms: i64) -> String {
    if ms <= 0 {
        return ZERO_TIME.into();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
        })
        .unwrap_or_else(|| ZERO_TIME.into())
}

pub fn generic_id(id: i64) -> String {
    format!("1{id}")
}

/// Parses a generic id of a cluster object.
pub fn parse_generic_id(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('1')?;
    rest.parse().ok().filter(|&id| id > 0)
}

/// DagDetailDTO. `logs` holds each sub-task's log lines when details are
/// wanted.
pub fn dag(d: &opb::Dag, details: bool, logs: &dyn Fn(i64) -> Vec<String>) -> Value {
    json!({
        "id": generic_id(d.id),
        "dag_id": d.id,
        "name": d.name,
        "stage": d.stage,
        "max_stage": d.max_stage,
        "maintenance_type": if d.maintenance { 2 } else { 1 },
        "maintenance_key": "",
        "state": d.state,
        "operator": d.operator,
        "start_time": time(d.start_time_ms),
        "end_time": time(d.end_time_ms),
        "additional_data": if details && d.nodes.len() > 1 { json!({}) } else { Value::Null },
        "nodes": if details { Value::Array(d.nodes.iter().map(|n| node(n, logs)).collect()) } else { Value::Null },
    })
}

pub fn node(n: &opb::Node, logs: &dyn Fn(i64) -> Vec<String>) -> Value {
    json!({
        "id": generic_id(n.id),
        "node_id": n.id,
        "name": n.name,
        "state": n.state,
        "operator": n.operator,
        "start_time": time(n.start_time_ms),
        "end_time": time(n.end_time_ms),
        "additional_data": Value::Null,
        "sub_tasks": n.sub_tasks.iter().map(|t| sub_task(t, logs)).collect::<Vec<_>>(),
    })
}

pub fn sub_task(t: &opb::SubTask, logs: &dyn Fn(i64) -> Vec<String>) -> Value {
    let (ip, port) = match t.agent.rsplit_once(':') {
        Some((ip, port)) => (ip.to_owned(), port.parse::<u16>().unwrap_or(0)),
        None => (t.agent.clone(), 0),
    };
    // obshell sends logs only for sub-tasks that ran; the SDK reads the last
    // line of a failed one.
    let task_logs = if t.execute_times > 0 {
        json!(logs(t.id))
    } else {
        Value::Null
    };
    json!({
        "id": generic_id(t.id),
        "task_id": t.id,
        "name": t.name,
        "state": t.state,
        "operator": t.operator,
        "start_time": time(t.start_time_ms),
        "end_time": time(t.end_time_ms),
        "additional_data": Value::Null,
        "execute_times": t.execute_times,
        "execute_agent": {"ip": ip, "port": port},
        "task_logs": task_logs,
    })
}

/// UploadPkg's answer: obshell's Go field names (its struct has no JSON
/// tags). `GmtModify` is the real time (obshell sends the zero time).
pub fn upload_pkg_info(p: &ppb::Package) -> Value {
    json!({
        "PkgId": p.id,
        "Name": p.name,
        "Version": p.version,
        "ReleaseDistribution": p.release_distribution,
        "Distribution": p.distribution,
        "Release": p.release,
        "Architecture": p.architecture,
        "Size": p.size,
        "PayloadSize": p.payload_size,
        "ChunkCount": p.chunk_count,
        "Md5": p.md5,
        "UpgradeDepYaml": p.upgrade_dep_yaml,
        "GmtModify": time(p.created_at_ms),
    })
}

/// The package list's snake_case shape (`upgrade_dep_yaml` is empty there,
/// as in obshell).
pub fn pkg_info(p: &ppb::Package) -> Value {
    json!({
        "pkg_id": p.id,
        "name": p.name,
        "version": p.version,
        "release_distribution": p.release_distribution,
        "distribution": p.distribution,
        "release": p.release,
        "architecture": p.architecture,
        "size": p.size,
        "payload_size": p.payload_size,
        "chunk_count": p.chunk_count,
        "md5": p.md5,
        "upgrade_dep_yaml": "",
        "gmt_modify": time(p.created_at_ms),
    })
}

/// One line of `GET /api/v1/task/sub_task/{id}/logs`.
pub fn log_line(l: &opb::SubTaskLog) -> Value {
    json!({
        "id": l.id,
        "sub_task_id": l.sub_task_id,
        "execute_times": l.execute_times,
        "log_content": l.content,
        "is_sync": true,
        "create_time": time(l.created_at_ms),
        "update_time": time(l.created_at_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_ids_round_trip() {
        assert_eq!(generic_id(12), "112");
        assert_eq!(parse_generic_id("112"), Some(12));
        for bad in ["", "1", "2123", "1x", "10"] {
            assert_eq!(parse_generic_id(bad), None, "{bad}");
        }
    }
}
