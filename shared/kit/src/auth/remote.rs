//! Tokens checked by asking the service that stores them (the
//! orchestrator's `obup.auth.v1.Tokens/CheckToken`): how a package store on
//! its own checks its callers. The [`Verifier`](super::Verifier) in front
//! caches the answers, so a token costs one call per 5 s per process.

use async_trait::async_trait;
use obup_proto::pb::auth::v1 as pb;
use pb::tokens_client::TokensClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::Role;
use super::token::{BearerInterceptor, Token, TokenHash};
use super::verify::{TokenLookup, TokenRecord};

#[derive(Debug, Clone)]
pub struct RemoteLookup {
    client: TokensClient<InterceptedService<Channel, BearerInterceptor>>,
}

impl RemoteLookup {
    /// Asks the token service at `url` (over TLS for `https://`, as `tls`
    /// says), authenticating with `own` (a viewer token suffices). Connects
    /// on first use.
    pub fn new(url: &str, own: &Token, tls: &crate::tls::ClientTls) -> Result<Self, String> {
        let channel = tls
            .endpoint(url)
            .map_err(|e| format!("token service: {e}"))?
            .connect_lazy();
        Ok(Self {
            client: TokensClient::with_interceptor(channel, BearerInterceptor::new(Some(own))),
        })
    }
}

#[async_trait]
impl TokenLookup for RemoteLookup {
    async fn find(&self, hash: TokenHash) -> Result<Option<TokenRecord>, String> {
        let answer = self
            .client
            .clone()
            .check_token(pb::CheckTokenRequest {
                sha256: hash.to_hex(),
            })
            .await
            .map_err(|s| format!("the token service answered {:?}: {}", s.code(), s.message()))?
            .into_inner();
        let Some(t) = answer.token else {
            return Ok(None);
        };
        let role = Role::parse(&t.role).ok_or_else(|| format!("unknown role {:?}", t.role))?;
        let some = |v: i64| (v != 0).then_some(v);
        Ok(Some(TokenRecord {
            id: t.id,
            name: t.name,
            role,
            cluster: Some(t.cluster).filter(|c| !c.is_empty()),
            expires_at_ms: some(t.expires_at_ms),
            revoked_at_ms: some(t.revoked_at_ms),
        }))
    }

    /// The token service records the use when asked (`CheckToken`).
    async fn touch(&self, _: i64, _: i64) -> Result<(), String> {
        Ok(())
    }
}
