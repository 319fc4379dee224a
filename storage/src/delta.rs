//! Deltas: one committed change on one topic, at one offset.

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::time::Timestamp;
use crate::topic::Topic;

/// What happened. The wire name is the dotted form, e.g. `message.created`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "message.edited")]
    MessageEdited,
    #[serde(rename = "message.deleted")]
    MessageDeleted,
    #[serde(rename = "chat.member_added")]
    ChatMemberAdded,
    #[serde(rename = "chat.member_removed")]
    ChatMemberRemoved,
    #[serde(rename = "chat.updated")]
    ChatUpdated,
    #[serde(rename = "friend.requested")]
    FriendRequested,
    #[serde(rename = "friend.accepted")]
    FriendAccepted,
    #[serde(rename = "friend.removed")]
    FriendRemoved,
    #[serde(rename = "chat.created")]
    ChatCreated,
    #[serde(rename = "chat.joined")]
    ChatJoined,
    #[serde(rename = "chat.left")]
    ChatLeft,
    #[serde(rename = "post.created")]
    PostCreated,
    #[serde(rename = "post.deleted")]
    PostDeleted,
}

impl EventKind {
    /// Every kind, for exhaustive tests and tables.
    pub const ALL: [EventKind; 14] = [
        EventKind::MessageCreated,
        EventKind::MessageEdited,
        EventKind::MessageDeleted,
        EventKind::ChatMemberAdded,
        EventKind::ChatMemberRemoved,
        EventKind::ChatUpdated,
        EventKind::FriendRequested,
        EventKind::FriendAccepted,
        EventKind::FriendRemoved,
        EventKind::ChatCreated,
        EventKind::ChatJoined,
        EventKind::ChatLeft,
        EventKind::PostCreated,
        EventKind::PostDeleted,
    ];

    /// The wire name, e.g. `message.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message.created",
            EventKind::MessageEdited => "message.edited",
            EventKind::MessageDeleted => "message.deleted",
            EventKind::ChatMemberAdded => "chat.member_added",
            EventKind::ChatMemberRemoved => "chat.member_removed",
            EventKind::ChatUpdated => "chat.updated",
            EventKind::FriendRequested => "friend.requested",
            EventKind::FriendAccepted => "friend.accepted",
            EventKind::FriendRemoved => "friend.removed",
            EventKind::ChatCreated => "chat.created",
            EventKind::ChatJoined => "chat.joined",
            EventKind::ChatLeft => "chat.left",
            EventKind::PostCreated => "post.created",
            EventKind::PostDeleted => "post.deleted",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The frame a client receives: `{"type":"delta","topic":..,"offset":..,"event":..,"data":..}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(rename = "type", default = "delta_tag")]
    pub kind: DeltaTag,
    pub topic: Topic,
    pub offset: u64,
    pub event: EventKind,
    pub data: serde_json::Value,
    /// When storage committed it; used for bus lag and end-to-end latency.
    pub committed_at: Timestamp,
}

/// The constant `"delta"` type tag of a [`Delta`] frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum DeltaTag {
    #[default]
    #[serde(rename = "delta")]
    Delta,
}

fn delta_tag() -> DeltaTag {
    DeltaTag::Delta
}

impl Delta {
    /// A delta frame.
    pub fn new(
        topic: Topic,
        offset: u64,
        event: EventKind,
        data: serde_json::Value,
        committed_at: Timestamp,
    ) -> Self {
        Self {
            kind: DeltaTag::Delta,
            topic,
            offset,
            event,
            data,
            committed_at,
        }
    }
}

/// A delta together with the users it must reach, as computed at commit.
#[derive(Clone, Debug, PartialEq)]
pub struct CommittedDelta {
    pub delta: Delta,
    pub recipients: Vec<UserId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ChatId;

    #[test]
    fn event_names_round_trip() {
        for k in EventKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn delta_frame_shape() {
        let d = Delta::new(
            Topic::Chat(ChatId(7)),
            41,
            EventKind::MessageCreated,
            serde_json::json!({"seq": 1}),
            Timestamp(0),
        );
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["type"], "delta");
        assert_eq!(v["topic"], "chat:7");
        assert_eq!(v["offset"], 41);
        assert_eq!(v["event"], "message.created");
        assert_eq!(v["data"]["seq"], 1);
    }
}
