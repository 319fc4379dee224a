//! Per-address handshake rate limiting, so one client cannot starve others
//! of upgrades.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A keyed token bucket over client addresses; disabled at 0.
#[derive(Debug)]
pub struct HandshakeLimit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl HandshakeLimit {
    pub fn new(per_sec: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_sec).map(|r| {
                RateLimiter::keyed(
                    Quota::per_second(r)
                        .allow_burst(r.saturating_mul(NonZeroU32::new(2).expect("2 > 0"))),
                )
            }),
        }
    }

    /// Takes a token for `ip`; false when it has none left.
    pub fn check(&self, ip: IpAddr) -> bool {
        self.limiter
            .as_ref()
            .is_none_or(|l| l.check_key(&ip).is_ok())
    }
}
