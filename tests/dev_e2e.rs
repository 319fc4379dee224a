//! `tidings dev` as a real process: HTTP writes reach WebSocket clients as
//! deltas, in order; resume replays what a client missed; bad tokens are
//! refused before the upgrade; oversized frames close with 1009; SIGTERM
//! closes sockets with 1012.

mod common;

use std::process::Command;

use common::{next, send, spawn, Proc};
use fastwebsockets::{Frame, Payload};
use serde_json::{json, Value};

struct Dev {
    proc: Proc,
    addr: String,
    _dir: tempfile::TempDir,
}

fn start_dev() -> Dev {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let proc = spawn(
        &[
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--rate-per-sec",
            "0",
            "--data",
            &data,
        ],
        2,
    );
    let addr = proc.addr("HTTP API");
    Dev {
        proc,
        addr,
        _dir: dir,
    }
}

async fn connect(addr: &str, token: &str) -> Result<common::Ws, u16> {
    common::connect(addr, token).await
}

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    async fn register(&self, name: &str) -> (String, String) {
        let v = self
            .post(
                "/v1/auth/register",
                None,
                json!({"username": name, "password": "password123"}),
            )
            .await;
        (
            v["user"]["id"].as_str().unwrap().to_owned(),
            v["token"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_flow_from_http_to_websockets_and_resume() {
    let dev = start_dev();
    let http = Http {
        base: format!("http://{}", dev.addr),
        client: reqwest::Client::new(),
    };
    let (alice, alice_token) = http.register("alice").await;
    let (bob, bob_token) = http.register("bob").await;

    assert_eq!(
        connect(&dev.addr, "v1.1.9999999999.forged").await.err(),
        Some(401)
    );
    assert_eq!(connect(&dev.addr, "").await.err(), Some(401));

    let mut ws = connect(&dev.addr, &bob_token).await.unwrap();
    let hello = next(&mut ws).await.unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["user_id"], bob.as_str());
    assert!(hello["heartbeat_ms"].as_u64().unwrap() > 0);
    assert!(hello["session_id"].is_string());

    let chat = http
        .post(
            "/v1/chats",
            Some(&alice_token),
            json!({"member_ids": [bob]}),
        )
        .await;
    let chat_id = chat["id"].as_str().unwrap().to_owned();
    let created = next(&mut ws).await.unwrap();
    assert_eq!(created["type"], "delta");
    assert_eq!(created["topic"], format!("user:{bob}"));
    assert_eq!(created["event"], "chat.created");
    assert_eq!(created["offset"], 1);

    for i in 1..=20 {
        http.post(
            &format!("/v1/chats/{chat_id}/messages"),
            Some(&alice_token),
            json!({"body": format!("m{i}")}),
        )
        .await;
    }
    for i in 1..=20u64 {
        let d = next(&mut ws).await.unwrap();
        assert_eq!(d["topic"], format!("chat:{chat_id}"));
        assert_eq!(d["offset"], i, "in offset order, none missing, none twice");
        assert_eq!(d["event"], "message.created");
        assert_eq!(d["data"]["body"], format!("m{i}"));
    }

    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next(&mut ws).await.unwrap(), json!({"type": "pong"}));
    send(&mut ws, json!({"type": "dance"})).await;
    let e = next(&mut ws).await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "unknown_type");
    ws.write_frame(Frame::text(Payload::Owned(b"{not json".to_vec())))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["code"], "bad_frame");
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(
        next(&mut ws).await.unwrap()["type"],
        "pong",
        "the connection stays up"
    );
    drop(ws);

    // Away: five more messages, then resume from offset 20.
    for i in 21..=25 {
        http.post(
            &format!("/v1/chats/{chat_id}/messages"),
            Some(&alice_token),
            json!({"body": format!("m{i}")}),
        )
        .await;
    }
    let mut ws = connect(&dev.addr, &bob_token).await.unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["type"], "hello");
    send(
        &mut ws,
        json!({"type": "resume", "offsets": {format!("chat:{chat_id}"): 20, format!("user:{bob}"): 0, "chat:1": 0}}),
    )
    .await;
    // Every missed delta arrives, in order and once. Deltas still on their
    // way to the gateway when the resume is handled may follow `resumed`.
    let chat_topic = format!("chat:{chat_id}");
    let mut chat_offsets = Vec::new();
    let mut user_offsets = Vec::new();
    let mut resumed = None;
    while resumed.is_none() || chat_offsets.last() != Some(&25) {
        let v = next(&mut ws).await.unwrap();
        if v["type"] == "resumed" {
            assert!(resumed.is_none(), "one resumed per resume");
            resumed = Some(v);
            continue;
        }
        assert_eq!(v["type"], "delta", "{v}");
        let offset = v["offset"].as_u64().unwrap();
        if v["topic"] == chat_topic.as_str() {
            chat_offsets.push(offset);
        } else {
            user_offsets.push(offset);
        }
    }
    assert_eq!(chat_offsets, vec![21, 22, 23, 24, 25]);
    assert_eq!(user_offsets, vec![1]);
    let resumed = resumed.unwrap();
    let recovered: Vec<&str> = resumed["recovered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(recovered.contains(&chat_topic.as_str()));
    assert_eq!(
        resumed["resync"],
        json!(["chat:1"]),
        "unknown history is resync, not a lie"
    );

    // Live again after the resume, and no duplicates.
    http.post(
        &format!("/v1/chats/{chat_id}/messages"),
        Some(&alice_token),
        json!({"body": "m26"}),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["offset"], 26);

    // A frame over 64 KiB closes with 1009.
    let mut big = connect(&dev.addr, &alice_token).await.unwrap();
    assert_eq!(next(&mut big).await.unwrap()["type"], "hello");
    big.write_frame(Frame::text(Payload::Owned(vec![b' '; 70 * 1024])))
        .await
        .unwrap();
    assert_eq!(next(&mut big).await.err(), Some(1009));

    // SIGTERM: the socket is closed with 1012, the process exits cleanly.
    let pid = dev.proc.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(next(&mut ws).await.err(), Some(1012));
    let mut dev = dev;
    let status = tokio::task::spawn_blocking(move || {
        let s = dev.proc.child.wait();
        (s, dev)
    })
    .await
    .unwrap()
    .0
    .unwrap();
    assert!(status.success(), "dev exited with {status}");
    let _ = alice;
}
