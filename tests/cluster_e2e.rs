//! Two api processes and two gateway processes on one store, joined by the
//! QUIC bus, with 1,000 WebSocket clients: every delta of every chat reaches
//! every connected member exactly once and in order; after `kill -9` of one
//! gateway its clients move to the other, resume, and lose nothing.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{connect, next_within, send, spawn, Proc};
use serde_json::json;
use tidings_storage::password::HashCost;
use tidings_storage::{NewChat, NewUser, PasswordHash, SqliteConfig, SqliteStore, Store, Write};
use tidings_wire::TokenKey;
use tokio::sync::Mutex;

const USERS: usize = 1000;
const CHAT_SIZE: usize = 20;
const BEFORE_KILL: u64 = 10;
const AFTER_KILL: u64 = 10;

struct Member {
    token: String,
    chat: String,
}

/// What one client saw of its chat's topic, across reconnects.
#[derive(Default)]
struct Seen {
    last: u64,
    problems: Vec<String>,
    reconnects: u32,
}

async fn client(
    member: Arc<Member>,
    gateways: Vec<String>,
    first: usize,
    target: u64,
    seen: Arc<Mutex<Seen>>,
) {
    let topic = format!("chat:{}", member.chat);
    let mut gw = first;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        let Ok(mut ws) = connect(&gateways[gw], &member.token).await else {
            gw = (gw + 1) % gateways.len();
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let last = seen.lock().await.last;
        if last > 0 {
            send(
                &mut ws,
                json!({"type": "resume", "offsets": {topic.clone(): last}}),
            )
            .await;
        }
        loop {
            match next_within(&mut ws, Duration::from_secs(20)).await {
                Ok(v) if v["type"] == "delta" && v["topic"] == topic.as_str() => {
                    let offset = v["offset"].as_u64().unwrap();
                    let mut s = seen.lock().await;
                    if offset != s.last + 1 {
                        let msg = format!("expected offset {} got {offset}", s.last + 1);
                        s.problems.push(msg);
                    }
                    s.last = s.last.max(offset);
                    if s.last >= target {
                        return;
                    }
                }
                Ok(v) if v["type"] == "resumed" => {
                    if !v["resync"].as_array().unwrap().is_empty() {
                        seen.lock().await.problems.push(format!("resync {v}"));
                    }
                }
                Ok(_) => {}
                Err(0) => {
                    seen.lock().await.problems.push("no frame for 20 s".into());
                    return;
                }
                Err(_) => break, // dropped: move to the other gateway
            }
        }
        seen.lock().await.reconnects += 1;
        gw = (gw + 1) % gateways.len();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apis_two_gateways_a_thousand_clients_and_a_gateway_kill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();

    // Provision through the real store: users, chats of 20, tokens.
    let store = SqliteStore::open(SqliteConfig::in_dir(dir.path())).unwrap();
    let key = TokenKey::load_or_create(&dir.path().join("token.key")).unwrap();
    let hash = PasswordHash::hash("password123", HashCost::Fast);
    let mut users = Vec::new();
    for i in 0..USERS {
        let u = store
            .create_user(NewUser {
                username: format!("member_{i}"),
                display_name: None,
                password: hash.clone(),
            })
            .await
            .unwrap();
        users.push(u);
    }
    let exp = tidings_wire::token::now_unix_s() + 3600;
    let mut members = Vec::new();
    let mut chats = Vec::new();
    for group in users.chunks(CHAT_SIZE) {
        let chat = store
            .create_chat(
                &Write::by(group[0].id),
                NewChat {
                    title: None,
                    member_ids: group.iter().map(|u| u.id).collect(),
                },
            )
            .await
            .unwrap()
            .value;
        for u in group {
            members.push(Arc::new(Member {
                token: key.issue(u.id, exp),
                chat: chat.id.to_string(),
            }));
        }
        chats.push((
            chat.id.to_string(),
            key.issue(group[0].id, exp),
            key.issue(group[1].id, exp),
        ));
    }

    let gw_a = spawn(
        &[
            "gateway",
            "--data",
            &data,
            "--listen",
            "127.0.0.1:0",
            "--bus-listen",
            "127.0.0.1:0",
        ],
        3,
    );
    let gw_b = spawn(
        &[
            "gateway",
            "--data",
            &data,
            "--listen",
            "127.0.0.1:0",
            "--bus-listen",
            "127.0.0.1:0",
        ],
        3,
    );
    let bus = format!("{},{}", gw_a.addr("Bus"), gw_b.addr("Bus"));
    let api_args = |bus: &str| {
        vec![
            "api".to_owned(),
            "--data".into(),
            data.clone(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--bus-gateways".into(),
            bus.to_owned(),
            "--rate-per-sec".into(),
            "0".into(),
        ]
    };
    let a1: Vec<String> = api_args(&bus);
    let api1 = spawn(&a1.iter().map(String::as_str).collect::<Vec<_>>(), 3);
    let api2 = spawn(&a1.iter().map(String::as_str).collect::<Vec<_>>(), 3);
    let apis = [
        format!("http://{}", api1.addr("HTTP API")),
        format!("http://{}", api2.addr("HTTP API")),
    ];
    let gateways = vec![gw_a.addr("WebSocket"), gw_b.addr("WebSocket")];
    // Let the api nodes join the bus before anything is published.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let mut seen = Vec::new();
    let mut tasks = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let s = Arc::new(Mutex::new(Seen::default()));
        seen.push((i % 2, s.clone()));
        tasks.push(tokio::spawn(client(
            m.clone(),
            gateways.clone(),
            i % 2,
            BEFORE_KILL + AFTER_KILL,
            s,
        )));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Let every client finish its handshake and resume window.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let http = reqwest::Client::new();
    let post_round = |round: u64| {
        let http = http.clone();
        let chats = chats.clone();
        let apis = apis.clone();
        async move {
            let mut posts = Vec::new();
            for (i, (chat, t1, t2)) in chats.iter().enumerate() {
                let api = &apis[(i + round as usize) % 2];
                let token = if round.is_multiple_of(2) { t1 } else { t2 };
                posts.push(
                    http.post(format!("{api}/v1/chats/{chat}/messages"))
                        .bearer_auth(token)
                        .json(&json!({"body": format!("round {round}")}))
                        .send(),
                );
            }
            for p in posts {
                assert_eq!(p.await.unwrap().status().as_u16(), 201);
            }
        }
    };
    for round in 0..BEFORE_KILL {
        post_round(round).await;
    }
    // Wait until every client has the first half.
    for _ in 0..200 {
        let mut done = 0;
        for (_, s) in &seen {
            if s.lock().await.last >= BEFORE_KILL {
                done += 1;
            }
        }
        if done == seen.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // kill -9 gateway A while writes go on.
    let mut gw_a: Proc = gw_a;
    gw_a.child.kill().unwrap();
    let _ = gw_a.child.wait();
    for round in BEFORE_KILL..BEFORE_KILL + AFTER_KILL {
        post_round(round).await;
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(90), t)
            .await
            .unwrap()
            .unwrap();
    }

    let mut problems = HashMap::new();
    let mut moved = 0;
    for (i, (first, s)) in seen.iter().enumerate() {
        let s = s.lock().await;
        if s.last != BEFORE_KILL + AFTER_KILL || !s.problems.is_empty() {
            problems.insert(i, (s.last, s.problems.clone()));
        }
        if *first == 0 {
            assert!(s.reconnects >= 1, "client {i} was on the killed gateway");
            moved += 1;
        }
    }
    assert!(
        problems.is_empty(),
        "{} clients saw problems: {:?}",
        problems.len(),
        problems.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(moved, USERS / 2);
    drop((api1, api2, gw_b));
}
