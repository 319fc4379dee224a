//! WebSocket framing without I/O. Client frames are decoded from a byte
//! slice (they arrive masked, RFC 6455 §5.3); server frames are encoded
//! with fastwebsockets' `Frame` into owned bytes, once, and shared.

use fastwebsockets::{Frame, OpCode, Payload};

/// A decoded frame from the client (payload unmasked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Why the input cannot be decoded; each maps to a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame (or message) is larger than allowed: close 1009.
    TooBig,
    /// Not a valid client frame (unmasked, bad opcode, reserved bits): close 1002.
    Protocol,
}

/// Outcome of trying to decode one frame from the front of `buf`.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame, and how many bytes it used.
    Frame(ClientFrame, usize),
    /// More bytes are needed.
    Incomplete,
}

/// Decodes the first frame of `buf`, refusing payloads over `max_payload`.
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Decoded, DecodeError> {
    if buf.len() < 2 {
        return Ok(Decoded::Incomplete);
    }
    let b0 = buf[0];
    let b1 = buf[1];
    if b0 & 0x70 != 0 {
        return Err(DecodeError::Protocol);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    if !matches!(opcode, 0x0..=0x2 | 0x8..=0xA) {
        return Err(DecodeError::Protocol);
    }
    let masked = b1 & 0x80 != 0;
    if !masked {
        return Err(DecodeError::Protocol);
    }
    let (len, mut at) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(Decoded::Incomplete);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(Decoded::Incomplete);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (n as u64, 2),
    };
    if opcode >= 0x8 && (len > 125 || !fin) {
        return Err(DecodeError::Protocol);
    }
    if len > max_payload as u64 {
        return Err(DecodeError::TooBig);
    }
    let len = len as usize;
    if buf.len() < at + 4 + len {
        return Ok(Decoded::Incomplete);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    at += 4;
    let payload: Vec<u8> = buf[at..at + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i & 3])
        .collect();
    Ok(Decoded::Frame(
        ClientFrame {
            fin,
            opcode,
            payload,
        },
        at + len,
    ))
}

/// A frame from the server, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Decodes the first (unmasked) server frame of `buf`, for clients: the
/// load generator and tests. `None` when more bytes are needed.
pub fn decode_server(buf: &[u8]) -> Result<Option<(ServerFrame, usize)>, DecodeError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    if buf[1] & 0x80 != 0 {
        return Err(DecodeError::Protocol);
    }
    let (len, at) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        126 | 127 => return Ok(None),
        n => (n as usize, 2),
    };
    if buf.len() < at + len {
        return Ok(None);
    }
    Ok(Some((
        ServerFrame {
            opcode: buf[0] & 0x0F,
            payload: buf[at..at + len].to_vec(),
        },
        at + len,
    )))
}

fn encode(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(payload.len() + 10);
    let len = Frame::new(true, opcode, None, Payload::Borrowed(payload))
        .write(&mut buf)
        .len();
    buf.truncate(len);
    buf
}

/// An unmasked server text frame.
pub fn text(payload: &[u8]) -> Vec<u8> {
    encode(OpCode::Text, payload)
}

/// A server close frame with `code` and a short reason.
pub fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(120)]);
    encode(OpCode::Close, &payload)
}

/// A server ping.
pub fn ping() -> Vec<u8> {
    encode(OpCode::Ping, b"")
}

/// A server pong echoing `payload`.
pub fn pong(payload: &[u8]) -> Vec<u8> {
    encode(OpCode::Pong, payload)
}

/// Masks a client frame (for tests and the load generator).
pub fn client_frame(opcode: u8, fin: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len < 65536 {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_masked_client_frames() {
        for len in [0usize, 5, 125, 126, 300, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let wire = client_frame(OP_TEXT, true, &payload, [1, 2, 3, 4]);
            match decode(&wire, 1 << 20).unwrap() {
                Decoded::Frame(f, used) => {
                    assert_eq!(used, wire.len());
                    assert_eq!(f.payload, payload);
                    assert!(f.fin);
                    assert_eq!(f.opcode, OP_TEXT);
                }
                Decoded::Incomplete => panic!("complete frame of {len}"),
            }
            // Every strict prefix is incomplete, never an error.
            for cut in [0, 1, wire.len() / 2, wire.len() - 1] {
                assert_eq!(decode(&wire[..cut], 1 << 20), Ok(Decoded::Incomplete));
            }
        }
    }

    #[test]
    fn refuses_oversized_and_malformed_frames() {
        let big = client_frame(OP_TEXT, true, &vec![0; 65 * 1024], [9; 4]);
        assert_eq!(decode(&big, 64 * 1024), Err(DecodeError::TooBig));
        // The length alone decides: no need to buffer the payload first.
        assert_eq!(decode(&big[..10], 64 * 1024), Err(DecodeError::TooBig));
        let unmasked = text(b"hi");
        assert_eq!(decode(&unmasked, 1024), Err(DecodeError::Protocol));
        let mut reserved = client_frame(OP_TEXT, true, b"x", [0; 4]);
        reserved[0] |= 0x40;
        assert_eq!(decode(&reserved, 1024), Err(DecodeError::Protocol));
        let bad_op = client_frame(0x3, true, b"x", [0; 4]);
        assert_eq!(decode(&bad_op, 1024), Err(DecodeError::Protocol));
        let long_ping = client_frame(OP_PING, true, &[0; 126], [0; 4]);
        assert_eq!(decode(&long_ping, 1024), Err(DecodeError::Protocol));
    }

    #[test]
    fn clients_decode_server_frames() {
        let mut wire = text(&[b'x'; 300]);
        wire.extend(close(4008, ""));
        let (f, used) = decode_server(&wire).unwrap().unwrap();
        assert_eq!((f.opcode, f.payload.len()), (OP_TEXT, 300));
        let (f, _) = decode_server(&wire[used..]).unwrap().unwrap();
        assert_eq!(f.opcode, OP_CLOSE);
        assert_eq!(f.payload, 4008u16.to_be_bytes());
        assert_eq!(decode_server(&wire[..100]).unwrap(), None);
    }

    #[test]
    fn encodes_server_frames() {
        assert_eq!(text(b"hi"), vec![0x81, 2, b'h', b'i']);
        assert_eq!(close(1012, ""), vec![0x88, 2, 0x03, 0xF4]);
        assert_eq!(ping(), vec![0x89, 0]);
        let long = text(&[b'a'; 200]);
        assert_eq!(&long[..4], &[0x81, 126, 0, 200]);
        assert_eq!(long.len(), 204);
    }
}
