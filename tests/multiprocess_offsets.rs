//! Offsets stay gap-free and duplicate-free when several processes write
//! one chat through one SQLite file at once.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;

use tidings_storage::conformance::{new_user, DynStore};
use tidings_storage::{NewChat, SqliteConfig, SqliteStore, Topic, Write};

const PROCESSES: usize = 4;
const EACH: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_a_file_get_gap_free_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let store: DynStore = Arc::new(SqliteStore::open(SqliteConfig::in_dir(dir.path())).unwrap());
    let mut users = Vec::new();
    for _ in 0..PROCESSES {
        users.push(new_user(&store, "mp").await);
    }
    let chat = store
        .create_chat(
            &Write::by(users[0].id),
            NewChat {
                title: None,
                member_ids: users.iter().map(|u| u.id).collect(),
            },
        )
        .await
        .unwrap()
        .value;

    let children: Vec<_> = users
        .iter()
        .map(|u| {
            Command::new(env!("CARGO_BIN_EXE_tidings"))
                .args(["write-burst", "--chat", &chat.id.to_string()])
                .args(["--user", &u.id.to_string(), "--count", &EACH.to_string()])
                .arg("--data")
                .arg(dir.path())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut acked = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(json) = line.strip_prefix("ack ") {
                let v: serde_json::Value = serde_json::from_str(json).unwrap();
                acked.push(v["offset"].as_u64().unwrap());
            }
        }
    }
    let total = PROCESSES * EACH;
    assert_eq!(acked.len(), total);
    let unique: BTreeSet<u64> = acked.iter().copied().collect();
    assert_eq!(unique.len(), total, "no offset was handed out twice");
    assert_eq!(unique, (1..=total as u64).collect(), "no gaps");

    let mut after = 0;
    let mut seqs = BTreeSet::new();
    loop {
        let page = store
            .read_events(Topic::Chat(chat.id), after, Some(200))
            .await
            .unwrap();
        if page.items.is_empty() {
            break;
        }
        for d in &page.items {
            assert_eq!(d.offset, after + 1);
            after = d.offset;
            seqs.insert(d.data["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(after, total as u64);
    assert_eq!(
        seqs,
        (1..=total as u64).collect(),
        "message seqs are gap-free too"
    );
    assert!(store.check().await.unwrap().is_empty());
}
