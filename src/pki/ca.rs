//! A small two-level CA for staff and tests: a root (the trust anchor, used once to certify the
//! intermediate) and an intermediate that issues document-signing and TLS certificates and
//! signs the CRL.
//!
//! Layout of a CA directory:
//!
//! ```text
//! DIR/root.key.json          root key (keystore format), DIR/root.cert.pem its certificate
//! DIR/intermediate.key.json  intermediate key, DIR/intermediate.cert.pem (intermediate + root)
//! DIR/root.pem               the trust anchor to distribute
//! DIR/intermediate.pem       the intermediate certificate alone
//! DIR/ca-state.json          serial counter, CRL number, CRL distribution point (if any),
//!                            issued and revoked certificates
//! ```
//!
//! Every certificate gets explicit validity dates (rcgen's default is 1975–4096). Profiles
//! (RFC 5280 §4.2.1.3 key usage, §4.2.1.12 EKU, §4.2.1.6 SAN):
//! - `signing`: digitalSignature + nonRepudiation, EKU docSigning (RFC 9336), SAN URI organ.
//! - `tls`: digitalSignature, EKU serverAuth + clientAuth, SAN URI organ plus the DNS names and
//!   IP addresses of the request.
//!
//! Revocation: the CRL is signed by the intermediate and covers the leaves it issued. The root
//! issues no CRL (it certifies only the intermediate), so verifiers check revocation at
//! end-entity depth (rustls-webpki `RevocationCheckDepth::EndEntity`) with nextUpdate enforced
//! (`ExpirationPolicy::Enforce`).
//!
//! CRL distribution point: a CA initialised with a [`CrlUrl`] records it in `ca-state.json` and
//! writes it into every end-entity certificate it issues afterwards (RFC 5280 §4.2.1.13, one
//! distribution point, fullName = that URI). It says where the operator publishes the CRL for
//! other tools (and for scanners such as testssl.sh, which rate a certificate naming neither a
//! CRL nor an OCSP location as HIGH). Gateways never fetch it: they check revocation against
//! the CRL files in their configuration, on a closed network. The CRL itself carries no issuing
//! distribution point, so verifiers treat it as authoritative for every leaf of its issuer
//! whatever the leaf names (rustls-webpki `CertRevocationList::authoritative`).

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::cert::{self, CertError, CertSummary};
use super::csr::{self, CsrError, CsrRequest, ParsedCsr};
use super::fsutil;
use super::keystore::{KeyAlgorithm, Keystore, KeystoreError, LoadedKey, Passphrase};
use super::{DOC_SIGNING_EKU, ORGAN_URI_PREFIX};

const STATE_FILE: &str = "ca-state.json";
const ROOT: &str = "root";
const INTERMEDIATE: &str = "intermediate";
const STATE_VERSION: u32 = 1;
/// Longest accepted CRL distribution point URI. RFC 5280 sets no bound; real publication URLs
/// are well under 200 bytes, and the URI is copied into every certificate, so a paste of
/// something else (a whole file) is refused rather than carried for years.
pub const MAX_CRL_URL_LEN: usize = 1024;
/// The URI schemes RFC 5280 §4.2.1.13 names for a CRL distribution point, minus `ftp` (nobody
/// should publish a CRL over it any more).
const CRL_URL_SCHEMES: [&str; 3] = ["http", "https", "ldap"];

/// Why a CA operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The directory already holds a CA.
    #[error("{dir} already holds a CA ({STATE_FILE} exists); refusing to overwrite it")]
    AlreadyInitialised {
        /// The directory.
        dir: PathBuf,
    },
    /// The directory holds no CA.
    #[error("{dir} holds no CA ({STATE_FILE} missing); run `lienthong pki init` first")]
    NotInitialised {
        /// The directory.
        dir: PathBuf,
    },
    /// The CA state file is unreadable.
    #[error("CA state {path} is corrupted: {reason}")]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The validity period is empty or reversed.
    #[error("invalid validity: not_after {not_after} is not after not_before {not_before}")]
    BadValidity {
        /// Start.
        not_before: String,
        /// End.
        not_after: String,
    },
    /// The leaf would outlive the intermediate that issues it.
    #[error("the certificate would expire {not_after}, after its issuing CA ({ca_not_after})")]
    OutlivesIssuer {
        /// Requested end.
        not_after: String,
        /// The CA's end.
        ca_not_after: String,
    },
    /// The serial is not one this CA issued.
    #[error("serial {serial} was not issued by this CA")]
    UnknownSerial {
        /// The serial (hex).
        serial: String,
    },
    /// The serial is not hexadecimal.
    #[error("serial {serial:?} is not a hexadecimal number")]
    BadSerial {
        /// What was given.
        serial: String,
    },
    /// The serial was already revoked.
    #[error("serial {serial} is already revoked ({reason})")]
    AlreadyRevoked {
        /// The serial.
        serial: String,
        /// The earlier reason.
        reason: String,
    },
    /// Unknown profile name.
    #[error("unknown certificate profile {name:?}: use signing or tls")]
    UnknownProfile {
        /// What was given.
        name: String,
    },
    /// Unknown revocation reason.
    #[error(
        "unknown revocation reason {name:?}: use unspecified, keyCompromise, caCompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold or privilegeWithdrawn"
    )]
    UnknownReason {
        /// What was given.
        name: String,
    },
    /// The CRL distribution point URI is not acceptable.
    #[error(
        "CRL distribution point {url:?} refused: {reason} (give an http://, https:// or ldap:// URL \
         of at most {MAX_CRL_URL_LEN} printable ASCII characters, e.g. http://pki.example/crl/intermediate.crl)"
    )]
    BadCrlUrl {
        /// What was given.
        url: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The encryption profile needs an RSA key (content keys are wrapped with RSA-OAEP).
    #[error("an encryption certificate needs an RSA key (content keys are wrapped with RSA-OAEP)")]
    EncryptionNeedsRsa,
    /// The TLS profile needs at least one DNS name or IP address.
    #[error("a TLS certificate needs at least one DNS name or IP address in the request")]
    TlsWithoutNames,
    /// rcgen could not build or sign.
    #[error("could not sign the {what}: {reason}")]
    Sign {
        /// Certificate, CRL…
        what: &'static str,
        /// rcgen's reason.
        reason: String,
    },
    /// A keystore operation failed.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// A request was refused.
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// A certificate could not be read.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CaError {
    let path = path.to_path_buf();
    move |source| CaError::Io {
        action,
        path,
        source,
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// A certificate profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Profile {
    /// Document signing (XML-DSig): docSigning EKU, non-repudiation.
    Signing,
    /// Gateway TLS, both server and client (mTLS).
    Tls,
    /// Document encryption (issue 22): an organ's RSA key that content keys of `mat`
    /// documents are wrapped for. keyEncipherment only, so that it can neither sign nor be
    /// taken for a signing or TLS certificate; no EKU (none is defined for XML Encryption).
    Encryption,
}

impl Profile {
    /// `signing` or `tls`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::Tls => "tls",
            Self::Encryption => "encryption",
        }
    }
}

impl FromStr for Profile {
    type Err = CaError;

    fn from_str(s: &str) -> Result<Self, CaError> {
        match s {
            "signing" => Ok(Self::Signing),
            "tls" => Ok(Self::Tls),
            "encryption" => Ok(Self::Encryption),
            _ => Err(CaError::UnknownProfile { name: s.to_owned() }),
        }
    }
}

/// Why a certificate was revoked (RFC 5280 §5.3.1; `removeFromCRL` and `aACompromise` are not
/// offered: this CA has no delta CRLs and no attribute authorities).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationReason {
    /// unspecified (0).
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
}

const REASONS: [(RevocationReason, &str); 8] = [
    (RevocationReason::Unspecified, "unspecified"),
    (RevocationReason::KeyCompromise, "keyCompromise"),
    (RevocationReason::CaCompromise, "caCompromise"),
    (RevocationReason::AffiliationChanged, "affiliationChanged"),
    (RevocationReason::Superseded, "superseded"),
    (
        RevocationReason::CessationOfOperation,
        "cessationOfOperation",
    ),
    (RevocationReason::CertificateHold, "certificateHold"),
    (RevocationReason::PrivilegeWithdrawn, "privilegeWithdrawn"),
];

impl RevocationReason {
    /// The RFC 5280 name, e.g. `keyCompromise`.
    pub fn as_str(self) -> &'static str {
        REASONS
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("unspecified", |(_, n)| n)
    }

    fn to_rcgen(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            Self::Unspecified => R::Unspecified,
            Self::KeyCompromise => R::KeyCompromise,
            Self::CaCompromise => R::CaCompromise,
            Self::AffiliationChanged => R::AffiliationChanged,
            Self::Superseded => R::Superseded,
            Self::CessationOfOperation => R::CessationOfOperation,
            Self::CertificateHold => R::CertificateHold,
            Self::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
        }
    }
}

impl FromStr for RevocationReason {
    type Err = CaError;

    fn from_str(s: &str) -> Result<Self, CaError> {
        REASONS
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(r, _)| *r)
            .ok_or_else(|| CaError::UnknownReason { name: s.to_owned() })
    }
}

// === CRL distribution point ===

/// A checked CRL distribution point URI: `http`, `https` or `ldap` scheme (any case, RFC 3986
/// §3.1), a non-empty host, at most [`MAX_CRL_URL_LEN`] printable ASCII characters (no
/// whitespace or controls: the URI is written as an IA5String, RFC 5280 §4.2.1.6, and must be
/// in URI form, not IRI). Made only by [`CrlUrl::parse`] (also behind `FromStr` and the state
/// file's deserialisation), so a `CrlUrl` in hand is one the CA accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CrlUrl(String);

impl CrlUrl {
    /// Checks `url` (see the type's docs); the error says which rule failed.
    pub fn parse(url: &str) -> Result<Self, CaError> {
        let refuse = |reason: &'static str| CaError::BadCrlUrl {
            url: url.to_owned(),
            reason,
        };
        if url.is_empty() {
            return Err(refuse("it is empty"));
        }
        if url.len() > MAX_CRL_URL_LEN {
            return Err(refuse("it is too long"));
        }
        if url.chars().any(char::is_whitespace) {
            return Err(refuse("it contains whitespace"));
        }
        if !url.chars().all(|c| c.is_ascii_graphic()) {
            return Err(refuse(
                "it contains a control or non-ASCII character (percent-encode it)",
            ));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(refuse("it has no scheme:// prefix"));
        };
        if !CRL_URL_SCHEMES
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return Err(refuse("its scheme is not http, https or ldap"));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // userinfo@ would put a credential into every certificate.
        if authority.contains('@') {
            return Err(refuse("it carries user information (user@host)"));
        }
        if authority.is_empty() || authority.starts_with(':') {
            return Err(refuse("it names no host"));
        }
        Ok(Self(url.to_owned()))
    }

    /// The URI as written into certificates.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CrlUrl {
    type Err = CaError;

    fn from_str(s: &str) -> Result<Self, CaError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for CrlUrl {
    type Error = CaError;

    fn try_from(s: String) -> Result<Self, CaError> {
        Self::parse(&s)
    }
}

impl From<CrlUrl> for String {
    fn from(u: CrlUrl) -> Self {
        u.0
    }
}

impl std::fmt::Display for CrlUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

// === State ===

/// A certificate the CA issued (as recorded in the state file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedRecord {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Profile.
    pub profile: Profile,
    /// Organ id.
    pub organ: String,
    /// Subject DN.
    pub subject: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
}

/// A revocation (as recorded in the state file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedRecord {
    /// Serial, lowercase hex.
    pub serial: String,
    /// RFC 5280 reason name.
    pub reason: String,
    /// When (RFC 3339).
    pub revoked_at: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaState {
    version: u32,
    /// The next serial to issue. Serials 1 and 2 are the root and intermediate.
    next_serial: u64,
    /// The number of the last CRL signed (RFC 5280 §5.2.3: monotonically increasing).
    crl_number: u64,
    /// Written into every leaf issued. Absent in state files from before it existed (and left
    /// out when unset, so such a CA's state stays readable by those older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crl_url: Option<CrlUrl>,
    issued: Vec<IssuedRecord>,
    revoked: Vec<RevokedRecord>,
}

/// A certificate just issued.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The leaf, DER.
    pub leaf: CertificateDer<'static>,
    /// Leaf followed by the intermediate, PEM (what a key's `NAME.cert.pem` holds).
    pub chain_pem: String,
    /// The leaf's fields.
    pub summary: CertSummary,
}

/// An open CA directory.
#[derive(Debug)]
pub struct Ca {
    dir: PathBuf,
    keystore: Keystore,
    state: CaState,
}

impl std::fmt::Debug for CaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaState")
            .field("next_serial", &self.next_serial)
            .field("crl_url", &self.crl_url)
            .field("issued", &self.issued.len())
            .field("revoked", &self.revoked.len())
            .finish()
    }
}

/// Validity of the two CA certificates.
#[derive(Clone, Copy, Debug)]
pub struct CaValidity {
    /// Start.
    pub not_before: OffsetDateTime,
    /// End.
    pub not_after: OffsetDateTime,
}

impl Ca {
    /// Creates a CA in `dir`: P-256 root and intermediate keys sealed under `passphrase` (with
    /// `pbkdf2_iterations`, see [`Keystore::with_pbkdf2_iterations`]: lower only for tests),
    /// their certificates, `root.pem`, `intermediate.pem` and the state file. `crl_url`, if
    /// given, is recorded in the state and named as CRL distribution point in every end-entity
    /// certificate issued (see the module docs).
    pub fn init(
        dir: &Path,
        passphrase: &Passphrase,
        pbkdf2_iterations: u32,
        validity: CaValidity,
        root_name: &str,
        crl_url: Option<&CrlUrl>,
    ) -> Result<Self, CaError> {
        check_validity(validity.not_before, validity.not_after)?;
        let state_path = dir.join(STATE_FILE);
        if state_path.exists() {
            return Err(CaError::AlreadyInitialised {
                dir: dir.to_path_buf(),
            });
        }
        let keystore = Keystore::create(dir)?.with_pbkdf2_iterations(pbkdf2_iterations)?;
        keystore.generate(ROOT, KeyAlgorithm::P256, passphrase, validity.not_before)?;
        keystore.generate(
            INTERMEDIATE,
            KeyAlgorithm::P256,
            passphrase,
            validity.not_before,
        )?;
        let root_key = keystore.load(ROOT, passphrase)?;
        let int_key = keystore.load(INTERMEDIATE, passphrase)?;

        let ca_params = |cn: String, serial: u64, path_len: Option<u8>| {
            let mut p = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, cn);
            dn.push(DnType::OrganizationName, root_name);
            p.distinguished_name = dn;
            p.serial_number = Some(SerialNumber::from(serial));
            p.not_before = validity.not_before;
            p.not_after = validity.not_after;
            p.is_ca = IsCa::Ca(match path_len {
                Some(n) => BasicConstraints::Constrained(n),
                None => BasicConstraints::Unconstrained,
            });
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            p.use_authority_key_identifier_extension = path_len.is_some();
            p.key_identifier_method = KeyIdMethod::Sha256;
            p
        };
        let root_params = ca_params(format!("{root_name} Root CA"), 1, None);
        let root_signing = root_key.rcgen();
        let root_cert = root_params
            .self_signed(&root_signing)
            .map_err(sign_err("root certificate"))?;
        let root_issuer = Issuer::from_params(&root_params, &root_signing);
        // pathLenConstraint 0: the intermediate issues leaves only (RFC 5280 §4.2.1.9).
        let int_params = ca_params(format!("{root_name} Issuing CA"), 2, Some(0));
        let int_cert = int_params
            .signed_by(&int_key.rcgen(), &root_issuer)
            .map_err(sign_err("intermediate certificate"))?;

        let root_pem = cert::chain_to_pem(&[root_cert.der().clone()]);
        let int_pem = cert::chain_to_pem(&[int_cert.der().clone()]);
        keystore.install_cert(ROOT, root_pem.as_bytes())?;
        keystore.install_cert(INTERMEDIATE, format!("{int_pem}{root_pem}").as_bytes())?;
        write(&dir.join("root.pem"), root_pem.as_bytes())?;
        write(&dir.join("intermediate.pem"), int_pem.as_bytes())?;
        let state = CaState {
            version: STATE_VERSION,
            next_serial: 3,
            crl_number: 0,
            crl_url: crl_url.cloned(),
            issued: Vec::new(),
            revoked: Vec::new(),
        };
        let ca = Self {
            dir: dir.to_path_buf(),
            keystore,
            state,
        };
        ca.save()?;
        Ok(ca)
    }

    /// Opens an existing CA directory.
    pub fn open(dir: &Path) -> Result<Self, CaError> {
        let path = dir.join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CaError::NotInitialised {
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => return Err(io_err("reading CA state", &path)(e)),
        };
        let state: CaState = serde_json::from_slice(&bytes).map_err(|e| CaError::CorruptState {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(CaError::CorruptState {
                path,
                reason: format!("unsupported version {}", state.version),
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            keystore: Keystore::open(dir)?,
            state,
        })
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the trust anchor (`root.pem`).
    pub fn root_pem_path(&self) -> PathBuf {
        self.dir.join("root.pem")
    }

    /// Path of the intermediate certificate (`intermediate.pem`).
    pub fn intermediate_pem_path(&self) -> PathBuf {
        self.dir.join("intermediate.pem")
    }

    /// Certificates issued so far.
    pub fn issued(&self) -> &[IssuedRecord] {
        &self.state.issued
    }

    /// Revocations so far.
    pub fn revoked(&self) -> &[RevokedRecord] {
        &self.state.revoked
    }

    /// The CRL distribution point written into the leaves this CA issues, if it has one.
    pub fn crl_url(&self) -> Option<&CrlUrl> {
        self.state.crl_url.as_ref()
    }

    fn save(&self) -> Result<(), CaError> {
        let path = self.dir.join(STATE_FILE);
        let json = serde_json::to_vec_pretty(&self.state).map_err(|e| CaError::CorruptState {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write(&path, &json)
    }

    fn intermediate(
        &self,
        passphrase: &Passphrase,
    ) -> Result<(LoadedKey, CertificateDer<'static>), CaError> {
        let key = self.keystore.load(INTERMEDIATE, passphrase)?;
        let path = self.intermediate_pem_path();
        let pem = fs::read(&path).map_err(io_err("reading intermediate certificate", &path))?;
        let chain = cert::parse_pem_chain(&path.display().to_string(), &pem)?;
        let der = chain.into_iter().next().ok_or_else(|| CertError::Pem {
            what: path.display().to_string(),
            reason: "empty".to_owned(),
        })?;
        Ok((key, der))
    }

    /// Issues a certificate for a PEM CSR under `profile`. The request's self-signature is
    /// checked; only its subject CN, its organ SAN URI and (for TLS) its DNS/IP SANs are copied;
    /// key usage, EKU and validity come from the profile and the arguments. The state is saved
    /// before the certificate is returned.
    pub fn issue(
        &mut self,
        csr_pem: &str,
        profile: Profile,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        passphrase: &Passphrase,
    ) -> Result<Issued, CaError> {
        let parsed = csr::parse(csr_pem)?;
        self.issue_parsed(parsed, profile, not_before, not_after, passphrase)
    }

    fn issue_parsed(
        &mut self,
        parsed: ParsedCsr,
        profile: Profile,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        passphrase: &Passphrase,
    ) -> Result<Issued, CaError> {
        check_validity(not_before, not_after)?;
        let (int_key, int_der) = self.intermediate(passphrase)?;
        let int_summary = cert::summarize("intermediate certificate", &int_der)?;
        // RFC 5280 does not forbid it, but a leaf outliving its issuer fails path validation
        // later, silently: refuse now.
        if not_after > int_summary.not_after {
            return Err(CaError::OutlivesIssuer {
                not_after: rfc3339(not_after),
                ca_not_after: rfc3339(int_summary.not_after),
            });
        }
        if profile == Profile::Encryption {
            check_encryption_key(&parsed)?;
        }
        let serial = self.state.next_serial;
        let params = leaf_params(
            &parsed.request,
            profile,
            serial,
            (not_before, not_after),
            self.state.crl_url.as_ref(),
        )?;
        let signing = int_key.rcgen();
        let issuer =
            Issuer::from_ca_cert_der(&int_der, &signing).map_err(sign_err("certificate"))?;
        let mut req = parsed.rcgen;
        req.params = params;
        let leaf = req.signed_by(&issuer).map_err(sign_err("certificate"))?;
        let leaf = leaf.der().clone();
        let summary = cert::summarize("issued certificate", &leaf)?;
        self.state.next_serial = serial.saturating_add(1);
        self.state.issued.push(IssuedRecord {
            serial: summary.serial_hex.clone(),
            profile,
            organ: parsed.request.organ.clone(),
            subject: summary.subject.clone(),
            not_before: rfc3339(not_before),
            not_after: rfc3339(not_after),
        });
        self.save()?;
        let chain_pem = cert::chain_to_pem(&[leaf.clone(), int_der]);
        Ok(Issued {
            leaf,
            chain_pem,
            summary,
        })
    }

    /// Records a revocation of a serial this CA issued. Takes effect in the next CRL.
    pub fn revoke(
        &mut self,
        serial: &str,
        reason: RevocationReason,
        now: OffsetDateTime,
    ) -> Result<RevokedRecord, CaError> {
        let serial = cert::normalize_serial(serial).ok_or_else(|| CaError::BadSerial {
            serial: serial.to_owned(),
        })?;
        if !self.state.issued.iter().any(|i| i.serial == serial) {
            return Err(CaError::UnknownSerial { serial });
        }
        if let Some(r) = self.state.revoked.iter().find(|r| r.serial == serial) {
            return Err(CaError::AlreadyRevoked {
                serial,
                reason: r.reason.clone(),
            });
        }
        let record = RevokedRecord {
            serial,
            reason: reason.as_str().to_owned(),
            revoked_at: rfc3339(now),
        };
        self.state.revoked.push(record.clone());
        self.save()?;
        Ok(record)
    }

    /// Signs a CRL (RFC 5280 §5) with the intermediate: thisUpdate `now`, nextUpdate
    /// `next_update`, every revocation so far, a fresh CRL number. Returns PEM.
    pub fn crl(
        &mut self,
        now: OffsetDateTime,
        next_update: OffsetDateTime,
        passphrase: &Passphrase,
    ) -> Result<String, CaError> {
        check_validity(now, next_update)?;
        let (int_key, int_der) = self.intermediate(passphrase)?;
        let signing = int_key.rcgen();
        let issuer = Issuer::from_ca_cert_der(&int_der, &signing).map_err(sign_err("CRL"))?;
        let mut revoked_certs = Vec::new();
        for r in &self.state.revoked {
            let bytes = hex_bytes(&r.serial).ok_or_else(|| CaError::CorruptState {
                path: self.dir.join(STATE_FILE),
                reason: format!("bad serial {:?}", r.serial),
            })?;
            let at = OffsetDateTime::parse(&r.revoked_at, &Rfc3339).map_err(|e| {
                CaError::CorruptState {
                    path: self.dir.join(STATE_FILE),
                    reason: format!("bad revocation time {:?}: {e}", r.revoked_at),
                }
            })?;
            let reason = RevocationReason::from_str(&r.reason)?;
            revoked_certs.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: at,
                reason_code: Some(reason.to_rcgen()),
                invalidity_date: None,
            });
        }
        let number = self.state.crl_number.saturating_add(1);
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&issuer).map_err(sign_err("CRL"))?;
        let pem = crl.pem().map_err(sign_err("CRL"))?;
        self.state.crl_number = number;
        self.save()?;
        Ok(pem)
    }
}

fn leaf_params(
    request: &CsrRequest,
    profile: Profile,
    serial: u64,
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
    crl_url: Option<&CrlUrl>,
) -> Result<CertificateParams, CaError> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, request.common_name.as_str());
    dn.push(DnType::OrganizationName, request.organ.as_str());
    p.distinguished_name = dn;
    p.serial_number = Some(SerialNumber::from(serial));
    p.not_before = not_before;
    p.not_after = not_after;
    p.is_ca = IsCa::ExplicitNoCa;
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    // RFC 5280 §4.2.1.13: one distribution point, its fullName the URI; no reasons (the CRL
    // covers all of them) and no cRLIssuer (the intermediate signs its own CRL). Leaves only:
    // the root publishes no CRL for the intermediate, so naming one there would point nowhere.
    if let Some(url) = crl_url {
        p.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![url.as_str().to_owned()],
        }];
    }
    // Only the organ binding: a signing or encryption certificate names no host.
    let only_organ = CsrRequest {
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        ..request.clone()
    };
    match profile {
        Profile::Signing => {
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(DOC_SIGNING_EKU.to_vec())];
            p.subject_alt_names = csr::sans(&only_organ)?;
        }
        Profile::Encryption => {
            p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
            p.subject_alt_names = csr::sans(&only_organ)?;
        }
        Profile::Tls => {
            if request.dns_names.is_empty() && request.ip_addresses.is_empty() {
                return Err(CaError::TlsWithoutNames);
            }
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            p.subject_alt_names = csr::sans(request)?;
        }
    }
    debug_assert!(
        p.subject_alt_names
            .iter()
            .any(|s| matches!(s, SanType::URI(u) if u.as_str().starts_with(ORGAN_URI_PREFIX)))
    );
    Ok(p)
}

/// Content keys are wrapped with RSA-OAEP (`seal`): an encryption certificate must hold an RSA
/// key (the CSR's size check already asked for ≥ 2048 bits).
fn check_encryption_key(parsed: &ParsedCsr) -> Result<(), CaError> {
    use rcgen::PublicKeyData;
    use rsa::pkcs8::DecodePublicKey;
    let spki = parsed.rcgen.public_key.subject_public_key_info();
    rsa::PublicKey::from_public_key_der(&spki)
        .map(|_| ())
        .map_err(|_| CaError::EncryptionNeedsRsa)
}

fn check_validity(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<(), CaError> {
    if not_after <= not_before {
        return Err(CaError::BadValidity {
            not_before: rfc3339(not_before),
            not_after: rfc3339(not_after),
        });
    }
    Ok(())
}

fn sign_err(what: &'static str) -> impl Fn(rcgen::Error) -> CaError {
    move |e| CaError::Sign {
        what,
        reason: e.to_string(),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    fsutil::write_atomic(path, bytes).map_err(io_err("writing", path))
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
        })
        .collect()
}
