//! Signature verification on mutated signed documents: verify must never accept a document
//! whose signed content differs from what was signed.
//!
//! At start-up one fixed envelope (schemas/examples/bao-cao-mat.xml: a `mat` report with an
//! attachment) is signed with the district's demo key (certs/HU.CHAUTHANH). Each input is an
//! edit script applied to those signed bytes (see [`apply`]): overwrite, insert, delete, or copy
//! a range elsewhere (the move/duplicate shapes of signature-wrapping attacks). An empty script
//! is the untouched document and must verify.
//!
//! Oracle: when `verify` accepts, the exclusive c14n of the returned tree without its Signature
//! (what the Reference digests) equals the original's, the envelope handed to the caller equals
//! the original envelope, and the signer is the district. Anything else is a forgery.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lienthong::doc::c14n::{Options, canonicalize};
use lienthong::doc::envelope::{DSIG_NS, EDXML_NS, Envelope, EnvelopeLimits};
use lienthong::doc::{Document, Element, Limits, parse};
use lienthong::sign::{Pkcs8Signer, TrustStore, VerifyOptions, sign_document, verify};

struct Fixture {
    signed: Vec<u8>,
    canonical: Vec<u8>,
    envelope: Envelope,
    trust: TrustStore,
    options: VerifyOptions,
}

const DOCUMENT: &[u8] = include_bytes!("../../schemas/examples/bao-cao-mat.xml");

fn signature_of(doc: &Document) -> Option<&Element> {
    doc.root
        .child(EDXML_NS, "edXMLHeader")?
        .child(DSIG_NS, "Signature")
}

/// What the Reference covers: the whole document, Signature left out, exclusive c14n.
fn signed_content(doc: &Document) -> Vec<u8> {
    canonicalize(
        &doc.root,
        &[],
        &Options {
            inclusive_prefixes: &[],
            exclude: signature_of(doc),
        },
    )
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let harness =
            |what: &str, e: &dyn std::fmt::Display| -> ! { panic!("harness: {what}: {e}") };
        let signer = Pkcs8Signer::from_pem("fuzz", common::SIGNING_KEY_PEM)
            .unwrap_or_else(|e| harness("signing key", &e));
        let chain = lienthong::tls::certs_from_pem(common::SIGNING_CHAIN_PEM, "chain")
            .unwrap_or_else(|e| harness("signing chain", &e));
        let mut doc =
            parse(DOCUMENT, &Limits::default()).unwrap_or_else(|e| harness("document", &e));
        sign_document(&mut doc, &signer, &chain).unwrap_or_else(|e| harness("sign", &e));
        let signed = lienthong::doc::write::write_document(&doc);
        let trust = common::demo_trust();
        let options = common::verify_options();
        let verified =
            verify(&signed, &trust, &options).unwrap_or_else(|e| harness("verify original", &e));
        Fixture {
            canonical: signed_content(verified.document()),
            envelope: verified.envelope().clone(),
            signed,
            trust,
            options,
        }
    })
}

fn same_signed_parts(a: &Envelope, b: &Envelope) -> bool {
    a.header == b.header
        && a.trace == b.trace
        && a.label == b.label
        && a.header_ext == b.header_ext
        && a.body == b.body
}

/// Reads a little-endian u16 from the script, or `None` at its end.
fn u16_at(script: &[u8], at: &mut usize) -> Option<usize> {
    let lo = *script.get(*at)?;
    let hi = *script.get(*at + 1)?;
    *at += 2;
    Some(usize::from(u16::from_le_bytes([lo, hi])))
}

/// Applies an edit script. Each edit starts with a kind byte (mod 4) and a position (u16,
/// reduced modulo the current length + 1):
/// - 0 overwrite: `n: u8`, then `n` bytes written from the position (the document grows if
///   they run past its end);
/// - 1 insert: `n: u8`, then `n` bytes inserted at the position;
/// - 2 delete: `n: u16` bytes removed from the position;
/// - 3 copy: `src: u16`, `n: u16`: the range `src..src+n` (clamped) inserted at the position.
///
/// A truncated edit ends the script.
fn apply(original: &[u8], script: &[u8]) -> Vec<u8> {
    let mut doc = original.to_vec();
    let mut at = 0;
    while let Some(&kind) = script.get(at) {
        at += 1;
        let Some(pos) = u16_at(script, &mut at) else {
            break;
        };
        let pos = pos % (doc.len() + 1);
        match kind % 4 {
            0 | 1 => {
                let Some(&n) = script.get(at) else { break };
                at += 1;
                let end = (at + usize::from(n)).min(script.len());
                let bytes = script.get(at..end).unwrap_or_default().to_vec();
                at = end;
                if kind % 4 == 0 {
                    let stop = (pos + bytes.len()).min(doc.len());
                    doc.splice(pos..stop, bytes);
                } else {
                    doc.splice(pos..pos, bytes);
                }
            }
            2 => {
                let Some(n) = u16_at(script, &mut at) else {
                    break;
                };
                let stop = (pos + n).min(doc.len());
                doc.drain(pos..stop);
            }
            _ => {
                let Some(src) = u16_at(script, &mut at) else {
                    break;
                };
                let Some(n) = u16_at(script, &mut at) else {
                    break;
                };
                let src = src % (doc.len() + 1);
                let stop = (src + n).min(doc.len());
                let piece = doc.get(src..stop).unwrap_or_default().to_vec();
                doc.splice(pos..pos, piece);
            }
        }
    }
    doc
}

fuzz_target!(|script: &[u8]| {
    let f = fixture();
    let mutated = apply(&f.signed, script);
    let Ok(verified) = verify(&mutated, &f.trust, &f.options) else {
        assert!(
            !script.is_empty(),
            "the untouched signed document must verify"
        );
        return;
    };
    let content = signed_content(verified.document());
    assert!(
        content == f.canonical,
        "FORGERY: a mutated document verified with other signed content\n{}",
        String::from_utf8_lossy(&mutated)
    );
    // The Signature element itself is not signed content (KeyInfo, whitespace inside it may
    // change); every other part of the envelope is.
    assert!(
        same_signed_parts(verified.envelope(), &f.envelope),
        "FORGERY: a mutated document verified with another envelope\n{}",
        String::from_utf8_lossy(&mutated)
    );
    assert!(
        verified.signer().organ() == common::SIGNING_ORGAN,
        "FORGERY: signer changed"
    );
    // The envelope must also be what the signed content says, read independently.
    let reparsed = parse(&content, &Limits::default())
        .ok()
        .and_then(|d| Envelope::from_document(&d, &EnvelopeLimits::default()).ok());
    if let Some(env) = reparsed {
        assert!(
            same_signed_parts(&env, &f.envelope),
            "FORGERY: signed content reads as another envelope"
        );
    }
});
