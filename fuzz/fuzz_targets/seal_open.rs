//! Sealed documents (`seal::Sealed`, issue 22): reading `EncryptedData` / `EncryptedKey` and
//! opening with the district's demo encryption key.
//!
//! Two halves, chosen by the first byte:
//! - even: the input itself is read as a sealed document (the structure reader on arbitrary
//!   XML), and opened when it reads;
//! - odd: a valid document sealed for the key is mutated by the input (pairs of position and
//!   XOR mask), then read and opened.
//!
//! Properties: nothing panics, and whatever opens is exactly the plaintext that was sealed —
//! no mutation of ciphertext, tag or wrapped key ever yields other bytes.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use lienthong::doc::Limits;
use lienthong::doc::write::write_element;
use lienthong::seal::{KeyTransport, Recipient, Sealed, SoftwareKey, pkcs8_from_pem, seal};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

const PLAIN: &[u8] = b"<edXMLEnvelope>Mat: bao cao quy IV</edXMLEnvelope>";

struct Harness {
    key: SoftwareKey,
    sealed: Vec<u8>,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let cert = match CertificateDer::pem_slice_iter(common::ENCRYPTION_CHAIN_PEM).next() {
            Some(Ok(c)) => c,
            _ => panic!("harness: demo encryption certificate does not load"),
        };
        let pkcs8 = match pkcs8_from_pem("demo", common::ENCRYPTION_KEY_PEM) {
            Ok(k) => k,
            Err(e) => panic!("harness: demo encryption key does not load: {e}"),
        };
        let key = match SoftwareKey::from_pkcs8_der("demo", &pkcs8, &cert) {
            Ok(k) => k,
            Err(e) => panic!("harness: {e}"),
        };
        let recipient = match Recipient::from_certificate("demo", "HU.CHAUTHANH", &cert) {
            Ok(r) => r,
            Err(e) => panic!("harness: {e}"),
        };
        let e = match seal(PLAIN, None, &[recipient], KeyTransport::RSA_OAEP_SHA256) {
            Ok(e) => e,
            Err(e) => panic!("harness: {e}"),
        };
        let mut sealed = Vec::new();
        write_element(&e, &mut sealed);
        Harness { key, sealed }
    })
}

fn open_and_check(bytes: &[u8]) {
    let h = harness();
    if let Ok(s) = Sealed::from_bytes(bytes, &Limits::default()) {
        if let Ok(plain) = s.open(&h.key) {
            assert!(
                plain.as_slice() == PLAIN,
                "a mutated document opened to other bytes"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        open_and_check(rest);
        return;
    }
    let mut doc = harness().sealed.clone();
    let len = doc.len();
    for m in rest.chunks_exact(3) {
        let pos = usize::from(u16::from_le_bytes([m[0], m[1]])) % len;
        if let Some(b) = doc.get_mut(pos) {
            *b ^= m[2];
        }
    }
    open_and_check(&doc);
});
