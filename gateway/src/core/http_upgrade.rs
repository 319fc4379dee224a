//! The HTTP side of a WebSocket upgrade, without I/O: parsing the request
//! (httparse), choosing the answer, and writing the raw response bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};

/// Largest upgrade request accepted.
pub const MAX_REQUEST: usize = 8 * 1024;

/// What a complete request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub ws_key: Option<String>,
    pub upgrade_websocket: bool,
    pub version_13: bool,
    pub bearer: Option<String>,
}

impl UpgradeRequest {
    /// The token from `Authorization: Bearer`, or from `?token=`.
    pub fn token(&self) -> Option<&str> {
        self.bearer
            .as_deref()
            .or_else(|| self.query.as_deref().and_then(query_token))
    }
}

/// The `token` parameter of a query string (browsers cannot set headers on
/// socket requests, so the token may travel there).
pub fn query_token(query: &str) -> Option<&str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v)
}

/// Outcome of parsing the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The request and the bytes it used (anything after belongs to frames).
    Complete(UpgradeRequest, usize),
    Partial,
    /// Not HTTP, or too large: answer 400 and close.
    Invalid,
}

/// Parses an HTTP/1.1 request head.
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(used)) => {
            let mut target = req.path.unwrap_or("/");
            // Absolute-form (`GET http://host/path`) is valid HTTP/1.1 too.
            for scheme in ["http://", "https://", "ws://", "wss://"] {
                if let Some(rest) = target.strip_prefix(scheme) {
                    target = rest.find('/').map_or("/", |i| &rest[i..]);
                }
            }
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                None => (target.to_owned(), None),
            };
            let header = |name: &str| {
                req.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
                    .map(str::trim)
            };
            let parsed = UpgradeRequest {
                method: req.method.unwrap_or("").to_owned(),
                path,
                query,
                ws_key: header("sec-websocket-key").map(str::to_owned),
                upgrade_websocket: header("upgrade")
                    .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
                version_13: header("sec-websocket-version") == Some("13"),
                bearer: header("authorization")
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .map(|t| t.trim().to_owned()),
            };
            Parsed::Complete(parsed, used)
        }
        Ok(httparse::Status::Partial) if buf.len() <= MAX_REQUEST => Parsed::Partial,
        _ => Parsed::Invalid,
    }
}

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(h.finalize())
}

/// The 101 answer.
pub fn switching_protocols(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes()
}

/// A complete answer that closes the connection.
pub fn response(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A contract error answer (`{"error":{"code","message"}}`).
pub fn error(status: u16, reason: &str, code: &str, message: &str) -> Vec<u8> {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    response(status, reason, "application/json", body.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_the_rfc_example_accept_key() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn parses_upgrades_and_tokens() {
        let raw = b"GET /v1/ws?x=1&token=abc HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81";
        let Parsed::Complete(req, used) = parse(raw) else {
            panic!()
        };
        assert_eq!(
            used,
            raw.len() - 1,
            "the frame byte after the head is left over"
        );
        assert_eq!(req.path, "/v1/ws");
        assert_eq!(req.token(), Some("abc"));
        assert!(req.upgrade_websocket && req.version_13);
        assert_eq!(req.ws_key.as_deref(), Some("k=="));
        let bearer = b"GET /v1/ws HTTP/1.1\r\nAuthorization: Bearer t1\r\n\r\n";
        let Parsed::Complete(req, _) = parse(bearer) else {
            panic!()
        };
        assert_eq!(req.token(), Some("t1"));
        let absolute = b"GET http://h:1/v1/ws?token=z HTTP/1.1\r\n\r\n";
        let Parsed::Complete(req, _) = parse(absolute) else {
            panic!()
        };
        assert_eq!((req.path.as_str(), req.token()), ("/v1/ws", Some("z")));
        assert_eq!(parse(b"GET /v1/ws HTTP/1.1\r\nHost:"), Parsed::Partial);
        assert_eq!(parse(b"\x16\x03\x01garbage\r\n\r\n"), Parsed::Invalid);
        assert_eq!(parse(&vec![b'a'; MAX_REQUEST + 1]), Parsed::Invalid);
    }
}
