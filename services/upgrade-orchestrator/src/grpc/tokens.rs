//! `obup.auth.v1.Tokens` handlers.

use obup_kit::audit::AuditEvent;
use obup_kit::auth::{Principal, Role, TokenHash};
use obup_proto::pb::auth::v1 as pb;
use pb::tokens_server::{Tokens as TokensApi, TokensServer};
use tonic::{Request, Response, Status};

use super::handler::now_ms;
use crate::Error;
use crate::tokens::{StoredToken, TokenSpec, Tokens};

/// The tonic service for `tokens`.
pub fn tokens_server(tokens: Tokens) -> TokensServer<Handler> {
    TokensServer::new(Handler { tokens })
}

#[derive(Debug, Clone)]
pub struct Handler {
    tokens: Tokens,
}

#[tonic::async_trait]
impl TokensApi for Handler {
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Result<Response<pb::CreateTokenResponse>, Status> {
        let m = request.get_ref();
        let event = AuditEvent::of(
            &request,
            "CreateToken",
            target(&m.name, &m.role, &m.cluster),
        );
        let result = async {
            let caller = Principal::of(&request);
            let m = request.into_inner();
            let spec = TokenSpec {
                role: Role::parse(&m.role).ok_or_else(|| Error::InvalidArgument {
                    field: "role",
                    reason: format!("expected viewer, operator or admin, got {:?}", m.role),
                })?,
                name: m.name,
                cluster: Some(m.cluster).filter(|c| !c.is_empty()),
                expires_at_ms: Some(m.expires_at_ms).filter(|&t| t != 0),
            };
            let (stored, secret) = self
                .tokens
                .create(&spec, &caller, now_ms(), Some(&event))
                .await?;
            Ok(Response::new(pb::CreateTokenResponse {
                token: Some(token(stored)),
                secret: secret.secret().to_owned(),
            }))
        }
        .await;
        self.tokens.audit().settle(event, result).await
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Result<Response<pb::ListTokensResponse>, Status> {
        let caller = Principal::of(&request);
        let all = self
            .tokens
            .list(request.into_inner().include_revoked, &caller)
            .await?;
        Ok(Response::new(pb::ListTokensResponse {
            tokens: all.into_iter().map(token).collect(),
        }))
    }

    async fn check_token(
        &self,
        request: Request<pb::CheckTokenRequest>,
    ) -> Result<Response<pb::CheckTokenResponse>, Status> {
        Ok(Response::new(self.check(request.into_inner()).await?))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Result<Response<pb::Token>, Status> {
        let event = AuditEvent::of(
            &request,
            "RevokeToken",
            format!("token {}", request.get_ref().name),
        );
        let result = async {
            let caller = Principal::of(&request);
            let revoked = self
                .tokens
                .revoke(&request.into_inner().name, &caller, now_ms(), Some(&event))
                .await?;
            Ok(Response::new(token(revoked)))
        }
        .await;
        self.tokens.audit().settle(event, result).await
    }
}

impl Handler {
    async fn check(&self, m: pb::CheckTokenRequest) -> Result<pb::CheckTokenResponse, Status> {
        let hash = parse_hash(&m.sha256)?;
        let found = self.tokens.check(hash, now_ms()).await?;
        Ok(pb::CheckTokenResponse {
            token: found.map(token),
        })
    }
}

/// The audit target of a token being made: its name and what it may do
/// (never its secret, which does not exist yet anyway).
fn target(name: &str, role: &str, cluster: &str) -> String {
    match cluster {
        "" => format!("token {name} ({role})"),
        c => format!("token {name} ({role}, cluster {c})"),
    }
}

fn parse_hash(hex_text: &str) -> Result<TokenHash, Error> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut bytes).map_err(|_| Error::InvalidArgument {
        field: "sha256",
        reason: "expected 64 lowercase hex digits".into(),
    })?;
    Ok(TokenHash(bytes))
}

fn token(t: StoredToken) -> pb::Token {
    pb::Token {
        id: t.id,
        name: t.name,
        role: t.role.as_str().to_owned(),
        cluster: t.cluster.unwrap_or_default(),
        created_by: t.created_by,
        created_at_ms: t.created_at_ms,
        expires_at_ms: t.expires_at_ms.unwrap_or(0),
        revoked_at_ms: t.revoked_at_ms.unwrap_or(0),
        last_used_at_ms: t.last_used_at_ms.unwrap_or(0),
    }
}
