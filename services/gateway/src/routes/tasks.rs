//! `GET|POST /api/v1/task/dag/{id}`: DAG details and operators.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use obup_proto::pb::orchestrator::v1 as pb;
use serde::Deserialize;

use super::{Authed, decrypted_json, reply};
use crate::envelope::ApiError;
use crate::{AppState, Error, dto};

pub(super) fn dag_id(generic: &str) -> Result<i64, Error> {
    dto::parse_generic_id(generic).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Task.GenericID.Invalid",
            format!("generic id '{generic}' is invalid"),
        )
        .into()
    })
}

/// `show_details` (default true).
fn show_details(q: &HashMap<String, String>) -> Result<bool, Error> {
    flag(q, "show_details", true)
}

/// A boolean query parameter as Go's `strconv.ParseBool` reads it (the SDK
/// sends `True`).
pub(super) fn flag(q: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, Error> {
    match q.get(name).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Request.Query.Param.Illegal",
            format!("{name} '{other}' is not a boolean"),
        )
        .into()),
    }
}

pub async fn get_dag(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Authed { meta, .. }: Authed,
) -> Response {
    let result = async {
        let (id, details) = (dag_id(&id)?, show_details(&q)?);
        let dag = s
            .orchestrator
            .clone()
            .get_dag(pb::GetDagRequest { id, details })
            .await?
            .into_inner();
        let logs = if details {
            logs_of(
                &s,
                &dag.nodes
                    .iter()
                    .flat_map(|n| &n.sub_tasks)
                    .collect::<Vec<_>>(),
            )
            .await?
        } else {
            HashMap::new()
        };
        Ok(Some(dto::dag(&dag, details, &|task| {
            logs.get(&task).cloned().unwrap_or_default()
        })))
    }
    .await;
    reply(&meta, result)
}

#[derive(Debug, Deserialize)]
struct OperatorParam {
    operator: Option<String>,
}

pub async fn operate_dag(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Authed { meta, auth }: Authed,
    body: Body,
) -> Response {
    let result = async {
        let id = dag_id(&id)?;
        let p: OperatorParam = decrypted_json(&auth, body).await?;
        let operator = p.operator.unwrap_or_default();
        s.orchestrator
            .clone()
            .operate_dag(pb::OperateDagRequest { id, operator })
            .await?;
        // obshell answers an operator with no data.
        Ok(None)
    }
    .await;
    reply(&meta, result)
}

/// The log lines of each executed sub-task of a DAG.
async fn logs_of(s: &AppState, tasks: &[&pb::SubTask]) -> Result<HashMap<i64, Vec<String>>, Error> {
    let mut client = s.orchestrator.clone();
    let mut out = HashMap::new();
    for t in tasks.iter().filter(|t| t.execute_times > 0) {
        let lines = client
            .get_sub_task_logs(pb::GetSubTaskRequest { id: t.id })
            .await?
            .into_inner()
            .logs
            .into_iter()
            .map(|l| l.content)
            .collect();
        out.insert(t.id, lines);
    }
    Ok(out)
}

fn object_id(generic: &str) -> Result<i64, Error> {
    dag_id(generic)
}

pub async fn get_node(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Authed { meta, .. }: Authed,
) -> Response {
    let result = async {
        let id = object_id(&id)?;
        let details = show_details(&q)?;
        let found = s
            .orchestrator
            .clone()
            .get_node(pb::GetNodeRequest { id })
            .await?
            .into_inner();
        let node = found.node.unwrap_or_default();
        let logs = if details {
            logs_of(&s, &node.sub_tasks.iter().collect::<Vec<_>>()).await?
        } else {
            HashMap::new()
        };
        // obshell dereferences nil (500) for show_details=false; obup just
        // leaves the logs out.
        Ok(Some(dto::node(&node, &|t| {
            logs.get(&t).cloned().unwrap_or_default()
        })))
    }
    .await;
    reply(&meta, result)
}

pub async fn operate_node(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Authed { meta, auth }: Authed,
    body: Body,
) -> Response {
    let result = async {
        let node_id = object_id(&id)?;
        let p: OperatorParam = decrypted_json(&auth, body).await?;
        let operator = p.operator.unwrap_or_default();
        if !operator.eq_ignore_ascii_case("PASS") {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Task.Node.Operator.NotSupport",
                format!("Operator '{operator}' is not supported for a node"),
            )
            .into());
        }
        s.orchestrator
            .clone()
            .pass_node(pb::PassNodeRequest { node_id })
            .await?;
        Ok(None)
    }
    .await;
    reply(&meta, result)
}

pub async fn get_sub_task(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Authed { meta, .. }: Authed,
) -> Response {
    let result = async {
        let id = object_id(&id)?;
        let task = s
            .orchestrator
            .clone()
            .get_sub_task(pb::GetSubTaskRequest { id })
            .await?
            .into_inner();
        let logs = logs_of(&s, &[&task]).await?;
        Ok(Some(dto::sub_task(&task, &|t| {
            logs.get(&t).cloned().unwrap_or_default()
        })))
    }
    .await;
    reply(&meta, result)
}

pub async fn sub_task_logs(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Authed { meta, .. }: Authed,
) -> Response {
    let result = async {
        let id = object_id(&id)?;
        let logs = s
            .orchestrator
            .clone()
            .get_sub_task_logs(pb::GetSubTaskRequest { id })
            .await?
            .into_inner();
        Ok(Some(crate::envelope::contents(
            logs.logs.iter().map(dto::log_line).collect(),
        )))
    }
    .await;
    reply(&meta, result)
}

/// The DAGs `filter` selects.
async fn list_dags(s: &AppState, filter: pb::DagFilter) -> Result<Vec<pb::Dag>, Error> {
    let request = pb::ListDagsRequest {
        filter: filter as i32,
        cluster: s.cluster.clone(),
    };
    Ok(s.orchestrator
        .clone()
        .list_dags(request)
        .await?
        .into_inner()
        .dags)
}

/// `GET /api/v1/task/dag/unfinish` and `/task/dag/ob/unfinish`.
pub async fn unfinished(State(s): State<Arc<AppState>>, Authed { meta, .. }: Authed) -> Response {
    let result = async {
        let dags = list_dags(&s, pb::DagFilter::Unfinished).await?;
        Ok(Some(crate::envelope::contents(
            dags.iter()
                .map(|d| dto::dag(d, false, &|_| Vec::new()))
                .collect(),
        )))
    }
    .await;
    reply(&meta, result)
}

/// `GET /api/v1/task/dag/maintain/ob`: the latest maintenance DAG.
pub async fn maintenance(State(s): State<Arc<AppState>>, Authed { meta, .. }: Authed) -> Response {
    let result = async {
        let dags = list_dags(&s, pb::DagFilter::Maintenance).await?;
        let dag = dags.first().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "Task.NotFound",
                "Cluster is not under maintenance",
            )
        })?;
        Ok(Some(dto::dag(dag, false, &|_| Vec::new())))
    }
    .await;
    reply(&meta, result)
}
