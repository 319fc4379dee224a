//! Per-user (and, for register/login, per-address) token buckets, through
//! `governor`. A refused request answers 429 with `Retry-After`.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tidings_storage::UserId;

use crate::error::ApiError;

/// A keyed token bucket; `None` when disabled.
#[derive(Debug)]
pub struct Buckets<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// `per_sec` steady rate with `burst` capacity; 0 disables.
    pub fn new(per_sec: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_sec).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_sec)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one token for `key`, or says how long to wait.
    pub fn charge(&self, key: &K) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| ApiError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }

    /// Forgets idle keys so memory stays bounded by active clients.
    pub fn shrink(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// The api's two limiters.
#[derive(Debug)]
pub struct RateLimits {
    pub users: Buckets<UserId>,
    pub addresses: Buckets<IpAddr>,
}

impl RateLimits {
    pub fn new(per_sec: u32, burst: u32, auth_per_sec: u32) -> Self {
        Self {
            users: Buckets::new(per_sec, burst),
            addresses: Buckets::new(auth_per_sec, auth_per_sec.saturating_mul(2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_burst_with_a_wait() {
        let b = Buckets::new(1, 2);
        assert!(b.charge(&1u32).is_ok());
        assert!(b.charge(&1u32).is_ok());
        match b.charge(&1u32) {
            Err(ApiError::RateLimited { retry_after }) => {
                assert!(retry_after.as_millis() > 0 && retry_after.as_secs() <= 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(b.charge(&2u32).is_ok(), "buckets are per key");
        let off = Buckets::new(0, 0);
        for _ in 0..1000 {
            assert!(off.charge(&1u32).is_ok());
        }
    }
}
