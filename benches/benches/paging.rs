//! Bounded lists: paging a chat of 10^7 messages must cost about what paging
//! a chat of 100 costs. Each iteration fetches one page of 50 messages
//! through the real `Store` call (`list_messages`), at several depths.
//!
//! `TIDINGS_BENCH_BIG` sets the big chat's size (default 10^7).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tidings_benches::fixtures::paging_store;
use tidings_storage::Store;

fn paging(c: &mut Criterion) {
    let big: u64 = std::env::var("TIDINGS_BENCH_BIG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (store, f) = rt.block_on(paging_store(100, big));
    let mut group = c.benchmark_group("list_messages_page_of_50");
    let cases = [
        ("chat_of_100/newest", f.small_chat, None),
        ("chat_of_100/middle", f.small_chat, Some(60)),
        ("chat_of_big/newest", f.big_chat, None),
        ("chat_of_big/middle", f.big_chat, Some(f.big_len / 2)),
        ("chat_of_big/oldest", f.big_chat, Some(60)),
    ];
    for (name, chat, before) in cases {
        group.bench_with_input(BenchmarkId::from_parameter(name), &before, |b, &before| {
            b.to_async(&rt).iter(|| async {
                let page = store
                    .list_messages(f.viewer, chat, before, Some(50))
                    .await
                    .unwrap();
                assert_eq!(page.items.len(), 50);
                page
            });
        });
    }
    group.finish();
}

criterion_group!(benches, paging);
criterion_main!(benches);
