//! Deltas published by a sender arrive, in order, at a receiver over real
//! QUIC on loopback, and the sender reconnects after the receiver restarts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidings_bus::{BusReceiver, BusSender, BusTls};
use tidings_storage::{ChatId, CommittedDelta, Delta, EventKind, Timestamp, Topic, UserId};

fn delta(offset: u64) -> CommittedDelta {
    CommittedDelta {
        delta: Delta::new(
            Topic::Chat(ChatId(5)),
            offset,
            EventKind::MessageCreated,
            serde_json::json!({"seq": offset}),
            Timestamp(0),
        ),
        recipients: vec![UserId(1), UserId(2)],
    }
}

async fn wait_for(seen: &Arc<Mutex<Vec<u64>>>, n: usize) -> Vec<u64> {
    for _ in 0..200 {
        if seen.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    seen.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_cross_the_bus_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let tls =
        BusTls::load_or_generate(&dir.path().join("bus.crt"), &dir.path().join("bus.key")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    let receiver = BusReceiver::start(
        "127.0.0.1:0".parse().unwrap(),
        &tls,
        Arc::new(move |batch: Vec<CommittedDelta>| {
            let mut s = sink_seen.lock().unwrap();
            for d in batch {
                assert_eq!(d.recipients, vec![UserId(1), UserId(2)]);
                s.push(d.delta.offset);
            }
        }),
    )
    .unwrap();
    let addr = receiver.local_addr().unwrap();
    let trust = BusTls::trust(&dir.path().join("bus.crt")).unwrap();
    let sender = BusSender::start(&[addr.to_string()], &trust, 10_000).unwrap();
    // Wait for the connection, then send 1000 deltas in batches.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for chunk in (1..=1000u64).collect::<Vec<_>>().chunks(7) {
        let batch: Vec<_> = chunk.iter().map(|o| delta(*o)).collect();
        sender.publish(&batch);
    }
    let got = wait_for(&seen, 1000).await;
    assert_eq!(got, (1..=1000).collect::<Vec<_>>());
    assert_eq!(sender.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_gateway_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tls =
        BusTls::load_or_generate(&dir.path().join("a.crt"), &dir.path().join("a.key")).unwrap();
    let other =
        BusTls::load_or_generate(&dir.path().join("b.crt"), &dir.path().join("b.key")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    let receiver = BusReceiver::start(
        "127.0.0.1:0".parse().unwrap(),
        &tls,
        Arc::new(move |batch: Vec<CommittedDelta>| {
            sink_seen
                .lock()
                .unwrap()
                .extend(batch.iter().map(|d| d.delta.offset));
        }),
    )
    .unwrap();
    let sender = BusSender::start(
        &[receiver.local_addr().unwrap().to_string()],
        &other.cert,
        100,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sender.publish(&[delta(1)]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing crosses without trust"
    );
}

/// An idle bus stays connected: after longer than the idle timeout with no
/// delta, the next one still arrives (keep-alives hold the connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_after_a_long_silence_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let tls =
        BusTls::load_or_generate(&dir.path().join("bus.crt"), &dir.path().join("bus.key")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    let receiver = BusReceiver::start(
        "127.0.0.1:0".parse().unwrap(),
        &tls,
        Arc::new(move |batch: Vec<CommittedDelta>| {
            let mut s = sink_seen.lock().unwrap();
            s.extend(batch.iter().map(|d| d.delta.offset));
        }),
    )
    .unwrap();
    let addr = receiver.local_addr().unwrap();
    let trust = BusTls::trust(&dir.path().join("bus.crt")).unwrap();
    let sender = BusSender::start(&[addr.to_string()], &trust, 16).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sender.publish(&[delta(1)]);
    assert_eq!(wait_for(&seen, 1).await, vec![1]);
    // Longer than the 30 s idle timeout.
    tokio::time::sleep(Duration::from_secs(35)).await;
    sender.publish(&[delta(2)]);
    assert_eq!(wait_for(&seen, 2).await, vec![1, 2]);
}
