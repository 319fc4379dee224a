//! `write-burst`: one process posting a run of messages to one chat, printing
//! each acknowledged delta; several of these at once prove offsets stay
//! gap-free across processes sharing a store.

use tidings_storage::{ChatId, UserId, Write};

use super::report::{print_acks, READY};
use crate::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[arg(long)]
    pub(crate) chat: u64,
    #[arg(long)]
    pub(crate) user: u64,
    #[arg(long, default_value_t = 100)]
    pub(crate) count: usize,
    /// Concurrent in-flight posts from this process.
    #[arg(long, default_value_t = 4)]
    pub(crate) tasks: usize,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(Box::pin(async {
        let store = args.store.open().await?;
        println!("{READY}");
        let mut tasks = Vec::new();
        for t in 0..args.tasks {
            let store = store.clone();
            let n = args.count / args.tasks + usize::from(t < args.count % args.tasks);
            let (chat, user) = (ChatId(args.chat), UserId(args.user));
            tasks.push(tokio::spawn(async move {
                for i in 0..n {
                    let c = store
                        .post_message(&Write::by(user), chat, &format!("burst {t}/{i}"))
                        .await?;
                    print_acks(&c.deltas);
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(())
    }))
}
