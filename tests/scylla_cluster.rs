//! The product on a real Cassandra 5.0 / ScyllaDB node, through its real
//! interfaces: two `tidings api` processes and a `tidings gateway` on one
//! keyspace, `tidings dev --store scylla://…`, and the kill -9 crash test.
//!
//! Needs a node: `ops/test` starts one with `ops/cassandra` and sets
//! `TIDINGS_TEST_SCYLLA=scylla://127.0.0.1:9042/<keyspace>`; each test here
//! uses its own keyspace derived from that name. Ignored by a plain
//! `cargo test`.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::{connect, next_within, spawn};
use serde_json::{json, Value};

const NEEDS: &str = "needs a Cassandra or ScyllaDB node (ops/test starts one)";

/// A fresh, migrated keyspace for one test.
fn keyspace(suffix: &str) -> String {
    let base = std::env::var("TIDINGS_TEST_SCYLLA")
        .expect("TIDINGS_TEST_SCYLLA=scylla://host:port/keyspace names the test node");
    let url = format!("{base}_{suffix}");
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["migrate", "--store", &url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "migrate: {out:?}");
    url
}

async fn call(
    http: &reqwest::Client,
    method: &str,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = http.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if method != "GET" {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn register(http: &reqwest::Client, api: &str, name: &str) -> (String, String) {
    let (status, v) = call(
        http,
        "POST",
        format!("{api}/v1/auth/register"),
        None,
        json!({"username": name, "password": "password123"}),
    )
    .await;
    assert_eq!(status, 201, "register {name}: {v}");
    (
        v["user"]["id"].as_str().unwrap().to_owned(),
        v["token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Cassandra or ScyllaDB node (ops/test starts one)"]
async fn two_api_processes_write_one_chat_gap_free() {
    let _ = NEEDS;
    let store = keyspace("two_apis");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let gateway = spawn(
        &[
            "gateway",
            "--store",
            &store,
            "--data",
            &data,
            "--listen",
            "127.0.0.1:0",
            "--bus-listen",
            "127.0.0.1:0",
        ],
        3,
    );
    let bus = gateway.addr("Bus");
    let api = |_: u8| {
        spawn(
            &[
                "api",
                "--store",
                &store,
                "--data",
                &data,
                "--listen",
                "127.0.0.1:0",
                "--bus-gateways",
                &bus,
                "--rate-per-sec",
                "0",
            ],
            2,
        )
    };
    let (api1, api2) = (api(1), api(2));
    let apis = [
        format!("http://{}", api1.addr("HTTP API")),
        format!("http://{}", api2.addr("HTTP API")),
    ];
    tokio::time::sleep(Duration::from_millis(800)).await;

    let http = reqwest::Client::new();
    let suffix = rand::random::<u32>();
    let (alice, alice_token) = register(&http, &apis[0], &format!("alice_{suffix}")).await;
    let (bob, bob_token) = register(&http, &apis[1], &format!("bob_{suffix}")).await;
    let (status, chat) = call(
        &http,
        "POST",
        format!("{}/v1/chats", apis[0]),
        Some(&alice_token),
        json!({"title": "race", "member_ids": [bob]}),
    )
    .await;
    assert_eq!(status, 201, "{chat}");
    let chat_id = chat["id"].as_str().unwrap().to_owned();
    let topic = format!("chat:{chat_id}");
    let _ = alice;

    // A member listening on the gateway.
    let mut ws = connect(&gateway.addr("WebSocket"), &bob_token)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;

    // Two writers, one per api process, on the same chat at once.
    const EACH: usize = 60;
    let mut writers = Vec::new();
    for (i, token) in [alice_token.clone(), bob_token.clone()]
        .into_iter()
        .enumerate()
    {
        let (http, api, chat_id) = (http.clone(), apis[i].clone(), chat_id.clone());
        writers.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..EACH {
                let (status, m) = call(
                    &http,
                    "POST",
                    format!("{api}/v1/chats/{chat_id}/messages"),
                    Some(&token),
                    json!({"body": format!("writer {i} message {n}")}),
                )
                .await;
                assert_eq!(status, 201, "{m}");
                seqs.push(m["seq"].as_u64().unwrap());
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for w in writers {
        let mine = w.await.unwrap();
        assert!(
            mine.windows(2).all(|p| p[0] < p[1]),
            "one writer's seqs increase"
        );
        seqs.extend(mine);
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=2 * EACH as u64).collect::<Vec<_>>(),
        "seqs gap-free and unique"
    );

    // The durable log: offsets 1..=2N, each message exactly once.
    let mut offsets = Vec::new();
    let mut bodies = HashSet::new();
    let mut after = 0;
    loop {
        let (status, page) = call(
            &http,
            "GET",
            format!(
                "{}/v1/topics/{topic}/events?after={after}&limit=100",
                apis[1]
            ),
            Some(&bob_token),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        for d in &items {
            offsets.push(d["offset"].as_u64().unwrap());
            assert!(
                bodies.insert(d["data"]["body"].as_str().unwrap().to_owned()),
                "duplicate {d}"
            );
        }
        after = page["next_after"].as_u64().unwrap();
    }
    assert_eq!(
        offsets,
        (1..=2 * EACH as u64).collect::<Vec<_>>(),
        "offsets gap-free"
    );

    // The listener got every delta once, in order (gaps are filled from storage).
    let mut last = 0;
    while last < 2 * EACH as u64 {
        let v = next_within(&mut ws, Duration::from_secs(20))
            .await
            .expect("a delta within 20 s");
        if v["type"] == "delta" && v["topic"] == topic.as_str() {
            let offset = v["offset"].as_u64().unwrap();
            assert_eq!(offset, last + 1, "in order, no gap, no duplicate");
            last = offset;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Cassandra or ScyllaDB node (ops/test starts one)"]
async fn dev_runs_on_a_cluster_store() {
    let store = keyspace("dev");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let dev = spawn(
        &[
            "dev",
            "--store",
            &store,
            "--data",
            &data,
            "--listen",
            "127.0.0.1:0",
            "--rate-per-sec",
            "0",
            "--no-wt",
        ],
        2,
    );
    assert!(dev.banner[0].contains("scylla://"), "{:?}", dev.banner);
    let api = format!("http://{}", dev.addr("HTTP API"));
    let http = reqwest::Client::new();
    let (_, token) = register(&http, &api, &format!("solo_{}", rand::random::<u32>())).await;
    let (status, chat) = call(
        &http,
        "POST",
        format!("{api}/v1/chats"),
        Some(&token),
        json!({"title": "notes"}),
    )
    .await;
    assert_eq!(status, 201);
    let chat_id = chat["id"].as_str().unwrap();
    let mut ws = connect(&dev.addr("HTTP API"), &token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = call(
        &http,
        "POST",
        format!("{api}/v1/chats/{chat_id}/messages"),
        Some(&token),
        json!({"body": "hello cluster"}),
    )
    .await;
    assert_eq!(status, 201);
    loop {
        let v = next_within(&mut ws, Duration::from_secs(10))
            .await
            .expect("the delta");
        if v["type"] == "delta" && v["event"] == "message.created" {
            assert_eq!(v["data"]["body"], "hello cluster");
            break;
        }
    }
    let (status, page) = call(
        &http,
        "GET",
        format!("{api}/v1/chats/{chat_id}/messages"),
        Some(&token),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["body"], "hello cluster");
}

#[test]
#[ignore = "needs a Cassandra or ScyllaDB node (ops/test starts one)"]
fn kill_minus_nine_a_hundred_times_loses_nothing() {
    let store = keyspace("crash");
    let dir = tempfile::tempdir().unwrap();
    let kills = std::env::var("TIDINGS_TEST_SCYLLA_KILLS").unwrap_or_else(|_| "100".into());
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args([
            "crashtest",
            "--store",
            &store,
            "--data",
            dir.path().to_str().unwrap(),
        ])
        .args(["--kills", &kills, "--max-run-ms", "400", "--quiet"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "crashtest failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("crashtest: {kills} kills")),
        "{stdout}"
    );
    assert!(stdout.contains(" 0 lost, 0 violation(s)"), "{stdout}");
}
