//! The single writer thread with group commit.
//!
//! SQLite allows one writer at a time, and each commit costs an fsync. So one
//! thread owns the write connection, drains whatever operations are queued,
//! runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction, and
//! commits the batch with a single fsync. An operation that fails rolls back to
//! its savepoint and changes nothing; the others still commit. Callers hear
//! back only after COMMIT returns, so nothing is reported (or published) that
//! could still be lost.

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;

use crate::error::{StoreError, StoreResult};

/// A queued operation.
trait Job: Send {
    /// Runs inside the open transaction; returns whether it succeeded and how
    /// to deliver its result once the batch's fate is known.
    fn run(self: Box<Self>, conn: &Connection) -> Finished;
    /// The batch could not run: report `err` without running.
    fn abort(self: Box<Self>, err: StoreError);
}

struct Finished {
    ok: bool,
    deliver: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

struct OpJob<F, T> {
    op: F,
    reply: tokio::sync::oneshot::Sender<StoreResult<T>>,
}

impl<F, T> Job for OpJob<F, T>
where
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> Finished {
        let this = *self;
        let result = (this.op)(conn);
        let reply = this.reply;
        Finished {
            ok: result.is_ok(),
            deliver: Box::new(move |commit_err| {
                let outcome = match (commit_err, result) {
                    (Some(err), Ok(_)) => Err(err),
                    (_, result) => result,
                };
                let _ = reply.send(outcome);
            }),
        }
    }

    fn abort(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(err));
    }
}

/// A handle to the writer thread; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    jobs: Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Writer {
    /// Starts the writer thread on `conn`, batching at most `max_batch` operations per commit.
    pub(crate) fn spawn(conn: Connection, max_batch: usize) -> std::io::Result<Self> {
        let (jobs, rx) = crossbeam_channel::unbounded::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(&conn, &rx, max_batch.max(1)))?;
        Ok(Self { jobs })
    }

    /// Runs `op` in the next batch and waits until that batch has committed.
    pub(crate) async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(OpJob { op, reply }))
            .map_err(|_| StoreError::Unavailable("the sqlite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the sqlite writer has stopped".into()))?
    }
}

fn run_writer(conn: &Connection, rx: &Receiver<Box<dyn Job>>, max_batch: usize) {
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(max_batch.min(64));
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(conn, batch);
    }
}

fn commit_batch(conn: &Connection, batch: Vec<Box<dyn Job>>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let err = StoreError::Unavailable(format!("could not start a write: {e}"));
        for job in batch {
            job.abort(err.clone());
        }
        return;
    }
    let mut finished = Vec::with_capacity(batch.len());
    let mut broken: Option<StoreError> = None;
    for job in batch {
        if let Some(err) = &broken {
            job.abort(err.clone());
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT op") {
            let err = StoreError::Unavailable(format!("savepoint failed: {e}"));
            job.abort(err.clone());
            broken = Some(err);
            continue;
        }
        let done = job.run(conn);
        let end = if done.ok {
            conn.execute_batch("RELEASE op")
        } else {
            conn.execute_batch("ROLLBACK TO op; RELEASE op")
        };
        if let Err(e) = end {
            broken = Some(StoreError::Unavailable(format!("savepoint failed: {e}")));
        }
        finished.push(done);
    }
    let commit_err = match broken {
        Some(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Some(err)
        }
        None => match conn.execute_batch("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Some(StoreError::Unavailable(format!("commit failed: {e}")))
            }
        },
    };
    for done in finished {
        (done.deliver)(commit_err.clone());
    }
}
