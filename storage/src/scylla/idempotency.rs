//! Exactly-once writes under an `Idempotency-Key`.
//!
//! The key is claimed first (a lightweight transaction on its own row,
//! naming the op and its primary topic). The answer is one of the plan's
//! mutations, so it is written exactly when the write is applied. A second
//! request with the key finds the claim and:
//! - answers the recorded result when there is one (a replay, no deltas);
//! - otherwise finishes the op if it committed (settling its primary topic
//!   does that) and answers;
//! - otherwise, when the claim is older than any write can take, takes the
//!   claim over and runs; while it is younger, answers conflict (retry).
//!
//! A write that fails before its commit point releases its claim.

use std::future::Future;

use super::commit::{self, Claim, UNKNOWN};
use super::cql::{big, text, u64v, RowExt};
use super::Inner;
use crate::error::{StoreError, StoreResult};
use crate::store::{Answer, Committed, Write};
use crate::time::Timestamp;
use crate::topic::Topic;

/// A claim older than this belongs to a write that has given up.
const STALE_CLAIM_MS: i64 = 30_000;

/// Runs `run` exactly once per idempotency key of `w` (see the module docs).
pub(crate) async fn idempotent<T, P, R, Fut>(
    s: &Inner,
    w: &Write,
    primary: P,
    run: R,
) -> StoreResult<Committed<T>>
where
    T: Answer,
    P: Fn(u64) -> Topic,
    R: Fn(u64, Option<Claim>) -> Fut,
    Fut: Future<Output = StoreResult<commit::Committed<T>>>,
{
    let op = s.ids.next();
    let Some(idem) = &w.idempotency else {
        let c = run(op, None).await?;
        return Ok(Committed::new(c.value, c.deltas));
    };
    if idem.key.is_empty() || idem.key.chars().count() > 64 {
        return Err(StoreError::invalid(
            "Idempotency-Key",
            "must be 1-64 characters",
        ));
    }
    let cql = &s.engine.cql;
    let user = w.actor.0;
    let claim = Claim {
        user,
        key: idem.key.clone(),
    };
    let mut op = op;
    for _ in 0..3 {
        let values = vec![
            u64v(user),
            text(idem.key.clone()),
            text(idem.fingerprint.clone()),
            u64v(op),
            text(primary(op).to_string()),
            big(Timestamp::now().millis()),
        ];
        let claimed = match cql.lwt(&cql.st.claim_idempotency, values).await {
            Ok(applied) => applied,
            // Lost answer: the claim names its op, so reading it tells.
            Err(_) => read(s, user, &idem.key).await?.is_some_and(|r| r.op == op),
        };
        if claimed {
            return run_claimed(s, op, claim, &run).await;
        }
        let Some(prior) = read(s, user, &idem.key).await? else {
            continue; // released or expired meanwhile: claim again
        };
        if prior.fingerprint != idem.fingerprint {
            return Err(StoreError::Conflict(
                "this Idempotency-Key was already used for a different request".into(),
            ));
        }
        if let Some(answer) = prior.answer {
            return replay(&answer);
        }
        // Committed but not finished? Settling its primary topic finishes it.
        let row = s.engine.topic(&prior.primary, false).await?;
        s.engine.settle(&prior.primary, &row).await?;
        let Some(prior) = read(s, user, &idem.key).await? else {
            continue;
        };
        if let Some(answer) = prior.answer {
            return replay(&answer);
        }
        if Timestamp::now().millis() - prior.created_at < STALE_CLAIM_MS {
            return Err(StoreError::Conflict(
                "a request with this Idempotency-Key is still in progress; retry shortly".into(),
            ));
        }
        let fresh = s.ids.next();
        let taken = cql
            .lwt(
                &cql.st.take_idempotency,
                vec![
                    u64v(fresh),
                    big(Timestamp::now().millis()),
                    u64v(user),
                    text(idem.key.clone()),
                    u64v(prior.op),
                ],
            )
            .await?;
        if taken {
            return run_claimed(s, fresh, claim, &run).await;
        }
        op = s.ids.next();
    }
    Err(StoreError::Unavailable(
        "could not claim the Idempotency-Key; nothing was changed".into(),
    ))
}

async fn run_claimed<T, R, Fut>(
    s: &Inner,
    op: u64,
    claim: Claim,
    run: &R,
) -> StoreResult<Committed<T>>
where
    T: Answer,
    R: Fn(u64, Option<Claim>) -> Fut,
    Fut: Future<Output = StoreResult<commit::Committed<T>>>,
{
    let (user, key) = (claim.user, claim.key.clone());
    let result = run(op, Some(claim)).await;
    let release = match &result {
        Ok(c) => !c.changed,
        Err(StoreError::Unavailable(m)) => !m.starts_with(UNKNOWN),
        Err(_) => true,
    };
    if release {
        let cql = &s.engine.cql;
        if let Err(e) = cql
            .lwt(
                &cql.st.release_idempotency,
                vec![u64v(user), text(key), u64v(op)],
            )
            .await
        {
            tracing::warn!(error = %e, "could not release an idempotency claim; it expires by itself");
        }
    }
    let c = result?;
    Ok(Committed::new(c.value, c.deltas))
}

fn replay<T: Answer>(answer: &str) -> StoreResult<Committed<T>> {
    let value = serde_json::from_str(answer)
        .map_err(|e| StoreError::Unavailable(format!("corrupt idempotency record: {e}")))?;
    Ok(Committed {
        value,
        deltas: Vec::new(),
        replayed: true,
    })
}

struct Record {
    fingerprint: String,
    op: u64,
    primary: String,
    answer: Option<String>,
    created_at: i64,
}

async fn read(s: &Inner, user: u64, key: &str) -> StoreResult<Option<Record>> {
    let cql = &s.engine.cql;
    let row = cql
        .row(&cql.st.idempotency, vec![u64v(user), text(key)])
        .await?;
    Ok(row.map(|r| Record {
        fingerprint: r.text_at(0).unwrap_or_default(),
        op: r.i64_at(1).unwrap_or(0) as u64,
        primary: r.text_at(2).unwrap_or_default(),
        answer: r.text_at(3),
        created_at: r.i64_at(4).unwrap_or(0),
    }))
}
