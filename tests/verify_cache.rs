//! The chain cache of a `TrustStore` (issue #10): repeated verification of the same certificates
//! skips the certificate half, and is still exactly as strict — a new CRL, a time outside the
//! window, another chain, a mutated document or receipt are each refused or re-checked in full.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::sync::Arc;

use common::{Alg, LeafSpec, TestPki, sample_envelope};
use lienthong::doc::{Limits, parse, write::write_document};
use lienthong::sign::{
    CHAIN_CACHE_CAPACITY, CacheStats, ChainFailure, ReceiptBody, ReceiptError, SignedReceipt,
    Signer, TrustStore, VerifyError, VerifyOptions, sign_document, verify, verify_detached,
};
use rustls_pki_types::UnixTime;
use time::{Duration, OffsetDateTime};

const FROM: &str = "HU.CHAUTHANH";
const OTHER: &str = "HU.GIONGTROM";
const TO: &str = "TU.BENTRE";

fn sign_xml(xml: &str, leaf: &common::Leaf) -> String {
    let mut doc = parse(xml.as_bytes(), &Limits::default()).unwrap();
    sign_document(&mut doc, &leaf.signer(), &leaf.chain).unwrap();
    String::from_utf8(write_document(&doc)).unwrap()
}

fn signed_by(pki: &TestPki, spec: LeafSpec) -> (String, common::Leaf) {
    let organ = spec.organ.clone().unwrap();
    let leaf = pki.leaf(spec);
    (
        sign_xml(&sample_envelope(&organ, TO, "thuong"), &leaf),
        leaf,
    )
}

fn at(t: OffsetDateTime) -> VerifyOptions {
    VerifyOptions {
        at: UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(t.unix_timestamp()).unwrap(),
        )),
        ..VerifyOptions::now()
    }
}

fn chain_reason(e: &VerifyError) -> ChainFailure {
    match e {
        VerifyError::Chain { reason, .. } => reason.clone(),
        other => panic!("expected a chain failure, got {other}"),
    }
}

fn stats(hits: u64, misses: u64, entries: usize) -> CacheStats {
    let mut s = CacheStats::default();
    s.hits = hits;
    s.misses = misses;
    s.entries = entries;
    s
}

fn trust_with_crl(pki: &TestPki, revoked: &[u64], next_update_in: Duration) -> TrustStore {
    let mut t = pki.trust();
    t.add_crl(&pki.crl(revoked, next_update_in), "crl").unwrap();
    t
}

// (1)
#[test]
fn second_verification_of_the_same_chain_is_a_hit_with_the_same_result() {
    let pki = TestPki::new("hit");
    let (xml, leaf) = signed_by(&pki, LeafSpec::new(Alg::Rsa2048, FROM));
    let trust = trust_with_crl(&pki, &[], Duration::days(7));
    assert_eq!(trust.cache_stats(), stats(0, 0, 0));

    let first = verify(xml.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    assert_eq!(trust.cache_stats(), stats(0, 1, 1));
    let second = verify(xml.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    assert_eq!(trust.cache_stats(), stats(1, 1, 1));

    let (a, b) = (first.signer(), second.signer());
    assert_eq!(b.organ(), FROM);
    assert_eq!(
        (
            a.organ(),
            a.subject(),
            a.serial(),
            a.not_before(),
            a.not_after()
        ),
        (
            b.organ(),
            b.subject(),
            b.serial(),
            b.not_before(),
            b.not_after()
        )
    );
    assert_eq!(a.algorithm(), leaf.signer().algorithm().name());
    assert_eq!(b.algorithm(), a.algorithm());
    assert_eq!(first.digest(), second.digest());
    assert_eq!(first.bytes(), second.bytes());
    assert!(first.revocation_checked() && second.revocation_checked());
    assert_eq!(
        format!("{:?}", first.envelope()),
        format!("{:?}", second.envelope())
    );
}

// (2)
#[test]
fn a_new_trust_store_with_a_crl_revoking_the_leaf_refuses_a_cached_chain() {
    let pki = TestPki::new("reload");
    let (xml, _) = signed_by(&pki, LeafSpec::new(Alg::P256, FROM));
    let before = trust_with_crl(&pki, &[], Duration::days(7));
    verify(xml.as_bytes(), &before, &VerifyOptions::now()).unwrap();
    verify(xml.as_bytes(), &before, &VerifyOptions::now()).unwrap();
    assert_eq!(before.cache_stats().hits, 1);

    // What a SIGHUP does: a new store from the new CRL file.
    let after = trust_with_crl(&pki, &[1000], Duration::days(7));
    let e = verify(xml.as_bytes(), &after, &VerifyOptions::now()).unwrap_err();
    assert_eq!(chain_reason(&e), ChainFailure::Revoked);
    assert_eq!(after.cache_stats(), stats(0, 1, 0));
}

#[test]
fn adding_a_crl_to_a_store_forgets_its_cached_chains() {
    let pki = TestPki::new("addcrl");
    let (xml, _) = signed_by(&pki, LeafSpec::new(Alg::P256, FROM));
    let mut trust = pki.trust();
    verify(xml.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    verify(xml.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    assert_eq!(trust.cache_stats(), stats(1, 1, 1));

    trust
        .add_crl(&pki.crl(&[1000], Duration::days(7)), "crl")
        .unwrap();
    assert_eq!(trust.cache_stats().entries, 0);
    let e = verify(xml.as_bytes(), &trust, &VerifyOptions::now()).unwrap_err();
    assert_eq!(chain_reason(&e), ChainFailure::Revoked);
}

// (3)
#[test]
fn a_time_after_not_after_is_refused_even_with_the_chain_cached() {
    let pki = TestPki::new("window");
    let now = OffsetDateTime::now_utc();
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.not_after = now + Duration::days(3);
    let (xml, _) = signed_by(&pki, spec);
    let trust = pki.trust();
    verify(xml.as_bytes(), &trust, &at(now)).unwrap();
    verify(xml.as_bytes(), &trust, &at(now)).unwrap();
    assert_eq!(trust.cache_stats(), stats(1, 1, 1));

    // `verify --at` four days on: past notAfter.
    let e = verify(xml.as_bytes(), &trust, &at(now + Duration::days(4))).unwrap_err();
    assert_eq!(chain_reason(&e), ChainFailure::Expired);
    // Before notBefore (a day ago) by more than the skew allowance.
    let e = verify(xml.as_bytes(), &trust, &at(now - Duration::days(2))).unwrap_err();
    assert_eq!(chain_reason(&e), ChainFailure::NotYetValid);
    assert_eq!(trust.cache_stats(), stats(1, 3, 1));
    // Inside the window the entry still answers.
    verify(xml.as_bytes(), &trust, &at(now + Duration::days(2))).unwrap();
    assert_eq!(trust.cache_stats(), stats(2, 3, 1));
}

#[test]
fn a_time_past_the_crl_next_update_is_refused_even_with_the_chain_cached() {
    let pki = TestPki::new("crlwindow");
    let now = OffsetDateTime::now_utc();
    let (xml, _) = signed_by(&pki, LeafSpec::new(Alg::P256, FROM));
    // The certificate holds for a year; the CRL only for two days.
    let trust = trust_with_crl(&pki, &[], Duration::days(2));
    verify(xml.as_bytes(), &trust, &at(now)).unwrap();
    verify(xml.as_bytes(), &trust, &at(now)).unwrap();
    assert_eq!(trust.cache_stats().hits, 1);

    let e = verify(xml.as_bytes(), &trust, &at(now + Duration::days(3))).unwrap_err();
    assert_eq!(chain_reason(&e), ChainFailure::StaleCrl);
}

#[test]
fn a_success_within_the_clock_skew_does_not_answer_for_a_verifier_without_skew() {
    let pki = TestPki::new("skew");
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.not_before = OffsetDateTime::now_utc() + Duration::minutes(2);
    let (xml, _) = signed_by(&pki, spec);
    let trust = pki.trust();
    let now = OffsetDateTime::now_utc();
    // Accepted inside the default five-minute allowance (and remembered)…
    verify(xml.as_bytes(), &trust, &at(now)).unwrap();
    assert_eq!(trust.cache_stats().entries, 1);
    // …but the same instant without allowance is refused: the entry's window starts at
    // notBefore, so the full check ran.
    let strict = VerifyOptions {
        clock_skew: std::time::Duration::ZERO,
        ..at(now)
    };
    let e = verify(xml.as_bytes(), &trust, &strict).unwrap_err();
    assert_eq!(chain_reason(&e), ChainFailure::NotYetValid);
    assert_eq!(trust.cache_stats().hits, 0);
}

// (4)
#[test]
fn another_chain_is_a_miss_and_binds_its_own_organ() {
    let pki = TestPki::new("organs");
    let (xml_a, leaf_a) = signed_by(&pki, LeafSpec::new(Alg::P256, FROM));
    let mut spec = LeafSpec::new(Alg::P256, OTHER);
    spec.serial = 2000;
    let (xml_b, leaf_b) = signed_by(&pki, spec);
    let trust = pki.trust();

    assert_eq!(
        verify(xml_a.as_bytes(), &trust, &VerifyOptions::now())
            .unwrap()
            .signer()
            .organ(),
        FROM
    );
    let b = verify(xml_b.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    assert_eq!(b.signer().organ(), OTHER);
    assert_eq!(trust.cache_stats(), stats(0, 2, 2));
    // Each cached chain answers for itself.
    let a = verify(xml_a.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    assert_eq!(a.signer().organ(), FROM);
    let b = verify(xml_b.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    assert_eq!(b.signer().organ(), OTHER);
    assert_eq!(trust.cache_stats(), stats(2, 2, 2));

    // B's cached chain on a document From A: the binding is compared on every call.
    let forged = sign_xml(&sample_envelope(FROM, TO, "thuong"), &leaf_b);
    let e = verify(forged.as_bytes(), &trust, &VerifyOptions::now()).unwrap_err();
    assert!(
        matches!(&e, VerifyError::OrganMismatch { certificate, from } if certificate == OTHER && from == FROM),
        "{e}"
    );
    assert_eq!(trust.cache_stats().hits, 3);

    // The same certificates in another order are another key (a miss), and still verify.
    let mut reordered = leaf_a.chain.clone();
    reordered.reverse();
    let mut doc = parse(
        sample_envelope(FROM, TO, "thuong").as_bytes(),
        &Limits::default(),
    )
    .unwrap();
    sign_document(&mut doc, &leaf_a.signer(), &reordered).unwrap();
    let xml_r = write_document(&doc);
    let misses = trust.cache_stats().misses;
    assert_eq!(
        verify(&xml_r, &trust, &VerifyOptions::now())
            .unwrap()
            .signer()
            .organ(),
        FROM
    );
    assert_eq!(trust.cache_stats().misses, misses + 1);
}

// (5)
#[test]
fn a_mutated_document_with_a_cached_chain_is_refused() {
    let pki = TestPki::new("mutate");
    let (xml, _) = signed_by(&pki, LeafSpec::new(Alg::Rsa2048, FROM));
    let trust = pki.trust();
    verify(xml.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    assert_eq!(trust.cache_stats(), stats(0, 1, 1));

    // The content: the digest.
    let bad = xml.replacen("chuyển đổi số năm 2027", "chuyển đổi số năm 2028", 1);
    assert_ne!(bad, xml);
    let e = verify(bad.as_bytes(), &trust, &VerifyOptions::now()).unwrap_err();
    assert!(matches!(e, VerifyError::DigestMismatch), "{e}");

    // The SignatureValue: checked with the cached key, refused.
    let start = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let end = xml.find("</ds:SignatureValue>").unwrap();
    let c = if xml[start..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    let flipped = format!("{}{c}{}", &xml[..start], &xml[start + 1..]);
    assert_eq!(flipped.len(), xml.len());
    assert!(flipped.find("</ds:SignatureValue>") == Some(end));
    let before = trust.cache_stats().hits;
    let e = verify(flipped.as_bytes(), &trust, &VerifyOptions::now()).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    // The refusal came from the cached path: the chain was a hit, the signature still checked.
    assert_eq!(trust.cache_stats().hits, before + 1);
}

#[test]
fn a_cached_chain_swapped_into_another_document_is_refused() {
    // KeyInfo swap with both chains cached: the signature is checked with the key of the chain
    // presented, which did not sign.
    let pki = TestPki::new("swap");
    let (xml_a, _) = signed_by(&pki, LeafSpec::new(Alg::P256, FROM));
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.serial = 1001;
    let (xml_b, _) = signed_by(&pki, spec);
    let trust = pki.trust();
    verify(xml_a.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
    verify(xml_b.as_bytes(), &trust, &VerifyOptions::now()).unwrap();

    let key_info = |x: &str| {
        let s = x.find("<ds:KeyInfo>").unwrap();
        let e = x.find("</ds:KeyInfo>").unwrap();
        x[s..e].to_owned()
    };
    let swapped = xml_a.replacen(&key_info(&xml_a), &key_info(&xml_b), 1);
    assert_ne!(swapped, xml_a);
    let hits = trust.cache_stats().hits;
    let e = verify(swapped.as_bytes(), &trust, &VerifyOptions::now()).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    assert_eq!(trust.cache_stats().hits, hits + 1);
}

#[test]
fn failures_are_never_cached() {
    let pki = TestPki::new("nofail");
    let now = OffsetDateTime::now_utc();
    let mut spec = LeafSpec::new(Alg::P256, FROM);
    spec.not_before = now - Duration::days(400);
    spec.not_after = now - Duration::days(1);
    let (expired, _) = signed_by(&pki, spec);
    let trust = pki.trust();
    for _ in 0..2 {
        let e = verify(expired.as_bytes(), &trust, &VerifyOptions::now()).unwrap_err();
        assert_eq!(chain_reason(&e), ChainFailure::Expired);
    }
    assert_eq!(trust.cache_stats(), stats(0, 2, 0));

    // A good chain under a bad signature is not remembered either: the chain is checked only
    // after the signature, and nothing is stored on a refusal.
    let (xml, _) = signed_by(&pki, LeafSpec::new(Alg::P256, FROM));
    let start = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let c = if xml[start..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    let flipped = format!("{}{c}{}", &xml[..start], &xml[start + 1..]);
    let e = verify(flipped.as_bytes(), &trust, &VerifyOptions::now()).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    assert_eq!(trust.cache_stats().entries, 0);
}

#[test]
fn receipts_share_the_cache_and_are_still_refused_when_altered() {
    let pki = TestPki::new("receipt");
    let leaf = pki.leaf(LeafSpec::new(Alg::P256, TO));
    let body = ReceiptBody {
        message_id: "0123456789abcdef0123456789abcdef".into(),
        digest_sha256: "ab".repeat(32),
        organ: TO.into(),
        status: "01".into(),
        at: "2026-11-23T08:00:00Z".into(),
    };
    let r = SignedReceipt::sign(&body, &leaf.signer(), &leaf.chain).unwrap();
    let trust = pki.trust();
    let opts = VerifyOptions::now();
    let check = |r: &SignedReceipt, organ: &str| {
        r.verify(organ, &body.message_id, &body.digest_sha256, &trust, &opts)
    };
    let (_, first) = check(&r, TO).unwrap();
    let (got, second) = check(&r, TO).unwrap();
    assert_eq!(got, body);
    assert_eq!(trust.cache_stats(), stats(1, 1, 1));
    assert_eq!(
        (first.organ(), first.serial(), first.algorithm()),
        (second.organ(), second.serial(), second.algorithm())
    );

    // The text altered after signing: the detached signature is checked on the hit.
    let mut t = r.clone();
    t.receipt = t.receipt.replace("\"01\"", "\"02\"");
    let e = check(&t, TO).unwrap_err();
    assert!(
        matches!(e, ReceiptError::Signature(VerifyError::BadSignature { .. })),
        "{e}"
    );
    // Another organ expected: the binding is compared on the hit.
    let e = check(&r, "VPTW").unwrap_err();
    assert!(
        matches!(
            e,
            ReceiptError::Signature(VerifyError::OrganMismatch { .. })
        ),
        "{e}"
    );
    assert_eq!(trust.cache_stats(), stats(3, 1, 1));

    // A document signed with the same chain finds it cached: one certificate check.
    let doc = sign_xml(&sample_envelope(TO, FROM, "thuong"), &leaf);
    assert_eq!(
        verify(doc.as_bytes(), &trust, &opts)
            .unwrap()
            .signer()
            .organ(),
        TO
    );
    assert_eq!(trust.cache_stats(), stats(4, 1, 1));
}

#[test]
fn concurrent_verifications_share_one_entry() {
    let pki = TestPki::new("threads");
    let (xml, _) = signed_by(&pki, LeafSpec::new(Alg::P256, FROM));
    let trust = Arc::new(pki.trust());
    let xml = Arc::new(xml);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (trust, xml) = (Arc::clone(&trust), Arc::clone(&xml));
            std::thread::spawn(move || {
                for _ in 0..10 {
                    let v = verify(xml.as_bytes(), &trust, &VerifyOptions::now()).unwrap();
                    assert_eq!(v.signer().organ(), FROM);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = trust.cache_stats();
    assert_eq!(s.hits + s.misses, 40);
    assert!(s.hits >= 36, "{s:?}");
    assert_eq!(s.entries, 1);
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let pki = TestPki::new("bound");
    let trust = pki.trust();
    let message = b"hop record";
    for serial in 0..=u64::try_from(CHAIN_CACHE_CAPACITY).unwrap() {
        let mut spec = LeafSpec::new(Alg::P256, FROM);
        spec.serial = 5000 + serial;
        let leaf = pki.leaf(spec);
        let signer = leaf.signer();
        let sig = signer.sign(message).unwrap();
        let alg = signer.algorithm().uri();
        let opts = VerifyOptions::now();
        for _ in 0..2 {
            let id = verify_detached(message, alg, &sig, &leaf.chain, FROM, &trust, &opts).unwrap();
            assert_eq!(id.organ(), FROM);
        }
        assert!(trust.cache_stats().entries <= CHAIN_CACHE_CAPACITY);
    }
    let s = trust.cache_stats();
    let n = u64::try_from(CHAIN_CACHE_CAPACITY).unwrap() + 1;
    // Every chain verified once in full and was then answered from the cache.
    assert_eq!((s.hits, s.misses), (n, n));
    assert!(s.entries >= 1 && s.entries <= CHAIN_CACHE_CAPACITY, "{s:?}");
}
