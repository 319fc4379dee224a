//! The crash-test worker: random mixed operations from several concurrent
//! tasks (so group commits hold many operations), printing each committed
//! delta, until it is killed.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tidings_storage::conformance::DynStore;
use tidings_storage::store::Cursor;
use tidings_storage::{ChatId, NewChat, NewUser, PasswordHash, StoreError, User, UserId, Write};

use super::report::{print_acks, READY};
use crate::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Seed of the random operation mix.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Concurrent tasks issuing operations.
    #[arg(long, default_value_t = 4)]
    pub(crate) tasks: usize,
    /// Users the operations pick from.
    #[arg(long, default_value_t = 12)]
    pub(crate) users: usize,
    /// Keep going when storage fails (a node of a cluster is down): the
    /// failed operation is logged and the task goes on. Without it, a
    /// storage failure stops the worker.
    #[arg(long)]
    pub(crate) tolerate_outages: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(Box::pin(async {
        let store = args.store.open().await?;
        let users = Arc::new(ensure_users(&store, args.users).await?);
        println!("{READY}");
        let mut tasks = Vec::new();
        for t in 0..args.tasks {
            let store = store.clone();
            let users = users.clone();
            let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(t as u64);
            let tolerate_outages = args.tolerate_outages;
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed);
                loop {
                    match step(&store, &users, &mut rng).await {
                        Ok(()) => {}
                        Err(e) if tolerate_outages => {
                            eprintln!("outage: {e:#}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                #[allow(unreachable_code)]
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(())
    }))
}

async fn ensure_users(store: &DynStore, n: usize) -> anyhow::Result<Vec<User>> {
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        let username = format!("crash_u{i:02}");
        let user = match store.find_user(&username).await {
            Ok(u) => u,
            Err(StoreError::NotFound(_)) => match store
                .create_user(NewUser {
                    username: username.clone(),
                    display_name: None,
                    password: PasswordHash::hash(
                        "crashtest",
                        tidings_storage::password::HashCost::Fast,
                    ),
                })
                .await
            {
                Ok(u) => u,
                // A previous worker was killed between our lookup and its commit.
                Err(StoreError::Conflict(_)) => store.find_user(&username).await?,
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        users.push(user);
    }
    Ok(users)
}

/// An expected refusal (a race between tasks, a random pick that does not
/// apply) is fine; storage failing is not.
fn tolerate<T>(r: Result<T, StoreError>) -> anyhow::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::Unavailable(e)) => Err(anyhow::anyhow!("storage failed: {e}")),
        Err(_) => Ok(None),
    }
}

async fn some_chat(
    store: &DynStore,
    user: UserId,
    rng: &mut StdRng,
) -> anyhow::Result<Option<ChatId>> {
    let page = store
        .list_chats(
            user,
            Cursor {
                limit: Some(20),
                cursor: None,
            },
        )
        .await?;
    if page.items.is_empty() {
        return Ok(None);
    }
    Ok(Some(page.items[rng.gen_range(0..page.items.len())].id))
}

async fn step(store: &DynStore, users: &[User], rng: &mut StdRng) -> anyhow::Result<()> {
    let me = &users[rng.gen_range(0..users.len())];
    let other = &users[rng.gen_range(0..users.len())];
    let w = Write::by(me.id);
    let roll = rng.gen_range(0..100);
    match roll {
        0..=29 => {
            let Some(chat) = some_chat(store, me.id, rng).await? else {
                return create_chat(store, &w, users, rng).await;
            };
            let body = format!("message {}", rng.gen::<u32>());
            if let Some(c) = tolerate(store.post_message(&w, chat, &body).await)? {
                print_acks(&c.deltas);
            }
        }
        30..=47 => {
            let Some(chat) = some_chat(store, me.id, rng).await? else {
                return Ok(());
            };
            let Some(page) = tolerate(store.list_messages(me.id, chat, None, Some(20)).await)?
            else {
                return Ok(());
            };
            let Some(mine) = page.items.iter().find(|m| m.author_id == me.id) else {
                return Ok(());
            };
            let done = if roll < 40 {
                tolerate(store.edit_message(&w, chat, mine.seq, "edited").await)?.map(|c| c.deltas)
            } else {
                tolerate(store.delete_message(&w, chat, mine.seq).await)?.map(|c| c.deltas)
            };
            if let Some(deltas) = done {
                print_acks(&deltas);
            }
        }
        48..=55 => create_chat(store, &w, users, rng).await?,
        56..=61 => {
            if let Some(chat) = some_chat(store, me.id, rng).await? {
                if let Some(c) = tolerate(store.add_member(&w, chat, other.id).await)? {
                    print_acks(&c.deltas);
                }
            }
        }
        62..=67 => {
            if let Some(chat) = some_chat(store, me.id, rng).await? {
                let target = if rng.gen_bool(0.5) { me.id } else { other.id };
                if let Some(c) = tolerate(store.remove_member(&w, chat, target).await)? {
                    print_acks(&c.deltas);
                }
            }
        }
        68..=75 => {
            if let Some(c) = tolerate(store.request_friend(&w, other.id).await)? {
                print_acks(&c.deltas);
            }
        }
        76..=80 => {
            if let Some(c) = tolerate(store.remove_friend(&w, other.id).await)? {
                print_acks(&c.deltas);
            }
        }
        81..=90 => {
            if let Some(c) = tolerate(store.create_post(&w, "a post").await)? {
                print_acks(&c.deltas);
            }
        }
        91..=94 => {
            let page = store.list_posts(me.id, me.id, None, Some(5)).await?;
            if let Some(p) = page.items.first() {
                if let Some(c) = tolerate(store.delete_post(&w, p.id).await)? {
                    print_acks(&c.deltas);
                }
            }
        }
        _ => {
            // An idempotent write and its retry: the retry must answer the
            // same message and emit nothing.
            let Some(chat) = some_chat(store, me.id, rng).await? else {
                return Ok(());
            };
            let key = format!("k{}", rng.gen::<u64>());
            let keyed = w.clone().with_key(key, "crashtest");
            if let Some(first) = tolerate(store.post_message(&keyed, chat, "once").await)? {
                print_acks(&first.deltas);
                let again = store.post_message(&keyed, chat, "once").await?;
                anyhow::ensure!(
                    again.replayed && again.deltas.is_empty(),
                    "replay emitted deltas"
                );
                anyhow::ensure!(again.value == first.value, "replay answered differently");
            }
        }
    }
    Ok(())
}

async fn create_chat(
    store: &DynStore,
    w: &Write,
    users: &[User],
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    let n = rng.gen_range(0..4);
    let member_ids = (0..n)
        .map(|_| users[rng.gen_range(0..users.len())].id)
        .collect();
    if let Some(c) = tolerate(
        store
            .create_chat(
                w,
                NewChat {
                    title: Some("crash".into()),
                    member_ids,
                },
            )
            .await,
    )? {
        print_acks(&c.deltas);
    }
    Ok(())
}
