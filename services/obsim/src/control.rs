//! The control API (HTTP, JSON, loopback): what tests and `status` use to
//! look at and steer a simulator.
//!
//! | route | |
//! |---|---|
//! | `GET /status` | the snapshot (`status --json` prints it) |
//! | `GET /transcript?after=N` | entries with `seq > N`, and the totals |
//! | `GET /counters`, `PUT /counters` | the pre-check counters (backups, DDL, ...) and statement totals; `PUT` sets the counters |
//! | `GET /faults`, `POST /faults`, `DELETE /faults`, `DELETE /faults/{id}` | statement faults |
//! | `POST /freeze/{transition}`, `DELETE /freeze/{transition}` | freeze or thaw a transition |
//! | `PUT /major-compaction` `{"running": bool}` | a major compaction that runs until cleared |
//! | `PUT /tenant-status` `{"tenant": "tenant1", "status": "RESTORE"}` | a tenant's status |
//! | `GET /invariant` | the "never two zones down" report |

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::engine::Core;
use crate::faults::FaultSpec;
use crate::state::{Counters, Op, Transition};
use crate::status::FaultView;

#[derive(Clone)]
struct App {
    core: Arc<Core>,
    url: String,
}

pub fn router(core: Arc<Core>, addr: SocketAddr) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/transcript", get(transcript))
        .route("/counters", get(counters).put(set_counters))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/faults/{id}", delete(clear_fault))
        .route("/freeze/{transition}", post(freeze).delete(thaw))
        .route("/major-compaction", put(major_compaction))
        .route("/tenant-status", put(tenant_status))
        .route("/invariant", get(invariant))
        .with_state(App {
            core,
            url: format!("http://{addr}"),
        })
}

pub async fn serve(
    core: Arc<Core>,
    listener: TcpListener,
    addr: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = router(core, addr);
    let stop = async move { crate::sim::stopped(&mut shutdown).await };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, "control API stopped");
    }
}

fn bad(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": msg.to_string() })),
    )
        .into_response()
}

async fn status(State(app): State<App>) -> Response {
    app.core.tick();
    Json(app.core.status(&app.url)).into_response()
}

#[derive(Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

async fn transcript(State(app): State<App>, Query(q): Query<After>) -> Response {
    let inner = app.core.lock();
    Json(json!({
        "entries": inner.transcript.since(q.after),
        "totals": inner.transcript.totals(),
    }))
    .into_response()
}

async fn counters(State(app): State<App>) -> Response {
    let inner = app.core.lock();
    Json(json!({
        "counters": inner.cluster.counters,
        "statements": inner.transcript.totals(),
    }))
    .into_response()
}

async fn set_counters(State(app): State<App>, Json(c): Json<Counters>) -> Response {
    let _ = app.core.apply(Op::SetCounters(c));
    StatusCode::NO_CONTENT.into_response()
}

async fn faults(State(app): State<App>) -> Response {
    let list: Vec<FaultView> = app
        .core
        .lock()
        .faults
        .list()
        .iter()
        .map(FaultView::from)
        .collect();
    Json(list).into_response()
}

async fn add_fault(State(app): State<App>, Json(spec): Json<FaultSpec>) -> Response {
    match app.core.lock().faults.add(spec) {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(e) => bad(e),
    }
}

async fn clear_faults(State(app): State<App>) -> Response {
    let n = app.core.lock().faults.clear(None);
    Json(json!({ "cleared": n })).into_response()
}

async fn clear_fault(State(app): State<App>, Path(id): Path<u64>) -> Response {
    match app.core.lock().faults.clear(Some(id)) {
        0 => StatusCode::NOT_FOUND.into_response(),
        n => Json(json!({ "cleared": n })).into_response(),
    }
}

fn transition(word: &str) -> Result<Transition, Box<Response>> {
    Transition::from_word(word).ok_or_else(|| {
        let all: Vec<&str> = Transition::ALL.iter().map(|t| t.word()).collect();
        Box::new(bad(format!(
            "no transition {word:?}; one of {}",
            all.join(", ")
        )))
    })
}

async fn freeze(State(app): State<App>, Path(t): Path<String>) -> Response {
    match transition(&t) {
        Ok(t) => {
            let _ = app.core.apply(Op::Freeze(t));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

async fn thaw(State(app): State<App>, Path(t): Path<String>) -> Response {
    match transition(&t) {
        Ok(t) => {
            let _ = app.core.apply(Op::Thaw(t));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => *r,
    }
}

#[derive(Deserialize)]
struct Running {
    running: bool,
}

async fn major_compaction(State(app): State<App>, Json(r): Json<Running>) -> Response {
    let _ = app.core.apply(Op::SetMajorCompaction(r.running));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct TenantStatus {
    tenant: String,
    status: String,
}

async fn tenant_status(State(app): State<App>, Json(t): Json<TenantStatus>) -> Response {
    match app.core.apply(Op::SetTenantStatus {
        tenant: t.tenant,
        status: t.status,
    }) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad(e),
    }
}

async fn invariant(State(app): State<App>) -> Response {
    Json(app.core.lock().cluster.invariant.clone()).into_response()
}
