//! Failed password attempts, throttled per source address.
//!
//! obshell checks the root password on every request with no limit, so it
//! can be guessed at line rate. Here an address that fails
//! [`MAX_FAILURES`] times within [`WINDOW`] is refused (HTTP 429, before its
//! header is even decrypted) until [`WINDOW`] has passed since its last
//! failure. Only that address: a guesser cannot lock others out, unless
//! they share its address (a NAT, a proxy).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::envelope::ApiError;

/// Failures an address may have within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; beyond, the stale ones are dropped first and,
/// if none is stale, all (a flood from many addresses must not grow memory).
const MAX_ADDRESSES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

#[derive(Debug, Default)]
pub struct Throttle {
    by_address: Mutex<HashMap<IpAddr, Failures>>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        // Counters only: a panic elsewhere leaves nothing half-written.
        self.by_address.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refused while `address` has used up its failures.
    pub fn check(&self, address: IpAddr) -> Result<(), ApiError> {
        let map = self.lock();
        match map.get(&address) {
            Some(f) if f.count >= MAX_FAILURES && f.last.elapsed() < WINDOW => {
                let wait = WINDOW.saturating_sub(f.last.elapsed()).as_secs().max(1);
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Security.Authentication.TooManyAttempts",
                    format!(
                        "Unauthorized: {MAX_FAILURES} failed password attempts from {address}; try again in {wait} s"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong password from `address`.
    pub fn failed(&self, address: IpAddr) {
        let mut map = self.lock();
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&address) {
            map.retain(|_, f| f.last.elapsed() < WINDOW);
            if map.len() >= MAX_ADDRESSES {
                map.clear();
            }
        }
        let now = Instant::now();
        let f = map.entry(address).or_insert(Failures {
            count: 0,
            last: now,
        });
        if f.last.elapsed() >= WINDOW {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
    }

    /// A right password from `address`: its count starts again.
    pub fn succeeded(&self, address: IpAddr) {
        self.lock().remove(&address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_and_others_are_not() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            t.check(a).unwrap();
            t.failed(a);
        }
        let e = t.check(a).unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.err_code, "Security.Authentication.TooManyAttempts");
        t.check(b).unwrap();
        t.succeeded(a);
        t.check(a).unwrap();
    }
}
