//! Every endpoint and error path of the contract, over real HTTP.

mod common;

use std::sync::atomic::Ordering;

use common::{start, start_with};
use reqwest::Method;
use serde_json::json;
use tidings_storage::{Store, Topic};

#[tokio::test]
async fn register_login_and_me() {
    let s = start().await;
    let v = s
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(
                json!({"username": "alice_1", "password": "password123", "display_name": "Alice"}),
            ),
        )
        .await
        .expect(201);
    assert_eq!(v["user"]["username"], "alice_1");
    assert_eq!(v["user"]["display_name"], "Alice");
    assert!(
        v["user"]["id"].as_str().unwrap().parse::<u64>().is_ok(),
        "ids are strings"
    );
    assert!(v["user"]["created_at"].as_str().unwrap().ends_with('Z'));
    let token = v["token"].as_str().unwrap().to_owned();

    let register = |body| s.call(Method::POST, "/v1/auth/register", None, Some(body));
    register(json!({"username": "alice_1", "password": "password123"}))
        .await
        .error(409, "conflict");
    let e = register(json!({"username": "Al", "password": "password123"}))
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "username");
    let e = register(json!({"username": "bob_1", "password": "short"}))
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "password");
    let e = register(json!({"username": "bob_1", "password": "x".repeat(129)}))
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "password");
    let e = register(
        json!({"username": "bob_1", "password": "password123", "display_name": "d".repeat(65)}),
    )
    .await
    .error(422, "invalid");
    assert_eq!(e["error"]["field"], "display_name");
    register(json!({"username": "bob_1"}))
        .await
        .error(400, "bad_request");
    register(json!({"username": 5, "password": "password123"}))
        .await
        .error(400, "bad_request");
    s.raw(Method::POST, "/v1/auth/register", None, b"{not json")
        .await
        .error(400, "bad_request");
    s.raw(Method::POST, "/v1/auth/register", None, b"")
        .await
        .error(400, "bad_request");

    let login = |body| s.call(Method::POST, "/v1/auth/login", None, Some(body));
    let v = login(json!({"username": "alice_1", "password": "password123"}))
        .await
        .expect(200);
    assert_eq!(v["user"]["username"], "alice_1");
    login(json!({"username": "alice_1", "password": "wrong-password"}))
        .await
        .error(401, "unauthorized");
    login(json!({"username": "nobody_here", "password": "password123"}))
        .await
        .error(401, "unauthorized");
    login(json!({"password": "x"}))
        .await
        .error(400, "bad_request");

    let me = s
        .call(Method::GET, "/v1/me", Some(&token), None)
        .await
        .expect(200);
    assert_eq!(me["username"], "alice_1");
    s.call(Method::GET, "/v1/me", None, None)
        .await
        .error(401, "unauthorized");
    s.call(Method::GET, "/v1/me", Some("v1.1.99999999999.bad"), None)
        .await
        .error(401, "unauthorized");
    let expired = s.key.issue(
        me["id"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .map(tidings_storage::UserId)
            .unwrap(),
        1,
    );
    let e = s
        .call(Method::GET, "/v1/me", Some(&expired), None)
        .await
        .error(401, "unauthorized");
    assert!(e["error"]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn users_by_id_and_username() {
    let s = start().await;
    let a = s.register("ua").await;
    let b = s.register("ub").await;
    let v = s.get(&format!("/v1/users/{}", b.id), &a).await.expect(200);
    assert_eq!(v["username"], b.username);
    assert_eq!(
        v.as_object().unwrap().len(),
        4,
        "no password hash or extras: {v}"
    );
    s.get("/v1/users/12345", &a).await.error(404, "not_found");
    s.get("/v1/users/abc", &a).await.error(404, "not_found");
    s.get("/v1/users/99999999999999999999999", &a)
        .await
        .error(404, "not_found");
    let v = s
        .get(&format!("/v1/users?username={}", b.username), &a)
        .await
        .expect(200);
    assert_eq!(v["id"], b.id.as_str());
    s.get("/v1/users?username=nobody_x", &a)
        .await
        .error(404, "not_found");
    s.get("/v1/users", &a).await.error(400, "bad_request");
    s.call(Method::GET, &format!("/v1/users/{}", b.id), None, None)
        .await
        .error(401, "unauthorized");
}

#[tokio::test]
async fn friends_flow() {
    let s = start().await;
    let a = s.register("fa").await;
    let b = s.register("fb").await;
    let v = s
        .post(&format!("/v1/friends/{}", b.id), &a, json!(null))
        .await
        .expect(200);
    assert_eq!(v, json!({"status": "pending"}));
    let lists = s.get("/v1/friends", &a).await.expect(200);
    assert_eq!(lists["outgoing"][0]["id"], b.id.as_str());
    let lists = s.get("/v1/friends", &b).await.expect(200);
    assert_eq!(lists["incoming"][0]["id"], a.id.as_str());
    let v = s
        .post(&format!("/v1/friends/{}", a.id), &b, json!(null))
        .await
        .expect(200);
    assert_eq!(v, json!({"status": "friends"}));
    let lists = s.get("/v1/friends", &a).await.expect(200);
    assert_eq!(lists["friends"][0]["id"], b.id.as_str());
    assert_eq!(lists["incoming"], json!([]));
    assert_eq!(lists["outgoing"], json!([]));

    let e = s
        .post(&format!("/v1/friends/{}", a.id), &a, json!(null))
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "user_id");
    s.post("/v1/friends/424242", &a, json!(null))
        .await
        .error(404, "not_found");
    s.post("/v1/friends/xyz", &a, json!(null))
        .await
        .error(404, "not_found");

    s.delete(&format!("/v1/friends/{}", b.id), &a)
        .await
        .expect(204);
    s.delete(&format!("/v1/friends/{}", b.id), &a)
        .await
        .error(404, "not_found");
    let lists = s.get("/v1/friends", &b).await.expect(200);
    assert_eq!(
        lists,
        json!({"friends": [], "incoming": [], "outgoing": []})
    );
}

#[tokio::test]
async fn chats_and_membership() {
    let s = start().await;
    let a = s.register("ca").await;
    let b = s.register("cb").await;
    let c = s.register("cc").await;
    let v = s
        .post(
            "/v1/chats",
            &a,
            json!({"title": "trip", "member_ids": [b.id]}),
        )
        .await
        .expect(201);
    let chat = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["title"], "trip");
    assert_eq!(v["member_ids"], json!([a.id, b.id]));
    assert_eq!(v["created_by"], a.id.as_str());
    assert_eq!(v["last_offset"], 0);
    let untitled = s.post("/v1/chats", &a, json!({})).await.expect(201);
    assert_eq!(untitled["title"], "");

    let e = s
        .post("/v1/chats", &a, json!({"title": "x".repeat(101)}))
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "title");
    let e = s
        .post("/v1/chats", &a, json!({"member_ids": ["777"]}))
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "member_ids");
    s.post("/v1/chats", &a, json!({"member_ids": "nope"}))
        .await
        .error(400, "bad_request");
    s.post("/v1/chats", &a, json!({"member_ids": [7]}))
        .await
        .error(400, "bad_request");

    let got = s.get(&format!("/v1/chats/{chat}"), &b).await.expect(200);
    assert_eq!(got["id"], chat.as_str());
    s.get(&format!("/v1/chats/{chat}"), &c)
        .await
        .error(404, "not_found");
    s.get("/v1/chats/1", &a).await.error(404, "not_found");

    // Paging, most recent activity first.
    s.post(
        &format!("/v1/chats/{chat}/messages"),
        &a,
        json!({"body": "bump"}),
    )
    .await
    .expect(201);
    let page = s.get("/v1/chats?limit=1", &a).await.expect(200);
    assert_eq!(page["items"][0]["id"], chat.as_str());
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let page = s
        .get(&format!("/v1/chats?limit=1&cursor={cursor}"), &a)
        .await
        .expect(200);
    assert_eq!(page["items"][0]["id"], untitled["id"]);
    assert_eq!(page["next_cursor"], json!(null));
    let e = s.get("/v1/chats?limit=0", &a).await.error(422, "invalid");
    assert_eq!(e["error"]["field"], "limit");
    s.get("/v1/chats?limit=201", &a).await.error(422, "invalid");
    s.get("/v1/chats?limit=ten", &a).await.error(422, "invalid");
    s.get("/v1/chats?cursor=garbage", &a)
        .await
        .error(422, "invalid");

    // Members.
    let path = format!("/v1/chats/{chat}/members");
    s.post(&path, &c, json!({"user_id": c.id}))
        .await
        .error(404, "not_found");
    s.post(&path, &a, json!({"user_id": "999"}))
        .await
        .error(404, "not_found");
    s.post(&path, &a, json!({"user_id": b.id}))
        .await
        .error(409, "conflict");
    s.post(&path, &a, json!({})).await.error(400, "bad_request");
    s.post(&path, &b, json!({"user_id": c.id}))
        .await
        .expect(204);
    let got = s.get(&format!("/v1/chats/{chat}"), &c).await.expect(200);
    assert_eq!(got["member_ids"], json!([a.id, b.id, c.id]));
    s.delete(&format!("{path}/{}", c.id), &b)
        .await
        .error(403, "forbidden");
    s.delete(&format!("{path}/12345"), &a)
        .await
        .error(404, "not_found");
    s.delete(&format!("{path}/{}", c.id), &a).await.expect(204);
    s.delete(&format!("{path}/{}", b.id), &b).await.expect(204);
    s.get(&format!("/v1/chats/{chat}"), &b)
        .await
        .error(404, "not_found");
    s.delete(&format!("{path}/{}", a.id), &b)
        .await
        .error(404, "not_found");
    let got = s.get(&format!("/v1/chats/{chat}"), &a).await.expect(200);
    assert_eq!(got["member_ids"], json!([a.id]));
    assert_eq!(got["last_offset"], 4);
}

#[tokio::test]
async fn messages_post_page_edit_delete() {
    let s = start().await;
    let a = s.register("ma").await;
    let b = s.register("mb").await;
    let x = s.register("mx").await;
    let chat = s.chat(&a, &[&b]).await;
    let path = format!("/v1/chats/{chat}/messages");
    let m = s
        .post(&path, &a, json!({"body": "hello"}))
        .await
        .expect(201);
    assert_eq!(m["seq"], 1);
    assert_eq!(m["chat_id"], chat.as_str());
    assert_eq!(m["author_id"], a.id.as_str());
    assert!(
        m.get("edited_at").is_none(),
        "edited_at is absent until an edit"
    );
    for i in 2..=5 {
        s.post(&path, &b, json!({"body": format!("m{i}")}))
            .await
            .expect(201);
    }
    s.post(&path, &x, json!({"body": "hi"}))
        .await
        .error(404, "not_found");
    s.post("/v1/chats/999/messages", &a, json!({"body": "hi"}))
        .await
        .error(404, "not_found");
    let e = s
        .post(&path, &a, json!({"body": ""}))
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "body");
    s.post(&path, &a, json!({"body": "y".repeat(4001)}))
        .await
        .error(422, "invalid");
    s.post(&path, &a, json!({"text": "wrong field"}))
        .await
        .error(400, "bad_request");

    let page = s.get(&format!("{path}?limit=2"), &b).await.expect(200);
    let seqs: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![5, 4]);
    assert_eq!(page["next_before_seq"], 4);
    let page = s
        .get(&format!("{path}?before_seq=2&limit=2"), &b)
        .await
        .expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_before_seq"], json!(null));
    let e = s
        .get(&format!("{path}?before_seq=-1"), &b)
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "before_seq");
    s.get(&path, &x).await.error(404, "not_found");

    let one = format!("{path}/1");
    s.patch(&one, &b, json!({"body": "not mine"}))
        .await
        .error(403, "forbidden");
    s.patch(&one, &x, json!({"body": "x"}))
        .await
        .error(404, "not_found");
    s.patch(&format!("{path}/99"), &a, json!({"body": "x"}))
        .await
        .error(404, "not_found");
    s.patch(&format!("{path}/one"), &a, json!({"body": "x"}))
        .await
        .error(404, "not_found");
    s.patch(&one, &a, json!({"body": ""}))
        .await
        .error(422, "invalid");
    let edited = s
        .patch(&one, &a, json!({"body": "hello!"}))
        .await
        .expect(200);
    assert_eq!(edited["body"], "hello!");
    assert!(edited["edited_at"].is_string());

    s.delete(&one, &b).await.error(403, "forbidden");
    s.delete(&one, &a).await.expect(204);
    s.delete(&one, &a).await.error(404, "not_found");
    let page = s.get(&path, &a).await.expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn posts_and_feed() {
    let s = start().await;
    let a = s.register("pa").await;
    let f = s.register("pf").await;
    let x = s.register("px").await;
    s.befriend(&a, &f).await;
    let p1 = s
        .post("/v1/posts", &a, json!({"body": "first"}))
        .await
        .expect(201);
    assert_eq!(p1["seq"], 1);
    assert_eq!(p1["author_id"], a.id.as_str());
    s.post("/v1/posts", &f, json!({"body": "friend's"}))
        .await
        .expect(201);
    s.post("/v1/posts", &x, json!({"body": "stranger's"}))
        .await
        .expect(201);
    let e = s
        .post("/v1/posts", &a, json!({"body": ""}))
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "body");
    s.post("/v1/posts", &a, json!({"body": "p".repeat(10_001)}))
        .await
        .error(422, "invalid");

    let page = s
        .get(&format!("/v1/users/{}/posts", a.id), &f)
        .await
        .expect(200);
    assert_eq!(page["items"][0]["body"], "first");
    assert_eq!(page["next_before_seq"], json!(null));
    s.get(&format!("/v1/users/{}/posts", a.id), &x)
        .await
        .error(403, "forbidden");
    s.get("/v1/users/4242/posts", &a)
        .await
        .error(404, "not_found");

    let feed = s.get("/v1/feed?limit=1", &a).await.expect(200);
    assert_eq!(feed["items"][0]["body"], "friend's");
    let cursor = feed["next_cursor"].as_str().unwrap().to_owned();
    let feed = s
        .get(&format!("/v1/feed?limit=1&cursor={cursor}"), &a)
        .await
        .expect(200);
    assert_eq!(feed["items"][0]["body"], "first");
    assert_eq!(feed["next_cursor"], json!(null));

    let id = p1["id"].as_str().unwrap();
    s.delete(&format!("/v1/posts/{id}"), &f)
        .await
        .error(403, "forbidden");
    s.delete("/v1/posts/31337", &a)
        .await
        .error(404, "not_found");
    s.delete(&format!("/v1/posts/{id}"), &a).await.expect(204);
    s.delete(&format!("/v1/posts/{id}"), &a)
        .await
        .error(404, "not_found");
}

#[tokio::test]
async fn topic_events_catch_up_and_authorization() {
    let s = start().await;
    let a = s.register("ta").await;
    let b = s.register("tb").await;
    let chat = s.chat(&a, &[]).await;
    for i in 0..5 {
        s.post(
            &format!("/v1/chats/{chat}/messages"),
            &a,
            json!({"body": format!("n{i}")}),
        )
        .await
        .expect(201);
    }
    let page = s
        .get(
            &format!("/v1/topics/chat:{chat}/events?after=2&limit=2"),
            &a,
        )
        .await
        .expect(200);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["type"], "delta");
    assert_eq!(items[0]["topic"], format!("chat:{chat}"));
    assert_eq!(items[0]["offset"], 3);
    assert_eq!(items[0]["event"], "message.created");
    assert_eq!(items[0]["data"]["body"], "n2");
    assert_eq!(page["next_after"], 4);
    let mine = s
        .get(&format!("/v1/topics/user:{}/events", a.id), &a)
        .await
        .expect(200);
    assert_eq!(mine["items"][0]["event"], "chat.created");

    s.get(&format!("/v1/topics/chat:{chat}/events"), &b)
        .await
        .error(404, "not_found");
    s.get(&format!("/v1/topics/user:{}/events", a.id), &b)
        .await
        .error(403, "forbidden");
    s.get(&format!("/v1/topics/posts:{}/events", a.id), &b)
        .await
        .error(403, "forbidden");
    s.get("/v1/topics/room:1/events", &a)
        .await
        .error(404, "not_found");
    s.get(&format!("/v1/topics/chat:{chat}/events?after=x"), &a)
        .await
        .error(422, "invalid");

    s.store
        .compact_topic(
            Topic::Chat(chat.parse().map(tidings_storage::ChatId).unwrap()),
            3,
        )
        .await
        .unwrap();
    s.get(&format!("/v1/topics/chat:{chat}/events?after=1"), &a)
        .await
        .error(410, "gone");
    let page = s
        .get(&format!("/v1/topics/chat:{chat}/events?after=3"), &a)
        .await
        .expect(200);
    assert_eq!(page["items"][0]["offset"], 4);
}

#[tokio::test]
async fn idempotency_keys_replay_without_a_second_delta() {
    let s = start().await;
    let a = s.register("ia").await;
    let chat = s.chat(&a, &[]).await;
    let path = format!("/v1/chats/{chat}/messages");
    let before = s.published.published().len();
    let send = |body: &'static str, key: &'static str| {
        let headers = [("Idempotency-Key", key)];
        let (s, path, token) = (&s, path.clone(), a.token.clone());
        async move {
            s.call_with(
                Method::POST,
                &path,
                Some(&token),
                Some(json!({"body": body})),
                &headers,
            )
            .await
        }
    };
    let first = send("once", "key-1").await;
    assert_eq!(first.status.as_u16(), 201);
    let again = send("once", "key-1").await;
    assert_eq!(
        again.status.as_u16(),
        201,
        "a replay answers like the original"
    );
    assert_eq!(again.json, first.json);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        s.published.published().len(),
        before + 1,
        "one delta, not two"
    );
    send("different", "key-1").await.error(409, "conflict");
    let e = s
        .call_with(
            Method::POST,
            &path,
            Some(&a.token),
            Some(json!({"body": "x"})),
            &[("Idempotency-Key", &"k".repeat(65))],
        )
        .await
        .error(422, "invalid");
    assert_eq!(e["error"]["field"], "Idempotency-Key");
    let page = s.get(&path, &a).await.expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let s = start().await;
    let a = s.register("oa").await;
    let huge = "x".repeat(65 * 1024);
    s.post("/v1/posts", &a, json!({"body": huge}))
        .await
        .error(413, "payload_too_large");
    let page = s
        .get(&format!("/v1/users/{}/posts", a.id), &a)
        .await
        .expect(200);
    assert_eq!(page["items"], json!([]));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let s = start_with(|c| {
        c.rate_per_sec = 1;
        c.rate_burst = 3;
    })
    .await;
    let a = s.register("ra").await;
    let mut limited = None;
    for _ in 0..10 {
        let r = s.get("/v1/me", &a).await;
        if r.status.as_u16() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the bucket runs dry");
    let retry: u64 = r
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry));
    r.error(429, "rate_limited");
}

#[tokio::test]
async fn storage_outage_answers_503_and_changes_nothing() {
    let s = start().await;
    let a = s.register("sa").await;
    let chat = s.chat(&a, &[]).await;
    let before = s.published.published().len();
    s.outage.store(true, Ordering::SeqCst);
    s.post(
        &format!("/v1/chats/{chat}/messages"),
        &a,
        json!({"body": "lost?"}),
    )
    .await
    .error(503, "unavailable");
    s.call(Method::GET, "/readyz", None, None)
        .await
        .error(503, "unavailable");
    s.call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    s.outage.store(false, Ordering::SeqCst);
    s.call(Method::GET, "/readyz", None, None).await.expect(200);
    assert_eq!(s.published.published().len(), before, "nothing published");
    let page = s
        .get(&format!("/v1/chats/{chat}/messages"), &a)
        .await
        .expect(200);
    assert_eq!(page["items"], json!([]), "nothing written");
}

#[tokio::test]
async fn publishes_committed_deltas_with_recipients_and_nothing_else() {
    let s = start().await;
    let a = s.register("da").await;
    let b = s.register("db").await;
    let chat = s.chat(&a, &[&b]).await;
    let before = s.published.published().len();
    s.post(
        &format!("/v1/chats/{chat}/messages"),
        &b,
        json!({"body": "hi"}),
    )
    .await
    .expect(201);
    s.post(
        &format!("/v1/chats/{chat}/messages"),
        &b,
        json!({"body": ""}),
    )
    .await
    .error(422, "invalid");
    let published = s.published.published();
    assert_eq!(published.len(), before + 1);
    let d = &published[before];
    assert_eq!(d.delta.topic.to_string(), format!("chat:{chat}"));
    assert_eq!(d.delta.offset, 1);
    let mut recipients: Vec<String> = d.recipients.iter().map(ToString::to_string).collect();
    recipients.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(recipients, expected);
}

#[tokio::test]
async fn ops_endpoints_and_unknown_routes() {
    let s = start().await;
    let a = s.register("opa").await;
    s.get("/v1/me", &a).await.expect(200);
    let v = s
        .call(Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    assert_eq!(v["status"], "ok");
    let v = s.call(Method::GET, "/readyz", None, None).await.expect(200);
    assert_eq!(v["status"], "ready");
    let m = s.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(m.status.as_u16(), 200);
    for needle in [
        "tidings_http_requests_total{route=\"/v1/me\",status=\"200\"}",
        "tidings_http_request_duration_seconds_bucket{route=\"/v1/me\"",
        "tidings_storage_operation_duration_seconds_bucket{op=\"get_user\"",
        "tidings_deltas_published_total",
    ] {
        assert!(m.text.contains(needle), "missing {needle} in\n{}", m.text);
    }
    let doc = s.call(Method::GET, "/v1/openapi.yaml", None, None).await;
    assert_eq!(doc.status.as_u16(), 200);
    assert!(doc.text.starts_with("openapi: 3.1"));
    s.get("/v1/nowhere", &a).await.error(404, "not_found");
    s.call(Method::PUT, "/v1/chats", Some(&a.token), None)
        .await
        .error(405, "method_not_allowed");
}
