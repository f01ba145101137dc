//! The organ directory: which encryption certificate a `mat` document for each organ is sealed
//! for (issue 22) — however many hops away that organ is.
//!
//! Three sources, merged, every certificate checked the same way against `[trust]` (chain,
//! validity, CRL, key usage keyEncipherment, exactly one organ binding):
//! - a **signed directory** (`[encryption] directory`), issued by the central office and copied
//!   to every gateway, like X-Road's signed global configuration: a JSON list of organs and
//!   their certificate chains with a detached signature by the issuer organ's document-signing
//!   key (`lienthong directory sign`), verified against the trust anchors and the configured
//!   issuer; its serial never goes back on reload (no rollback to an older directory);
//! - certificate files (`[encryption] certificates`);
//! - this gateway's own encryption certificates (`keys.encryption`, tokens).
//!
//! Re-read on SIGHUP. Of two valid certificates of one organ the later-issued is sealed for. A
//! certificate that fails its checks (revoked, expired, not an encryption certificate, listed
//! for another organ) is left out and reported ([`Directory::skipped`]), never sealed for — it
//! does not stop the gateway or a CRL reload, so a revocation always takes effect. A signed
//! directory that does not verify is refused whole.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::sealing::SealingError;
use crate::seal::Recipient;
use crate::sign::{Signer, TrustStore, VerifyOptions, verify_detached};

/// The signed directory as a file: the body's JSON text and a detached signature over it (the
/// shape of a signed receipt).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedDirectory {
    /// The [`DirectoryBody`] as JSON text (what was signed).
    pub directory: String,
    /// Signature algorithm URI.
    pub alg: String,
    /// Signature, base64.
    pub sig: String,
    /// The issuer's signing certificate then intermediates, base64 DER.
    pub certs: Vec<String>,
}

/// What the issuer signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryBody {
    /// Format version: 1.
    pub version: u32,
    /// The issuing organ (the central office).
    pub issuer: String,
    /// Increases with every issue; a gateway never goes back to a lower one.
    pub serial: u64,
    /// When it was issued, RFC 3339.
    pub issued_at: String,
    /// One entry per certificate.
    pub organs: Vec<DirectoryEntry>,
}

/// One organ's encryption certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    /// The organ id; must be the certificate's organ binding.
    pub organ: String,
    /// The certificate then its intermediates, base64 DER.
    pub chain: Vec<String>,
}

impl DirectoryBody {
    /// A version-1 body `issuer` issues now under `serial`: one entry per chain (leaf first),
    /// listed for the organ its leaf is bound to. `name` of each names it in errors.
    pub fn of_chains(
        issuer: &str,
        serial: u64,
        chains: &[(String, Vec<CertificateDer<'_>>)],
    ) -> Result<Self, String> {
        let organs = chains
            .iter()
            .map(|(name, chain)| {
                let organ = chain
                    .first()
                    .and_then(|c| crate::tls::organ_of_certificate(c))
                    .ok_or_else(|| format!("{name}: not bound to one organ"))?;
                Ok(DirectoryEntry {
                    organ,
                    chain: chain.iter().map(|c| B64.encode(c.as_ref())).collect(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            version: 1,
            issuer: issuer.to_owned(),
            serial,
            issued_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            organs,
        })
    }
}

/// Most entries one signed directory may hold.
pub const MAX_DIRECTORY_ENTRIES: usize = 10_000;

impl SignedDirectory {
    /// Signs `body` with the issuer's document-signing key.
    pub fn sign(
        body: &DirectoryBody,
        signer: &dyn Signer,
        chain: &[CertificateDer<'_>],
    ) -> Result<Self, String> {
        let directory = serde_json::to_string(body).map_err(|e| e.to_string())?;
        let sig = signer
            .sign(directory.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(Self {
            directory,
            alg: signer.algorithm().uri().to_owned(),
            sig: B64.encode(sig),
            certs: chain.iter().map(|c| B64.encode(c.as_ref())).collect(),
        })
    }

    /// Verifies the signature (a certificate bound to `issuer` chaining to `trust`) and reads
    /// the body. `path` names the file in errors.
    pub fn verify(
        &self,
        path: &str,
        issuer: &str,
        trust: &TrustStore,
        options: &VerifyOptions,
    ) -> Result<DirectoryBody, SealingError> {
        let bad = |reason: String| SealingError::BadDirectory {
            path: path.to_owned(),
            reason,
        };
        let sig = B64
            .decode(&self.sig)
            .map_err(|_| bad("the signature is not base64".into()))?;
        let certs = self
            .certs
            .iter()
            .map(|c| B64.decode(c).map(CertificateDer::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("a certificate is not base64".into()))?;
        verify_detached(
            self.directory.as_bytes(),
            &self.alg,
            &sig,
            &certs,
            issuer,
            trust,
            options,
        )
        .map_err(|e| bad(format!("not signed by {issuer}: {e}")))?;
        let body: DirectoryBody =
            serde_json::from_str(&self.directory).map_err(|e| bad(e.to_string()))?;
        if body.version != 1 {
            return Err(bad(format!(
                "version {} (this gateway reads 1)",
                body.version
            )));
        }
        if body.issuer != issuer {
            return Err(bad(format!("issued by {}, not {issuer}", body.issuer)));
        }
        if body.organs.len() > MAX_DIRECTORY_ENTRIES {
            return Err(bad(format!(
                "{} entries, over {MAX_DIRECTORY_ENTRIES}",
                body.organs.len()
            )));
        }
        Ok(body)
    }

    /// Reads and verifies a signed directory file.
    pub fn read_file(
        path: &Path,
        issuer: &str,
        trust: &TrustStore,
        options: &VerifyOptions,
    ) -> Result<DirectoryBody, SealingError> {
        let shown = path.display().to_string();
        let bad = |reason: String| SealingError::BadDirectory {
            path: shown.clone(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let signed: SignedDirectory =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        signed.verify(&shown, issuer, trust, options)
    }
}

/// Where a gateway's directory comes from (`[encryption]` and its own keys).
#[derive(Clone, Copy, Debug)]
pub struct Sources<'a> {
    /// Certificate files.
    pub files: &'a [PathBuf],
    /// The signed directory and its issuer organ.
    pub signed: Option<(&'a Path, &'a str)>,
    /// This gateway's own encryption certificate chains.
    pub own: &'a [Vec<CertificateDer<'static>>],
    /// The lowest serial a signed directory may have (the one in use, on reload).
    pub min_serial: u64,
}

/// Organ → encryption certificate, every one checked against the trust anchors at load.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    by_organ: HashMap<String, Recipient>,
    serial: u64,
    skipped: Vec<String>,
}

impl Directory {
    /// Reads every source and checks every certificate at `at` (see the module docs).
    pub fn load(
        sources: Sources<'_>,
        trust: &TrustStore,
        at: UnixTime,
    ) -> Result<Self, SealingError> {
        let mut chains: Vec<(String, Option<String>, Vec<CertificateDer<'static>>)> = Vec::new();
        let mut serial = 0;
        if let Some((path, issuer)) = sources.signed {
            let options = VerifyOptions {
                at,
                ..VerifyOptions::now()
            };
            let body = SignedDirectory::read_file(path, issuer, trust, &options)?;
            if body.serial < sources.min_serial {
                return Err(SealingError::BadDirectory {
                    path: path.display().to_string(),
                    reason: format!(
                        "serial {} is older than the directory in use ({})",
                        body.serial, sources.min_serial
                    ),
                });
            }
            serial = body.serial;
            for (i, e) in body.organs.into_iter().enumerate() {
                let chain = e
                    .chain
                    .iter()
                    .map(|c| B64.decode(c).map(CertificateDer::from))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| SealingError::BadDirectory {
                        path: path.display().to_string(),
                        reason: format!("entry {i} ({}): a certificate is not base64", e.organ),
                    })?;
                let name = format!("{} entry {i} ({})", path.display(), e.organ);
                chains.push((name, Some(e.organ), chain));
            }
        }
        for f in sources.files {
            chains.push((f.display().to_string(), None, read_chain(f)?));
        }
        for c in sources.own {
            chains.push(("keys.encryption".to_owned(), None, c.clone()));
        }
        let mut by_organ: HashMap<String, (i64, Recipient)> = HashMap::new();
        let mut skipped = Vec::new();
        for (name, claimed, chain) in chains {
            let (organ, not_before, r) = match entry(&name, &chain, trust, at) {
                Ok(e) => e,
                Err(e) => {
                    skipped.push(e.to_string());
                    continue;
                }
            };
            if let Some(c) = claimed.filter(|c| *c != organ) {
                skipped.push(format!(
                    "encryption certificate {name}: listed for {c}, bound to {organ}"
                ));
                continue;
            }
            match by_organ.get(&organ) {
                Some((nb, _)) if *nb >= not_before => {}
                _ => {
                    by_organ.insert(organ, (not_before, r));
                }
            }
        }
        Ok(Self {
            by_organ: by_organ.into_iter().map(|(o, (_, r))| (o, r)).collect(),
            serial,
            skipped,
        })
    }

    /// The certificates left out, each with its reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The certificate `organ`'s documents are sealed for.
    pub fn recipient(&self, organ: &str) -> Result<&Recipient, SealingError> {
        self.by_organ
            .get(organ)
            .ok_or_else(|| SealingError::NoCertificate {
                organ: organ.to_owned(),
            })
    }

    /// How many organs have a certificate.
    pub fn len(&self) -> usize {
        self.by_organ.len()
    }

    /// True when no organ has one.
    pub fn is_empty(&self) -> bool {
        self.by_organ.is_empty()
    }

    /// The signed directory's serial (0 without one).
    pub fn serial(&self) -> u64 {
        self.serial
    }
}

fn read_chain(f: &Path) -> Result<Vec<CertificateDer<'static>>, SealingError> {
    let path = f.display().to_string();
    let bad = |reason: String| SealingError::BadEntry {
        path: path.clone(),
        reason,
    };
    let pem = std::fs::read(f).map_err(|e| bad(e.to_string()))?;
    crate::tls::certs_from_pem(&pem, &path).map_err(|e| bad(e.to_string()))
}

/// One directory entry checked: (organ, notBefore, recipient).
fn entry(
    path: &str,
    chain: &[CertificateDer<'static>],
    trust: &TrustStore,
    at: UnixTime,
) -> Result<(String, i64, Recipient), SealingError> {
    let bad = |reason: String| SealingError::BadEntry {
        path: path.to_owned(),
        reason,
    };
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| bad("no certificate".to_owned()))?;
    crate::sign::verify::check_encryption_chain(leaf, intermediates, trust, at).map_err(|e| {
        bad(match e {
            crate::sign::ChainFailure::Eku => {
                "chain: an extended key usage of the chain is not for encryption (none, or \
                 emailProtection)"
                    .to_owned()
            }
            other => format!("chain: {other}"),
        })
    })?;
    let (_, x) = X509Certificate::from_der(leaf).map_err(|e| bad(e.to_string()))?;
    let ku = x.key_usage().map_err(|e| bad(e.to_string()))?;
    if !ku.is_some_and(|k| k.value.key_encipherment()) {
        return Err(bad(
            "not an encryption certificate: key usage keyEncipherment is missing".to_owned(),
        ));
    }
    let organ = crate::tls::organ_of_parsed(&x)
        .ok_or_else(|| bad("not bound to exactly one organ (SAN urn:lienthong:organ:…)".into()))?;
    let not_before = x.validity().not_before.timestamp();
    let r = Recipient::from_certificate(path, &organ, leaf)?;
    Ok((organ, not_before, r))
}
