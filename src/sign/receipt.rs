//! Signed receipts: after its durable write, a receiving gateway answers with a receipt (message
//! id, digest, organ, status 01 "arrived", time) signed with its organ's key; the sender verifies
//! it before it considers the delivery done, and keeps it as proof.
//!
//! The signature covers the receipt's JSON text exactly as sent (no canonical JSON needed).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use super::algorithm::{Signer, SignerError};
use super::trust::TrustStore;
use super::verify::{SignerIdentity, VerifyError, VerifyOptions, verify_detached};

/// What a receipt states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// The message id.
    pub message_id: String,
    /// SHA-256 of the canonical document (the XML-DSig reference digest), hex.
    pub digest_sha256: String,
    /// The receiving organ.
    pub organ: String,
    /// edXML status code: "01" arrived.
    pub status: String,
    /// When the durable write completed, RFC 3339.
    pub at: String,
}

/// A receipt as it travels: the body's JSON text and a detached signature over it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedReceipt {
    /// The body as JSON text (what was signed).
    pub receipt: String,
    /// Signature algorithm URI.
    pub alg: String,
    /// Signature, base64.
    pub sig: String,
    /// Signer's certificate then intermediates, base64 DER.
    pub certs: Vec<String>,
}

/// Why a receipt was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Not the JSON shape of a receipt.
    #[error("receipt is malformed: {0}")]
    Malformed(String),
    /// The signature or its certificate failed verification.
    #[error("receipt signature refused: {0}")]
    Signature(#[from] VerifyError),
    /// The receipt is valid but says something else than expected.
    #[error("receipt does not match the delivery: {0}")]
    Mismatch(String),
    /// Signing failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

impl SignedReceipt {
    /// Signs `body` with `signer`, embedding `chain` (leaf first).
    pub fn sign(
        body: &ReceiptBody,
        signer: &dyn Signer,
        chain: &[CertificateDer<'_>],
    ) -> Result<Self, ReceiptError> {
        let receipt =
            serde_json::to_string(body).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        let sig = signer.sign(receipt.as_bytes())?;
        Ok(Self {
            receipt,
            alg: signer.algorithm().uri().to_owned(),
            sig: B64.encode(sig),
            certs: chain.iter().map(|c| B64.encode(c.as_ref())).collect(),
        })
    }

    /// Verifies the receipt came from `organ` and acknowledges `message_id` with `digest_hex`.
    pub fn verify(
        &self,
        organ: &str,
        message_id: &str,
        digest_hex: &str,
        trust: &TrustStore,
        options: &VerifyOptions,
    ) -> Result<(ReceiptBody, SignerIdentity), ReceiptError> {
        let sig = B64
            .decode(&self.sig)
            .map_err(|_| ReceiptError::Malformed("signature is not base64".into()))?;
        let certs = self
            .certs
            .iter()
            .map(|c| B64.decode(c).map(CertificateDer::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ReceiptError::Malformed("certificate is not base64".into()))?;
        let signer = verify_detached(
            self.receipt.as_bytes(),
            &self.alg,
            &sig,
            &certs,
            organ,
            trust,
            options,
        )?;
        let body: ReceiptBody = serde_json::from_str(&self.receipt)
            .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        if body.organ != organ || body.message_id != message_id || body.digest_sha256 != digest_hex
        {
            return Err(ReceiptError::Mismatch(format!(
                "receipt is for {} / {} from {}",
                body.message_id, body.digest_sha256, body.organ
            )));
        }
        if body.status != "01" {
            return Err(ReceiptError::Mismatch(format!("status {}", body.status)));
        }
        Ok((body, signer))
    }
}
