//! Crash proof: SIGKILL a writer process at random moments (200 times by
//! default, `TIDINGS_CRASH_KILLS` to change), then the invariant checker must
//! find nothing and every acknowledged delta must still be in the log.

use std::process::Command;

#[test]
fn sigkilled_writers_leave_no_half_written_data() {
    let dir = tempfile::tempdir().unwrap();
    let kills = std::env::var("TIDINGS_CRASH_KILLS").unwrap_or_else(|_| "200".into());
    let out = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["crashtest", "--quiet", "--kills", &kills, "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "crashtest failed");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("crashtest:"))
        .expect("summary line");
    assert!(summary.contains(" 0 lost, 0 violation(s)"), "{summary}");
    assert!(
        !summary.contains(" 0 acknowledged deltas"),
        "the workers must have committed something: {summary}"
    );

    let check = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(["check", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(report.contains(": 0 violation(s)"), "{report}");
}
