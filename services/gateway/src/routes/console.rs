//! `/api/v1/console/...`: what the web console needs beyond obshell's
//! paths. Signing in and out (the session cookie, see
//! `security::session`), and the reads obshell's REST API has no path for:
//! clusters with their topology, the upgrade plan, DAG history, the audit
//! trail. Every answer is obshell's envelope, as on every other path, so
//! the console handles one shape of error.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use obup_proto::pb::audit::v1 as apb;
use obup_proto::pb::orchestrator::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Authed, reply};
use crate::envelope::{self, ApiError, RequestMeta};
use crate::security::session::{Proof, Session, unauthorized};
use crate::security::signed_in::{self, SignedIn};
use crate::{AppState, Error, dto};

/// Largest sign-in body: a token or a password, with room to spare.
const SIGN_IN_LIMIT: usize = 4096;
/// Events the audit page shows at most per journal.
const AUDIT_MAX: u32 = 1000;

/// `POST /api/v1/console/session`'s body: one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: Option<String>,
    password: Option<String>,
}

/// `POST /api/v1/console/session`: a token or the root password in, a
/// session cookie out.
pub async fn sign_in(
    State(s): State<Arc<AppState>>,
    Extension(meta): Extension<RequestMeta>,
    request: axum::extract::Request,
) -> Response {
    let now_ms = chrono::Utc::now().timestamp_millis();
    // Set by the server for every connection (obup_kit::grpc::serve).
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = request.into_parts();
    let result = async {
        let form: SignIn = json_only(&parts.headers, body).await?;
        let proof = match (form.token, form.password) {
            (Some(token), None) => {
                let token = obup_kit::auth::Token::parse(&token)
                    .map_err(crate::security::bearer::refused)?;
                signed_in::token_proof(token.hash())
            }
            (None, Some(password)) => {
                s.security.check_root_password(&password, peer)?;
                Proof::RootPassword {
                    fingerprint: s.security.sessions.fingerprint(&password),
                }
            }
            _ => {
                return Err(Error::from(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "Common.BindJsonFailed",
                    "send either {\"token\": ...} or {\"password\": ...}",
                )));
            }
        };
        // Checked as every later request will be: a token of another
        // cluster, or revoked, signs nobody in.
        let caller = signed_in::resolve(&s, &proof, now_ms).await?;
        crate::security::bearer::authorize(
            &caller.name,
            caller.role,
            caller.cluster.as_deref(),
            &Method::GET,
            "/api/v1/console/session",
            &s.cluster,
        )?;
        tracing::info!(who = %caller.proved_by, "console sign-in");
        Ok(SignedIn {
            session: Session::new(proof, now_ms),
            caller,
        })
    }
    .await;
    match result {
        Ok(signed_in) => {
            let cookie = s.security.sessions.cookie(&signed_in.session);
            let mut response = envelope::ok(&meta, Some(session_json(&signed_in)));
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(e) => reply(&meta, Err(e)),
    }
}

/// `GET /api/v1/console/session`: who is signed in (401 when nobody), and
/// the CSRF value the page repeats.
pub async fn session(
    State(s): State<Arc<AppState>>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
) -> Response {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let result = async {
        let admitted = signed_in::admit(
            &s,
            &headers,
            &Method::GET,
            "/api/v1/console/session",
            now_ms,
        )
        .await?;
        let (_, signed_in) =
            admitted.ok_or_else(|| unauthorized("Security.Session.None", "not signed in"))?;
        Ok(Some(session_json(&signed_in)))
    }
    .await;
    reply(&meta, result)
}

/// `DELETE /api/v1/console/session`: signs out. The cookie is cleared even
/// when the session was already over, so the browser never keeps a dead
/// one.
pub async fn sign_out(
    State(s): State<Arc<AppState>>,
    Extension(meta): Extension<RequestMeta>,
    headers: HeaderMap,
) -> Response {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let result = match s.security.sessions.open(&headers, now_ms) {
        Ok(Some(session)) => session.check_csrf(&headers).map_err(Error::from).map(|()| {
            s.security.sessions.sign_out(&session, now_ms);
            None
        }),
        Ok(None) | Err(_) => Ok(None),
    };
    let failed = result.is_err();
    let mut response = reply(&meta, result);
    if !failed {
        response
            .headers_mut()
            .append(header::SET_COOKIE, s.security.sessions.clearing_cookie());
    }
    response
}

fn session_json(signed_in: &SignedIn) -> Value {
    let c = &signed_in.caller;
    json!({
        "name": c.name,
        "role": c.role.as_str(),
        "cluster": c.cluster,
        "proved_by": c.proved_by,
        "csrf": signed_in.session.csrf,
        "expires_at_ms": signed_in.session.expires_at_ms,
    })
}

/// A small JSON body, sent as JSON: a cross-site form cannot send this
/// content type without a CORS preflight, which the gateway never allows.
async fn json_only<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, Error> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().starts_with("application/json"));
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Common.IllegalArgument",
            "sign-in takes Content-Type: application/json",
        )
        .into());
    }
    let bytes = axum::body::to_bytes(body, SIGN_IN_LIMIT)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request.Body.TooLarge",
                format!("a sign-in body is at most {SIGN_IN_LIMIT} bytes"),
            )
        })?;
    super::bind_json(&bytes)
}

/// `GET /api/v1/console/clusters`: the registered clusters (this gateway's
/// one, when it answers for one), each with its topology as the sys tenant
/// reports it now.
pub async fn clusters(State(s): State<Arc<AppState>>, Authed { meta, .. }: Authed) -> Response {
    let result = async {
        let mut client = s.orchestrator.clone();
        let names: Vec<String> = client
            .list_clusters(pb::ListClustersRequest {})
            .await?
            .into_inner()
            .clusters
            .into_iter()
            .map(|c| c.name)
            .filter(|n| s.cluster.is_empty() || *n == s.cluster)
            .collect();
        let asked = names.into_iter().map(|name| {
            let mut client = s.orchestrator.clone();
            async move { client.get_cluster(pb::GetClusterRequest { name }).await }
        });
        let mut items = Vec::new();
        for c in futures::future::join_all(asked).await {
            items.push(cluster_json(&c?.into_inner()));
        }
        Ok(Some(envelope::contents(items)))
    }
    .await;
    reply(&meta, result)
}

fn cluster_json(c: &pb::Cluster) -> Value {
    let topology = c.topology.as_ref().map(|t| {
        json!({
            "edition": t.edition,
            "build_version": t.build_version,
            "zones": t.zones.iter().map(|z| json!({
                "name": z.name,
                "status": z.status,
                "region": z.region,
                "idc": z.idc,
                "servers": z.servers.iter().map(|v| json!({
                    "svr_ip": v.svr_ip,
                    "svr_port": v.svr_port,
                    "sql_port": v.sql_port,
                    "status": v.status,
                    "build_version": v.build_version,
                    "with_rootserver": v.with_rootserver,
                    "start_service_time_ms": v.start_service_time_ms,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    });
    json!({
        "name": c.name,
        "sql_endpoints": c.sql_endpoints,
        "agents": c.agents,
        "created_at_ms": c.created_at_ms,
        "topology": topology,
        "topology_error": c.topology_error,
    })
}

/// `POST /api/v1/console/plan`'s body (the upgrade's, as obshell spells
/// it).
#[derive(Debug, Deserialize)]
struct PlanParam {
    version: String,
    release: String,
    #[serde(default)]
    mode: Option<String>,
    /// Ignored: the gateway answers for its own cluster.
    #[serde(default)]
    #[allow(dead_code)]
    cluster: Option<String>,
}

/// `POST /api/v1/console/plan`: the route and the stages an upgrade to a
/// target would run, without running anything (a viewer may plan).
pub async fn plan(
    State(s): State<Arc<AppState>>,
    Authed { meta, auth }: Authed,
    body: Body,
) -> Response {
    let result = async {
        let p: PlanParam = super::decrypted_json(&auth, body).await?;
        let mode = match p.mode.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("") | Some("ROLLING") => pb::Mode::Rolling,
            Some("STOPSERVICE") => pb::Mode::StopService,
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "OB.Upgrade.Mode.NotSupported",
                    format!("Upgrade mode '{other}' is not supported"),
                )
                .into());
            }
        };
        let plan = s
            .orchestrator
            .clone()
            .plan_upgrade(pb::UpgradeRequest {
                version: p.version,
                release: p.release,
                mode: mode as i32,
                cluster: s.cluster.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok(Some(json!({
            "current_build_version": plan.current_build_version,
            "dag_name": plan.dag_name,
            "stages": plan.stages,
            "hops": plan.hops.iter().map(|h| json!({
                "version": h.version,
                "build": h.build,
                "require_from_binary": h.require_from_binary,
                "deprecated_builds": h.deprecated_builds,
                "packages": h.packages.iter().map(|p| json!({
                    "name": p.name,
                    "architecture": p.architecture,
                    "package_id": p.package_id,
                    "file_name": p.file_name,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })))
    }
    .await;
    reply(&meta, result)
}

/// `GET /api/v1/console/dags`: every DAG of this gateway's cluster(s),
/// newest first.
pub async fn dags(State(s): State<Arc<AppState>>, Authed { meta, .. }: Authed) -> Response {
    let result = async {
        let mut dags = s
            .orchestrator
            .clone()
            .list_dags(pb::ListDagsRequest {
                filter: pb::DagFilter::All as i32,
                cluster: s.cluster.clone(),
            })
            .await?
            .into_inner()
            .dags;
        dags.sort_by_key(|d| std::cmp::Reverse(d.id));
        let items = dags
            .iter()
            .map(|d| {
                json!({
                    "id": dto::generic_id(d.id),
                    "dag_id": d.id,
                    "name": d.name,
                    "state": d.state,
                    "operator": d.operator,
                    "stage": d.stage,
                    "max_stage": d.max_stage,
                    "start_time_ms": d.start_time_ms,
                    "end_time_ms": d.end_time_ms,
                    "cluster": d.cluster_id,
                })
            })
            .collect();
        Ok(Some(envelope::contents(items)))
    }
    .await;
    reply(&meta, result)
}

/// `GET /api/v1/console/audit?limit=N`: the latest events of both
/// journals, newest first (admins only; see `bearer::needs`).
pub async fn audit(
    State(s): State<Arc<AppState>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    Authed { meta, .. }: Authed,
) -> Response {
    let result = async {
        let limit = match q.get("limit") {
            None => 200,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=AUDIT_MAX).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "Common.IllegalArgument",
                        format!("limit '{v}' is not a number from 1 to {AUDIT_MAX}"),
                    )
                })?,
        };
        let mut events = Vec::new();
        for (journal, client) in [
            ("orchestrator", &s.audit.orchestrator),
            ("package-store", &s.audit.packages),
        ] {
            let asked = client
                .clone()
                .list_audit_events(apb::ListAuditEventsRequest {
                    journal: journal.into(),
                    limit,
                    tail: true,
                    ..Default::default()
                })
                .await;
            match asked {
                Ok(r) => events.extend(r.into_inner().events),
                // A store that keeps no journal (an older one) is no reason
                // to show nothing.
                Err(status) if status.code() == tonic::Code::NotFound => {}
                Err(status) => return Err(status.into()),
            }
        }
        events.sort_by(|a, b| (b.at_ms, &b.journal, b.id).cmp(&(a.at_ms, &a.journal, a.id)));
        events.truncate(limit as usize);
        let items = events
            .iter()
            .map(|e| {
                json!({
                    "journal": e.journal, "id": e.id, "at_ms": e.at_ms, "actor": e.actor,
                    "credential": e.credential, "role": e.role, "method": e.method,
                    "target": e.target, "result": e.result, "source": e.source,
                    "trace_id": e.trace_id, "on_behalf_of": e.on_behalf_of,
                })
            })
            .collect();
        Ok(Some(envelope::contents(items)))
    }
    .await;
    reply(&meta, result)
}
