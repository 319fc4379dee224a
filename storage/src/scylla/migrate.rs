//! `tidings migrate` for a cluster: creates the environment's keyspace with
//! the configured replication, then applies each schema version once.
//! Every statement is `IF NOT EXISTS`, so running it again (or from two
//! processes at once) changes nothing.

use scylla::client::session::Session;

use super::address::ScyllaAddress;
use super::cql::{connect, unavailable};
use super::schema::{Layout, MIGRATIONS, SCHEMA_VERSION};
use crate::error::StoreResult;

/// Creates or upgrades the keyspace named by `address`; returns the schema
/// version it is at afterwards.
pub async fn migrate(address: &ScyllaAddress) -> StoreResult<i32> {
    let session = connect(address).await?;
    let ks = &address.keyspace;
    run(
        &session,
        &format!(
            "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {} AND durable_writes = true",
            address.replication.cql()
        ),
    )
    .await?;
    // Table names are qualified: no `USE`, so statements cannot be ambiguous.
    run(
        &session,
        &format!("CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (version int PRIMARY KEY, applied_at bigint)"),
    )
    .await?;
    let applied = applied_versions(&session, ks).await?;
    for (version, statements) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        for cql in *statements {
            let qualified = cql.replacen("IF NOT EXISTS ", &format!("IF NOT EXISTS {ks}."), 1);
            run(&session, &qualified).await?;
        }
        session
            .query_unpaged(
                format!("INSERT INTO {ks}.schema_migrations (version, applied_at) VALUES (?, ?)"),
                (*version, crate::time::Timestamp::now().millis()),
            )
            .await
            .map_err(unavailable)?;
        tracing::info!(keyspace = %ks, version, "schema migration applied");
    }
    session
        .await_schema_agreement()
        .await
        .map_err(unavailable)?;
    // Bucket sizes are fixed at creation: the first migrate records them.
    let l = address.layout;
    session
        .query_unpaged(
            format!("INSERT INTO {ks}.layout (id, message_bucket, post_bucket, event_bucket) VALUES (0, ?, ?, ?) IF NOT EXISTS"),
            (l.message_bucket as i64, l.post_bucket as i64, l.event_bucket as i64),
        )
        .await
        .map_err(unavailable)?;
    let kept = layout(&session, ks).await?;
    if kept != Some(l) {
        tracing::warn!(keyspace = %ks, ?kept, "the keyspace keeps the bucket sizes it was created with");
    }
    Ok(SCHEMA_VERSION)
}

async fn run(session: &Session, cql: &str) -> StoreResult<()> {
    session
        .query_unpaged(cql, ())
        .await
        .map(|_| ())
        .map_err(|e| crate::error::StoreError::Unavailable(format!("{cql}: {e}")))
}

async fn applied_versions(session: &Session, ks: &str) -> StoreResult<Vec<i32>> {
    let result = session
        .query_unpaged(format!("SELECT version FROM {ks}.schema_migrations"), ())
        .await
        .map_err(unavailable)?;
    let rows = result.into_rows_result().map_err(unavailable)?;
    rows.rows::<(i32,)>()
        .map_err(unavailable)?
        .map(|r| r.map(|(v,)| v).map_err(unavailable))
        .collect()
}

/// The schema version of `keyspace`, if it has been migrated at all.
pub(crate) async fn schema_version(session: &Session, keyspace: &str) -> Option<i32> {
    let result = session
        .query_unpaged(
            format!("SELECT version FROM {keyspace}.schema_migrations"),
            (),
        )
        .await
        .ok()?;
    let rows = result.into_rows_result().ok()?;
    rows.rows::<(i32,)>()
        .ok()?
        .filter_map(Result::ok)
        .map(|(v,)| v)
        .max()
}

/// The bucket sizes `keyspace` was created with.
pub(crate) async fn layout(session: &Session, keyspace: &str) -> StoreResult<Option<Layout>> {
    let result = session
        .query_unpaged(
            format!("SELECT message_bucket, post_bucket, event_bucket FROM {keyspace}.layout WHERE id = 0"),
            (),
        )
        .await
        .map_err(unavailable)?;
    let rows = result.into_rows_result().map_err(unavailable)?;
    let row = rows
        .maybe_first_row::<(i64, i64, i64)>()
        .map_err(unavailable)?;
    Ok(row.map(|(m, p, e)| Layout {
        message_bucket: m as u64,
        post_bucket: p as u64,
        event_bucket: e as u64,
    }))
}
