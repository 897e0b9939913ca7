//! API tokens: made, listed and revoked here, checked by every service's
//! gate through [`Tokens::verifier`].

mod store;

use std::sync::Arc;

use obup_kit::audit::{AuditEvent, AuditStore};
use obup_kit::auth::{Principal, Role, Token, Verifier};
use sqlx::AnyPool;

use crate::{Error, Result};
use store::{NewToken, TokenTable};

/// A token as stored (without its secret, which is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub cluster: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub last_used_at_ms: Option<i64>,
}

/// What a new token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub name: String,
    pub role: Role,
    pub cluster: Option<String>,
    pub expires_at_ms: Option<i64>,
}

/// Tokens over the orchestrator's database.
#[derive(Debug, Clone)]
pub struct Tokens {
    table: TokenTable,
    verifier: Arc<Verifier>,
}

/// Longest token name.
const MAX_NAME: usize = 64;

impl Tokens {
    /// Tokens in the database of `pool`; `writer`: SQLite's writer lock
    /// of that database (see `SqlDagRepository::sqlite_writer`).
    pub fn new(pool: AnyPool, writer: Option<Arc<tokio::sync::Mutex<()>>>) -> Self {
        let table = TokenTable { pool, writer };
        let verifier = Arc::new(Verifier::new(Arc::new(table.clone())));
        Self { table, verifier }
    }

    /// What the services' gates check tokens with.
    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier.clone()
    }

    /// The audit journal of the database the tokens are in.
    pub fn audit(&self) -> AuditStore {
        AuditStore::new(self.table.pool.clone(), self.table.writer.clone())
    }

    /// Makes a token for `spec`, on behalf of `by`; returns it with its
    /// secret, which is not kept. `audit`: the call's event, written with
    /// the token.
    pub async fn create(
        &self,
        spec: &TokenSpec,
        by: &Principal,
        now_ms: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<(StoredToken, Token)> {
        by.require_all_clusters("making tokens")?;
        check_name(&spec.name)?;
        if let Some(at) = spec.expires_at_ms
            && at <= now_ms
        {
            return Err(Error::InvalidArgument {
                field: "expires_at_ms",
                reason: "the expiry is in the past".into(),
            });
        }
        if let Some(cluster) = &spec.cluster
            && !self.table.cluster_exists(cluster).await?
        {
            return Err(Error::ClusterNotFound(cluster.clone()));
        }
        let token = Token::generate();
        self.table
            .insert(
                &NewToken {
                    name: &spec.name,
                    hash: token.hash(),
                    role: spec.role,
                    cluster: spec.cluster.as_deref(),
                    created_by: &by.name,
                    created_at_ms: now_ms,
                    expires_at_ms: spec.expires_at_ms,
                },
                audit,
            )
            .await?;
        let stored = self
            .table
            .by_hash(token.hash())
            .await?
            .ok_or_else(|| Error::Internal("the token just made is gone".into()))?;
        tracing::info!(token = %spec.name, id = stored.id, role = %spec.role, by = %by.name, "token created");
        Ok((stored, token))
    }

    pub async fn list(&self, include_revoked: bool, by: &Principal) -> Result<Vec<StoredToken>> {
        by.require_all_clusters("listing tokens")?;
        self.table.list(include_revoked).await
    }

    /// Revokes the live token `name`; it stops working in this process at
    /// once (the cache is dropped). `audit`: the call's event, written with
    /// the revocation.
    pub async fn revoke(
        &self,
        name: &str,
        by: &Principal,
        now_ms: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<StoredToken> {
        by.require_all_clusters("revoking tokens")?;
        let token = self
            .table
            .live(name)
            .await?
            .ok_or_else(|| Error::TokenNotFound(name.to_owned()))?;
        if !self.table.revoke(token.id, now_ms, audit).await? {
            return Err(Error::TokenNotFound(name.to_owned()));
        }
        self.verifier.forget_all();
        tracing::info!(token = %name, id = token.id, by = %by.name, "token revoked");
        Ok(StoredToken {
            revoked_at_ms: Some(now_ms),
            ..token
        })
    }

    /// The token whose SHA-256 is `hash`, for a service that checks tokens
    /// elsewhere; its last use recorded (at most once a minute).
    pub async fn check(
        &self,
        hash: obup_kit::auth::TokenHash,
        now_ms: i64,
    ) -> Result<Option<StoredToken>> {
        let found = self.table.by_hash(hash).await?;
        if let Some(t) = &found
            && t.last_used_at_ms.is_none_or(|at| now_ms - at >= 60_000)
        {
            use obup_kit::auth::TokenLookup;
            if let Err(e) = self.table.touch(t.id, now_ms).await {
                tracing::warn!(token = t.id, error = %e, "cannot record the token's last use");
            }
        }
        Ok(found)
    }

    /// The token a deployment keeps in a file for its own use (`obup dev`'s
    /// admin token, its services' tokens): `kept` if it is still the live
    /// token `name` with `role`, else a new one (the old one revoked).
    pub async fn ensure(
        &self,
        name: &str,
        role: Role,
        kept: Option<Token>,
        now_ms: i64,
    ) -> Result<Token> {
        let live = self.table.live(name).await?;
        if let (Some(kept), Some(live)) = (&kept, &live)
            && self
                .table
                .by_hash(kept.hash())
                .await?
                .is_some_and(|t| t.id == live.id && t.role == role && t.expires_at_ms.is_none())
        {
            return Ok(kept.clone());
        }
        if let Some(live) = live {
            self.table.revoke(live.id, now_ms, None).await?;
            self.verifier.forget_all();
        }
        let spec = TokenSpec {
            name: name.to_owned(),
            role,
            cluster: None,
            expires_at_ms: None,
        };
        let by = Principal {
            name: "obup".into(),
            ..Principal::open()
        };
        // Not a call anyone made: a deployment's own start-up keeps its
        // tokens, which is not audited (the log has it).
        Ok(self.create(&spec, &by, now_ms, None).await?.1)
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            field: "name",
            reason: format!(
                "a token name is 1 to {MAX_NAME} letters, digits, '.', '-' or '_', got {name:?}"
            ),
        })
    }
}

impl Tokens {
    /// [`Tokens::ensure`] for a token kept in `file` (0600): the one there
    /// if it is still the live token `name`, else a new one written there.
    pub async fn keep_in_file(
        &self,
        name: &str,
        role: Role,
        file: &std::path::Path,
        now_ms: i64,
    ) -> Result<Token> {
        let kept = obup_kit::auth::read_token_file(file)?;
        let token = self.ensure(name, role, kept.clone(), now_ms).await?;
        if kept.as_ref() != Some(&token) {
            obup_kit::auth::write_token_file(file, &token)?;
            tracing::info!(token = %name, role = %role, file = %file.display(), "token written");
        }
        Ok(token)
    }

    /// Tokens over the database at `database_url` (migrated), apart from a
    /// running orchestrator: `obup dev` makes its own tokens before its
    /// services start.
    pub async fn open(database_url: &str) -> Result<Self> {
        let sql = crate::storage::SqlDagRepository::connect(database_url).await?;
        Ok(Self::new(sql.pool(), sql.sqlite_writer()))
    }
}
