//! `POST /api/v1/ob/upgrade` and `/api/v1/ob/upgrade/check`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use obup_proto::pb::orchestrator::v1 as pb;
use serde::Deserialize;

use super::{Authed, decrypted_json, reply};
use crate::envelope::ApiError;
use crate::{AppState, Error, dto};

/// obshell's `ObUpgradeParam` (flat; `upgradeDir` camelCase,
/// `freeze_server` snake_case, as obshell spells them).
#[derive(Debug, Deserialize)]
struct UpgradeParam {
    version: Option<String>,
    release: Option<String>,
    mode: Option<String>,
    #[serde(rename = "upgradeDir")]
    upgrade_dir: Option<String>,
    #[serde(default)]
    freeze_server: bool,
}

fn required(field: &str, v: Option<String>) -> Result<String, Error> {
    v.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Common.BindJsonFailed",
            format!("Bind JSON failed: Key: 'ObUpgradeParam.{field}' Error:Field validation for '{field}' failed on the 'required' tag"),
        )
        .into()
    })
}

fn request(p: UpgradeParam, with_mode: bool, cluster: &str) -> Result<pb::UpgradeRequest, Error> {
    let version = required("Version", p.version)?;
    let release = required("Release", p.release)?;
    let mode = if with_mode {
        let mode = required("Mode", p.mode)?.to_ascii_uppercase();
        match mode.as_str() {
            "ROLLING" => pb::Mode::Rolling,
            "STOPSERVICE" => pb::Mode::StopService,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "OB.Upgrade.Mode.NotSupported",
                    format!("Upgrade mode '{mode}' is not supported"),
                )
                .into());
            }
        }
    } else {
        pb::Mode::Unspecified
    };
    Ok(pb::UpgradeRequest {
        version,
        release,
        mode: mode as i32,
        upgrade_dir: p.upgrade_dir.unwrap_or_default(),
        freeze_server: p.freeze_server,
        package_ids: Vec::new(),
        cluster: cluster.to_owned(),
    })
}

pub async fn upgrade(
    State(s): State<Arc<AppState>>,
    Authed { meta, auth }: Authed,
    body: Body,
) -> Response {
    let result = async {
        let req = request(decrypted_json(&auth, body).await?, true, &s.cluster)?;
        let dag = s
            .orchestrator
            .clone()
            .start_upgrade(req)
            .await?
            .into_inner();
        Ok(Some(dto::dag(&dag, false, &|_| Vec::new())))
    }
    .await;
    reply(&meta, result)
}

pub async fn check(
    State(s): State<Arc<AppState>>,
    Authed { meta, auth }: Authed,
    body: Body,
) -> Response {
    let result = async {
        let req = request(decrypted_json(&auth, body).await?, false, &s.cluster)?;
        let dag = s
            .orchestrator
            .clone()
            .check_upgrade(req)
            .await?
            .into_inner();
        Ok(Some(dto::dag(&dag, false, &|_| Vec::new())))
    }
    .await;
    reply(&meta, result)
}
