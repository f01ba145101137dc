//! The store's filing records and public index (`Store::accept_filed`): written with the
//! message in one transaction, never on a duplicate or a conflict, the first 06 of each organ
//! noted, and kept through retention so the timeliness report survives a purge.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use common::store::{accept, open};
use lienthong::store::{AcceptOutcome, Filed, Filing, MessageId, PublicEntry, StatusEvent, Store};

fn filing(at_ms: i64) -> Filing {
    Filing {
        level: "thuong".parse().unwrap(),
        procedure: "VB-01".into(),
        public: true,
        received_at_ms: at_ms,
        due_ms: Some(at_ms + 1000),
        due_from_header: false,
        from: "HU.CHAUTHANH".parse().unwrap(),
        to: vec!["TU.BENTRE".parse().unwrap()],
        handled: Default::default(),
    }
}

fn public(id: MessageId, subject: &str, at_ms: i64) -> PublicEntry {
    PublicEntry {
        message_id: id,
        document_id: subject.into(),
        code: "07/NQ-HU".into(),
        subject: subject.into(),
        from: "HU.CHAUTHANH".parse().unwrap(),
        from_name: "Văn phòng Huyện ủy Châu Thành".into(),
        procedure: "VB-01".into(),
        promulgated: "2026-11-20".into(),
        published_at_ms: at_ms,
    }
}

fn status(id: MessageId, code: &str, at_ms: i64) -> StatusEvent {
    StatusEvent {
        message: id,
        organ: "TU.BENTRE".parse().unwrap(),
        code: code.parse().unwrap(),
        note: None,
        at_ms,
    }
}

#[test]
fn filing_and_public_entry_are_written_with_the_message_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("db"));
    let (a, b, c) = (
        MessageId::random().unwrap(),
        MessageId::random().unwrap(),
        MessageId::random().unwrap(),
    );
    let filed = |id, subject: &str, at| Filed {
        filing: Some(filing(at)),
        public: Some(public(id, subject, at)),
    };
    assert_eq!(
        store
            .accept_filed(accept(a, "a", 10), filed(a, "Công khai A", 10))
            .unwrap(),
        AcceptOutcome::Stored
    );
    // Not public: a filing, no public entry.
    let only_filing = Filed {
        filing: Some(filing(20)),
        public: None,
    };
    store.accept_filed(accept(b, "b", 20), only_filing).unwrap();
    store
        .accept_filed(accept(c, "c", 30), filed(c, "Công khai C", 30))
        .unwrap();
    let subjects: Vec<String> = store
        .public_documents(10)
        .unwrap()
        .into_iter()
        .map(|e| e.subject)
        .collect();
    assert_eq!(subjects, vec!["Công khai C", "Công khai A"], "newest first");
    assert_eq!(store.public_documents(1).unwrap().len(), 1);
    assert_eq!(store.filing(&b).unwrap().unwrap().received_at_ms, 20);

    // A duplicate writes nothing more; a conflict (same id, other bytes) writes nothing.
    assert!(matches!(
        store
            .accept_filed(accept(a, "a", 10), filed(a, "Công khai A lần hai", 40))
            .unwrap(),
        AcceptOutcome::Duplicate { .. }
    ));
    assert!(matches!(
        store
            .accept_filed(accept(a, "other bytes", 10), filed(a, "Giả mạo", 50))
            .unwrap(),
        AcceptOutcome::Conflict { .. }
    ));
    assert_eq!(store.public_documents(10).unwrap().len(), 2);
    // A plain accept files nothing.
    let d = MessageId::random().unwrap();
    store.accept(accept(d, "d", 60)).unwrap();
    assert!(store.filing(&d).unwrap().is_none());

    // The period filter.
    let ids: Vec<MessageId> = store
        .filings_between(15, 31)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, vec![b, c]);
}

#[test]
fn the_first_06_of_each_organ_is_filed_and_survives_retention() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("db"));
    let id = MessageId::random().unwrap();
    store
        .accept_filed(
            accept(id, "x", 10),
            Filed {
                filing: Some(filing(10)),
                public: None,
            },
        )
        .unwrap();
    store.relay_status(status(id, "03", 100), &[]).unwrap();
    assert!(store.filing(&id).unwrap().unwrap().handled.is_empty());
    store.relay_status(status(id, "06", 200), &[]).unwrap();
    store.relay_status(status(id, "06", 300), &[]).unwrap();
    let f = store.filing(&id).unwrap().unwrap();
    assert_eq!(f.handled.get("TU.BENTRE"), Some(&200));
    // Retention purges the acknowledged message, its statuses too; the filing stays.
    store.inbox_ack(&org("TU.BENTRE"), &id).unwrap();
    assert_eq!(store.purge_acked_older_than(1_000).unwrap().messages, 1);
    assert!(store.statuses(&id).unwrap().is_empty());
    assert_eq!(
        store.filing(&id).unwrap().unwrap().handled.get("TU.BENTRE"),
        Some(&200)
    );
}

/// An organ id from a test's own constant.
fn org(text: &str) -> lienthong::store::OrganId {
    text.parse().unwrap()
}
