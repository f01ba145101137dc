//! Document bytes in files of their own (`src/store/documents.rs`): one file per stored message
//! under `<store>/documents/`, never a sled page (sled 0.34 leaves large pages in `blobs/`,
//! unsynced and never deleted), removed by the purge, orphans removed at open, racing accepts of
//! one id unable to touch each other's file, and records written before document files still
//! read from sled's `bytes` tree.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use common::store::{BENTRE, accept, accept_bytes, open, raw_sled};
use lienthong::store::{AcceptOutcome, Fault, MessageId, Store, StoreError};

fn documents_dir(store: &Path) -> PathBuf {
    store.join("documents")
}

/// Names of the files in `dir` (none if it does not exist), sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Files sled keeps outside its log: pages too large for it.
fn sled_blobs(store: &Path) -> Vec<String> {
    files_in(&store.join("blobs"))
}

/// `n` bytes of a document, distinct per `seed`.
fn document(seed: usize, n: usize) -> Vec<u8> {
    let mut bytes = format!("<edXMLEnvelope seed=\"{seed}\">").into_bytes();
    bytes.extend(std::iter::repeat_n(b'a' + (seed % 26) as u8, n));
    bytes.extend_from_slice(b"</edXMLEnvelope>");
    bytes
}

#[test]
fn documents_live_in_files_of_their_own_and_leave_with_the_purge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = open(&path);
    // 8 KB documents (a sled leaf of a dozen of them is over sled's 128 KB blob threshold) and
    // two of 1 MB (each one over it alone).
    let mut sent = Vec::new();
    for i in 0..300 {
        let n = if i % 150 == 0 { 1 << 20 } else { 8 << 10 };
        let a = accept_bytes(MessageId::random().unwrap(), document(i, n), 1_000);
        assert_eq!(store.accept(a.clone()).unwrap(), AcceptOutcome::Stored);
        sent.push(a);
    }
    assert_eq!(files_in(&documents_dir(&path)).len(), 300);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&documents_dir(&path)),
            0o700,
            "documents directory: owner only"
        );
        let first = documents_dir(&path).join(&files_in(&documents_dir(&path))[0]);
        assert_eq!(mode(&first), 0o600, "document files: owner only");
    }
    assert_eq!(
        sled_blobs(&path),
        Vec::<String>::new(),
        "no page left for sled's blobs"
    );
    let total: u64 = sent.iter().map(|a| a.meta.size).sum();
    assert!(store.stats().unwrap().bytes_on_disk >= total);
    for a in &sent {
        let (meta, bytes) = store.inbox_get(&org(BENTRE), &a.meta.id).unwrap().unwrap();
        assert_eq!(meta.id, a.meta.id);
        assert!(
            bytes == a.bytes,
            "document {} read back unchanged",
            a.meta.id
        );
        assert_eq!(store.outbox_bytes(&a.meta.id).unwrap().unwrap(), a.bytes);
        store.inbox_ack(&org(BENTRE), &a.meta.id).unwrap();
    }

    let report = store.purge_acked_older_than(2_000).unwrap();
    assert_eq!(report.messages, 300);
    assert_eq!(report.bytes, total);
    assert_eq!(files_in(&documents_dir(&path)), Vec::<String>::new());
    assert!(
        store.stats().unwrap().bytes_on_disk < total,
        "the files' bytes are given back"
    );
    drop(store);

    let store = open(&path);
    assert_eq!(files_in(&documents_dir(&path)), Vec::<String>::new());
    assert_eq!(sled_blobs(&path), Vec::<String>::new());
    assert_eq!(
        store.accept(sent[7].clone()).unwrap(),
        AcceptOutcome::DuplicatePurged {
            id: sent[7].meta.id
        }
    );
    assert_eq!(
        files_in(&documents_dir(&path)),
        Vec::<String>::new(),
        "no file for a duplicate"
    );
}

#[test]
fn a_duplicate_or_a_forged_reuse_of_an_id_leaves_the_first_document_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = open(&path);
    let id = MessageId::random().unwrap();
    let first = accept(id, "first", 1_000);
    assert_eq!(store.accept(first.clone()).unwrap(), AcceptOutcome::Stored);
    assert!(matches!(
        store.accept(first.clone()).unwrap(),
        AcceptOutcome::Duplicate { .. }
    ));
    assert!(matches!(
        store.accept(accept(id, "forged", 1_000)).unwrap(),
        AcceptOutcome::Conflict { .. }
    ));
    assert_eq!(files_in(&documents_dir(&path)).len(), 1);
    assert_eq!(
        store.inbox_get(&org(BENTRE), &id).unwrap().unwrap().1,
        first.bytes
    );

    // Racing accepts of one new id, half of them forgeries: each writes its own file before its
    // transaction; exactly one is stored, and only its file remains.
    let store = Arc::new(store);
    let id = MessageId::random().unwrap();
    let racers = 8;
    let barrier = Arc::new(Barrier::new(racers));
    let handles: Vec<_> = (0..racers)
        .map(|i| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            let body = if i % 2 == 0 { "genuine" } else { "forged" };
            let a = accept(id, &format!("{body} {}", i % 2), 2_000);
            std::thread::spawn(move || {
                barrier.wait();
                (a.bytes.clone(), store.accept(a).unwrap())
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let stored: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| *o == AcceptOutcome::Stored)
        .collect();
    assert_eq!(stored.len(), 1, "{outcomes:?}");
    let winner = &stored[0].0;
    for (bytes, outcome) in &outcomes {
        match outcome {
            AcceptOutcome::Stored | AcceptOutcome::Duplicate { .. } => assert_eq!(bytes, winner),
            AcceptOutcome::Conflict { .. } => assert_ne!(bytes, winner),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        files_in(&documents_dir(&path)).len(),
        2,
        "one per stored message"
    );
    assert_eq!(
        &store.inbox_get(&org(BENTRE), &id).unwrap().unwrap().1,
        winner
    );
}

#[test]
fn orphan_files_are_moved_aside_at_open_purged_ones_removed_and_foreign_files_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let a = accept(MessageId::random().unwrap(), "kept", 1_000);
    {
        let store = open(&path);
        assert_eq!(store.accept(a.clone()).unwrap(), AcceptOutcome::Stored);
    }
    let docs = documents_dir(&path);
    let named = files_in(&docs);
    assert_eq!(named.len(), 1);
    // What crashes leave: a file written for an accept that never committed (an id never
    // stored) and one of a stored id under a token its record does not name; and a file that
    // is not ours at all.
    let never_stored = format!("{}-00000000000000ff", "ab".repeat(16));
    let id_hex = &named[0][..32];
    let other_token = format!("{id_hex}-7fffffffffffffff");
    for name in [&never_stored, &other_token, &"README.txt".to_owned()] {
        std::fs::write(docs.join(name), b"left behind").unwrap();
    }

    let store = open(&path);
    let mut expected = vec![named[0].clone(), "README.txt".to_owned()];
    expected.sort();
    assert_eq!(files_in(&docs), expected);
    // Never deleted: no one can tell a crash's leftover from a document whose record was lost.
    let mut aside = vec![never_stored.clone(), other_token.clone()];
    aside.sort();
    assert_eq!(files_in(&path.join("orphans")), aside);
    assert_eq!(
        store
            .inbox_get(&org(BENTRE), &a.meta.id)
            .unwrap()
            .unwrap()
            .1,
        a.bytes
    );
    // A file left by a purge that ended before its delete (its tombstone is in the register)
    // is removed.
    store.inbox_ack(&org(BENTRE), &a.meta.id).unwrap();
    assert_eq!(store.purge_acked_older_than(i64::MAX).unwrap().messages, 1);
    drop(store);
    std::fs::write(docs.join(&named[0]), &a.bytes).unwrap();
    let _store = open(&path);
    assert_eq!(files_in(&docs), vec!["README.txt".to_owned()]);
    assert_eq!(files_in(&path.join("orphans")).len(), 2);
}

/// The file holding message `id`'s document under `docs`.
fn file_of(docs: &Path, id: &MessageId) -> PathBuf {
    let prefix: String = id.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let name = files_in(docs)
        .into_iter()
        .find(|n| n.starts_with(&prefix))
        .unwrap();
    docs.join(name)
}

#[test]
fn a_document_altered_on_disk_is_never_served_and_is_quarantined_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = open(&path);
    // Same length, so the swap and the one-byte change get past the size check.
    let [changed, truncated, lost, swapped, intact] =
        ["changed", "truncat", "lostfil", "swapped", "intact_"]
            .map(|body| accept(MessageId::random().unwrap(), body, 1_000));
    for m in [&changed, &truncated, &lost, &swapped, &intact] {
        assert_eq!(store.accept(m.clone()).unwrap(), AcceptOutcome::Stored);
    }
    let docs = documents_dir(&path);
    let mut one_byte = changed.bytes.clone();
    one_byte[16] ^= 0x01;
    std::fs::write(file_of(&docs, &changed.meta.id), &one_byte).unwrap();
    std::fs::write(
        file_of(&docs, &truncated.meta.id),
        &truncated.bytes[..truncated.bytes.len() - 1],
    )
    .unwrap();
    std::fs::remove_file(file_of(&docs, &lost.meta.id)).unwrap();
    std::fs::copy(
        file_of(&docs, &intact.meta.id),
        file_of(&docs, &swapped.meta.id),
    )
    .unwrap();

    let expected = [
        (&changed, Fault::DigestMismatch),
        (&truncated, Fault::SizeMismatch),
        (&lost, Fault::Missing),
        (&swapped, Fault::DigestMismatch),
    ];
    for (m, fault) in expected {
        for err in [
            store.inbox_get(&org(BENTRE), &m.meta.id).unwrap_err(),
            store.outbox_bytes(&m.meta.id).unwrap_err(),
        ] {
            match err {
                StoreError::Altered { id, fault: found } => {
                    assert_eq!((id, found), (m.meta.id, fault));
                }
                other => panic!("{other}"),
            }
        }
    }
    // The others are served; the altered ones are not listed; the count says four.
    let (_, bytes) = store
        .inbox_get(&org(BENTRE), &intact.meta.id)
        .unwrap()
        .unwrap();
    assert_eq!(bytes, intact.bytes);
    let listed: Vec<MessageId> = store
        .inbox_list(&org(BENTRE), 10)
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, vec![intact.meta.id]);
    assert_eq!(store.stats().unwrap().quarantined, 4);
    let mut quarantined: Vec<_> = store
        .quarantined()
        .unwrap()
        .into_iter()
        .map(|q| q.id)
        .collect();
    quarantined.sort();
    let mut want = vec![
        changed.meta.id,
        truncated.meta.id,
        lost.meta.id,
        swapped.meta.id,
    ];
    want.sort();
    assert_eq!(quarantined, want);

    // The scrub finds the same four; restoring one from a backup releases it.
    let report = store.scrub().unwrap();
    assert_eq!(report.documents, 1);
    assert_eq!(report.altered.len(), 4);
    assert!(!report.is_clean());
    std::fs::write(file_of(&docs, &changed.meta.id), &changed.bytes).unwrap();
    let report = store.scrub().unwrap();
    assert_eq!(
        (report.documents, report.released, report.altered.len()),
        (2, 1, 3)
    );
    assert_eq!(store.stats().unwrap().quarantined, 3);
    assert_eq!(store.inbox_list(&org(BENTRE), 10).unwrap().len(), 2);
}

#[test]
fn a_clean_store_scrubs_clean_and_a_dangling_index_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let a = accept(MessageId::random().unwrap(), "kept", 1_000);
    let b = accept(MessageId::random().unwrap(), "record lost", 1_000);
    {
        let store = open(&path);
        for m in [&a, &b] {
            assert_eq!(store.accept(m.clone()).unwrap(), AcceptOutcome::Stored);
        }
        let report = store.scrub().unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!((report.documents, report.without_digest), (2, 0));
        assert_eq!(report.bytes, (a.bytes.len() + b.bytes.len()) as u64);
    }
    // A record removed behind the store's back: its inbox, sent and membership entries now name
    // nothing (its dedup entry becomes a tombstone at open, as a purge from before the register
    // left them).
    {
        let db = raw_sled(&path);
        db.open_tree("meta")
            .unwrap()
            .remove(b.meta.id.as_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = open(&path);
    let report = store.scrub().unwrap();
    let mut indexes: Vec<&str> = report.dangling.iter().map(|d| d.index.as_str()).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, ["inbox", "membership", "sent"]);
    assert_eq!(report.documents, 1);
}

#[test]
fn a_record_from_before_document_files_is_read_and_purged_from_sleds_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let a = accept(
        MessageId::random().unwrap(),
        "written by an older version",
        1_000,
    );
    {
        let store = open(&path);
        assert_eq!(store.accept(a.clone()).unwrap(), AcceptOutcome::Stored);
    }
    // Rebuild what earlier versions wrote: bytes in the `bytes` tree, a record without `file`.
    {
        let db = raw_sled(&path);
        let meta = db.open_tree("meta").unwrap();
        let key = a.meta.id.as_bytes();
        let mut record: serde_json::Value =
            serde_json::from_slice(&meta.get(key).unwrap().unwrap()).unwrap();
        assert!(record.as_object_mut().unwrap().remove("file").is_some());
        meta.insert(key, serde_json::to_vec(&record).unwrap())
            .unwrap();
        db.open_tree("bytes")
            .unwrap()
            .insert(key, a.bytes.as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    for name in files_in(&documents_dir(&path)) {
        std::fs::remove_file(documents_dir(&path).join(name)).unwrap();
    }

    let store = open(&path);
    assert_eq!(
        store
            .inbox_get(&org(BENTRE), &a.meta.id)
            .unwrap()
            .unwrap()
            .1,
        a.bytes
    );
    store.inbox_ack(&org(BENTRE), &a.meta.id).unwrap();
    let report = store.purge_acked_older_than(2_000).unwrap();
    assert_eq!((report.messages, report.bytes), (1, a.meta.size));
    drop(store);
    let db = raw_sled(&path);
    assert!(db.open_tree("bytes").unwrap().is_empty());
}

/// Damages the first 4 KB of the sled log of the store in `path`.
fn damage_log(path: &Path) {
    std::thread::sleep(std::time::Duration::from_millis(200));
    let db = path.join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b ^= 0x5a;
    }
    std::fs::write(&db, &bytes).unwrap();
}

#[test]
fn records_lost_with_a_damaged_database_never_take_their_documents_with_them() {
    // sled 0.34 opens a log whose first segment is damaged as if it were empty: the records
    // are gone. Their documents must not be deleted as crash orphans.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let m = accept(MessageId::random().unwrap(), "kept", 1_000);
    {
        let store = open(&path);
        assert_eq!(store.accept(m.clone()).unwrap(), AcceptOutcome::Stored);
    }
    damage_log(&path);
    let store = open(&path);
    let orphans = path.join("orphans");
    let kept = files_in(&orphans);
    assert_eq!(kept.len(), 1, "the document was deleted");
    assert_eq!(std::fs::read(orphans.join(&kept[0])).unwrap(), m.bytes);
    // The check says so, by name.
    let report = store.scrub().unwrap();
    assert_eq!(report.orphans, 1);
    assert!(!report.is_clean());
    drop(store);

    // Many at once is not a crash: refused, naming the store, nothing moved.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = open(&path);
        for i in 0..300 {
            let m = accept(MessageId::random().unwrap(), &format!("d{i}"), 1_000);
            assert_eq!(store.accept(m).unwrap(), AcceptOutcome::Stored);
        }
    }
    damage_log(&path);
    let err = lienthong::store::SledStore::open(&path, lienthong::store::StoreLimits::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("lost records"), "{err}");
    assert_eq!(files_in(&documents_dir(&path)).len(), 300);
    assert!(files_in(&path.join("orphans")).is_empty());
}

/// An organ id from a test's own constant.
fn org(text: &str) -> lienthong::store::OrganId {
    text.parse().unwrap()
}
