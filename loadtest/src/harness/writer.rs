//! The writers: post chat messages through the HTTP api at a set total
//! rate, spread over the api nodes and over the chats (round robin). Each
//! body starts with the send time in Unix µs, which every client turns into
//! a send-to-receipt latency. An `Idempotency-Key` per message makes a
//! retried post exactly-once, and the chats' heads are read back from the
//! api at the end, so verification never trusts the writer's own count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::json;
use tokio::time::Instant;

use super::client::now_us;
use super::HarnessError;
use crate::http::Conn;

/// A chat to post to, as one of its members.
#[derive(Debug, Clone)]
pub struct ChatTarget {
    pub chat: u64,
    pub token: String,
}

/// What to write.
#[derive(Debug, Clone)]
pub struct WritePlan {
    pub apis: Vec<String>,
    pub chats: Vec<ChatTarget>,
    pub rate_per_sec: f64,
    pub duration: Duration,
    /// Concurrent writer connections.
    pub writers: usize,
    /// Makes idempotency keys unique to this run.
    pub run_tag: String,
}

/// Posts until `duration` has passed; `posted` counts acknowledged posts.
/// Returns how many posts were retried.
pub async fn run(plan: WritePlan, posted: Arc<AtomicU64>) -> Result<u64, HarnessError> {
    if plan.chats.is_empty() || plan.apis.is_empty() || plan.rate_per_sec <= 0.0 {
        return Ok(0);
    }
    let writers = plan.writers.clamp(1, plan.chats.len());
    let gap = Duration::from_secs_f64(writers as f64 / plan.rate_per_sec);
    let end = Instant::now() + plan.duration;
    let retries = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let mine: Vec<ChatTarget> = plan
            .chats
            .iter()
            .skip(w)
            .step_by(writers)
            .cloned()
            .collect();
        let api = plan.apis[w % plan.apis.len()].clone();
        let (posted, retries, tag) = (posted.clone(), retries.clone(), plan.run_tag.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = None;
            // Stagger the writers over one gap so posts are evenly spread.
            let mut next = Instant::now() + gap.mul_f64(w as f64 / writers as f64);
            let mut n = 0u64;
            while next < end {
                tokio::time::sleep_until(next).await;
                next += gap;
                let target = &mine[(n as usize) % mine.len()];
                let key = format!("{tag}-{}-{n}", target.chat);
                post(&api, &mut conn, target, &key, &retries).await?;
                posted.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            Ok::<(), HarnessError>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| HarnessError::Other(e.to_string()))??;
    }
    Ok(retries.load(Ordering::Relaxed))
}

/// One message, retried (same key) until the api acknowledges it.
async fn post(
    api: &str,
    conn: &mut Option<Conn>,
    target: &ChatTarget,
    key: &str,
    retries: &AtomicU64,
) -> Result<(), HarnessError> {
    let path = format!("/v1/chats/{}/messages", target.chat);
    let mut last_err = None;
    for attempt in 0..30 {
        if attempt > 0 {
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if conn.is_none() {
            match Conn::connect(api).await {
                Ok(c) => *conn = Some(c),
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let body = json!({"body": format!("{} {key}", now_us())});
        match c
            .call_with(
                Method::POST,
                &path,
                Some(&target.token),
                Some(&body),
                &[("idempotency-key", key)],
            )
            .await
        {
            Ok((status, _)) if status.is_success() => return Ok(()),
            Ok((status, json)) => {
                last_err = Some(crate::http::HttpError::Status {
                    status,
                    path: path.clone(),
                    body: json.to_string(),
                });
            }
            Err(e) => {
                *conn = None;
                last_err = Some(e);
            }
        }
    }
    Err(HarnessError::Http(
        last_err.map_or_else(|| "no attempt".into(), |e| e.to_string()),
    ))
}

/// One post on a fresh connection (the bus keep-alive).
pub async fn post_once(api: &str, target: &ChatTarget, body: &str) -> Result<(), HarnessError> {
    let mut conn = Conn::connect(api)
        .await
        .map_err(|e| HarnessError::Http(e.to_string()))?;
    conn.ok(
        Method::POST,
        &format!("/v1/chats/{}/messages", target.chat),
        Some(&target.token),
        Some(&json!({ "body": body })),
    )
    .await
    .map_err(|e| HarnessError::Http(e.to_string()))?;
    Ok(())
}

/// Each chat's head offset, read from the api (the truth to verify against).
pub async fn heads(
    apis: &[String],
    chats: &[ChatTarget],
) -> Result<HashMap<u64, u64>, HarnessError> {
    let api = apis
        .first()
        .ok_or_else(|| HarnessError::Other("no api".into()))?;
    let mut conn = Conn::connect(api)
        .await
        .map_err(|e| HarnessError::Http(e.to_string()))?;
    let mut heads = HashMap::with_capacity(chats.len());
    for c in chats {
        let chat = conn
            .ok(
                Method::GET,
                &format!("/v1/chats/{}", c.chat),
                Some(&c.token),
                None,
            )
            .await
            .map_err(|e| HarnessError::Http(e.to_string()))?;
        heads.insert(c.chat, chat["last_offset"].as_u64().unwrap_or(0));
    }
    Ok(heads)
}
