//! Topics: the named streams deltas are ordered in (`chat:{id}`, `user:{id}`, `posts:{id}`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{ChatId, UserId};

/// A stream of deltas with its own gap-free offsets.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Topic {
    /// Messages and membership of one chat; delivered to its current members.
    Chat(ChatId),
    /// Friendship and chat-list changes of one user; delivered to that user.
    User(UserId),
    /// Posts of one author; delivered to the author and the author's friends.
    Posts(UserId),
}

/// A topic name that is not `chat:N`, `user:N` or `posts:N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown topic {0:?}: expected chat:<id>, user:<id> or posts:<id>")]
pub struct BadTopic(pub String);

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Chat(id) => write!(f, "chat:{id}"),
            Topic::User(id) => write!(f, "user:{id}"),
            Topic::Posts(id) => write!(f, "posts:{id}"),
        }
    }
}

impl FromStr for Topic {
    type Err = BadTopic;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadTopic(s.to_owned());
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let id: u64 = id.parse().map_err(|_| bad())?;
        match kind {
            "chat" => Ok(Topic::Chat(ChatId(id))),
            "user" => Ok(Topic::User(UserId(id))),
            "posts" => Ok(Topic::Posts(UserId(id))),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["chat:7", "user:3", "posts:18446744073709551615"] {
            assert_eq!(s.parse::<Topic>().unwrap().to_string(), s);
        }
        for s in ["chat:", "chat:-1", "room:1", "chat:1x", "chat", "chat:+1"] {
            assert!(s.parse::<Topic>().is_err(), "{s}");
        }
    }
}
