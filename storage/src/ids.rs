//! 64-bit, time-ordered identifiers.
//!
//! An id is `milliseconds since 2020-01-01 << 22 | counter`: sorting ids sorts
//! by creation time. On the wire ids are decimal strings, because JavaScript
//! cannot hold a u64 as a number. Each entity has its own id type so a chat id
//! can never be passed where a user id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds from the Unix epoch to 2020-01-01T00:00:00Z.
pub const ID_EPOCH_MS: i64 = 1_577_836_800_000;
/// Low bits of an id that hold the per-millisecond counter.
pub const ID_COUNTER_BITS: u32 = 22;

/// The smallest id that can be minted at `unix_ms`; later ids grow by one.
pub fn id_floor_at(unix_ms: i64) -> u64 {
    let since = (unix_ms - ID_EPOCH_MS).max(0) as u64;
    since << ID_COUNTER_BITS
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw 64-bit value.
            pub fn get(self) -> u64 {
                self.0
            }
            /// The value as SQLite's signed integer (ids stay below 2^63).
            pub fn as_i64(self) -> i64 {
                self.0 as i64
            }
            /// From SQLite's signed integer.
            pub fn from_i64(v: i64) -> Self {
                Self(v as u64)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse::<u64>().map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A group chat's id.
    ChatId
);
id_type!(
    /// A chat message's id (messages are addressed by `(chat_id, seq)` too).
    MessageId
);
id_type!(
    /// A post's id.
    PostId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strings_on_the_wire() {
        let id = UserId(u64::MAX - 1);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", u64::MAX - 1));
        let back: UserId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<UserId>("\"x1\"").is_err());
    }

    #[test]
    fn floor_orders_by_time() {
        assert!(id_floor_at(ID_EPOCH_MS + 2) > id_floor_at(ID_EPOCH_MS + 1));
        assert_eq!(id_floor_at(0), 0);
    }
}
