//! Runs every example with small sizes so none of them can rot, and checks
//! what each one promises: the race demo's JSON, the crash recovery's
//! repaired invariant, the matrix result, the analyzers' reports.
//!
//! `cargo test` builds the examples next to the test binaries; these tests
//! run those binaries.

use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    // Test binaries live in target/<profile>/deps; examples in
    // target/<profile>/examples. A plain `cargo test` builds them; when the
    // tests were selected with `--test`, build the example now.
    let exe = shmsync_support::process::self_exe();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let release = profile_dir.file_name().is_some_and(|p| p == "release");
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--quiet", "--example", name]);
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo build --example");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    assert!(path.exists(), "example binary {} not found", path.display());
    path
}

fn run(name: &str, args: &[&str]) -> Output {
    let output = Command::new(example(name)).args(args).output().expect("run example");
    if !output.status.success() {
        panic!(
            "{name} {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

#[test]
#[cfg_attr(miri, ignore = "runs the example programs")]
fn race_demo_json_reports_no_lost_update_in_synchronized_modes() {
    let out = run("race_demo", &["--procs", "2", "--iters", "20000", "--json"]);
    let json: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("valid JSON on stdout");
    let modes = json["modes"].as_array().expect("a modes array");
    let names: Vec<&str> = modes.iter().map(|m| m["mode"].as_str().expect("mode name")).collect();
    assert_eq!(names, ["unsync", "mutex", "atomic", "sharded", "seqlock"]);
    for m in modes {
        let expected = m["expected"].as_u64().expect("expected");
        let observed = m["observed"].as_u64().expect("observed");
        let lost = m["lost"].as_u64().expect("lost");
        assert_eq!(expected, 2 * 20_000);
        assert_eq!(lost, expected - observed, "lost is expected - observed: {m}");
        assert!(m["ns_per_op"].as_f64().expect("ns_per_op") > 0.0, "{m}");
        if m["mode"] != "unsync" {
            assert_eq!(observed, expected, "a synchronized mode lost updates: {m}");
        } else {
            assert!(observed <= expected, "{m}");
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "runs the example programs")]
fn race_demo_rejects_bad_flags() {
    for args in [&["--procs", "0"][..], &["--modes", "bogus"], &["--iters", "x"], &["--frobnicate"]]
    {
        let out = Command::new(example("race_demo")).args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?} should be a usage error");
        assert!(String::from_utf8_lossy(&out.stderr).contains("error"), "{args:?}");
    }
    let help = run("race_demo", &["--help"]);
    assert!(stdout(&help).contains("--procs"));
}

#[test]
#[cfg_attr(miri, ignore = "runs the example programs")]
fn race_demo_table_has_a_row_and_verdict_per_mode() {
    let out = run("race_demo", &["--procs", "2", "--iters", "5000", "--modes", "mutex,atomic"]);
    let text = stdout(&out);
    assert!(text.contains("| mutex "), "{text}");
    assert!(text.contains("| atomic "), "{text}");
    assert!(!text.contains("| unsync "), "{text}");
    assert_eq!(text.matches("every increment counted").count(), 2, "{text}");
}

#[test]
#[cfg_attr(miri, ignore = "runs the example programs")]
fn crash_recovery_repairs_the_books() {
    let out = run("crash_recovery", &["--transfers", "100"]);
    let text = stdout(&out);
    assert!(text.contains("OwnerDied"), "{text}");
    assert!(text.contains("invariant holds"), "{text}");
}

/// The number after `word` in `line` (`"received 3 readings"`, "received").
fn number_after(line: &str, word: &str) -> u64 {
    let rest = line.split(word).nth(1).unwrap_or_else(|| panic!("no {word:?} in {line:?}"));
    rest.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {word:?} in {line:?}"))
}

/// Runs the sensor analyzer; returns (readings sent, spikes injected, and
/// per analyzer the line it printed).
fn sensor_analyzer(args: &[&str]) -> (u64, u64, String, String) {
    let out = run("sensor_analyzer", args);
    let text = stdout(&out);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
            .to_owned()
    };
    let producer = line("producer: sent");
    let sent = number_after(&producer, "sent");
    let spikes = number_after(&producer, "(");
    (sent, spikes, line("stats:"), line("anomaly:"))
}

/// Both analyzers account for every reading the producer sent (received +
/// lost to lagging); when the anomaly analyzer lost none, it flagged every
/// injected spike.
#[test]
#[cfg_attr(miri, ignore = "runs the example programs")]
fn sensor_analyzers_account_for_every_reading() {
    let (sent, spikes, stats, anomaly) = sensor_analyzer(&["--secs", "1", "--rate", "2000"]);
    assert!(sent > 0);
    for line in [&stats, &anomaly] {
        let (received, lost) = (number_after(line, "received"), number_after(line, "lost"));
        assert_eq!(received + lost, sent, "{line}");
        assert!(received > 0, "{line}");
    }
    if number_after(&anomaly, "lost") == 0 {
        assert_eq!(number_after(&anomaly, "flagged"), spikes, "{anomaly}");
    }
}

/// An anomaly analyzer four times slower than the sensor falls more than
/// the ring's 1024 readings behind within a second: it reports the
/// readings it lost, and still accounts for all of them.
#[test]
#[cfg_attr(miri, ignore = "runs the example programs")]
fn a_slow_sensor_analyzer_reports_what_it_lost() {
    let (sent, _, stats, anomaly) =
        sensor_analyzer(&["--secs", "1", "--rate", "4000", "--work-us", "1000"]);
    let (received, lost) = (number_after(&anomaly, "received"), number_after(&anomaly, "lost"));
    assert!(lost > 0, "{anomaly}");
    assert_eq!(received + lost, sent, "{anomaly}");
    assert_eq!(number_after(&stats, "received") + number_after(&stats, "lost"), sent, "{stats}");
}

#[test]
#[cfg_attr(miri, ignore = "runs the example programs")]
fn sensor_analyzer_rejects_bad_flags() {
    for args in [&["--rate", "0"][..], &["--secs", "x"], &["--work-us", "-1"]] {
        let out = Command::new(example("sensor_analyzer")).args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?} should be a usage error");
    }
}

#[test]
#[cfg_attr(miri, ignore = "runs the example programs")]
fn matrix_square_verifies_and_measures_memory() {
    let out = run("matrix_square", &["--size", "300", "--procs", "3"]);
    let text = stdout(&out);
    assert!(text.contains("all 90000 elements squared correctly"), "{text}");
    let shmem: u64 = text
        .lines()
        .find(|l| l.contains("Pss_Shmem"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("a Pss_Shmem figure");
    // The matrix is 300*300*8 bytes = 703 KiB; its PSS summed over all
    // processes counts it about once, not once per process.
    assert!(shmem >= 600, "{text}");
    assert!(shmem < 4 * 703, "shared memory counted per process: {text}");
}
