//! Hot paths: encoding a delta once, routing one delta to 10^5 recipients,
//! the replay ring, the bus frame codec, and SQLite append and page through
//! the real `Store` calls.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tidings_gateway::core::encoded::EncodedDelta;
use tidings_gateway::core::ring::ReplayRing;
use tidings_gateway::core::user_index::UserIndex;
use tidings_storage::conformance::new_user;
use tidings_storage::{
    ChatId, CommittedDelta, Delta, EventKind, NewChat, SqliteConfig, SqliteStore, Store, Timestamp,
    Topic, UserId, Write,
};
use tidings_wire::bus_frame;

fn message_delta(offset: u64, recipients: u64) -> CommittedDelta {
    CommittedDelta {
        delta: Delta::new(
            Topic::Chat(ChatId(913_253_283_265_511_424)),
            offset,
            EventKind::MessageCreated,
            serde_json::json!({
                "id": "913253828906713088", "chat_id": "913253283265511424", "seq": offset,
                "author_id": "913253819465334784", "body": "a message of about sixty characters, as chats go",
                "created_at": "2026-11-25T02:24:40.247Z"
            }),
            Timestamp(1_764_037_480_247),
        ),
        recipients: (0..recipients).map(|i| UserId(1_000_000 + i)).collect(),
    }
}

fn frame_encoding(c: &mut Criterion) {
    let d = message_delta(41, 20);
    c.bench_function("delta/encode_once_ws_frame", |b| {
        b.iter(|| EncodedDelta::encode(&d));
    });
}

fn routing_fanout(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut index = UserIndex::default();
    for i in 0..N {
        index.add(UserId(1_000_000 + i), i as u32);
    }
    let d = EncodedDelta::encode(&message_delta(1, N));
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(N));
    group.bench_function("fanout_to_100k_recipients", |b| {
        b.iter(|| {
            let mut slots = 0usize;
            for user in d.recipients.iter() {
                slots += index.slots(*user).len();
            }
            assert_eq!(slots, N as usize);
            slots
        });
    });
    group.finish();
}

fn replay_ring(c: &mut Criterion) {
    let deltas: Vec<Arc<EncodedDelta>> = (1..=1000)
        .map(|o| Arc::new(EncodedDelta::encode(&message_delta(o, 20))))
        .collect();
    c.bench_function("ring/push", |b| {
        b.iter_batched(
            || ReplayRing::new(100_000, 64 << 20, 10_000),
            |mut ring| {
                for d in &deltas {
                    ring.push(d.clone());
                }
                ring
            },
            BatchSize::SmallInput,
        );
    });
    let mut ring = ReplayRing::new(100_000, 64 << 20, 10_000);
    for d in &deltas {
        ring.push(d.clone());
    }
    let topic = deltas[0].topic;
    c.bench_function("ring/replay_last_50", |b| {
        b.iter(|| ring.replay(topic, 950));
    });
}

fn bus_codec(c: &mut Criterion) {
    let d = message_delta(7, 100);
    let mut buf = Vec::new();
    bus_frame::encode(&d, &mut buf);
    c.bench_function("bus/encode_100_recipients", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(buf.len());
            bus_frame::encode(&d, &mut out);
            out
        });
    });
    c.bench_function("bus/decode_100_recipients", |b| {
        b.iter(|| bus_frame::decode(&buf).unwrap());
    });
}

fn sqlite(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteConfig::in_dir(dir.path())).unwrap());
    let (user, chat) = rt.block_on(async {
        let u = new_user(&store, "bench").await;
        let chat = store
            .create_chat(&Write::by(u.id), NewChat::default())
            .await
            .unwrap()
            .value;
        for i in 0..200 {
            store
                .post_message(&Write::by(u.id), chat.id, &format!("m{i}"))
                .await
                .unwrap();
        }
        (u, chat)
    });
    c.bench_function("sqlite/append_message_one_writer", |b| {
        b.to_async(&rt).iter(|| async {
            store
                .post_message(&Write::by(user.id), chat.id, "appended")
                .await
                .unwrap()
        });
    });
    c.bench_function("sqlite/page_of_50", |b| {
        b.to_async(&rt).iter(|| async {
            store
                .list_messages(user.id, chat.id, Some(150), Some(50))
                .await
                .unwrap()
        });
    });
}

criterion_group!(
    benches,
    frame_encoding,
    routing_fanout,
    replay_ring,
    bus_codec,
    sqlite
);
criterion_main!(benches);
