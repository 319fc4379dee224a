//! A real api server on 127.0.0.1:0 over a temporary SQLite store, and a
//! small HTTP client for it.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tidings_api::publish::RecordingPublisher;
use tidings_api::{ApiConfig, App};
use tidings_storage::fault::FaultyStore;
use tidings_storage::password::HashCost;
use tidings_storage::{SqliteConfig, SqliteStore};
use tidings_wire::TokenKey;

pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub published: Arc<RecordingPublisher>,
    pub store: SqliteStore,
    pub outage: Arc<AtomicBool>,
    pub key: TokenKey,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response: status, headers and JSON (Null when the body is empty or not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Answer {
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        self.json
    }

    /// Asserts an error answer with `status` and `code`; returns the body.
    #[track_caller]
    pub fn error(self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.json["error"]["code"], code, "body: {}", self.text);
        assert!(self.json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        self.json
    }
}

pub async fn start() -> Server {
    start_with(|_| {}).await
}

pub async fn start_with(tune: impl FnOnce(&mut ApiConfig)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteConfig::in_dir(dir.path())).unwrap();
    let faulty = FaultyStore::new(store.clone());
    let outage = faulty.switch();
    let key = TokenKey::generate();
    let mut config = ApiConfig::new(key.clone());
    config.hash_cost = HashCost::Fast;
    config.rate_per_sec = 0;
    config.auth_rate_per_sec = 0;
    tune(&mut config);
    let published = Arc::new(RecordingPublisher::default());
    let app = App::new(
        Arc::new(faulty),
        published.clone(),
        config,
        prometheus::Registry::new(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel();
    tokio::spawn(tidings_api::serve(listener, app, async {
        let _ = stopped.await;
    }));
    Server {
        base,
        http: reqwest::Client::new(),
        published,
        store,
        outage,
        key,
        _dir: dir,
        stop: Some(stop),
    }
}

/// A registered user: id, username and token.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub username: String,
    pub token: String,
}

impl Server {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &'static [u8],
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn register(&self, prefix: &str) -> Client {
        let username = format!("{prefix}_{:08x}", rand_u32());
        let v = self
            .call(
                Method::POST,
                "/v1/auth/register",
                None,
                Some(serde_json::json!({"username": username, "password": "password123"})),
            )
            .await
            .expect(201);
        Client {
            id: v["user"]["id"].as_str().unwrap().to_owned(),
            username,
            token: v["token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn get(&self, path: &str, who: &Client) -> Answer {
        self.call(Method::GET, path, Some(&who.token), None).await
    }

    pub async fn post(&self, path: &str, who: &Client, body: Value) -> Answer {
        self.call(Method::POST, path, Some(&who.token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, who: &Client) -> Answer {
        self.call(Method::DELETE, path, Some(&who.token), None)
            .await
    }

    pub async fn patch(&self, path: &str, who: &Client, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(&who.token), Some(body))
            .await
    }

    /// Makes `a` and `b` friends.
    pub async fn befriend(&self, a: &Client, b: &Client) {
        self.post(&format!("/v1/friends/{}", b.id), a, serde_json::json!(null))
            .await
            .expect(200);
        let v = self
            .post(&format!("/v1/friends/{}", a.id), b, serde_json::json!(null))
            .await
            .expect(200);
        assert_eq!(v["status"], "friends");
    }

    /// A chat owned by `owner` with `others`; returns its id.
    pub async fn chat(&self, owner: &Client, others: &[&Client]) -> String {
        let ids: Vec<&str> = others.iter().map(|c| c.id.as_str()).collect();
        let v = self
            .post(
                "/v1/chats",
                owner,
                serde_json::json!({"title": "t", "member_ids": ids}),
            )
            .await
            .expect(201);
        v["id"].as_str().unwrap().to_owned()
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .elapsed()
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}
