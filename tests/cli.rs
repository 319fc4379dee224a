//! The operator commands: `migrate` is idempotent and `check` reports.

use std::process::Command;

fn tidings(args: &[&str], data: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn migrate_is_idempotent_and_check_passes_on_a_fresh_store() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = tidings(&["migrate"], dir.path());
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("schema version 1"), "{text}");
    }
    let out = tidings(&["check"], dir.path());
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 violation(s)"));
}

#[test]
fn check_reports_violations_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    assert!(tidings(&["migrate"], dir.path()).status.success());
    let db = dir.path().join("tidings.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "INSERT INTO topics (topic, head) VALUES ('user:1', 3);
         INSERT INTO friendships VALUES (1, 2, 'friends', 0);",
    )
    .unwrap();
    drop(conn);
    let out = tidings(&["check"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("violation offset_gap"), "{text}");
    assert!(text.contains("violation friendship_asymmetric"), "{text}");
}

#[test]
fn check_refuses_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let out = tidings(&["check"], &dir.path().join("nope"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store at"));
}
