//! The `shmsync` command run as a user runs it, against segments made by
//! other processes: this test binary re-executed as a child that creates
//! a segment (and perhaps takes its lock), announces it, and waits to be
//! SIGKILLed.
//!
//! `gc` removes every stale segment of the host, so every test here keeps
//! its segments open while it looks at them, except under `STALE`, which
//! the `gc` test holds too.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use shmsync::inspect::{self, Removal};
use shmsync_support::{self as support, ChildProcess};

use shmsync::{
    AtomicCounter, Error, LockError, Segment, SeqLock, ShardedCounter, ShmCondvar, ShmMutex,
    ShmSafe,
};

/// What the children make.
#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    lock: ShmMutex<u64>,
    hits: AtomicCounter,
}

/// How long a child may take to reach a point.
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

/// Held while a test has a segment nobody has open, and by the test that
/// runs `gc`, which would remove it.
static STALE: Mutex<()> = Mutex::new(());

fn stale_lock() -> MutexGuard<'static, ()> {
    STALE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The child roles; in the test run itself, an empty test. Each role is
/// given the name of the segment it makes.
#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let name = &args[0];
        match role {
            // Creates the segment, keeps it open, and waits.
            "keep_open" => {
                let _seg = Segment::<Shared>::create(name).expect("create");
                support::reached("created");
                support::park_forever();
            }
            // Counts 42 hits, takes the lock, leaks the guard, and waits.
            "hold_lock" => {
                let seg = Segment::<Shared>::create(name).expect("create");
                seg.hits.add(42);
                let Ok(guard) = seg.lock.lock() else { panic!("a fresh mutex is free") };
                std::mem::forget(guard);
                support::reached("locked");
                support::park_forever();
            }
            // Waits in the middle of creating the segment.
            "stuck_initializing" => {
                let _never = Segment::<Shared>::create_with(name, |_| {
                    support::reached("initializing");
                    support::park_forever();
                });
                unreachable!("the initializer never returns");
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// Starts this test binary as a child playing `role` on segment `name`;
/// it is SIGKILLed and reaped when dropped.
fn spawn_child(role: &str, name: &str) -> ChildProcess {
    support::spawn("child_entry", role, &[name])
}

/// What every name these tests make starts with: `gc` is limited to it, so
/// that running the tests never removes a user's own stale segments.
const TEST_PREFIX: &str = "shmsync-cli-test-";

/// A unique segment name for this test run, under [`TEST_PREFIX`].
fn unique_name(tag: &str) -> String {
    support::names::unique_name_with(TEST_PREFIX, tag)
}

/// Removes the segment `name`, if it is still there, when dropped.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = inspect::remove(&self.0, Removal::Force);
    }
}

/// A file in /dev/shm that is not a shmsync segment, removed when dropped.
struct Foreign {
    name: String,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Foreign {
    /// `bytes` in a new file.
    fn with(bytes: Vec<u8>) -> Foreign {
        let name = unique_name("foreign");
        let path = PathBuf::from("/dev/shm").join(&name);
        std::fs::write(&path, &bytes).expect("write a file in /dev/shm");
        Foreign { name, path, bytes }
    }

    /// 4096 random bytes.
    fn random() -> Foreign {
        use std::io::Read;
        let mut bytes = vec![0u8; 4096];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .expect("read /dev/urandom");
        // Not shmsync's magic, whatever the draw.
        bytes[0] = b'X';
        Foreign::with(bytes)
    }

    /// Whether it is still there, unchanged.
    fn intact(&self) -> bool {
        std::fs::read(&self.path).is_ok_and(|b| b == self.bytes)
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn shmsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shmsync")).args(args).output().expect("run shmsync")
}

/// Standard output of a run that must succeed.
fn success(args: &[&str]) -> String {
    let out = shmsync(args);
    assert!(
        out.status.success(),
        "shmsync {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The JSON a run that must succeed prints.
fn json(args: &[&str]) -> Value {
    let text = success(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("shmsync {args:?}: {e}:\n{text}"))
}

/// A run that must fail with exit status `code` and one line on stderr
/// starting `shmsync: `; returns that line.
fn failure(args: &[&str], code: i32) -> String {
    let out = shmsync(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "shmsync {args:?}\nstderr:\n{stderr}");
    assert!(out.stdout.is_empty(), "shmsync {args:?} printed {:?}", out.stdout);
    assert!(
        stderr.starts_with("shmsync: ") && stderr.lines().count() == 1,
        "shmsync {args:?}: stderr is not one message line:\n{stderr}"
    );
    stderr
}

/// The segment `name` in `list --json` output, if listed.
fn listed<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array().expect("list --json is an array").iter().find(|s| s["name"] == name)
}

/// The field at `path` in `inspect --json` output.
fn field<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["fields"]
        .as_array()
        .expect("fields is an array")
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no field {path:?} in {report:#}"))
}

/// The names in `gc --json` output.
fn names(gc: &Value) -> Vec<&str> {
    gc.as_array()
        .expect("gc --json is an array")
        .iter()
        .map(|n| n.as_str().expect("gc --json lists names"))
        .collect()
}

/// The cell of `table` (text with a header line) in column `column`, on
/// the row whose first cell is `first`. Columns start where their header
/// does; cells may contain spaces.
fn cell(table: &str, first: &str, column: &str) -> String {
    let header: Vec<char> = table.lines().next().expect("a header line").chars().collect();
    let header_text: String = header.iter().collect();
    let start = header_text[..header_text.find(column).expect("the column")].chars().count();
    let end = (start..header.len())
        .find(|&i| header[i] == ' ' && header.get(i + 1).is_some_and(|c| *c != ' '))
        .map_or(usize::MAX, |i| i + 1);
    let line: Vec<char> = row(table, first).chars().collect();
    line[start.min(line.len())..end.min(line.len())].iter().collect::<String>().trim().to_owned()
}

/// The line of a table whose first column is `first`.
fn row<'a>(text: &'a str, first: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no line for {first:?} in:\n{text}"))
}

fn exists(name: &str) -> bool {
    PathBuf::from("/dev/shm").join(name).exists()
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn list_shows_a_segment_another_process_created_with_its_type() {
    let name = unique_name("list");
    let _cleanup = Cleanup(name.clone());
    let mut child = spawn_child("keep_open", &name);
    child.wait_for("created", CHILD_DEADLINE);

    let all = json(&["list", "--json"]);
    let mine = listed(&all, &name).unwrap_or_else(|| panic!("{name} not in {all:#}"));
    assert_eq!(mine["type_name"], "Shared");
    assert_eq!(mine["state"], "ready");
    assert_eq!(mine["attached"], true);
    assert_eq!(mine["creator_pid"], child.pid());

    let table = success(&["list"]);
    assert!(table.starts_with("NAME "), "{table}");
    let columns: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(columns, ["NAME", "TYPE", "SIZE", "MODE", "UID", "PID", "STATE", "ATTACHED", "AGE"]);
    assert_eq!(cell(&table, &name, "TYPE"), "Shared");
    assert!(cell(&table, &name, "SIZE").ends_with('B'), "{table}");
    assert_eq!(cell(&table, &name, "MODE"), "0600");
    assert_eq!(cell(&table, &name, "PID"), child.pid().to_string());
    assert_eq!(cell(&table, &name, "STATE"), "ready");
    assert_eq!(cell(&table, &name, "ATTACHED"), "yes");
    assert!(cell(&table, &name, "AGE").ends_with('s'), "{table}");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn list_never_shows_a_file_that_is_not_a_segment() {
    let random = Foreign::random();
    let empty = Foreign::with(Vec::new());
    let near_miss = Foreign::with(b"SHMSYNC!and more bytes after a wrong magic".to_vec());
    let name = unique_name("list-mine");
    let _seg = Segment::<Shared>::create(&name).expect("create");

    let all = json(&["list", "--json"]);
    assert!(listed(&all, &name).is_some(), "the segment is listed");
    let table = success(&["list"]);
    assert!(table.lines().any(|l| l.starts_with(&format!("{name} "))), "{table}");
    for foreign in [&random, &empty, &near_miss] {
        assert!(listed(&all, &foreign.name).is_none(), "{} listed: {all:#}", foreign.name);
        assert!(!table.contains(&foreign.name), "{} listed:\n{table}", foreign.name);
        assert!(foreign.intact());
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn inspect_shows_the_lock_of_a_live_holder_then_of_a_sigkilled_one() {
    let name = unique_name("inspect");
    let _cleanup = Cleanup(name.clone());
    let mut child = spawn_child("hold_lock", &name);
    child.wait_for("locked", CHILD_DEADLINE);
    // Open, so that the segment stays in use after the child dies.
    let seg = Segment::<Shared>::open(&name).expect("open");

    let report = json(&["inspect", &name, "--json"]);
    assert_eq!(report["name"], name.as_str());
    assert_eq!(report["type_name"], "Shared");
    assert_eq!(report["creator_pid"], child.pid());
    let lock = field(&report, "lock");
    assert_eq!(lock["kind"], "mutex");
    assert_eq!(lock["state"], "locked");
    assert_eq!(lock["owner_alive"], true);
    assert_eq!(lock["waiters"], false);
    let tid = lock["owner_tid"].as_u64().expect("a held lock names its owner's thread");
    assert_ne!(tid, 0);
    let hits = field(&report, "hits");
    assert_eq!(hits["kind"], "atomic_counter");
    assert_eq!(hits["value"], 42);

    let text = success(&["inspect", &name]);
    assert!(row(&text, "name:").ends_with(&name), "{text}");
    assert!(row(&text, "type:").ends_with("Shared"), "{text}");
    assert!(row(&text, "lock").ends_with(&format!("locked by tid {tid} (owner alive)")), "{text}");
    assert!(row(&text, "hits").ends_with("value 42"), "{text}");

    child.kill();
    let lock = field(&json(&["inspect", &name, "--json"]), "lock").clone();
    assert_eq!(lock["state"], "locked");
    assert_eq!(lock["owner_alive"], false);
    let text = success(&["inspect", &name]);
    assert!(row(&text, "lock").ends_with("(owner dead)"), "{text}");

    // The next locker is told, and holds it until it repairs: owner_died.
    let guard = match seg.lock.lock() {
        Err(LockError::OwnerDied(guard)) => guard,
        Ok(_) => panic!("the lock was free"),
        Err(e) => panic!("{e}"),
    };
    let lock = field(&json(&["inspect", &name, "--json"]), "lock").clone();
    assert_eq!(lock["state"], "owner_died");
    assert_eq!(lock["owner_alive"], true);
    // Dropped without a repair: nobody can lock it again.
    drop(guard);
    let lock = field(&json(&["inspect", &name, "--json"]), "lock").clone();
    assert_eq!(lock["state"], "not_recoverable");
    assert_eq!(lock["owner_alive"], Value::Null);
    assert_eq!(lock["owner_tid"], Value::Null);
    let text = success(&["inspect", &name]);
    assert!(row(&text, "lock").ends_with("not_recoverable"), "{text}");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn gc_dry_run_lists_only_stale_segments_and_gc_removes_exactly_those() {
    let _stale = stale_lock();
    let killed = unique_name("gc-killed");
    let stuck = unique_name("gc-stuck");
    let live = unique_name("gc-live");
    let _cleanup = [&killed, &stuck, &live].map(|n| Cleanup(n.clone()));
    let foreign = Foreign::random();
    let mut killed_creator = spawn_child("keep_open", &killed);
    let mut stuck_creator = spawn_child("stuck_initializing", &stuck);
    let mut live_holder = spawn_child("keep_open", &live);
    killed_creator.wait_for("created", CHILD_DEADLINE);
    stuck_creator.wait_for("initializing", CHILD_DEADLINE);
    live_holder.wait_for("created", CHILD_DEADLINE);

    let all = json(&["list", "--json"]);
    assert_eq!(listed(&all, &stuck).expect("listed")["state"], "initializing");
    let would = json(&["gc", "--dry-run", "--json", "--prefix", TEST_PREFIX]);
    for name in [&killed, &stuck, &live, &foreign.name] {
        assert!(!names(&would).contains(&name.as_str()), "{name} in {would}");
    }

    killed_creator.kill();
    stuck_creator.kill();
    let all = json(&["list", "--json"]);
    assert_eq!(listed(&all, &killed).expect("listed")["attached"], false);
    assert_eq!(listed(&all, &stuck).expect("listed")["state"], "creator_died");
    let report = json(&["inspect", &stuck, "--json"]);
    assert_eq!(report["state"], "creator_died");
    assert_eq!(report["fields"], Value::Array(Vec::new()));
    assert!(report["field_map_problem"].is_string(), "{report:#}");
    let text = success(&["inspect", &stuck]);
    assert!(row(&text, "state:").ends_with("creator_died"), "{text}");
    assert!(text.contains("fields not shown: "), "{text}");

    let would = json(&["gc", "--dry-run", "--json", "--prefix", TEST_PREFIX]);
    assert!(names(&would).contains(&killed.as_str()), "{would}");
    assert!(names(&would).contains(&stuck.as_str()), "{would}");
    assert!(!names(&would).contains(&live.as_str()), "{would}");
    assert!(!names(&would).contains(&foreign.name.as_str()), "{would}");
    let text = success(&["gc", "--dry-run", "--prefix", TEST_PREFIX]);
    assert!(text.lines().any(|l| l == format!("would remove {killed}")), "{text}");
    assert!(exists(&killed) && exists(&stuck), "a dry run removes nothing");

    let removed = json(&["gc", "--json", "--prefix", TEST_PREFIX]);
    assert!(names(&removed).contains(&killed.as_str()), "{removed}");
    assert!(names(&removed).contains(&stuck.as_str()), "{removed}");
    assert!(!names(&removed).contains(&live.as_str()), "{removed}");
    assert!(!names(&removed).contains(&foreign.name.as_str()), "{removed}");
    assert!(!exists(&killed) && !exists(&stuck));
    assert!(exists(&live));
    assert!(foreign.intact());
    let all = json(&["list", "--json"]);
    assert!(listed(&all, &killed).is_none() && listed(&all, &stuck).is_none());
    assert_eq!(listed(&all, &live).expect("listed")["attached"], true);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn rm_refuses_a_segment_in_use_and_force_removes_it() {
    let name = unique_name("rm");
    let _cleanup = Cleanup(name.clone());
    let seg = Segment::<Shared>::options().unlink_on_drop(false).create(&name).expect("create");

    let message = failure(&["rm", &name], 1);
    assert!(message.contains("in use") && message.contains("--force"), "{message}");
    assert!(exists(&name));
    assert!(Segment::<Shared>::open(&name).is_ok(), "still usable by name");

    assert_eq!(success(&["rm", "--force", &name]), format!("removed {name}\n"));
    assert!(matches!(Segment::<Shared>::open(&name), Err(Error::NotFound { .. })));
    failure(&["inspect", &name], 1);
    // Its users keep their mapping.
    seg.hits.incr();
    assert_eq!(seg.hits.get(), 1);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn rm_removes_a_segment_nobody_has_open() {
    let _stale = stale_lock();
    let name = unique_name("rm-unused");
    let _cleanup = Cleanup(name.clone());
    drop(Segment::<Shared>::options().unlink_on_drop(false).create(&name).expect("create"));
    assert!(exists(&name));
    // A leading '/' is allowed, as in the library.
    assert_eq!(success(&["rm", &format!("/{name}")]), format!("removed {name}\n"));
    assert!(!exists(&name));
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn usage_errors_exit_2() {
    for args in
        [&["frobnicate"][..], &[], &["list", "--bogus"], &["inspect"], &["rm"], &["gc", "extra"]]
    {
        let out = shmsync(args);
        assert_eq!(out.status.code(), Some(2), "shmsync {args:?}");
        assert!(!out.stderr.is_empty(), "shmsync {args:?} says why");
    }
    let message = failure(&["inspect", "no spaces allowed"], 2);
    assert!(message.contains("invalid segment name"), "{message}");
    assert!(success(&["--help"]).contains("Usage: shmsync"));
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_missing_segment_exits_1() {
    let name = unique_name("missing");
    for args in [["rm", &name], ["inspect", &name]] {
        let message = failure(&args, 1);
        assert!(message.contains("no segment named"), "{message}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_file_that_is_not_a_segment_exits_1_and_stays() {
    let foreign = Foreign::random();
    let message = failure(&["inspect", &foreign.name], 1);
    assert!(message.contains("not a shmsync segment"), "{message}");
    failure(&["rm", &foreign.name], 1);
    failure(&["rm", "--force", &foreign.name], 1);
    assert!(foreign.intact());
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn list_json_has_the_documented_keys_and_types() {
    let name = unique_name("list-json");
    let seg = Segment::<Shared>::create(&name).expect("create");
    let all = json(&["list", "--json"]);
    let s = listed(&all, &name).expect("listed");
    let keys: Vec<&str> = s.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "age_seconds",
            "attached",
            "creator_pid",
            "element_count",
            "element_size",
            "mode",
            "name",
            "size",
            "state",
            "type_name",
            "uid",
            "unlink_when_unused",
            "version"
        ]
    );
    assert!(!s["name"].as_str().unwrap().starts_with('/'));
    assert_eq!(s["type_name"], "Shared");
    assert!(s["version"].as_u64().is_some());
    assert!(s["size"].as_u64().unwrap() >= 256 + std::mem::size_of::<Shared>() as u64);
    assert_eq!(s["mode"], 0o600);
    assert!(s["uid"].as_u64().is_some());
    assert_eq!(s["creator_pid"], std::process::id());
    assert_eq!(s["state"], "ready");
    assert_eq!(s["attached"], true);
    assert!(s["age_seconds"].as_u64().is_some_and(|age| age < 3600), "{s}");
    assert_eq!(s["element_count"], 1);
    assert_eq!(s["element_size"], std::mem::size_of::<Shared>());
    assert_eq!(s["unlink_when_unused"], false);
    drop(seg);
}

/// One of every kind.
#[derive(ShmSafe)]
#[repr(C)]
struct Everything {
    lock: ShmMutex<u64>,
    hits: AtomicCounter,
    shards: ShardedCounter,
    latest: SeqLock<u64>,
    ready: ShmCondvar,
    gauge: AtomicI64,
    slots: [AtomicU32; 2],
    plain: u64,
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn inspect_json_has_the_documented_keys_for_every_kind() {
    let name = unique_name("inspect-json");
    let seg = Segment::<Everything>::create(&name).expect("create");
    seg.hits.add(7);
    seg.shards.add(5);
    seg.shards.add(6);
    seg.latest.write(1).expect("write");
    seg.latest.write(2).expect("write");
    seg.gauge.store(-3, Ordering::Relaxed);
    seg.slots[1].store(4, Ordering::Relaxed);

    let report = json(&["inspect", &name, "--json"]);
    for key in [
        "name",
        "type_name",
        "version",
        "size",
        "state",
        "attached",
        "element_count",
        "element_size",
        "creator_pid",
        "fields",
        "fields_left_out",
    ] {
        assert!(report.get(key).is_some_and(|v| !v.is_null()), "no {key} in {report:#}");
    }
    assert_eq!(report["name"], name.as_str());
    assert_eq!(report["type_name"], "Everything");
    assert_eq!(report["state"], "ready");
    assert_eq!(report["fields_left_out"], 0);
    assert_eq!(report["field_map_problem"], Value::Null);

    let paths: Vec<&str> = report["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().expect("a path"))
        .collect();
    assert_eq!(
        paths,
        [
            "lock",
            "lock.data",
            "hits",
            "shards",
            "latest",
            "ready",
            "gauge",
            "slots",
            "slots[0]",
            "slots[1]",
            "plain"
        ]
    );
    for f in report["fields"].as_array().unwrap() {
        assert!(f["kind"].is_string() && f["type_name"].is_string(), "{f}");
        for key in ["offset", "size", "len"] {
            assert!(f[key].is_u64(), "{key} in {f}");
        }
        assert!(f.get("problem").is_none(), "{f}");
    }

    let lock = field(&report, "lock");
    assert_eq!((&lock["kind"], &lock["type_name"]), (&"mutex".into(), &"ShmMutex".into()));
    assert_eq!(lock["state"], "unlocked");
    assert_eq!(lock["owner_alive"], Value::Null);
    assert_eq!(lock["waiters"], false);
    assert_eq!(lock["owner_tid"], Value::Null);
    assert_eq!(field(&report, "lock.data")["kind"], "plain");
    assert_eq!(field(&report, "lock.data")["type_name"], "u64");
    let hits = field(&report, "hits");
    assert_eq!((&hits["kind"], &hits["value"]), (&"atomic_counter".into(), &7.into()));
    let shards = field(&report, "shards");
    assert_eq!((&shards["kind"], &shards["value"]), (&"sharded_counter".into(), &11.into()));
    let latest = field(&report, "latest");
    assert_eq!((&latest["kind"], &latest["version"]), (&"seqlock".into(), &2.into()));
    assert_eq!(latest["writer"]["state"], "unlocked");
    assert_eq!(latest["writer"]["owner_alive"], Value::Null);
    assert_eq!(latest["writer"]["waiters"], false);
    assert!(latest.get("value").is_none(), "a seqlock's value is not read");
    assert_eq!(field(&report, "ready")["kind"], "condvar");
    let gauge = field(&report, "gauge");
    assert_eq!((&gauge["kind"], &gauge["value"]), (&"atomic".into(), &(-3).into()));
    let slots = field(&report, "slots");
    assert_eq!((&slots["kind"], &slots["len"]), (&"array".into(), &2.into()));
    assert_eq!(field(&report, "slots[1]")["value"], 4);
    assert_eq!(field(&report, "plain")["kind"], "plain");

    let text = success(&["inspect", &name]);
    assert!(row(&text, "lock").ends_with("unlocked"), "{text}");
    assert!(row(&text, "shards").ends_with("value 11"), "{text}");
    assert!(row(&text, "latest").ends_with("version 2, writer unlocked"), "{text}");
    assert!(row(&text, "gauge").ends_with("value -3"), "{text}");
    assert!(row(&text, "slots[1]").ends_with("value 4"), "{text}");
    drop(seg);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn inspect_shows_a_slices_element_type_and_length() {
    let name = unique_name("slice");
    let seg = Segment::<[AtomicU64]>::create_slice(&name, 3).expect("create");
    seg[1].store(5, Ordering::Relaxed);

    let report = json(&["inspect", &name, "--json"]);
    assert_eq!(report["type_name"], "[AtomicU64]");
    assert_eq!(report["element_count"], 3);
    assert_eq!(report["element_size"], 8);
    let root = &report["fields"][0];
    assert_eq!(root["path"], "");
    assert_eq!(root["kind"], "array");
    assert_eq!(root["len"], 3);
    assert_eq!(field(&report, "[1]")["value"], 5);
    assert_eq!(field(&report, "[1]")["type_name"], "AtomicU64");

    let text = success(&["inspect", &name]);
    assert!(row(&text, "type:").ends_with("[AtomicU64] × 3"), "{text}");
    assert!(row(&text, "elements:").ends_with("3 × 8 bytes"), "{text}");
    let fields = &text[text.find("PATH").expect("a field table")..];
    assert_eq!(cell(fields, "(payload)", "KIND"), "array");
    assert_eq!(cell(fields, "(payload)", "STATE"), "3 elements");
    assert_eq!(cell(fields, "[1]", "STATE"), "value 5");
    assert_eq!(cell(fields, "[1]", "TYPE"), "AtomicU64");
    let table = success(&["list"]);
    assert_eq!(cell(&table, &name, "TYPE"), "[AtomicU64] × 3");

    // One element: still a slice.
    let one = unique_name("slice-one");
    let _one = Segment::<[f64]>::create_slice(&one, 1).expect("create");
    let text = success(&["inspect", &one]);
    assert!(row(&text, "type:").ends_with("[f64] × 1"), "{text}");
    drop(seg);
}

/// A reader-writer lock and a semaphore, for their `inspect` keys.
#[derive(ShmSafe)]
#[repr(C)]
struct Gates {
    table: shmsync::ShmRwLock<u64>,
    pool: shmsync::ShmSemaphore,
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn inspect_shows_an_rwlocks_readers_and_a_semaphores_permits() {
    let name = unique_name("inspect-gates");
    let seg = Segment::<Gates>::create_with(&name, |g| g.pool = shmsync::ShmSemaphore::new(3))
        .expect("create");
    let reads = (seg.table.read().ok(), seg.table.read().ok());
    let permit = seg.pool.acquire();

    let report = json(&["inspect", &name, "--json"]);
    let table = field(&report, "table");
    assert_eq!((&table["kind"], &table["type_name"]), (&"rwlock".into(), &"ShmRwLock".into()));
    assert_eq!(table["writer"]["state"], "unlocked");
    assert_eq!((&table["readers"], &table["reader_processes"]), (&2.into(), &1.into()));
    assert_eq!(table["reader_processes_dead"], 0);
    assert_eq!(field(&report, "table.data")["type_name"], "u64");
    let pool = field(&report, "pool");
    assert_eq!(pool["kind"], "semaphore");
    for (key, value) in [("total", 3), ("in_use", 1), ("available", 2), ("holder_processes", 1)] {
        assert_eq!(pool[key], value, "{key} in {pool}");
    }
    assert_eq!(pool["holder_processes_dead"], 0);

    let text = success(&["inspect", &name]);
    assert!(
        row(&text, "table").ends_with("writer unlocked, 2 read shares in 1 processes"),
        "{text}"
    );
    assert!(
        row(&text, "pool").ends_with("2 of 3 permits available, 1 held by 1 processes"),
        "{text}"
    );
    drop((reads, permit));
}
