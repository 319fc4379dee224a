//! The commit protocol: how a write becomes all-or-nothing on a store with
//! no multi-partition transactions.
//!
//! 1. **Settle.** Read the primary topic's row; if the write committed
//!    before ours is not known to be applied, apply it (it is in the row).
//! 2. **Validate and plan** against rows that are now current.
//! 3. **Commit** with one lightweight transaction on the primary topic's
//!    row: `IF version = <read>`, setting the head offset, the plan and the
//!    head event. Linearizable within that partition, so writes to one
//!    topic are serialized and offsets are gap-free and duplicate-free. A
//!    lost answer is settled by a LOCAL_SERIAL read, which completes or
//!    voids any proposal in flight; only when that read fails too is the
//!    outcome unknown (503, and nothing more is done).
//! 4. **Finish.** Apply the plan's derived rows and its primary event in
//!    logged batches (atomic across partitions, not isolated), then append
//!    each event on another topic exactly once: an append is a
//!    compare-and-set on that topic's row that records the op, and no one
//!    appends after an event whose plan is still pending without finishing
//!    that plan first. Appends go in topic order (chat topics before user
//!    topics, user topics by id) and a primary ranks below its plan's other
//!    topics, so every wait points to a higher topic: never a cycle.
//!
//! Anyone may finish a plan: the next write on the topic, a reader that
//! finds an event missing, or `tidings check`. Re-applying is harmless:
//! every mutation carries the plan's write timestamp, and timestamps grow
//! per topic row.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use scylla::value::Row;

use super::cql::{big, text, u64v, Cql, RowExt, Values};
use super::plan::{event_row, LastEvent, Plan, PlannedEvent};
use crate::delta::{CommittedDelta, Delta, EventKind};
use crate::error::{StoreError, StoreResult};
use crate::ids::UserId;
use crate::time::Timestamp;
use crate::topic::Topic;

/// How long one write keeps retrying under contention before giving up
/// (it then has changed nothing).
const DEADLINE: Duration = Duration::from_secs(20);

/// How the error of a write whose outcome is unknown starts.
pub(crate) const UNKNOWN: &str = "the outcome of this write is unknown";

/// One topic's row.
#[derive(Clone, Debug, Default)]
pub(crate) struct TopicRow {
    pub(crate) exists: bool,
    pub(crate) version: i64,
    pub(crate) head: u64,
    pub(crate) low: u64,
    pub(crate) seq: u64,
    pub(crate) ts: i64,
    pub(crate) pending_op: Option<u64>,
    pub(crate) pending: Option<String>,
    pub(crate) last_op: Option<u64>,
    pub(crate) last_primary: Option<String>,
    pub(crate) last: Option<String>,
}

impl TopicRow {
    /// From a row whose first ten columns are those of `SELECT version, head, ... last`.
    pub(crate) fn from_row(r: &Row) -> Self {
        Self {
            exists: true,
            version: r.i64_at(0).unwrap_or(0),
            head: r.i64_at(1).unwrap_or(0) as u64,
            low: r.i64_at(2).unwrap_or(1) as u64,
            seq: r.i64_at(3).unwrap_or(0) as u64,
            ts: r.i64_at(4).unwrap_or(0),
            // 0 and '' stand for "none": writing null would leave tombstones.
            pending_op: r.i64_at(5).filter(|v| *v != 0).map(|v| v as u64),
            pending: r.text_at(6).filter(|v| !v.is_empty()),
            last_op: r.i64_at(7).filter(|v| *v != 0).map(|v| v as u64),
            last_primary: r.text_at(8).filter(|v| !v.is_empty()),
            last: r.text_at(9).filter(|v| !v.is_empty()),
        }
    }

    pub(crate) fn plan(&self) -> StoreResult<Option<Plan>> {
        self.pending
            .as_deref()
            .map(|p| serde_json::from_str(p).map_err(corrupt))
            .transpose()
    }

    pub(crate) fn last_event(&self) -> StoreResult<Option<LastEvent>> {
        self.last
            .as_deref()
            .map(|p| serde_json::from_str(p).map_err(corrupt))
            .transpose()
    }
}

pub(crate) fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Unavailable(format!("corrupt stored plan or event: {e}"))
}

/// What a write's planning step sees of the primary topic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    pub(crate) op: u64,
    pub(crate) now: Timestamp,
    /// The offset the primary event gets.
    pub(crate) offset: u64,
    /// The primary topic's counter (message or post seq) before this write.
    pub(crate) seq: u64,
}

/// An event a write wants to append, with who receives it.
#[derive(Clone, Debug)]
pub(crate) struct WantEvent {
    pub(crate) topic: Topic,
    pub(crate) event: EventKind,
    pub(crate) data: usize,
    pub(crate) recipients: Vec<UserId>,
}

/// What a write's planning step decided.
#[derive(Debug)]
pub(crate) enum Outcome<T> {
    /// Nothing to change; answer this.
    Unchanged(T),
    /// Commit this.
    Change(Draft<T>),
}

/// The changes of one write before they are committed.
#[derive(Debug)]
pub(crate) struct Draft<T> {
    pub(crate) value: T,
    pub(crate) mutations: Vec<super::plan::Mutation>,
    pub(crate) datas: Vec<serde_json::Value>,
    pub(crate) primary_event: Option<WantEvent>,
    pub(crate) secondary: Vec<WantEvent>,
    /// The primary topic's counter after this write.
    pub(crate) seq: u64,
}

impl<T> Draft<T> {
    pub(crate) fn new(value: T, seq: u64) -> Self {
        Self {
            value,
            mutations: Vec::new(),
            datas: Vec::new(),
            primary_event: None,
            secondary: Vec::new(),
            seq,
        }
    }

    /// Adds event data; returns its index.
    pub(crate) fn data(&mut self, v: serde_json::Value) -> usize {
        self.datas.push(v);
        self.datas.len() - 1
    }
}

/// The idempotency claim a write answers, if any.
#[derive(Clone, Debug)]
pub(crate) struct Claim {
    pub(crate) user: u64,
    pub(crate) key: String,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The protocol's state in this process.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) cql: Arc<Cql>,
    /// Plans this process finished lately: settling skips re-applying them.
    finished: Mutex<(HashSet<u64>, VecDeque<u64>)>,
}

impl Engine {
    pub(crate) fn new(cql: Arc<Cql>) -> Self {
        Self {
            cql,
            finished: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    fn mark_finished(&self, op: u64) {
        let mut f = self.finished.lock();
        if f.0.insert(op) {
            f.1.push_back(op);
            if f.1.len() > 65_536 {
                if let Some(old) = f.1.pop_front() {
                    f.0.remove(&old);
                }
            }
        }
    }

    fn known_finished(&self, op: u64) -> bool {
        self.finished.lock().0.contains(&op)
    }

    /// Reads a topic's row (LOCAL_QUORUM, or LOCAL_SERIAL to settle a lost answer).
    pub(crate) async fn topic(&self, name: &str, serial: bool) -> StoreResult<TopicRow> {
        let st = if serial {
            &self.cql.st.topic_serial
        } else {
            &self.cql.st.topic
        };
        Ok(self
            .cql
            .row(st, vec![text(name)])
            .await?
            .map_or_else(TopicRow::default, |r| TopicRow::from_row(&r)))
    }

    /// Commits one write whose primary topic is `primary` (see the module docs).
    pub(crate) async fn commit<T, F, Fut>(
        &self,
        primary: Topic,
        op: u64,
        claim: Option<Claim>,
        build: F,
    ) -> StoreResult<Committed<T>>
    where
        T: serde::Serialize + Send,
        F: Fn(Ctx) -> Fut + Send + Sync,
        Fut: Future<Output = StoreResult<Outcome<T>>> + Send,
    {
        let name = primary.to_string();
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if started.elapsed() > DEADLINE {
                return Err(StoreError::Unavailable(format!(
                    "{name} is too contended: gave up after {attempt} attempts; nothing was changed"
                )));
            }
            let row = self.topic(&name, false).await?;
            self.settle(&name, &row).await?;
            let now = Timestamp::now();
            let ctx = Ctx {
                op,
                now,
                offset: row.head + 1,
                seq: row.seq,
            };
            let mut draft = match build(ctx).await? {
                Outcome::Unchanged(v) => return Ok(Committed::unchanged(v)),
                Outcome::Change(d) => d,
            };
            // Appends go in topic order (chat topics, then user topics by
            // id; a friendship's primary is the lower user): every wait while
            // finishing then points to a higher topic, so none is circular.
            draft.secondary.sort_by_key(|e| e.topic);
            debug_assert!(draft.secondary.iter().all(|e| e.topic > primary));
            let ts = (now.millis() * 1000).max(row.ts + 1);
            let answer = claim
                .as_ref()
                .map(|c| -> StoreResult<_> {
                    Ok(super::plan::AnswerRecord {
                        user: c.user,
                        key: c.key.clone(),
                        answer: serde_json::to_string(&draft.value).map_err(corrupt)?,
                    })
                })
                .transpose()?;
            let plan = Plan {
                op,
                primary: name.clone(),
                ts,
                committed_at: now.millis(),
                mutations: draft.mutations,
                datas: draft.datas,
                primary_event: draft.primary_event.as_ref().map(|e| PlannedEvent {
                    topic: name.clone(),
                    event: e.event.as_str().to_owned(),
                    data: e.data,
                    offset: row.head + 1,
                }),
                secondary: draft
                    .secondary
                    .iter()
                    .map(|e| PlannedEvent {
                        topic: e.topic.to_string(),
                        event: e.event.as_str().to_owned(),
                        data: e.data,
                        offset: 0,
                    })
                    .collect(),
                answer,
            };
            match self.cas_commit(&name, &row, &plan, draft.seq).await {
                Ok(true) => {}
                Ok(false) => {
                    backoff(attempt).await;
                    continue;
                }
                Err(e) => match self.committed_after_doubt(&name, &row, &plan).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::debug!(topic = %name, error = %e, "commit not applied; retrying");
                        backoff(attempt).await;
                        continue;
                    }
                    Err(_) => {
                        return Err(StoreError::Unavailable(format!(
                            "{UNKNOWN} ({e}); it was not retried"
                        )))
                    }
                },
            }
            let offsets = self.finish_with_retries(&plan).await;
            let mut deltas = Vec::new();
            let events = draft
                .primary_event
                .into_iter()
                .chain(draft.secondary)
                .zip(plan.primary_event.iter().chain(plan.secondary.iter()));
            for (i, (want, planned)) in events.enumerate() {
                let offset = if i == 0 && plan.primary_event.is_some() {
                    Some(planned.offset)
                } else {
                    let j = i - usize::from(plan.primary_event.is_some());
                    offsets.get(j).copied().flatten()
                };
                // An append another process finished for us has no offset here;
                // its recipients catch up from the log.
                if let Some(offset) = offset {
                    deltas.push(CommittedDelta {
                        delta: Delta::new(
                            want.topic,
                            offset,
                            want.event,
                            plan.datas[want.data].clone(),
                            now,
                        ),
                        recipients: want.recipients,
                    });
                }
            }
            return Ok(Committed {
                value: draft.value,
                deltas,
                changed: true,
            });
        }
    }

    async fn cas_commit(
        &self,
        name: &str,
        row: &TopicRow,
        plan: &Plan,
        seq: u64,
    ) -> StoreResult<bool> {
        let plan_json = serde_json::to_string(plan).map_err(corrupt)?;
        let (head, last_op, last_primary, last) = match &plan.primary_event {
            Some(e) => (
                e.offset,
                big(plan.op as i64),
                text(name),
                text(serde_json::to_string(&plan.last_event(e)).map_err(corrupt)?),
            ),
            None => (
                row.head,
                u64v(row.last_op.unwrap_or(0)),
                text(row.last_primary.clone().unwrap_or_default()),
                text(row.last.clone().unwrap_or_default()),
            ),
        };
        let st = &self.cql.st;
        if row.exists {
            let v: Values = vec![
                big(row.version + 1),
                u64v(head),
                u64v(seq),
                big(plan.ts),
                u64v(plan.op),
                text(plan_json),
                last_op,
                last_primary,
                last,
                text(name),
                big(row.version),
            ];
            self.cql.lwt(&st.topic_cas, v).await
        } else {
            let v: Values = vec![
                text(name),
                big(1),
                u64v(head),
                u64v(seq),
                big(plan.ts),
                u64v(plan.op),
                text(plan_json),
                last_op,
                last_primary,
                last,
            ];
            self.cql.lwt(&st.topic_insert, v).await
        }
    }

    /// After a commit's answer was lost: did it apply? A LOCAL_SERIAL read
    /// completes or voids any proposal still in flight, so "no" is final.
    async fn committed_after_doubt(
        &self,
        name: &str,
        before: &TopicRow,
        plan: &Plan,
    ) -> StoreResult<bool> {
        let now = self.topic(name, true).await?;
        if now.pending_op == Some(plan.op) {
            return Ok(true);
        }
        if now.version == before.version && now.exists == before.exists {
            return Ok(false);
        }
        match &plan.primary_event {
            // Our event would sit at this offset; see whose op is there.
            Some(e) => {
                if let Some(last) = now.last_event()? {
                    if last.offset == e.offset {
                        return Ok(last.op == plan.op);
                    }
                }
                // Later writes finished ours before moving on; the event's
                // op column tells.
                self.event_op(name, e.offset)
                    .await
                    .map(|op| op == Some(plan.op))
            }
            // Only writes creating a fresh topic have no primary event: the
            // row exists now, and no one else knows its name.
            None => Ok(!before.exists && now.exists),
        }
    }

    async fn event_op(&self, topic: &str, offset: u64) -> StoreResult<Option<u64>> {
        let r = self
            .cql
            .row(
                &self.cql.st.event_op,
                vec![
                    text(topic),
                    big(self.cql.layout.event(offset)),
                    u64v(offset),
                ],
            )
            .await?;
        Ok(r.and_then(|r| r.i64_at(0)).map(|v| v as u64))
    }

    /// Finishes `plan`, retrying transient failures: it has committed, so
    /// the caller's answer is success whatever happens here.
    async fn finish_with_retries(&self, plan: &Plan) -> Vec<Option<u64>> {
        for attempt in 1..=5 {
            match self.finish(plan).await {
                Ok(offsets) => return offsets,
                Err(e) => {
                    tracing::warn!(op = plan.op, error = %e, attempt, "finishing a committed write failed; retrying");
                    backoff(attempt * 4).await;
                }
            }
        }
        tracing::error!(
            op = plan.op,
            "a committed write is left for the next writer or `tidings check` to finish"
        );
        Vec::new()
    }

    /// Applies a committed plan; returns the offsets of its secondary events
    /// (none where another process appended them).
    pub(crate) async fn finish(&self, plan: &Plan) -> StoreResult<Vec<Option<u64>>> {
        self.finish_at(plan, 0).await
    }

    fn finish_at<'a>(
        &'a self,
        plan: &'a Plan,
        depth: u32,
    ) -> BoxFut<'a, StoreResult<Vec<Option<u64>>>> {
        Box::pin(async move {
            self.cql.apply(plan.statements(&self.cql)).await?;
            // One at a time, in topic order: that order is what keeps
            // finishing free of circular waits.
            let mut offsets = Vec::with_capacity(plan.secondary.len());
            for e in &plan.secondary {
                offsets.push(self.append(plan, e, depth + 1).await?);
            }
            if !plan.secondary.is_empty() {
                // Clear the plan: appends after ours no longer wait for it.
                self.cql
                    .lwt(
                        &self.cql.st.topic_clear,
                        vec![text(plan.primary.clone()), u64v(plan.op)],
                    )
                    .await?;
            }
            self.mark_finished(plan.op);
            Ok(offsets)
        })
    }

    /// Appends one secondary event of `plan`, exactly once.
    fn append<'a>(
        &'a self,
        plan: &'a Plan,
        e: &'a PlannedEvent,
        depth: u32,
    ) -> BoxFut<'a, StoreResult<Option<u64>>> {
        Box::pin(async move {
            let started = Instant::now();
            let mut attempt = 0;
            loop {
                attempt += 1;
                if started.elapsed() > DEADLINE {
                    return Err(StoreError::Unavailable(format!(
                        "{} is too contended to append to",
                        e.topic
                    )));
                }
                let row = self.topic(&e.topic, false).await?;
                if row.last_op == Some(plan.op) {
                    // Appended already (perhaps by a process that died before
                    // writing the event row): make sure the row is there.
                    if let Some(last) = row.last_event()? {
                        self.cql
                            .apply(vec![event_row(&self.cql, &e.topic, &last)])
                            .await?;
                        return Ok(Some(last.offset));
                    }
                }
                // Appends after ours only happen once our plan is finished;
                // if it is, someone else appended this event.
                let primary = self.topic(&plan.primary, false).await?;
                if primary.pending_op != Some(plan.op) {
                    return Ok(None);
                }
                self.settle_at(&e.topic, &row, depth + 1).await?;
                let mut last = plan.last_event(e);
                last.offset = row.head + 1;
                let last_json = serde_json::to_string(&last).map_err(corrupt)?;
                let st = &self.cql.st;
                let applied = if row.exists {
                    self.cql
                        .lwt(
                            &st.topic_append,
                            vec![
                                big(row.version + 1),
                                u64v(last.offset),
                                big(plan.ts.max(row.ts + 1)),
                                u64v(plan.op),
                                text(plan.primary.clone()),
                                text(last_json),
                                text(e.topic.clone()),
                                big(row.version),
                            ],
                        )
                        .await
                } else {
                    self.cql
                        .lwt(
                            &st.topic_insert,
                            vec![
                                text(e.topic.clone()),
                                big(1),
                                u64v(last.offset),
                                big(0),
                                big(plan.ts),
                                big(0),
                                text(""),
                                u64v(plan.op),
                                text(plan.primary.clone()),
                                text(last_json),
                            ],
                        )
                        .await
                };
                match applied {
                    Ok(true) => {
                        self.cql
                            .apply(vec![event_row(&self.cql, &e.topic, &last)])
                            .await?;
                        return Ok(Some(last.offset));
                    }
                    // Lost or refused: the next round reads where things stand.
                    Ok(false) | Err(_) => backoff(attempt).await,
                }
            }
        })
    }

    /// Makes sure what committed before on `name` is applied: its own
    /// pending plan, and the plan of its head event if that came from
    /// another topic's write.
    pub(crate) async fn settle(&self, name: &str, row: &TopicRow) -> StoreResult<()> {
        self.settle_at(name, row, 0).await
    }

    fn settle_at<'a>(
        &'a self,
        name: &'a str,
        row: &'a TopicRow,
        depth: u32,
    ) -> BoxFut<'a, StoreResult<()>> {
        Box::pin(async move {
            // Waits point to ever higher topics, so this is bounded by the
            // topics one write touches; the cap turns a broken invariant into
            // an error rather than a stack overflow.
            if depth > 256 {
                return Err(StoreError::Unavailable(format!(
                    "finishing earlier writes on {name} nests too deep"
                )));
            }
            if let (Some(op), Some(plan)) = (row.pending_op, row.plan()?) {
                if !self.known_finished(op) {
                    self.finish_at(&plan, depth + 1).await?;
                }
            }
            if let (Some(op), Some(primary)) = (row.last_op, row.last_primary.as_deref()) {
                if primary != name && !self.known_finished(op) {
                    let p = self.topic(primary, false).await?;
                    if p.pending_op == Some(op) {
                        if let Some(plan) = p.plan()? {
                            self.finish_at(&plan, depth + 1).await?;
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

/// A commit's result before the store's `Committed` wrapper.
#[derive(Debug)]
pub(crate) struct Committed<T> {
    pub(crate) value: T,
    pub(crate) deltas: Vec<CommittedDelta>,
    /// False when the write found nothing to change.
    pub(crate) changed: bool,
}

impl<T> Committed<T> {
    fn unchanged(value: T) -> Self {
        Self {
            value,
            deltas: Vec::new(),
            changed: false,
        }
    }
}

/// Jittered exponential backoff for contended compare-and-sets.
pub(crate) async fn backoff(attempt: u32) {
    let cap = 2u64.saturating_pow(attempt.min(8)).min(200);
    let ms = rand::random::<u64>() % (cap + 1);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
