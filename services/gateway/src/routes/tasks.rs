//! `GET|POST /api/v1/task/dag/{id}`: DAG details and operators.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use obup_proto::pb::orchestrator::v1 as pb;
use serde::Deserialize;

use super::{authenticate, decrypted_json, reply};
use crate::envelope::{ApiError, RequestMeta};
use crate::{AppState, Error, dto};

fn dag_id(generic: &str) -> Result<i64, Error> {
    dto::parse_generic_id(generic).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Task.GenericID.Invalid",
            format!("generic id '{generic}' is invalid"),
        )
        .into()
    })
}

/// `show_details` as Go's `strconv.ParseBool` reads it (the SDK sends
/// `True`); default true.
fn show_details(q: &HashMap<String, String>) -> Result<bool, Error> {
    match q.get("show_details").map(String::as_str) {
        None | Some("") => Ok(true),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Request.Query.Param.Illegal",
            format!("show_details '{other}' is not a boolean"),
        )
        .into()),
    }
}

pub async fn get_dag(
    State(s): State<Arc<AppState>>,
    Extension(meta): Extension<RequestMeta>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let result = async {
        authenticate(&s, &headers, &uri, &meta)?;
        let (id, details) = (dag_id(&id)?, show_details(&q)?);
        let mut client = s.orchestrator.clone();
        let dag = client
            .get_dag(pb::GetDagRequest { id, details })
            .await?
            .into_inner();
        let mut logs = HashMap::new();
        if details {
            for t in dag
                .nodes
                .iter()
                .flat_map(|n| &n.sub_tasks)
                .filter(|t| t.execute_times > 0)
            {
                let lines = client
                    .get_sub_task_logs(pb::GetSubTaskRequest { id: t.id })
                    .await?
                    .into_inner()
                    .logs
                    .into_iter()
                    .map(|l| l.content)
                    .collect::<Vec<_>>();
                logs.insert(t.id, lines);
            }
        }
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
    Extension(meta): Extension<RequestMeta>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    let result = async {
        let auth = authenticate(&s, &headers, &uri, &meta)?;
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
