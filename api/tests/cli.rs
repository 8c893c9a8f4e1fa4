//! The `cascade` command line, run as an operator would.

use std::process::{Command, Output};

struct Cli {
    database: std::path::PathBuf,
}

impl Cli {
    fn new() -> Self {
        let database =
            std::env::temp_dir().join(format!("cascade-cli-{}.db", uuid::Uuid::new_v4()));
        Self { database }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cascade"))
            .args(args)
            .env(
                "CASCADE_DATABASE_URL",
                format!("sqlite://{}?mode=rwc", self.database.display()),
            )
            .env("CASCADE_LOG", "warn")
            .output()
            .expect("run cascade")
    }

    fn stdout(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cascade {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.database.display()));
        }
    }
}

#[test]
fn keys_are_created_with_the_secret_alone_on_the_last_line_then_listed_and_revoked() {
    let cli = Cli::new();
    let out = cli.stdout(&[
        "keys",
        "create",
        "--role",
        "coordinator",
        "--name",
        "Board reports",
    ]);
    let secret = out.lines().last().expect("a last line");
    assert!(
        secret.starts_with("cas_") && !secret.contains(' '),
        "last line: {secret}"
    );

    let listed = cli.stdout(&["keys", "list"]);
    let row = listed
        .lines()
        .find(|l| l.contains("Board reports"))
        .expect("key listed");
    assert!(
        row.contains("coordinator") && row.contains("live"),
        "row: {row}"
    );
    assert!(!listed.contains(secret), "list never shows secrets");

    let id = row.split_whitespace().next().expect("id column");
    cli.stdout(&["keys", "revoke", id]);
    let listed = cli.stdout(&["keys", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(id) && l.contains("revoked"))
    );
}

#[test]
fn a_key_with_the_wrong_binding_is_refused_with_a_reason() {
    let cli = Cli::new();
    let out = cli.run(&["keys", "create", "--role", "partner", "--name", "HR"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("organisation_id"));
}

#[test]
fn demo_data_loads_once_and_prints_its_key_once() {
    let cli = Cli::new();
    let first = cli.stdout(&["demo"]);
    assert!(
        first.lines().last().is_some_and(|l| l.starts_with("cas_")),
        "first load: {first}"
    );
    let second = cli.stdout(&["demo"]);
    assert!(
        !second.contains("cas_"),
        "a second load prints no key: {second}"
    );
}

#[test]
fn the_openapi_command_prints_the_committed_document() {
    let cli = Cli::new();
    let printed = cli.stdout(&["openapi"]);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .expect("committed document");
    assert!(
        printed == committed,
        "run `cargo run -q -p cascade -- openapi > openapi/openapi.json`"
    );
}

/// The booking benchmark runs end to end and its correctness checks hold (its numbers are not
/// judged here: speed is read from its output, never asserted).
#[test]
fn the_booking_benchmark_runs_and_checks_for_overbooking() {
    let cli = Cli::new();
    let out = cli.stdout(&["bench", "booking", "--sessions", "5", "--requests", "40"]);
    assert!(out.contains("checked: no session overbooked"), "{out}");
    assert!(out.contains("of the limit"), "{out}");
}
