//! obshell's "hybrid encryption": an RSA-encrypted header authenticates
//! each request and carries the AES key its body is encrypted with.

pub mod bearer;
mod body;
mod client;
mod gcm;
mod header;
mod header_json;
mod keys;
pub mod session;
pub mod signed_in;
mod throttle;

use axum::http::{HeaderMap, StatusCode};

pub use body::{decrypt, decrypt_stream, encrypt};
pub use client::{gcm_header, sdk_header};
pub use gcm::{SCHEME as GCM_SCHEME, encrypt as gcm_encrypt};
pub use header::{AGENT_HEADER, AuthHeader, OB_HEADER, Passwords, ReplayGuard, Scheme};
pub use keys::Keys;
pub use session::Sessions;
pub use throttle::{MAX_FAILURES, Throttle};

use crate::envelope::{ApiError, RequestMeta};

/// The headers that carry a sealed header: (name, whether the agent
/// password applies, scheme), in order of precedence, as obshell looks at
/// the agent header first.
pub(crate) const CARRIERS: [(&str, bool, Scheme); 4] = [
    (AGENT_HEADER, true, Scheme::V2),
    (OB_HEADER, false, Scheme::V2),
    (gcm::AGENT_HEADER, true, Scheme::Gcm),
    (gcm::HEADER, false, Scheme::Gcm),
];

/// Everything needed to authenticate requests.
#[derive(Debug)]
pub struct Security {
    pub keys: Keys,
    pub passwords: Passwords,
    /// The web console's sessions.
    pub sessions: Sessions,
    replay: ReplayGuard,
    throttle: Throttle,
}

impl Security {
    pub fn new(keys: Keys, passwords: Passwords) -> Self {
        Self {
            keys,
            passwords,
            sessions: Sessions::ephemeral(),
            replay: ReplayGuard::default(),
            throttle: Throttle::default(),
        }
    }

    /// Authenticates a request from its headers alone: the body is not read
    /// yet, and expiry is judged by when the headers arrived. Wrong
    /// passwords from `peer` are counted; too many and it is refused
    /// outright for a while (see `throttle`).
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        target: &str,
        meta: &RequestMeta,
        peer: Option<std::net::IpAddr>,
    ) -> Result<AuthHeader, ApiError> {
        if let Some(ip) = peer {
            self.throttle.check(ip)?;
        }
        let result = self.check_header(headers, target, meta);
        if let Some(ip) = peer {
            match &result {
                Ok(_) => self.throttle.succeeded(ip),
                Err(e) if header::is_wrong_password(e) => self.throttle.failed(ip),
                Err(_) => {}
            }
        }
        result
    }

    /// Sessions sealed with `sessions`' key (kept in the data dir, so that
    /// they outlive restarts).
    pub fn with_sessions(mut self, sessions: Sessions) -> Self {
        self.sessions = sessions;
        self
    }

    /// Checks the root password a console sign-in sends, throttled per
    /// source address as the sealed headers are.
    pub fn check_root_password(
        &self,
        password: &str,
        peer: Option<std::net::IpAddr>,
    ) -> Result<(), ApiError> {
        if let Some(ip) = peer {
            self.throttle.check(ip)?;
        }
        if header::constant_time_eq(password.as_bytes(), self.passwords.root.as_bytes()) {
            if let Some(ip) = peer {
                self.throttle.succeeded(ip);
            }
            return Ok(());
        }
        if let Some(ip) = peer {
            self.throttle.failed(ip);
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Security.Authentication.IncorrectOceanbasePassword",
            "Unauthorized: OceanBase password is incorrect",
        )
        .with_code(10008))
    }

    fn check_header(
        &self,
        headers: &HeaderMap,
        target: &str,
        meta: &RequestMeta,
    ) -> Result<AuthHeader, ApiError> {
        let Some((value, agent, scheme)) = CARRIERS
            .iter()
            .find_map(|(name, agent, scheme)| Some((headers.get(*name)?, *agent, *scheme)))
        else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Request.Header.NotFound",
                "X-OCS-Agent-Header or X-OCS-Header not found in http request header",
            ));
        };
        let value = value.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Security.Authentication.Header.DecryptFailed",
                "Decrypt http header failed: the header is not ASCII",
            )
            .with_code(1)
        })?;
        let h = header::decrypt(&self.keys, value, agent, scheme)?;
        header::verify(
            &h,
            value,
            target,
            meta.received_unix,
            &self.passwords,
            &self.replay,
        )?;
        Ok(h)
    }
}
