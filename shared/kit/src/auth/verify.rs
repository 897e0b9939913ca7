//! Checking a token: its hash looked up where tokens are stored, behind a
//! short cache.
//!
//! Why a cache: a token check runs on every call, and the 1,000-watcher and
//! 200-upload load runs must not slow down by more than a few percent; a
//! database round trip per call would. Why a short one: a revoked token
//! must stop working soon everywhere. Where tokens are revoked in the same
//! process the cache is cleared at once ([`Verifier::forget_all`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::token::{Token, TokenHash};
use super::{AuthError, Credential, Principal, Role};

/// A stored token, as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub cluster: Option<String>,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// Where tokens are stored.
#[async_trait]
pub trait TokenLookup: Send + Sync + std::fmt::Debug + 'static {
    /// The token whose SHA-256 is `hash`, revoked or not.
    async fn find(&self, hash: TokenHash) -> Result<Option<TokenRecord>, String>;
    /// Records that token `id` was used at `at_ms` (for `obup token ls`).
    async fn touch(&self, id: i64, at_ms: i64) -> Result<(), String>;
}

/// How long a looked-up token (or its absence) is believed.
const TTL: Duration = Duration::from_secs(5);
/// How often a token's last use is written: at most once a minute per
/// token, so that busy callers cost no writes.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Entries kept at most; a flood of wrong tokens empties the cache
/// rather than growing it.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
struct Cached {
    record: Option<TokenRecord>,
    looked_up: Instant,
    touched: Option<Instant>,
}

/// Checks tokens against a [`TokenLookup`].
#[derive(Debug)]
pub struct Verifier {
    lookup: Arc<dyn TokenLookup>,
    cache: Mutex<HashMap<TokenHash, Cached>>,
    /// Held while a missed token is looked up. When a cached answer
    /// expires under load, a thousand concurrent calls with that token all
    /// miss at once; without this they would all ask the database (the
    /// auth-cost load run showed that stampede). With it one asks, the
    /// others wait and find its answer cached. Misses are rare (one per
    /// token per TTL), so serializing them costs nothing in the common case.
    lookups: tokio::sync::Mutex<()>,
}

impl Verifier {
    pub fn new(lookup: Arc<dyn TokenLookup>) -> Self {
        Self {
            lookup,
            cache: Mutex::new(HashMap::new()),
            lookups: tokio::sync::Mutex::new(()),
        }
    }

    /// The caller a token stands for, or why it stands for nobody.
    pub async fn verify(&self, token: &Token, now_ms: i64) -> Result<Principal, AuthError> {
        self.verify_hash(token.hash(), now_ms).await
    }

    /// The same, for a token known by its hash only (the web console's
    /// sessions keep the hash, never the token).
    pub async fn verify_hash(&self, hash: TokenHash, now_ms: i64) -> Result<Principal, AuthError> {
        let (record, touch) = match self.cached(hash) {
            Some(hit) => hit,
            None => {
                let _single = self.lookups.lock().await;
                // Another call may have looked it up while this one waited.
                match self.cached(hash) {
                    Some(hit) => hit,
                    None => {
                        let record = self
                            .lookup
                            .find(hash)
                            .await
                            .map_err(AuthError::Unavailable)?;
                        let touch = self.remember(hash, record.clone());
                        (record, touch)
                    }
                }
            }
        };
        let record = record.ok_or(AuthError::Unknown)?;
        if record.revoked_at_ms.is_some() {
            return Err(AuthError::Revoked);
        }
        if record.expires_at_ms.is_some_and(|at| at <= now_ms) {
            return Err(AuthError::Expired);
        }
        if touch {
            self.touched(hash);
            let lookup = self.lookup.clone();
            let id = record.id;
            // Off the call's path: a slow database must not slow the call.
            tokio::spawn(async move {
                if let Err(e) = lookup.touch(id, now_ms).await {
                    tracing::warn!(token = id, error = %e, "cannot record the token's last use");
                }
            });
        }
        Ok(Principal {
            name: record.name,
            role: record.role,
            cluster: record.cluster,
            credential: Credential::Token { id: record.id },
        })
    }

    /// Drops every cached answer (after a token is revoked here).
    pub fn forget_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenHash, Cached>> {
        // The map holds only copies of stored rows: a panic elsewhere
        // leaves nothing half-written in it.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self, hash: TokenHash) -> Option<(Option<TokenRecord>, bool)> {
        let cache = self.lock();
        let hit = cache.get(&hash)?;
        if hit.looked_up.elapsed() > TTL {
            return None;
        }
        Some((hit.record.clone(), record_needs_touch(&hit.touched)))
    }

    /// Caches a looked-up answer, keeping when the token's use was last
    /// written; returns whether it is due again.
    fn remember(&self, hash: TokenHash, record: Option<TokenRecord>) -> bool {
        let mut cache = self.lock();
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        let touched = cache.get(&hash).and_then(|c| c.touched);
        cache.insert(
            hash,
            Cached {
                record,
                looked_up: Instant::now(),
                touched,
            },
        );
        record_needs_touch(&touched)
    }

    fn touched(&self, hash: TokenHash) {
        if let Some(c) = self.lock().get_mut(&hash) {
            c.touched = Some(Instant::now());
        }
    }
}

fn record_needs_touch(touched: &Option<Instant>) -> bool {
    touched.is_none_or(|t| t.elapsed() >= TOUCH_EVERY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    struct Memory {
        rows: Mutex<HashMap<TokenHash, TokenRecord>>,
        finds: AtomicUsize,
        touches: AtomicUsize,
    }

    #[async_trait]
    impl TokenLookup for Memory {
        async fn find(&self, hash: TokenHash) -> Result<Option<TokenRecord>, String> {
            self.finds.fetch_add(1, Ordering::SeqCst);
            Ok(self.rows.lock().unwrap().get(&hash).cloned())
        }
        async fn touch(&self, _: i64, _: i64) -> Result<(), String> {
            self.touches.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn record(id: i64) -> TokenRecord {
        TokenRecord {
            id,
            name: format!("t{id}"),
            role: Role::Operator,
            cluster: None,
            expires_at_ms: None,
            revoked_at_ms: None,
        }
    }

    #[tokio::test]
    async fn a_token_is_looked_up_once_then_served_from_the_cache() {
        let memory = Arc::new(Memory::default());
        let token = Token::generate();
        memory.rows.lock().unwrap().insert(token.hash(), record(1));
        let v = Verifier::new(memory.clone());
        for _ in 0..100 {
            let p = v.verify(&token, 0).await.unwrap();
            assert_eq!((p.name.as_str(), p.role), ("t1", Role::Operator));
        }
        assert_eq!(memory.finds.load(Ordering::SeqCst), 1);
        tokio::task::yield_now().await;
        assert_eq!(
            memory.touches.load(Ordering::SeqCst),
            1,
            "last use written once a minute"
        );
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_token_ask_once() {
        #[derive(Debug, Default)]
        struct Slow(Memory);
        #[async_trait]
        impl TokenLookup for Slow {
            async fn find(&self, hash: TokenHash) -> Result<Option<TokenRecord>, String> {
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.0.find(hash).await
            }
            async fn touch(&self, id: i64, at: i64) -> Result<(), String> {
                self.0.touch(id, at).await
            }
        }
        let slow = Arc::new(Slow::default());
        let token = Token::generate();
        slow.0.rows.lock().unwrap().insert(token.hash(), record(1));
        let v = Arc::new(Verifier::new(slow.clone()));
        let calls: Vec<_> = (0..200)
            .map(|_| {
                let (v, t) = (v.clone(), token.clone());
                tokio::spawn(async move { v.verify(&t, 0).await.map(|p| p.name) })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap().unwrap(), "t1");
        }
        assert_eq!(slow.0.finds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_revoked_and_unknown_tokens_are_refused_by_kind() {
        let memory = Arc::new(Memory::default());
        let (expired, revoked, unknown) = (Token::generate(), Token::generate(), Token::generate());
        {
            let mut rows = memory.rows.lock().unwrap();
            rows.insert(
                expired.hash(),
                TokenRecord {
                    expires_at_ms: Some(1_000),
                    ..record(1)
                },
            );
            rows.insert(
                revoked.hash(),
                TokenRecord {
                    revoked_at_ms: Some(5),
                    ..record(2)
                },
            );
        }
        let v = Verifier::new(memory.clone());
        assert!(v.verify(&expired, 999).await.is_ok());
        assert_eq!(v.verify(&expired, 1_000).await, Err(AuthError::Expired));
        assert_eq!(v.verify(&revoked, 0).await, Err(AuthError::Revoked));
        assert_eq!(v.verify(&unknown, 0).await, Err(AuthError::Unknown));
    }

    #[tokio::test]
    async fn forgetting_makes_a_revocation_count_at_once() {
        let memory = Arc::new(Memory::default());
        let token = Token::generate();
        memory.rows.lock().unwrap().insert(token.hash(), record(1));
        let v = Verifier::new(memory.clone());
        v.verify(&token, 0).await.unwrap();
        memory
            .rows
            .lock()
            .unwrap()
            .get_mut(&token.hash())
            .unwrap()
            .revoked_at_ms = Some(1);
        assert!(v.verify(&token, 0).await.is_ok(), "cached");
        v.forget_all();
        assert_eq!(v.verify(&token, 0).await, Err(AuthError::Revoked));
    }
}
