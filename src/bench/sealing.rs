//! Sealing (`mat` end to end, issue 22), one thread, beside the signing pipeline: the seal
//! alone (AES-256-GCM + one RSA-OAEP wrap + the `EncryptedData` written), opening alone (read,
//! unwrap, GCM), and the gateway's whole steps — seal and sign the outer envelope at the
//! sender; open, verify the inner document and bind its header at the recipient.

use std::time::Duration;

use serde::Serialize;

use super::pipeline::{Material, envelope_at};
use super::{BenchError, rate};
use crate::doc::Limits;
use crate::doc::envelope::{EnvelopeLimits, parse_envelope};
use crate::doc::label::Level;
use crate::doc::write::{write_document, write_element};
use crate::gateway::sealing;
use crate::seal::{KeyTransport, Recipient, Sealed};
use crate::sign::{VerifyOptions, sign_document, verify};

/// One envelope size.
#[derive(Clone, Debug, Serialize)]
pub struct SealRow {
    /// `8 KB` or `1 MB`.
    pub label: String,
    /// The signed (inner) envelope, bytes.
    pub signed_bytes: usize,
    /// The signed outer envelope carrying it sealed for one recipient and the sender, bytes.
    pub sealed_bytes: usize,
    /// `sealed_bytes − signed_bytes`.
    pub added_bytes: usize,
    /// `seal::seal` for two recipients + writing the `EncryptedData`, documents/s.
    pub encrypt_docs_per_s: f64,
    /// `Sealed::from_bytes` + `open` (RSA-OAEP unwrap, AES-GCM), documents/s.
    pub decrypt_docs_per_s: f64,
    /// At the sender: outer envelope built, sealed, signed and written, documents/s.
    pub gateway_seal_docs_per_s: f64,
    /// At the recipient: `gateway::sealing::open` (decrypt, verify the inner signature, bind
    /// the headers), documents/s.
    pub gateway_open_docs_per_s: f64,
}

fn op(what: &'static str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Operation {
        what,
        reason: e.to_string(),
    }
}

/// Seals `mat` envelopes of 8 KB and 1 MB for the district's own encryption certificate and the
/// province-sized recipient list (two recipients: what one hop costs).
pub fn measure(m: &Material, budget: Duration) -> Result<Vec<SealRow>, BenchError> {
    let (Some(key), Some(chain)) = (m.decryption.first(), m.encryption_chains.first()) else {
        return Err(BenchError::Setup(
            "the district has no encryption key (keys.encryption)".into(),
        ));
    };
    let leaf = chain
        .first()
        .ok_or_else(|| BenchError::Setup("empty encryption chain".into()))?;
    let me = Recipient::from_certificate("district", "HU.CHAUTHANH", leaf)
        .map_err(|e| op("recipient", e))?;
    let recipients = [me.clone(), me];
    let mut rows = Vec::new();
    for (label, size, seq) in [
        ("8 KB", super::pipeline::SMALL, 11),
        ("1 MB", super::pipeline::LARGE, 12),
    ] {
        let unsigned = envelope_at(seq, size, super::pipeline::PROVINCE, Level::Mat)?;
        let signed = m.sign(&unsigned)?;
        let (_, envelope) =
            parse_envelope(&signed, &EnvelopeLimits::default()).map_err(|e| op("parse", e))?;
        let encrypt = rate(budget, || {
            let e = crate::seal::seal(
                &signed,
                Some("application/xml"),
                &recipients,
                KeyTransport::RSA_OAEP_SHA256,
            )
            .map_err(|e| op("seal", e))?;
            let mut out = Vec::new();
            write_element(&e, &mut out);
            std::hint::black_box(out);
            Ok(())
        })?;
        let element = crate::seal::seal(&signed, None, &recipients, KeyTransport::RSA_OAEP_SHA256)
            .map_err(|e| op("seal", e))?;
        let mut sealed = Vec::new();
        write_element(&element, &mut sealed);
        let decrypt = rate(budget, || {
            let s = Sealed::from_bytes(&sealed, &Limits::default()).map_err(|e| op("read", e))?;
            std::hint::black_box(s.open(key.as_ref()).map_err(|e| op("open", e))?);
            Ok(())
        })?;
        let seal_outer = || -> Result<Vec<u8>, BenchError> {
            let outer = sealing::seal_envelope(
                &envelope,
                &signed,
                &recipients,
                KeyTransport::RSA_OAEP_SHA256,
            )
            .map_err(|e| op("seal envelope", e))?;
            let mut doc = outer.to_document();
            sign_document(&mut doc, m.signer.as_ref(), &m.chain).map_err(|e| op("sign", e))?;
            Ok(write_document(&doc))
        };
        let gateway_seal = rate(budget, || {
            seal_outer().map(|b| drop(std::hint::black_box(b)))
        })?;
        let outer_bytes = seal_outer()?;
        let outer = verify(&outer_bytes, &m.trust, &VerifyOptions::now())
            .map_err(|e| op("verify outer", e))?
            .envelope()
            .clone();
        let gateway_open = rate(budget, || {
            let o = sealing::open(&outer, &m.decryption, &m.trust, &VerifyOptions::now())
                .map_err(|e| op("open envelope", e))?;
            std::hint::black_box(o.bytes);
            Ok(())
        })?;
        rows.push(SealRow {
            label: label.to_owned(),
            signed_bytes: signed.len(),
            sealed_bytes: outer_bytes.len(),
            added_bytes: outer_bytes.len().saturating_sub(signed.len()),
            encrypt_docs_per_s: encrypt,
            decrypt_docs_per_s: decrypt,
            gateway_seal_docs_per_s: gateway_seal,
            gateway_open_docs_per_s: gateway_open,
        });
    }
    Ok(rows)
}

/// The human table of the seal rows (section 2b).
pub fn table(rows: &[SealRow]) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n2b. Sealing mat documents (AES-256-GCM + RSA-OAEP-SHA256 for two recipients, one thread)"
    );
    let _ = writeln!(
        s,
        "   {:<6} {:>10} {:>10} {:>14} {:>14} {:>13} {:>13}",
        "size",
        "signed B",
        "+ bytes",
        "encrypt docs/s",
        "decrypt docs/s",
        "seal+sign/s",
        "open+verify/s"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "   {:<6} {:>10} {:>10} {:>14.0} {:>14.0} {:>13.0} {:>13.0}",
            r.label,
            r.signed_bytes,
            r.added_bytes,
            r.encrypt_docs_per_s,
            r.decrypt_docs_per_s,
            r.gateway_seal_docs_per_s,
            r.gateway_open_docs_per_s,
        );
    }
    s
}
