//! Ids minted by many processes without coordination per id.
//!
//! An id is `ms since 2020 << 22 | node << 10 | counter`: sorting ids still
//! sorts by creation time. Each process leases a 12-bit node number with a
//! lightweight transaction (`id_nodes`, 60 s TTL, renewed every 20 s), so two
//! live processes never share one; the counter gives 1,024 ids per ms.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::cql::{int, text, Cql};
use crate::error::{StoreError, StoreResult};
use crate::ids::ID_EPOCH_MS;

const NODE_BITS: u32 = 12;
const COUNTER_BITS: u32 = 10;

/// This process's id minter.
#[derive(Debug)]
pub(crate) struct IdGen {
    node: u64,
    state: Mutex<(i64, u64)>,
}

impl IdGen {
    /// Leases a free node number and keeps renewing it in the background.
    pub(crate) async fn lease(cql: Arc<Cql>) -> StoreResult<Arc<Self>> {
        let owner = format!("{:016x}", rand::random::<u64>());
        let mut last_error = None;
        for attempt in 0..64 {
            let node = rand::random::<u32>() % (1 << NODE_BITS);
            let claimed = match cql
                .lwt(
                    &cql.st.claim_node,
                    vec![int(node as i32), text(owner.clone())],
                )
                .await
            {
                Ok(claimed) => claimed,
                // A node of the cluster may be down: try another number (an
                // unknown claim only holds that number until its TTL).
                Err(e) => {
                    last_error = Some(e);
                    super::commit::backoff(attempt + 4).await;
                    continue;
                }
            };
            if claimed {
                let generator = Arc::new(Self {
                    node: u64::from(node),
                    state: Mutex::new((0, 0)),
                });
                tokio::spawn(renew(cql, node, owner));
                return Ok(generator);
            }
        }
        Err(match last_error {
            Some(e) => e,
            None => {
                StoreError::Unavailable("no free id node number: too many live processes".into())
            }
        })
    }

    /// The next id: time-ordered and unique among live processes.
    pub(crate) fn next(&self) -> u64 {
        let now = crate::time::Timestamp::now().millis() - ID_EPOCH_MS;
        let mut s = self.state.lock();
        if now > s.0 {
            *s = (now, 0);
        } else {
            s.1 += 1;
            if s.1 >= (1 << COUNTER_BITS) {
                // More than 1,024 ids this millisecond: borrow the next one.
                *s = (s.0 + 1, 0);
            }
        }
        ((s.0 as u64) << (NODE_BITS + COUNTER_BITS)) | (self.node << COUNTER_BITS) | s.1
    }
}

async fn renew(cql: Arc<Cql>, node: u32, owner: String) {
    loop {
        tokio::time::sleep(Duration::from_secs(20)).await;
        let renewed = cql
            .lwt(
                &cql.st.renew_node,
                vec![text(owner.clone()), int(node as i32), text(owner.clone())],
            )
            .await;
        match renewed {
            Ok(true) => {}
            Ok(false) => tracing::error!(node, "lost the id node lease; ids may collide"),
            Err(e) => tracing::warn!(node, error = %e, "could not renew the id node lease"),
        }
    }
}
