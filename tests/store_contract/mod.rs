//! The store's contract: behaviour every engine behind [`Store`] must have — dedup, lanes,
//! outbox life cycle, inbox isolation, back-pressure, statuses, retention, reopen and group
//! commit — written against the trait only. A test target runs it on one engine with
//! `store_contract!(ENGINE)` (see `tests/store.rs` for sled).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use lienthong::store::{
    Accept, AcceptOutcome, AckOutcome, Delivery, DeliveryKind, Filed, Filing, Lane, Level,
    MessageId, MessageMeta, OrganId, Origin, Priority, StatusCode, StatusEvent, Store, StoreError,
    StoreLimits,
};

/// An organ id from a test's own constant.
fn org(text: &str) -> OrganId {
    text.parse().unwrap()
}

const VPTW: &str = "VPTW";
const BENTRE: &str = "TU.BENTRE";
const CHAUTHANH: &str = "HU.CHAUTHANH";

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn accept_of(
    priority: u8,
    received_at_ms: i64,
    body: &str,
    local: &[&str],
    forward: &[(&str, &str)],
) -> Accept {
    let id = MessageId::random().unwrap();
    let bytes = format!("<edXMLEnvelope id=\"{id}\">{body}</edXMLEnvelope>").into_bytes();
    let mut to: Vec<OrganId> = local.iter().map(|s| org(s)).collect();
    to.extend(forward.iter().map(|(_, r)| org(r)));
    Accept {
        meta: MessageMeta {
            id,
            document_id: format!("{body}/VPTW"),
            from: org(VPTW),
            to,
            priority: Priority::from_code(priority).unwrap(),
            level: Level::Thuong,
            digest_hex: sha256_hex(&bytes),
            size: bytes.len() as u64,
            received_at_ms,
            origin: Origin::Submitted,
            hops: vec![],
        },
        bytes,
        local: local.iter().map(|s| org(s)).collect(),
        forward: forward.iter().map(|(p, r)| (org(p), org(r))).collect(),
    }
}

/// The engine under test, as the suite sees it: a way to open (or reopen) a store in a
/// directory with some limits. Everything else the suite does goes through [`Store`], so a
/// second engine runs these cases unchanged by giving its own `Engine` to [`store_contract!`].
#[derive(Clone, Copy)]
pub(crate) struct Engine {
    /// Opens the store kept in `dir` (creating it if new), with `limits`.
    pub(crate) open: fn(&Path, StoreLimits) -> Arc<dyn Store>,
}

impl Engine {
    fn open(&self, dir: &tempfile::TempDir) -> Arc<dyn Store> {
        (self.open)(dir.path(), StoreLimits::default())
    }

    fn open_with(&self, dir: &tempfile::TempDir, limits: StoreLimits) -> Arc<dyn Store> {
        (self.open)(dir.path(), limits)
    }
}

fn stored(store: &Arc<dyn Store>, a: Accept) -> MessageId {
    let id = a.meta.id;
    assert_eq!(store.accept(a).unwrap(), AcceptOutcome::Stored);
    id
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn accept_stores_then_dedups_same_digest_and_refuses_other_digest(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let a = accept_of(0, 1_000, "doc-1", &[CHAUTHANH], &[(BENTRE, BENTRE)]);
    let id = a.meta.id;
    assert_eq!(store.accept(a.clone()).unwrap(), AcceptOutcome::Stored);

    // Same id, same digest: the stored metadata comes back, nothing is queued twice.
    match store.accept(a.clone()).unwrap() {
        AcceptOutcome::Duplicate { meta } => assert_eq!(*meta, a.meta),
        other => panic!("expected Duplicate, got {other:?}"),
    }
    // Same id, other content: conflict, the first version stays.
    let mut forged = a.clone();
    forged.bytes = b"<other/>".to_vec();
    forged.meta.digest_hex = sha256_hex(&forged.bytes);
    // Metadata whose size is not the document's is refused before anything is written.
    match store.accept(forged.clone()) {
        Err(StoreError::Invalid { field: "size", .. }) => {}
        other => panic!("expected the size refused, got {other:?}"),
    }
    forged.meta.size = forged.bytes.len() as u64;
    match store.accept(forged).unwrap() {
        AcceptOutcome::Conflict {
            id: cid,
            existing_digest_hex,
        } => {
            assert_eq!(cid, id);
            assert_eq!(existing_digest_hex, a.meta.digest_hex);
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.outbox_bytes(&id).unwrap().unwrap(), a.bytes);
    assert_eq!(store.inbox_list(&org(CHAUTHANH), 10).unwrap().len(), 1);
    assert_eq!(store.outbox_next(&org(BENTRE), 10, 0).unwrap().len(), 1);
    assert_eq!(store.stats().unwrap().messages, 1);
    let (meta, deliveries) = store.message(&id).unwrap().unwrap();
    assert_eq!(meta, a.meta);
    let mut deliveries = deliveries;
    deliveries.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        deliveries,
        vec![
            (org(CHAUTHANH), Delivery::Local),
            (
                org(BENTRE),
                Delivery::Queued {
                    next_hop: org(BENTRE)
                }
            ),
        ]
    );
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn accept_refuses_no_recipient_and_repeated_recipient(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    // A priority above 4 has no value to pass: the trait takes a `Priority`.
    assert!(Priority::from_code(5).is_none());
    let none = accept_of(0, 1, "none", &[], &[]);
    assert!(matches!(
        store.accept(none),
        Err(StoreError::Invalid {
            field: "recipients",
            ..
        })
    ));
    let twice = accept_of(0, 1, "twice", &[BENTRE], &[(VPTW, BENTRE)]);
    assert!(matches!(
        store.accept(twice),
        Err(StoreError::Invalid {
            field: "recipients",
            ..
        })
    ));
    assert_eq!(store.stats().unwrap().messages, 0);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn flash_overtakes_a_backlog_of_normal_and_lanes_stay_fifo(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let normal: Vec<MessageId> = (0..20)
        .map(|i| {
            stored(
                &store,
                accept_of(0, i, &format!("n{i}"), &[CHAUTHANH], &[(BENTRE, BENTRE)]),
            )
        })
        .collect();
    let khan = stored(
        &store,
        accept_of(1, 100, "k", &[CHAUTHANH], &[(BENTRE, BENTRE)]),
    );
    let flash = stored(
        &store,
        accept_of(3, 101, "f", &[CHAUTHANH], &[(BENTRE, BENTRE)]),
    );
    // Priority 4 shares the top lane with 3, behind it in arrival order.
    let timed = stored(
        &store,
        accept_of(4, 102, "t", &[CHAUTHANH], &[(BENTRE, BENTRE)]),
    );
    let thuong_khan = stored(
        &store,
        accept_of(2, 103, "tk", &[CHAUTHANH], &[(BENTRE, BENTRE)]),
    );

    let mut expected = vec![flash, timed, thuong_khan, khan];
    expected.extend(&normal);
    let outbox: Vec<MessageId> = store
        .outbox_next(&org(BENTRE), 100, 0)
        .unwrap()
        .iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(outbox, expected);
    let inbox: Vec<MessageId> = store
        .inbox_list(&org(CHAUTHANH), 100)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(inbox, expected);
    // limit is honoured from the head.
    let head: Vec<MessageId> = store
        .outbox_next(&org(BENTRE), 2, 0)
        .unwrap()
        .iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(head, vec![flash, timed]);

    let depths = store.outbox_depths().unwrap();
    let depth = |lane: Lane| {
        depths
            .iter()
            .find(|d| d.peer == BENTRE && d.lane == lane)
            .map_or(0, |d| d.count)
    };
    assert_eq!(depth(Lane::HoaToc), 2);
    assert_eq!(depth(Lane::ThuongKhan), 1);
    assert_eq!(depth(Lane::Khan), 1);
    assert_eq!(depth(Lane::Thuong), 20);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn outbox_next_honours_next_attempt_time(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let first = stored(&store, accept_of(0, 1, "a", &[], &[(BENTRE, VPTW)]));
    let second = stored(&store, accept_of(0, 2, "b", &[], &[(BENTRE, CHAUTHANH)]));
    let entries = store.outbox_next(&org(BENTRE), 10, 1_000).unwrap();
    assert_eq!(entries.len(), 2);
    store
        .record_failure(&org(BENTRE), &entries[0], "connection refused", 5_000)
        .unwrap();

    // Before 5 000 only the second is due; at 5 000 both, first still first (FIFO).
    let due: Vec<MessageId> = store
        .outbox_next(&org(BENTRE), 10, 4_999)
        .unwrap()
        .iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(due, vec![second]);
    let due = store.outbox_next(&org(BENTRE), 10, 5_000).unwrap();
    assert_eq!(due[0].message, first);
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].next_attempt_ms, 5_000);
    assert_eq!(due[1].message, second);

    let (_, deliveries) = store.message(&first).unwrap().unwrap();
    assert_eq!(
        deliveries,
        vec![(
            org(VPTW),
            Delivery::InTransit {
                next_hop: org(BENTRE),
                attempts: 1,
                last_error: "connection refused".to_owned(),
                next_attempt_ms: 5_000,
            }
        )]
    );
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn a_lease_gives_this_process_the_due_entries_again(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let a = stored(&store, accept_of(0, 1, "a", &[], &[(BENTRE, BENTRE)]));
    let b = stored(&store, accept_of(3, 2, "b", &[], &[(BENTRE, BENTRE)]));
    let later = accept_of(0, 3, "later", &[], &[(BENTRE, BENTRE)]);
    let later_id = stored(&store, later);
    let entry = store
        .outbox_next(&org(BENTRE), 10, 0)
        .unwrap()
        .into_iter()
        .find(|e| e.message == later_id)
        .unwrap();
    store
        .record_failure(&org(BENTRE), &entry, "timeout", 5_000)
        .unwrap();
    // Due entries only, top lane first; the same process is given them again.
    for _ in 0..2 {
        let leased: Vec<MessageId> = store
            .outbox_lease(&org(BENTRE), 10, 1_000, 60_000)
            .unwrap()
            .iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(leased, vec![b, a]);
    }
    assert!(
        store
            .outbox_lease(&org(VPTW), 10, 1_000, 60_000)
            .unwrap()
            .is_empty()
    );
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn mark_delivered_removes_the_entry_and_records_receipt_and_hop(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let id = stored(
        &store,
        accept_of(1, 1, "a", &[], &[(BENTRE, BENTRE), (BENTRE, CHAUTHANH)]),
    );
    let entries = store.outbox_next(&org(BENTRE), 10, 0).unwrap();
    assert_eq!(entries.len(), 2);
    let to_bentre = entries.iter().find(|e| e.recipient == BENTRE).unwrap();
    store
        .mark_delivered(&org(BENTRE), to_bentre, "receipt-1".to_owned(), 77)
        .unwrap();

    let left = store.outbox_next(&org(BENTRE), 10, 0).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].recipient, CHAUTHANH);
    let (meta, deliveries) = store.message(&id).unwrap().unwrap();
    assert_eq!(meta.hops.len(), 1);
    assert_eq!(meta.hops[0].organ, BENTRE);
    assert_eq!(meta.hops[0].at_ms, 77);
    assert_eq!(meta.hops[0].receipt.as_deref(), Some("receipt-1"));
    let bentre = deliveries.iter().find(|(r, _)| r == BENTRE).unwrap();
    assert_eq!(
        bentre.1,
        Delivery::Delivered {
            via: org(BENTRE),
            at_ms: 77,
            receipt: "receipt-1".to_owned()
        }
    );
    // A second completion of the same entry is refused, not double-counted.
    assert!(matches!(
        store.mark_delivered(&org(BENTRE), to_bentre, "receipt-2".to_owned(), 78),
        Err(StoreError::NotFound { id: nid }) if nid == id
    ));
    // An entry handle is bound to its peer.
    assert!(matches!(
        store.mark_delivered(&org(VPTW), &left[0], "r".to_owned(), 79),
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(store.outbox_depths().unwrap()[0].count, 1);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn dead_letter_removes_the_entry_and_records_why(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let id = stored(&store, accept_of(0, 1, "a", &[], &[(BENTRE, VPTW)]));
    let entry = store.outbox_next(&org(BENTRE), 1, 0).unwrap().remove(0);
    store
        .dead_letter(&org(BENTRE), &entry, "peer refused: unknown label", 99)
        .unwrap();
    assert!(
        store
            .outbox_next(&org(BENTRE), 10, i64::MAX)
            .unwrap()
            .is_empty()
    );
    assert!(store.outbox_depths().unwrap().is_empty());
    let (_, deliveries) = store.message(&id).unwrap().unwrap();
    assert_eq!(
        deliveries,
        vec![(
            org(VPTW),
            Delivery::DeadLettered {
                reason: "peer refused: unknown label".to_owned(),
                at_ms: 99
            }
        )]
    );
    assert!(matches!(
        store.dead_letter(&org(BENTRE), &entry, "again", 100),
        Err(StoreError::NotFound { .. })
    ));
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn inbox_list_get_and_idempotent_ack(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let a = accept_of(0, 1, "a", &[CHAUTHANH, BENTRE], &[]);
    let a_bytes = a.bytes.clone();
    let a_id = stored(&store, a);
    let b_id = stored(&store, accept_of(0, 2, "b", &[CHAUTHANH], &[]));

    let listed: Vec<MessageId> = store
        .inbox_list(&org(CHAUTHANH), 10)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, vec![a_id, b_id]);
    let (meta, bytes) = store.inbox_get(&org(CHAUTHANH), &a_id).unwrap().unwrap();
    assert_eq!(meta.id, a_id);
    assert_eq!(bytes, a_bytes);

    assert_eq!(
        store.inbox_ack(&org(CHAUTHANH), &a_id).unwrap(),
        AckOutcome::Acked
    );
    assert_eq!(
        store.inbox_ack(&org(CHAUTHANH), &a_id).unwrap(),
        AckOutcome::AlreadyAcked
    );
    let listed: Vec<MessageId> = store
        .inbox_list(&org(CHAUTHANH), 10)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, vec![b_id]);
    // Acked items can still be fetched by their organ; the other organ's copy is untouched.
    assert!(store.inbox_get(&org(CHAUTHANH), &a_id).unwrap().is_some());
    assert_eq!(store.inbox_list(&org(BENTRE), 10).unwrap().len(), 1);

    let unknown = MessageId::random().unwrap();
    assert!(matches!(
        store.inbox_ack(&org(CHAUTHANH), &unknown),
        Err(StoreError::NotFound { id }) if id == unknown
    ));
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn a_backlog_of_invisible_items_never_hides_the_visible_ones(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    // Ten items the client may not read, queued first, then two it may.
    let hidden: Vec<MessageId> = (0..10)
        .map(|i| stored(&store, accept_of(0, i, "hidden", &[CHAUTHANH], &[])))
        .collect();
    let shown: Vec<MessageId> = (10..12)
        .map(|i| stored(&store, accept_of(0, i, "shown", &[CHAUTHANH], &[])))
        .collect();
    let mut looked = 0usize;
    let got: Vec<MessageId> = store
        .inbox_list_visible(&org(CHAUTHANH), 2, &mut |e| {
            looked += 1;
            shown.contains(&e.item.id)
        })
        .unwrap()
        .iter()
        .map(|e| e.item.id)
        .collect();
    assert_eq!(got, shown);
    assert_eq!(looked, 12);
    // The plain listing with the same limit sees only the head of the backlog.
    let head: Vec<MessageId> = store
        .inbox_list(&org(CHAUTHANH), 2)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(head, hidden[..2]);
    // A limit stops the scan as soon as it is reached.
    let mut calls = 0usize;
    let one = store
        .inbox_list_visible(&org(CHAUTHANH), 1, &mut |_| {
            calls += 1;
            true
        })
        .unwrap();
    assert_eq!((one.len(), calls), (1, 1));
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn a_listing_entry_carries_its_filing_and_its_senders_recall(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let filed = accept_of(0, 1, "filed", &[CHAUTHANH], &[]);
    let filing = Filing {
        level: Level::Mat,
        procedure: "QD".to_owned(),
        public: false,
        received_at_ms: 1,
        due_ms: None,
        due_from_header: false,
        from: org(VPTW),
        to: vec![org(CHAUTHANH)],
        handled: Default::default(),
    };
    let filed_id = filed.meta.id;
    let outcome = store
        .accept_filed(
            filed,
            Filed {
                filing: Some(filing.clone()),
                public: None,
            },
        )
        .unwrap();
    assert_eq!(outcome, AcceptOutcome::Stored);
    let plain = stored(&store, accept_of(0, 2, "plain", &[CHAUTHANH], &[]));
    // Recalled by its sender (VPTW); a recall request from any other organ is not a recall.
    let recall = |organ: &str, at_ms| StatusEvent {
        message: plain,
        organ: org(organ),
        code: StatusCode::RecallRequested,
        note: None,
        at_ms,
    };
    store.put_status(recall(BENTRE, 3)).unwrap();
    let seen = |store: &Arc<dyn Store>| {
        store
            .inbox_list_visible(&org(CHAUTHANH), 10, &mut |_| true)
            .unwrap()
            .into_iter()
            .map(|e| (e.item.id, e.filing, e.recalled))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seen(&store),
        vec![
            (filed_id, Some(filing.clone()), false),
            (plain, None, false)
        ]
    );
    store.put_status(recall(VPTW, 4)).unwrap();
    assert_eq!(
        seen(&store),
        vec![(filed_id, Some(filing), false), (plain, None, true)]
    );
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn the_first_ack_records_and_queues_status_03_in_the_same_transaction(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let id = stored(&store, accept_of(0, 1, "a", &[CHAUTHANH], &[]));
    let accepted = StatusEvent {
        message: id,
        organ: org(CHAUTHANH),
        code: "03".parse().unwrap(),
        note: None,
        at_ms: 1_700_000_000_000,
    };
    assert_eq!(
        store
            .inbox_ack_reporting(&org(CHAUTHANH), &id, &accepted, Some(&org(BENTRE)))
            .unwrap(),
        AckOutcome::Acked
    );
    assert_eq!(store.statuses(&id).unwrap(), vec![accepted.clone()]);
    let queued = store.status_outbox(&org(BENTRE), 10).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].1, accepted);
    // A repeated ack is idempotent: no second event recorded or queued.
    let again = StatusEvent {
        at_ms: accepted.at_ms + 5,
        ..accepted.clone()
    };
    assert_eq!(
        store
            .inbox_ack_reporting(&org(CHAUTHANH), &id, &again, Some(&org(BENTRE)))
            .unwrap(),
        AckOutcome::AlreadyAcked
    );
    assert_eq!(store.statuses(&id).unwrap().len(), 1);
    assert_eq!(store.status_outbox(&org(BENTRE), 10).unwrap().len(), 1);
    // An event for another message is refused and acks nothing.
    let other = stored(&store, accept_of(0, 2, "b", &[CHAUTHANH], &[]));
    assert!(matches!(
        store.inbox_ack_reporting(&org(CHAUTHANH), &other, &accepted, None),
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(store.inbox_list(&org(CHAUTHANH), 10).unwrap().len(), 1);
    // Unknown items: nothing recorded.
    let unknown = MessageId::random().unwrap();
    let ev = StatusEvent {
        message: unknown,
        ..accepted
    };
    assert!(matches!(
        store.inbox_ack_reporting(&org(CHAUTHANH), &unknown, &ev, Some(&org(BENTRE))),
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.statuses(&unknown).unwrap().is_empty());
    assert_eq!(store.status_outbox(&org(BENTRE), 10).unwrap().len(), 1);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn an_organ_cannot_read_or_ack_another_organs_inbox_item(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let id = stored(&store, accept_of(2, 1, "secret", &[CHAUTHANH], &[]));
    assert!(store.inbox_get(&org(BENTRE), &id).unwrap().is_none());
    assert!(store.inbox_list(&org(BENTRE), 10).unwrap().is_empty());
    assert!(matches!(
        store.inbox_ack(&org(BENTRE), &id),
        Err(StoreError::NotFound { .. })
    ));
    // Prefix confusion: "HU.CHAUTHANH" is not readable as "HU.CHAUTHAN" or "HU.CHAUTHANHX".
    assert!(store.inbox_get(&org("HU.CHAUTHAN"), &id).unwrap().is_none());
    assert!(
        store
            .inbox_list(&org("HU.CHAUTHAN"), 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .inbox_get(&org("HU.CHAUTHANHX"), &id)
            .unwrap()
            .is_none()
    );
    // The owner still has it, pending.
    assert!(store.inbox_get(&org(CHAUTHANH), &id).unwrap().is_some());
    assert_eq!(store.inbox_list(&org(CHAUTHANH), 10).unwrap().len(), 1);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn back_pressure_accepts_n_and_refuses_n_plus_1(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let limits = StoreLimits {
        max_outbox_per_peer: 3,
        ..StoreLimits::default()
    };
    let store = engine.open_with(&dir, limits);
    for i in 0..3 {
        stored(
            &store,
            accept_of(0, i, &format!("m{i}"), &[], &[(BENTRE, VPTW)]),
        );
    }
    let fourth = accept_of(3, 9, "m3", &[CHAUTHANH], &[(BENTRE, VPTW)]);
    let fourth_id = fourth.meta.id;
    match store.accept(fourth.clone()) {
        Err(StoreError::OutboxFull { peer, depth }) => {
            assert_eq!(peer, BENTRE);
            assert_eq!(depth, 3);
        }
        other => panic!("expected OutboxFull, got {other:?}"),
    }
    // Refused means nothing changed: no message, no inbox entry, no dedup record.
    assert!(store.message(&fourth_id).unwrap().is_none());
    assert!(store.inbox_list(&org(CHAUTHANH), 10).unwrap().is_empty());
    assert_eq!(store.outbox_next(&org(BENTRE), 10, 0).unwrap().len(), 3);
    // Another peer is not affected.
    stored(&store, accept_of(0, 10, "other", &[], &[(VPTW, VPTW)]));

    // Once one entry leaves, the same message is accepted (no dedup tombstone was left).
    let entry = store.outbox_next(&org(BENTRE), 1, 0).unwrap().remove(0);
    store
        .mark_delivered(&org(BENTRE), &entry, "r".to_owned(), 11)
        .unwrap();
    assert_eq!(store.accept(fourth).unwrap(), AcceptOutcome::Stored);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn status_events_come_back_in_time_order(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let id = stored(&store, accept_of(0, 1, "a", &[], &[(BENTRE, BENTRE)]));
    let other = stored(&store, accept_of(0, 1, "b", &[], &[(BENTRE, BENTRE)]));
    let ev = |code: &str, at_ms: i64, message: MessageId| StatusEvent {
        message,
        organ: org(BENTRE),
        code: code.parse().unwrap(),
        note: None,
        at_ms,
    };
    store.put_status(ev("03", 300, id)).unwrap();
    store.put_status(ev("01", 100, id)).unwrap();
    store.put_status(ev("02", 200, id)).unwrap();
    store.put_status(ev("02", 200, other)).unwrap();
    // Same time: arrival order.
    store.put_status(ev("04", 300, id)).unwrap();
    let codes: Vec<String> = store
        .statuses(&id)
        .unwrap()
        .into_iter()
        .map(|e| e.code.code().to_owned())
        .collect();
    assert_eq!(codes, vec!["01", "02", "03", "04"]);
    assert_eq!(store.statuses(&other).unwrap().len(), 1);

    // A code outside edXML's has no value to pass: the trait takes a `StatusCode`.
    for bad in ["00", "07", "17", "1", "001", "aa"] {
        assert!(bad.parse::<StatusCode>().is_err(), "{bad}");
    }
    let unknown = MessageId::random().unwrap();
    assert!(matches!(
        store.put_status(ev("01", 1, unknown)),
        Err(StoreError::NotFound { .. })
    ));
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn a_listing_skips_a_document_acked_and_swept_while_it_scans(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let ids: Vec<MessageId> = (0..3)
        .map(|i| stored(&store, accept_of(0, 1_000 + i, "x", &[CHAUTHANH], &[])))
        .collect();
    // While the scan looks at the first item, the receiving system acknowledges the second and
    // the retention sweep removes it (keep 0): the scan may still hold its inbox entry.
    let mut swept = false;
    let got: Vec<MessageId> = store
        .inbox_list_visible(&org(CHAUTHANH), 10, &mut |e| {
            if !swept && e.item.id == ids[0] {
                store.inbox_ack(&org(CHAUTHANH), &ids[1]).unwrap();
                assert_eq!(store.purge_acked_older_than(i64::MAX).unwrap().messages, 1);
                swept = true;
            }
            true
        })
        .unwrap()
        .iter()
        .map(|e| e.item.id)
        .collect();
    assert!(swept);
    assert_eq!(got, vec![ids[0], ids[2]]);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn purge_removes_finished_messages_and_keeps_dedup(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    // Finished: acked locally and delivered to the peer, old.
    let done = accept_of(0, 1_000, "done", &[CHAUTHANH], &[(BENTRE, BENTRE)]);
    let done_id = stored(&store, done.clone());
    store.inbox_ack(&org(CHAUTHANH), &done_id).unwrap();
    let entry = store.outbox_next(&org(BENTRE), 1, 0).unwrap().remove(0);
    store
        .mark_delivered(&org(BENTRE), &entry, "r".to_owned(), 1_500)
        .unwrap();
    store
        .put_status(StatusEvent {
            message: done_id,
            organ: org(BENTRE),
            code: "01".parse().unwrap(),
            note: None,
            at_ms: 1_600,
        })
        .unwrap();
    // Not finished: pending in an inbox; dead-lettered; recent.
    let pending_id = stored(&store, accept_of(0, 1_000, "pending", &[CHAUTHANH], &[]));
    let dead_id = stored(&store, accept_of(0, 1_000, "dead", &[], &[(VPTW, VPTW)]));
    let entry = store.outbox_next(&org(VPTW), 1, 0).unwrap().remove(0);
    store
        .dead_letter(&org(VPTW), &entry, "gave up", 1_200)
        .unwrap();
    let recent = accept_of(0, 9_000, "recent", &[BENTRE], &[]);
    let recent_id = stored(&store, recent);
    store.inbox_ack(&org(BENTRE), &recent_id).unwrap();

    let report = store.purge_acked_older_than(5_000).unwrap();
    assert_eq!(report.messages, 1);
    assert_eq!(report.bytes, done.bytes.len() as u64);
    assert!(store.message(&done_id).unwrap().is_none());
    assert!(store.outbox_bytes(&done_id).unwrap().is_none());
    assert!(store.statuses(&done_id).unwrap().is_empty());
    assert!(
        store
            .inbox_get(&org(CHAUTHANH), &done_id)
            .unwrap()
            .is_none()
    );
    for id in [pending_id, dead_id, recent_id] {
        assert!(store.message(&id).unwrap().is_some());
    }
    assert_eq!(store.stats().unwrap().messages, 3);
    let (sent, _) = store.sent_list(&org(VPTW), None, None, 10, None).unwrap();
    assert!(sent.iter().all(|(m, _)| m.id != done_id));

    // The tombstone recognises a late duplicate and a forgery.
    assert_eq!(
        store.accept(done.clone()).unwrap(),
        AcceptOutcome::DuplicatePurged { id: done_id }
    );
    let mut forged = done;
    forged.meta.digest_hex = sha256_hex(b"other");
    assert!(matches!(
        store.accept(forged).unwrap(),
        AcceptOutcome::Conflict { .. }
    ));
    assert!(store.inbox_list(&org(CHAUTHANH), 10).unwrap().len() == 1);
    // Idempotent.
    assert_eq!(store.purge_acked_older_than(5_000).unwrap().messages, 0);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn sent_list_pages_filters_and_starts_at_since(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let ids: Vec<MessageId> = (0..5)
        .map(|i| {
            stored(
                &store,
                accept_of(
                    0,
                    1_000 * (i + 1),
                    &format!("s{i}"),
                    &[],
                    &[(BENTRE, BENTRE)],
                ),
            )
        })
        .collect();
    // Another sender's message never shows.
    let mut foreign = accept_of(0, 2_500, "foreign", &[], &[(BENTRE, BENTRE)]);
    foreign.meta.from = org("VPTW2");
    stored(&store, foreign);

    let (page1, cursor) = store.sent_list(&org(VPTW), None, None, 2, None).unwrap();
    let cursor = cursor.unwrap();
    let (page2, cursor2) = store
        .sent_list(&org(VPTW), None, None, 2, Some(&cursor))
        .unwrap();
    let (page3, cursor3) = store
        .sent_list(&org(VPTW), None, None, 2, cursor2.as_ref())
        .unwrap();
    assert!(cursor3.is_none());
    let all: Vec<MessageId> = page1
        .iter()
        .chain(&page2)
        .chain(&page3)
        .map(|(m, _)| m.id)
        .collect();
    assert_eq!(all, ids);

    let (since, _) = store
        .sent_list(&org(VPTW), None, Some(3_000), 10, None)
        .unwrap();
    let since: Vec<MessageId> = since.iter().map(|(m, _)| m.id).collect();
    assert_eq!(since, ids[2..].to_vec());

    let entry = store
        .outbox_next(&org(BENTRE), 10, 0)
        .unwrap()
        .into_iter()
        .find(|e| e.message == ids[1])
        .unwrap();
    store
        .mark_delivered(&org(BENTRE), &entry, "r".to_owned(), 5)
        .unwrap();
    let (delivered, _) = store
        .sent_list(&org(VPTW), Some(DeliveryKind::Delivered), None, 10, None)
        .unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0.id, ids[1]);
    let (queued, _) = store
        .sent_list(&org(VPTW), Some(DeliveryKind::Queued), None, 10, None)
        .unwrap();
    assert_eq!(queued.len(), 4);

    // A cursor from another sender's listing is refused.
    let mut foreign_key = String::from("0005");
    foreign_key.push_str(&"00".repeat(8));
    let bad = foreign_key.parse().unwrap();
    assert!(matches!(
        store.sent_list(&org(VPTW), None, None, 10, Some(&bad)),
        Err(StoreError::Invalid {
            field: "cursor",
            ..
        })
    ));
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn reopen_after_drop_keeps_everything(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    let a = accept_of(3, 1, "kept", &[CHAUTHANH], &[(BENTRE, VPTW)]);
    let acked = accept_of(0, 2, "acked", &[CHAUTHANH], &[]);
    let failed = accept_of(1, 3, "failed", &[], &[(BENTRE, BENTRE)]);
    {
        let store = engine.open(&dir);
        stored(&store, a.clone());
        stored(&store, acked.clone());
        stored(&store, failed.clone());
        store.inbox_ack(&org(CHAUTHANH), &acked.meta.id).unwrap();
        let entry = store
            .outbox_next(&org(BENTRE), 10, 0)
            .unwrap()
            .into_iter()
            .find(|e| e.message == failed.meta.id)
            .unwrap();
        store
            .record_failure(&org(BENTRE), &entry, "timeout", 10)
            .unwrap();
        store
            .put_status(StatusEvent {
                message: a.meta.id,
                organ: org(VPTW),
                code: "01".parse().unwrap(),
                note: Some("đã nhận".to_owned()),
                at_ms: 5,
            })
            .unwrap();
        store.flush().unwrap();
    }
    let store = engine.open(&dir);
    assert_eq!(store.stats().unwrap().messages, 3);
    let (meta, bytes) = store
        .inbox_get(&org(CHAUTHANH), &a.meta.id)
        .unwrap()
        .unwrap();
    assert_eq!(meta, a.meta);
    assert_eq!(bytes, a.bytes);
    let pending: Vec<MessageId> = store
        .inbox_list(&org(CHAUTHANH), 10)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(pending, vec![a.meta.id]);
    assert_eq!(
        store.inbox_ack(&org(CHAUTHANH), &acked.meta.id).unwrap(),
        AckOutcome::AlreadyAcked
    );
    let outbox = store.outbox_next(&org(BENTRE), 10, 10).unwrap();
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[0].message, a.meta.id);
    assert_eq!(outbox[1].message, failed.meta.id);
    assert_eq!(outbox[1].attempts, 1);
    assert_eq!(
        store.statuses(&a.meta.id).unwrap()[0].note.as_deref(),
        Some("đã nhận")
    );
    assert!(matches!(
        store.accept(a).unwrap(),
        AcceptOutcome::Duplicate { .. }
    ));
    // Sequence numbers keep growing after a reopen: a new message queues behind the old.
    let later = stored(&store, accept_of(3, 4, "later", &[], &[(BENTRE, VPTW)]));
    let outbox = store.outbox_next(&org(BENTRE), 10, 10).unwrap();
    assert_eq!(outbox[1].message, later);
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn concurrent_writers_are_all_durable_and_share_flushes(engine: &Engine) {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let store = engine.open(&dir);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| {
                        let body = format!("t{t}-{i}");
                        let a = accept_of(
                            (i % 5) as u8,
                            i as i64,
                            &body,
                            &[CHAUTHANH],
                            &[(BENTRE, VPTW)],
                        );
                        let id = a.meta.id;
                        assert_eq!(store.accept(a).unwrap(), AcceptOutcome::Stored);
                        id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<MessageId> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let accepts = (THREADS * PER_THREAD) as u64;
    let stats = store.stats().unwrap();
    eprintln!(
        "group commit: {} accepts, {} flushes ({:.1} per 1000 documents)",
        accepts,
        stats.flushes,
        stats.flushes as f64 * 1000.0 / accepts as f64
    );
    assert_eq!(stats.durable_writes, accepts);
    assert!(
        stats.flushes * 2 < accepts,
        "{} flushes for {accepts} accepts: group commit did not batch",
        stats.flushes
    );
    drop(store);

    let store = engine.open(&dir);
    assert_eq!(store.stats().unwrap().messages, accepts);
    let inbox: HashSet<MessageId> = store
        .inbox_list(&org(CHAUTHANH), usize::MAX)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(inbox.len(), ids.len());
    assert!(ids.iter().all(|id| inbox.contains(id)));
    assert_eq!(
        store
            .outbox_next(&org(BENTRE), usize::MAX, 0)
            .unwrap()
            .len(),
        ids.len()
    );
}

/// A case of the contract (see [`store_contract!`]).
pub(crate) fn racing_accepts_of_one_id_store_it_once(engine: &Engine) {
    let dir = tempfile::tempdir().unwrap();
    // Used as the gateway will: a shared trait object.
    let store: Arc<dyn Store> = engine.open(&dir);
    let a = accept_of(1, 1, "race", &[CHAUTHANH], &[(BENTRE, VPTW)]);
    let id = a.meta.id;
    let outcomes: Vec<AcceptOutcome> = (0..6)
        .map(|_| {
            let store = Arc::clone(&store);
            let a = a.clone();
            std::thread::spawn(move || store.accept(a).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let stored = outcomes
        .iter()
        .filter(|o| **o == AcceptOutcome::Stored)
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, AcceptOutcome::Duplicate { meta } if meta.id == id))
        .count();
    assert_eq!((stored, duplicates), (1, 5));
    assert_eq!(store.inbox_list(&org(CHAUTHANH), 10).unwrap().len(), 1);
    assert_eq!(store.outbox_next(&org(BENTRE), 10, 0).unwrap().len(), 1);
    assert_eq!(store.stats().unwrap().messages, 1);
}

/// One `#[test]` per case of the contract, each on the store `$engine` (an [`Engine`]) opens.
macro_rules! store_contract {
    ($engine:expr) => {
        #[test]
        fn accept_stores_then_dedups_same_digest_and_refuses_other_digest() {
            $crate::store_contract::accept_stores_then_dedups_same_digest_and_refuses_other_digest(&$engine);
        }
        #[test]
        fn accept_refuses_no_recipient_and_repeated_recipient() {
            $crate::store_contract::accept_refuses_no_recipient_and_repeated_recipient(&$engine);
        }
        #[test]
        fn flash_overtakes_a_backlog_of_normal_and_lanes_stay_fifo() {
            $crate::store_contract::flash_overtakes_a_backlog_of_normal_and_lanes_stay_fifo(&$engine);
        }
        #[test]
        fn outbox_next_honours_next_attempt_time() {
            $crate::store_contract::outbox_next_honours_next_attempt_time(&$engine);
        }
        #[test]
        fn a_lease_gives_this_process_the_due_entries_again() {
            $crate::store_contract::a_lease_gives_this_process_the_due_entries_again(&$engine);
        }

        #[test]
        fn mark_delivered_removes_the_entry_and_records_receipt_and_hop() {
            $crate::store_contract::mark_delivered_removes_the_entry_and_records_receipt_and_hop(&$engine);
        }
        #[test]
        fn dead_letter_removes_the_entry_and_records_why() {
            $crate::store_contract::dead_letter_removes_the_entry_and_records_why(&$engine);
        }
        #[test]
        fn inbox_list_get_and_idempotent_ack() {
            $crate::store_contract::inbox_list_get_and_idempotent_ack(&$engine);
        }
        #[test]
        fn a_backlog_of_invisible_items_never_hides_the_visible_ones() {
            $crate::store_contract::a_backlog_of_invisible_items_never_hides_the_visible_ones(&$engine);
        }
        #[test]
        fn a_listing_entry_carries_its_filing_and_its_senders_recall() {
            $crate::store_contract::a_listing_entry_carries_its_filing_and_its_senders_recall(&$engine);
        }
        #[test]
        fn the_first_ack_records_and_queues_status_03_in_the_same_transaction() {
            $crate::store_contract::the_first_ack_records_and_queues_status_03_in_the_same_transaction(&$engine);
        }
        #[test]
        fn an_organ_cannot_read_or_ack_another_organs_inbox_item() {
            $crate::store_contract::an_organ_cannot_read_or_ack_another_organs_inbox_item(&$engine);
        }
        #[test]
        fn back_pressure_accepts_n_and_refuses_n_plus_1() {
            $crate::store_contract::back_pressure_accepts_n_and_refuses_n_plus_1(&$engine);
        }
        #[test]
        fn status_events_come_back_in_time_order() {
            $crate::store_contract::status_events_come_back_in_time_order(&$engine);
        }
        #[test]
        fn a_listing_skips_a_document_acked_and_swept_while_it_scans() {
            $crate::store_contract::a_listing_skips_a_document_acked_and_swept_while_it_scans(&$engine);
        }
        #[test]
        fn purge_removes_finished_messages_and_keeps_dedup() {
            $crate::store_contract::purge_removes_finished_messages_and_keeps_dedup(&$engine);
        }
        #[test]
        fn sent_list_pages_filters_and_starts_at_since() {
            $crate::store_contract::sent_list_pages_filters_and_starts_at_since(&$engine);
        }
        #[test]
        fn reopen_after_drop_keeps_everything() {
            $crate::store_contract::reopen_after_drop_keeps_everything(&$engine);
        }
        #[test]
        fn concurrent_writers_are_all_durable_and_share_flushes() {
            $crate::store_contract::concurrent_writers_are_all_durable_and_share_flushes(&$engine);
        }
        #[test]
        fn racing_accepts_of_one_id_store_it_once() {
            $crate::store_contract::racing_accepts_of_one_id_store_it_once(&$engine);
        }
    };
}
pub(crate) use store_contract;
