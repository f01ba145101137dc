//! OCSP (RFC 6960): the revocation status of one certificate, asked of its CA's responder.
//!
//! One concern per file: `der` (the little DER OCSP needs), `request` (the request with its
//! certID and a fresh nonce), `response` (a `BasicOCSPResponse` read into borrowed parts,
//! nothing checked yet), `check` (signature by the CA or its delegated responder, nonce,
//! certID, times) and `cache` (answers kept until their nextUpdate or the freshness limit).
//! [`Ocsp`] puts them together behind one call, [`Ocsp::check`]; fetching goes through the
//! [`Transport`] the composition root gives it (HTTP lives in `relay::ocsp`, never here: the
//! domain does not speak HTTP).
//!
//! What it does not do: sign requests (`optionalSignature`; no responder here asks for one),
//! check a delegated responder's own revocation (RFC 6960 §4.2.2.2.1 lets the CA mark it
//! id-pkix-ocsp-nocheck; a short-lived responder certificate is the usual answer), or accept a
//! response without our nonce (a replayed "good" is what the nonce is for).

mod cache;
mod check;
mod der;
mod request;
mod response;

use std::sync::Arc;
use std::time::Duration;

use x509_parser::prelude::{FromDer, X509Certificate};

pub use cache::{OCSP_CACHE_CAPACITY, OcspCacheStats};

/// Why OCSP gave no usable "good" answer for a certificate. `Revoked` is the responder's
/// verdict; every other reason means OCSP could not answer, and the next configured source
/// (a CRL) is asked — if none answers either, verification fails closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// The responder says the certificate is revoked.
    #[error("revoked at {at} (OCSP){}", reason.as_ref().map(|r| format!(", reason {r}")).unwrap_or_default())]
    Revoked {
        /// revocationTime, RFC 3339.
        at: String,
        /// The CRLReason code, if given (RFC 5280 §5.3.1).
        reason: Option<u8>,
    },
    /// The responder does not know the certificate (status `unknown`).
    #[error("the OCSP responder does not know the certificate (status unknown)")]
    Unknown,
    /// The answer is past its nextUpdate, or older than the freshness limit without one.
    #[error("the OCSP response is stale (thisUpdate {this_update}, nextUpdate {next_update})")]
    Stale {
        /// thisUpdate, RFC 3339.
        this_update: String,
        /// nextUpdate, RFC 3339, or "none (freshness limit N s)".
        next_update: String,
    },
    /// thisUpdate lies further in the future than the allowed clock skew.
    #[error("the OCSP response's thisUpdate {this_update} is in the future beyond the skew")]
    FromTheFuture {
        /// thisUpdate, RFC 3339.
        this_update: String,
    },
    /// The response does not echo the nonce of our request.
    #[error("the OCSP response does not carry the nonce of the request")]
    NonceMismatch,
    /// The response's signature does not verify with the key of the responder it names.
    #[error("the OCSP response's signature does not verify")]
    BadSignature,
    /// The response is signed by a certificate that may not answer for this CA (RFC 6960
    /// §4.2.2.2: the CA itself, or a certificate it issued carrying id-kp-OCSPSigning).
    #[error("the OCSP responder is not authorised by the CA: {reason}")]
    ResponderNotAuthorised {
        /// What was missing.
        reason: String,
    },
    /// The response answers for other certificates than the one asked about.
    #[error("the OCSP response holds no answer for the certificate asked about (certID)")]
    CertIdMismatch,
    /// A signature or hash algorithm not accepted here.
    #[error("unsupported algorithm in the OCSP response: {what}")]
    UnsupportedAlgorithm {
        /// Which and where.
        what: String,
    },
    /// The responder answered with an error status (RFC 6960 §4.2.1).
    #[error("the OCSP responder refused the request: {status}")]
    ResponderError {
        /// malformedRequest, internalError, tryLater, sigRequired, unauthorized or the number.
        status: String,
    },
    /// Not a well-formed OCSP response (truncated, wrong OID or tag, trailing bytes).
    #[error("malformed OCSP response: {reason}")]
    Malformed {
        /// What could not be read.
        reason: String,
    },
    /// The certificate names no OCSP responder (AIA id-ad-ocsp) and none is configured.
    #[error("no OCSP responder: the certificate has no AIA OCSP URL and none is configured")]
    NoResponder,
    /// The responder could not be reached or did not answer in time.
    #[error("the OCSP responder {url} is unreachable: {reason}")]
    Unreachable {
        /// The responder URL.
        url: String,
        /// The transport's reason (connect, timeout, HTTP status, size).
        reason: String,
    },
    /// The certificate or its issuer could not be read for the request.
    #[error("cannot build the OCSP request: {reason}")]
    BadCertificate {
        /// The parser's reason.
        reason: String,
    },
}

impl OcspError {
    /// The reason as a chain refusal names it (`chain:ocsp-revoked`, …).
    pub fn chain_kind(&self) -> &'static str {
        match self {
            Self::Revoked { .. } => "ocsp-revoked",
            Self::Unknown => "ocsp-unknown",
            Self::Stale { .. } => "ocsp-stale",
            Self::FromTheFuture { .. } => "ocsp-from-the-future",
            Self::NonceMismatch => "ocsp-nonce-mismatch",
            Self::BadSignature => "ocsp-bad-signature",
            Self::ResponderNotAuthorised { .. } => "ocsp-responder-not-authorised",
            Self::CertIdMismatch => "ocsp-cert-id-mismatch",
            Self::UnsupportedAlgorithm { .. } => "ocsp-unsupported-algorithm",
            Self::ResponderError { .. } => "ocsp-responder-error",
            Self::Malformed { .. } => "ocsp-malformed",
            Self::NoResponder => "ocsp-no-responder",
            Self::Unreachable { .. } => "ocsp-unreachable",
            Self::BadCertificate { .. } => "ocsp-bad-certificate",
        }
    }

    /// A stable name for the reason (kebab case), for `--json` and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Revoked { .. } => "revoked",
            Self::Unknown => "unknown",
            Self::Stale { .. } => "stale",
            Self::FromTheFuture { .. } => "from-the-future",
            Self::NonceMismatch => "nonce-mismatch",
            Self::BadSignature => "bad-signature",
            Self::ResponderNotAuthorised { .. } => "responder-not-authorised",
            Self::CertIdMismatch => "cert-id-mismatch",
            Self::UnsupportedAlgorithm { .. } => "unsupported-algorithm",
            Self::ResponderError { .. } => "responder-error",
            Self::Malformed { .. } => "malformed",
            Self::NoResponder => "no-responder",
            Self::Unreachable { .. } => "unreachable",
            Self::BadCertificate { .. } => "bad-certificate",
        }
    }
}

/// How an OCSP request reaches a responder: one blocking POST of `application/ocsp-request`
/// bytes, returning the body of a 200 answer. Implemented over HTTP by `relay::ocsp`; tests
/// may give their own.
pub trait Transport: Send + Sync {
    /// POSTs `request` to `url`, waiting at most `timeout`; `Err` carries the reason in words.
    fn post(&self, url: &str, request: &[u8], timeout: Duration) -> Result<Vec<u8>, String>;
}

/// What an OCSP check needs besides the certificates.
#[derive(Clone, Debug)]
pub struct OcspSettings {
    /// A responder URL used instead of the certificate's AIA (`trust.ocsp_responder`).
    pub responder: Option<String>,
    /// How long an answer without nextUpdate is fresh after its thisUpdate
    /// (`trust.ocsp_max_age_seconds`, default 3600).
    pub max_age: Duration,
    /// How long one request may take (`trust.ocsp_timeout_ms`, default 5000).
    pub timeout: Duration,
    /// How far thisUpdate may lie in the future (the responder's clock ahead of ours).
    pub clock_skew: Duration,
}

impl Default for OcspSettings {
    fn default() -> Self {
        Self {
            responder: None,
            max_age: Duration::from_secs(DEFAULT_MAX_AGE_SECS),
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            clock_skew: Duration::from_secs(300),
        }
    }
}

/// Freshness of an answer without nextUpdate: one hour, X-Road's default for its
/// `ocspFreshnessSeconds` ("OCSP response is too old" is then the operator's signal).
pub const DEFAULT_MAX_AGE_SECS: u64 = 3600;
/// One request's time limit: five seconds, long enough for a national responder over a slow
/// link, short enough that a document waits little before the CRL is asked.
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;

/// A "good" answer: who answered and for how long it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspAnswer {
    /// thisUpdate, seconds since the epoch.
    pub this_update: u64,
    /// nextUpdate, seconds since the epoch, if the responder gave one.
    pub next_update: Option<u64>,
    /// The instant (exclusive) from which this answer is no longer used: nextUpdate, or
    /// thisUpdate + the freshness limit.
    pub until: u64,
    /// The responder that answered.
    pub url: String,
    /// Whether it came from the cache rather than the network.
    pub cached: bool,
}

/// An OCSP client: settings, a transport and the cache of answers. Share one (`Arc`) between
/// document verification, receipts and TLS peers, across trust reloads.
pub struct Ocsp {
    settings: OcspSettings,
    transport: Arc<dyn Transport>,
    cache: cache::OcspCache,
}

impl std::fmt::Debug for Ocsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocsp")
            .field("settings", &self.settings)
            .field("cache", &self.cache.stats())
            .finish_non_exhaustive()
    }
}

impl Ocsp {
    /// A client asking over `transport`.
    pub fn new(settings: OcspSettings, transport: Arc<dyn Transport>) -> Self {
        Self {
            settings,
            transport,
            cache: cache::OcspCache::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &OcspSettings {
        &self.settings
    }

    /// How often answers came from the cache.
    pub fn cache_stats(&self) -> OcspCacheStats {
        self.cache.stats()
    }

    /// The status of `leaf` (DER) issued by `issuer` (DER) at `at` (seconds since the epoch):
    /// a fresh "good" answer, from the cache or the responder, or why there is none.
    pub fn check(&self, leaf: &[u8], issuer: &[u8], at: u64) -> Result<OcspAnswer, OcspError> {
        let (leaf_cert, issuer_cert) = (parse(leaf)?, parse(issuer)?);
        let id = request::CertId::sha1(&leaf_cert, &issuer_cert);
        if let Some(answer) = self.cache.get(&id, at) {
            return Ok(answer);
        }
        let (_, answer) = self.ask(&leaf_cert, &issuer_cert, &id, at)?;
        self.cache.insert(id, answer.clone());
        Ok(answer)
    }

    /// A response for `leaf` to staple on a TLS listener (RFC 6066 §8): asked now, checked as
    /// [`Ocsp::check`] checks it, and returned whole (DER) with what it says.
    pub fn fetch_staple(
        &self,
        leaf: &[u8],
        issuer: &[u8],
        at: u64,
    ) -> Result<(Vec<u8>, OcspAnswer), OcspError> {
        let (leaf_cert, issuer_cert) = (parse(leaf)?, parse(issuer)?);
        let id = request::CertId::sha1(&leaf_cert, &issuer_cert);
        self.ask(&leaf_cert, &issuer_cert, &id, at)
    }

    fn ask(
        &self,
        leaf: &X509Certificate<'_>,
        issuer: &X509Certificate<'_>,
        id: &request::CertId,
        at: u64,
    ) -> Result<(Vec<u8>, OcspAnswer), OcspError> {
        let url = match &self.settings.responder {
            Some(u) => u.clone(),
            None => aia_ocsp_url(leaf).ok_or(OcspError::NoResponder)?,
        };
        let nonce = request::nonce()?;
        let body = request::build(id, &nonce);
        let bytes = self
            .transport
            .post(&url, &body, self.settings.timeout)
            .map_err(|reason| OcspError::Unreachable {
                url: url.clone(),
                reason,
            })?;
        let parsed = response::parse(&bytes)?;
        let good = check::check(&parsed, id, issuer, Some(&nonce), at, &self.settings)?;
        let answer = OcspAnswer {
            this_update: good.this_update,
            next_update: good.next_update,
            until: good.until,
            url,
            cached: false,
        };
        Ok((bytes, answer))
    }
}

/// Checks a stapled response (`der`, as a TLS server sent it) for `leaf` issued by `issuer`
/// at `at`: every check of [`Ocsp::check`] except the nonce, which a staple cannot carry
/// (RFC 6066 §8); its thisUpdate/nextUpdate and `settings.max_age` bound its age instead.
pub fn check_staple(
    der: &[u8],
    leaf: &[u8],
    issuer: &[u8],
    at: u64,
    settings: &OcspSettings,
) -> Result<OcspAnswer, OcspError> {
    let (leaf_cert, issuer_cert) = (parse(leaf)?, parse(issuer)?);
    let id = request::CertId::sha1(&leaf_cert, &issuer_cert);
    let parsed = response::parse(der)?;
    let good = check::check(&parsed, &id, &issuer_cert, None, at, settings)?;
    Ok(OcspAnswer {
        this_update: good.this_update,
        next_update: good.next_update,
        until: good.until,
        url: "(stapled)".to_owned(),
        cached: false,
    })
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, OcspError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| OcspError::BadCertificate {
            reason: e.to_string(),
        })
}

/// The response reader alone, for `fuzz/fuzz_targets/ocsp_response.rs`: how many
/// SingleResponses a well-formed response holds. Nothing is checked; not for other callers.
#[doc(hidden)]
pub fn parse_response_for_fuzzing(bytes: &[u8]) -> Result<usize, OcspError> {
    response::parse(bytes).map(|r| r.responses.len() + r.certs.len())
}

/// id-ad-ocsp, 1.3.6.1.5.5.7.48.1 (RFC 5280 §4.2.2.1), DER contents.
const ID_AD_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];

/// The first `http://` OCSP URL of the certificate's authorityInfoAccess, if any.
pub fn aia_ocsp_url(cert: &X509Certificate<'_>) -> Option<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => aia.iter().find_map(|d| {
                match (&d.access_location, d.access_method.as_bytes() == ID_AD_OCSP) {
                    (GeneralName::URI(u), true) if u.starts_with("http://") => {
                        Some((*u).to_owned())
                    }
                    _ => None,
                }
            }),
            _ => None,
        })
}

/// Seconds since the epoch as RFC 3339, for messages and reports.
pub fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} s after the epoch"))
}
