//! The sans-IO core of the gateway: no sockets, no threads, no clocks of its
//! own. Everything here is driven by the shells (`shard`, `hub`) and tested
//! deterministically, as quinn-proto is.
//!
//! - [`ws_codec`]: RFC 6455 frames: decoding client frames from bytes,
//!   encoding server frames (through fastwebsockets' `Frame`).
//! - [`frames`]: the JSON protocol frames (`hello`, `resume`, `delta`, ...).
//! - [`http_upgrade`]: parsing the upgrade request and writing the answer.
//! - [`sequencer`]: per-topic ordering of incoming deltas and gap detection.
//! - [`ring`]: the bounded replay rings that serve `resume`.
//! - [`user_index`]: which connection slots belong to which user.
//! - [`outbound`]: the bounded per-connection queue of unsent bytes.
//! - [`resume`]: what a `resume` replays, and which topics must resync.
//! - [`delivered`]: per-connection high-water marks (at most once, in order).
//! - [`encoded`]: a delta encoded once, shared by every recipient socket.

pub mod delivered;
pub mod encoded;
pub mod frames;
pub mod http_upgrade;
pub mod outbound;
pub mod resume;
pub mod ring;
pub mod sequencer;
pub mod user_index;
pub mod ws_codec;
