//! Admitting a request by its console session (see `session`): whose
//! session it is, checked again now, and whether it may make this request.

use axum::http::{HeaderMap, Method};
use base64::Engine;
use obup_kit::auth::{Role, TokenHash};

use super::session::{Proof, Session, unauthorized};
use super::{AuthHeader, Scheme, bearer};
use crate::AppState;
use crate::envelope::ApiError;

/// Who a session stands for, as of this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name, or `root` for the root password.
    pub name: String,
    pub role: Role,
    /// The one cluster a limited token may act on.
    pub cluster: Option<String>,
    /// `token NAME` or `root password`: what the audit trail names.
    pub proved_by: String,
}

/// A request's session and its caller.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: Session,
    pub caller: Caller,
}

/// The caller `proof` stands for now: the token still valid (not revoked,
/// not expired) or the root password unchanged.
pub async fn resolve(state: &AppState, proof: &Proof, now_ms: i64) -> Result<Caller, ApiError> {
    match proof {
        Proof::Token { hash } => {
            let Some(verifier) = &state.tokens else {
                return Err(unauthorized(
                    "Security.Session.Invalid",
                    "this gateway takes no tokens; sign in with the root password",
                ));
            };
            let hash = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(hash)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| unauthorized("Security.Session.Invalid", "sign in again"))?;
            let p = verifier
                .verify_hash(TokenHash(hash), now_ms)
                .await
                .map_err(bearer::refused)?;
            Ok(Caller {
                proved_by: format!("token {}", p.name),
                name: p.name,
                role: p.role,
                cluster: p.cluster,
            })
        }
        Proof::RootPassword { fingerprint } => {
            let current = state
                .security
                .sessions
                .fingerprint(&state.security.passwords.root);
            if !super::header::constant_time_eq(current.as_bytes(), fingerprint.as_bytes()) {
                return Err(unauthorized(
                    "Security.Session.PasswordChanged",
                    "the root password changed since this session signed in; sign in again",
                ));
            }
            Ok(Caller {
                name: "root".into(),
                role: Role::Admin,
                cluster: None,
                proved_by: "root password".into(),
            })
        }
    }
}

/// The proof a sign-in with `hash` (a token's SHA-256) leaves in the
/// session.
pub fn token_proof(hash: TokenHash) -> Proof {
    Proof::Token {
        hash: base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash.0),
    }
}

/// Admits a request that carries a console session: `None` without one.
/// A request that changes something must repeat the session's CSRF value.
pub async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    target: &str,
    now_ms: i64,
) -> Result<Option<(AuthHeader, SignedIn)>, ApiError> {
    let Some(session) = state.security.sessions.open(headers, now_ms)? else {
        return Ok(None);
    };
    let reads = matches!(*method, Method::GET | Method::HEAD);
    if !reads {
        session.check_csrf(headers)?;
    }
    let caller = resolve(state, &session.proof, now_ms).await?;
    bearer::authorize(
        &caller.name,
        caller.role,
        caller.cluster.as_deref(),
        method,
        target,
        &state.cluster,
    )?;
    let header = AuthHeader {
        auth: caller.proved_by.clone(),
        ts: String::new(),
        uri: target.to_owned(),
        keys: Vec::new(),
        agent: false,
        scheme: Scheme::Session,
    };
    Ok(Some((header, SignedIn { session, caller })))
}
