#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! kill -9 while writers are accepting: nothing acknowledged is lost, nothing is duplicated,
//! nothing is half-written (STYLE P12, DESIGN "Durable before ack").
//!
//! The test binary is its own child: the parent re-runs this very test with `STORE_CRASH_CHILD`
//! set to the store directory; the child accepts messages from several threads and prints each
//! id only after `accept` (or `inbox_ack`) returned Ok. The parent reads those lines, kills the
//! child with SIGKILL mid-stream, and does that three times on the same directory before checking.
//!
//! A process kill leaves the kernel's page cache intact, so this checks the store's own
//! guarantees (flush before return, atomic transactions, recovery), not power-loss durability
//! (see the `store` module docs on sled's `sync_file_range`).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lienthong::store::{
    Accept, AcceptOutcome, AckOutcome, MessageId, MessageMeta, Origin, SledStore, Store,
    StoreLimits,
};

const CHILD_ENV: &str = "STORE_CRASH_CHILD";
const TEST_NAME: &str = "kill9_during_accepts_loses_and_duplicates_nothing";
const WRITERS: usize = 4;
const PER_ROUND: usize = 300;
const ROUNDS: usize = 3;
const INBOX: &str = "HU.CHAUTHANH";
const PEER: &str = "TU.BENTRE";

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bytes of a message are a function of its id, so the parent can check them.
fn body_of(id: &MessageId) -> Vec<u8> {
    let filler = "Văn bản thử nghiệm. ".repeat(100);
    format!("<edXMLEnvelope id=\"{id}\">{filler}</edXMLEnvelope>").into_bytes()
}

fn child(dir: &Path) -> ! {
    let store = SledStore::open(dir, StoreLimits::default()).unwrap();
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                // Bounded, in case the parent is gone: never loop forever.
                let stop = Instant::now() + Duration::from_secs(60);
                let mut n = 0u64;
                while Instant::now() < stop {
                    n += 1;
                    let id = MessageId::random().unwrap();
                    let bytes = body_of(&id);
                    let a = Accept {
                        meta: MessageMeta {
                            id,
                            document_id: format!("{w}-{n}/VPTW"),
                            from: org("VPTW"),
                            to: vec![org(INBOX), org(PEER)],
                            priority: lienthong::store::Priority::from_code(
                                u8::try_from(n % 5).unwrap(),
                            )
                            .unwrap(),
                            level: "mat".parse().unwrap(),
                            digest_hex: sha256_hex(&bytes),
                            size: bytes.len() as u64,
                            received_at_ms: i64::try_from(n).unwrap(),
                            origin: Origin::Submitted,
                            hops: vec![],
                        },
                        bytes,
                        local: vec![org(INBOX)],
                        forward: vec![(org(PEER), org(PEER))],
                    };
                    assert_eq!(store.accept(a).unwrap(), AcceptOutcome::Stored);
                    // Printed only now: the store said durable.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACCEPTED {id}").unwrap();
                    out.flush().unwrap();
                    drop(out);
                    if n % 3 == 0 {
                        assert_eq!(
                            store.inbox_ack(&org(INBOX), &id).unwrap(),
                            AckOutcome::Acked
                        );
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACKED {id}").unwrap();
                        out.flush().unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    std::process::exit(0);
}

/// Runs one child until it printed `PER_ROUND` accepted ids, kills it with SIGKILL, and returns
/// every line it printed (including those read after the kill: they were printed before it).
fn run_child_and_kill(dir: &Path) -> (Vec<MessageId>, Vec<MessageId>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut accepted, mut acked) = (Vec::new(), Vec::new());
    let take = |line: String, accepted: &mut Vec<MessageId>, acked: &mut Vec<MessageId>| {
        if let Some(id) = line.strip_prefix("ACCEPTED ") {
            accepted.push(id.parse().unwrap());
        } else if let Some(id) = line.strip_prefix("ACKED ") {
            acked.push(id.parse().unwrap());
        }
    };
    while accepted.len() < PER_ROUND {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => take(line, &mut accepted, &mut acked),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("child stalled after {} accepts: {e}", accepted.len());
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    for line in rx {
        take(line, &mut accepted, &mut acked);
    }
    reader.join().unwrap();
    (accepted, acked)
}

#[test]
fn kill9_during_accepts_loses_and_duplicates_nothing() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let (mut accepted, mut acked) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (a, k) = run_child_and_kill(&dir);
        assert!(a.len() >= PER_ROUND);
        accepted.extend(a);
        acked.extend(k);
    }
    assert!(started.elapsed() < Duration::from_secs(30));

    let store = SledStore::open(&dir, StoreLimits::default()).unwrap();
    let acked: HashSet<MessageId> = acked.into_iter().collect();
    let accepted_set: HashSet<MessageId> = accepted.iter().copied().collect();
    assert_eq!(
        accepted_set.len(),
        accepted.len(),
        "ids are random and unique"
    );

    // Every acknowledged accept is there, whole.
    for id in &accepted {
        let (meta, deliveries) = store
            .message(id)
            .unwrap()
            .unwrap_or_else(|| panic!("lost {id}"));
        let bytes = store.outbox_bytes(id).unwrap().unwrap();
        assert_eq!(bytes, body_of(id), "bytes of {id}");
        assert_eq!(meta.digest_hex, sha256_hex(&bytes));
        assert_eq!(meta.size, bytes.len() as u64);
        assert_eq!(deliveries.len(), 2);
        let (got_meta, got_bytes) = store.inbox_get(&org(INBOX), id).unwrap().unwrap();
        assert_eq!(got_meta, meta);
        assert_eq!(got_bytes, bytes);
    }
    // Every acknowledged ack is there.
    for id in &acked {
        assert_eq!(
            store.inbox_ack(&org(INBOX), id).unwrap(),
            AckOutcome::AlreadyAcked,
            "ack of {id} lost"
        );
    }

    // No duplicates and no half-written message, including messages accepted but never printed
    // (killed between commit and print): each stored message has its inbox or ack record, its
    // outbox entry, and its bytes.
    let pending: Vec<MessageId> = store
        .inbox_list(&org(INBOX), usize::MAX)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    let pending_set: HashSet<MessageId> = pending.iter().copied().collect();
    assert_eq!(
        pending_set.len(),
        pending.len(),
        "an inbox entry is duplicated"
    );
    // A printed ack is never pending again. (An ack that committed but was killed before its
    // line was printed may be either way, which is fine: it was never acknowledged to anyone.)
    for id in &acked {
        assert!(!pending_set.contains(id), "acked {id} is pending again");
    }
    let outbox: Vec<MessageId> = store
        .outbox_next(&org(PEER), usize::MAX, 0)
        .unwrap()
        .iter()
        .map(|e| e.message)
        .collect();
    let outbox_set: HashSet<MessageId> = outbox.iter().copied().collect();
    assert_eq!(
        outbox_set.len(),
        outbox.len(),
        "an outbox entry is duplicated"
    );
    let stored = store.stats().unwrap().messages;
    assert_eq!(outbox.len() as u64, stored);
    assert!(accepted_set.is_subset(&outbox_set));
    for id in &outbox_set {
        assert_eq!(
            store.outbox_bytes(id).unwrap().unwrap(),
            body_of(id),
            "bytes of {id}"
        );
        assert!(store.inbox_get(&org(INBOX), id).unwrap().is_some());
    }
    eprintln!(
        "crash test: {} acknowledged accepts over {ROUNDS} kills, {} stored, {:?}",
        accepted.len(),
        stored,
        started.elapsed()
    );
}

/// An organ id from a test's own constant.
fn org(text: &str) -> lienthong::store::OrganId {
    text.parse().unwrap()
}
