//! # tidings-benches
//!
//! Criterion benchmarks of the hot paths (`cargo bench -p tidings-benches`)
//! and the fixtures they share. Figures and commands are recorded in
//! `docs/BENCHMARKS.md`.
//!
//! - `benches/paging.rs`: a page of messages at depth in a chat of 10^7
//!   messages against a page in a chat of 100 (bounded lists).
//! - `benches/hot_paths.rs`: delta frame encoding, routing to 10^5
//!   recipients, the replay ring, the bus codec, SQLite append and page.

pub mod fixtures;
