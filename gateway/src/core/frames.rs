//! The JSON frames of the socket protocol (CONTRACT.md, "Gateway").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidings_storage::{Topic, UserId};

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Replay what was missed after each topic's offset.
    Resume { offsets: BTreeMap<String, u64> },
    /// Liveness check; answered with `pong`.
    Ping,
}

/// Why a client frame was refused (the connection stays up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub code: &'static str,
    pub message: String,
}

/// Parses a client text frame.
pub fn parse_client(payload: &[u8]) -> Result<ClientMessage, FrameError> {
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| FrameError {
        code: "bad_frame",
        message: format!("not a JSON object: {e}"),
    })?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    match kind.as_deref() {
        Some("resume" | "ping") => serde_json::from_value(value).map_err(|e| FrameError {
            code: "bad_frame",
            message: format!("malformed frame: {e}"),
        }),
        Some(other) => Err(FrameError {
            code: "unknown_type",
            message: format!("unknown frame type {other:?}"),
        }),
        None => Err(FrameError {
            code: "bad_frame",
            message: "a frame needs a string \"type\"".into(),
        }),
    }
}

/// The topics of a resume frame, parsed; an unparsable name is an error.
pub fn resume_topics(offsets: &BTreeMap<String, u64>) -> Result<Vec<(Topic, u64)>, FrameError> {
    offsets
        .iter()
        .map(|(name, offset)| {
            name.parse::<Topic>()
                .map(|t| (t, *offset))
                .map_err(|e| FrameError {
                    code: "bad_topic",
                    message: e.to_string(),
                })
        })
        .collect()
}

#[derive(Serialize)]
struct Hello<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    user_id: UserId,
    session_id: &'a str,
    heartbeat_ms: u64,
}

/// `{"type":"hello","user_id":..,"session_id":..,"heartbeat_ms":..}`.
pub fn hello(user: UserId, session_id: &str, heartbeat_ms: u64) -> Vec<u8> {
    serde_json::to_vec(&Hello {
        kind: "hello",
        user_id: user,
        session_id,
        heartbeat_ms,
    })
    .expect("serializable")
}

/// `{"type":"resumed","recovered":[..],"resync":[..]}`.
pub fn resumed(recovered: &[Topic], resync: &[Topic]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "resumed",
        "recovered": recovered,
        "resync": resync,
    }))
    .expect("serializable")
}

/// `{"type":"pong"}`.
pub fn pong() -> Vec<u8> {
    br#"{"type":"pong"}"#.to_vec()
}

/// `{"type":"error","code":..,"message":..}`.
pub fn error(e: &FrameError) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "error",
        "code": e.code,
        "message": e.message,
    }))
    .expect("serializable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_storage::ChatId;

    #[test]
    fn parses_client_frames() {
        assert_eq!(parse_client(br#"{"type":"ping"}"#), Ok(ClientMessage::Ping));
        let r = parse_client(br#"{"type":"resume","offsets":{"chat:7":41,"user:3":2}}"#).unwrap();
        let ClientMessage::Resume { offsets } = r else {
            panic!()
        };
        assert_eq!(
            resume_topics(&offsets).unwrap(),
            vec![(Topic::Chat(ChatId(7)), 41), (Topic::User(UserId(3)), 2)]
        );
        assert_eq!(parse_client(b"nope").unwrap_err().code, "bad_frame");
        assert_eq!(
            parse_client(br#"{"type":"dance"}"#).unwrap_err().code,
            "unknown_type"
        );
        assert_eq!(
            parse_client(br#"{"type":"resume"}"#).unwrap_err().code,
            "bad_frame"
        );
        assert_eq!(
            parse_client(br#"{"no":"type"}"#).unwrap_err().code,
            "bad_frame"
        );
        let bad: BTreeMap<String, u64> = [("room:1".to_owned(), 1)].into();
        assert_eq!(resume_topics(&bad).unwrap_err().code, "bad_topic");
    }

    #[test]
    fn server_frames_have_the_contract_shape() {
        let h: serde_json::Value = serde_json::from_slice(&hello(UserId(5), "s-1", 30000)).unwrap();
        assert_eq!(
            h,
            serde_json::json!({"type":"hello","user_id":"5","session_id":"s-1","heartbeat_ms":30000})
        );
        let r: serde_json::Value = serde_json::from_slice(&resumed(
            &[Topic::Chat(ChatId(7))],
            &[Topic::User(UserId(3))],
        ))
        .unwrap();
        assert_eq!(
            r,
            serde_json::json!({"type":"resumed","recovered":["chat:7"],"resync":["user:3"]})
        );
    }
}
