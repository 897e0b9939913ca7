//! `GET /api/v1/task/dag/{id}/events`: a DAG's changes as server-sent
//! events, from WatchDag. Beyond obshell: a browser or curl follows an
//! upgrade live instead of polling `GET /api/v1/task/dag/{id}` every 3 s.
//!
//! Each event's `id` is the DAG's event sequence number, so a client that
//! reconnects with `Last-Event-ID` (what `EventSource` does by itself)
//! resumes exactly after the last event it saw. The first event of a fresh
//! stream is a `snapshot` (the DagDetailDTO); then `dag`, `node`,
//! `sub_task` and `log` changes. The stream ends when the DAG is over,
//! unless `follow=true`. Authentication is as for the DAG itself.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use obup_proto::pb::orchestrator::v1 as pb;
use pb::dag_event::Kind;
use serde_json::{Value, json};

use super::{Authed, reply};
use crate::envelope::ApiError;
use crate::{AppState, Error, dto};

pub async fn dag_events(
    State(s): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Authed { meta, .. }: Authed,
    headers: HeaderMap,
) -> Response {
    let opened = async {
        let request = pb::WatchDagRequest {
            dag_id: super::tasks::dag_id(&id)?,
            after_seq: resume_after(&headers, &q)?,
            follow: super::tasks::flag(&q, "follow", false)?,
        };
        // Asked before answering, so that an unknown DAG is a 404 envelope
        // rather than an empty event stream.
        Ok::<_, Error>(
            s.orchestrator
                .clone()
                .watch_dag(request)
                .await?
                .into_inner(),
        )
    }
    .await;
    match opened {
        Ok(stream) => Sse::new(events(stream))
            .keep_alive(KeepAlive::default())
            .into_response(),
        Err(e) => reply(&meta, Err(e)),
    }
}

/// Where to resume: `Last-Event-ID` (set by `EventSource` on reconnect) or
/// `?after=` (for the first connection, which cannot set headers in a
/// browser); 0 for everything.
fn resume_after(headers: &HeaderMap, q: &HashMap<String, String>) -> Result<i64, Error> {
    let given = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?").trim().to_owned())
        .or_else(|| q.get("after").cloned());
    match given.as_deref() {
        None | Some("") => Ok(0),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "Request.Header.Param.Illegal",
                format!("Last-Event-ID '{v}' is not an event sequence number"),
            )
            .into()
        }),
    }
}

/// The WatchDag stream as SSE events; a backend error mid-stream becomes a
/// final `error` event (the HTTP status is long sent by then).
fn events(stream: tonic::Streaming<pb::DagEvent>) -> impl Stream<Item = Result<Event, Infallible>> {
    stream.scan(false, |over, item| {
        if *over {
            return std::future::ready(None);
        }
        let event = match item {
            Ok(e) => to_event(&e),
            Err(status) => {
                *over = true;
                let api = Error::from(status).to_api();
                Event::default()
                    .event("error")
                    .data(json!({"errCode": api.err_code, "message": api.message}).to_string())
            }
        };
        std::future::ready(Some(Ok(event)))
    })
}

fn to_event(e: &pb::DagEvent) -> Event {
    let (name, data): (&str, Value) = match &e.kind {
        Some(Kind::Snapshot(d)) => ("snapshot", dto::dag(d, true, &|_| Vec::new())),
        Some(Kind::Dag(c)) => (
            "dag",
            json!({"state": c.state, "operator": c.operator, "stage": c.stage}),
        ),
        Some(Kind::Node(n)) => (
            "node",
            json!({"id": dto::generic_id(n.node_id), "name": n.name, "state": n.state, "operator": n.operator}),
        ),
        Some(Kind::SubTask(t)) => (
            "sub_task",
            json!({"id": dto::generic_id(t.sub_task_id), "node_id": dto::generic_id(t.node_id),
                "name": t.name, "state": t.state, "operator": t.operator,
                "execute_times": t.execute_times, "task_exec_agent": t.agent}),
        ),
        Some(Kind::Log(l)) => (
            "log",
            json!({"sub_task_id": dto::generic_id(l.sub_task_id),
                "execute_times": l.execute_times, "content": l.content}),
        ),
        None => ("unknown", Value::Null),
    };
    let mut data = data;
    if let Value::Object(m) = &mut data {
        m.insert("dag_id".into(), json!(dto::generic_id(e.dag_id)));
        m.insert("at".into(), json!(e.at_ms));
    }
    Event::default()
        .id(e.seq.to_string())
        .event(name)
        .data(data.to_string())
}
