//! The demo PKI in one call: a CA, and for each organ a document-signing key, a receipt-signing
//! key, a gateway TLS key and a document-encryption key with their certificates. `lienthong pki init` and the tests call
//! [`generate`]; `certs/gen.sh` runs `pki init` to make the committed demo PKI.
//!
//! Layout written under `dir`:
//!
//! ```text
//! dir/root.pem, dir/intermediate.pem, dir/crl.pem (empty CRL), dir/ca-state.json
//! dir/root.key.json, dir/intermediate.key.json (+ .cert.pem)   the CA keystore
//! dir/<ORGAN>/signing.key.json   RSA-2048, signing.cert.pem  (leaf + intermediate)
//! dir/<ORGAN>/receipts.key.json  P-256,    receipts.cert.pem (leaf + intermediate)
//! dir/<ORGAN>/tls.key.json       P-256,    tls.cert.pem      (leaf + intermediate)
//! dir/<ORGAN>/encryption.key.json RSA-2048, encryption.cert.pem (leaf + intermediate)
//! dir/<ORGAN>/chain.pem          intermediate + root
//! dir/<ORGAN>/signing.key.pem, receipts.key.pem, tls.key.pem, encryption.key.pem
//!                                plain PKCS#8, only with `export_plain_keys`
//! ```
//!
//! `signing` signs documents (RSA-2048); `receipts` signs the gateway's own receipts and hop
//! records with the same certificate profile, on P-256 because the gateway makes one per hop
//! and P-256 signs about 29 times faster than RSA-2048 (`openssl speed`, 2-core CI machine:
//! 24,800 vs 844 signatures/s; verifying is the other way round, 8,700 vs 29,000/s).
//! `encryption` (RSA-2048, keyEncipherment only) is what `mat` documents' content keys are
//! wrapped for (`crate::seal`); it never signs anything but its own request.
//!
//! Every leaf names [`DemoOptions::crl_url`] as its CRL distribution point when set (see
//! [`super::ca`]); nothing fetches it.
//!
//! **Demo keys are never production keys**: the passphrase of the committed set is public.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::ca::{Ca, CaError, CaValidity, CrlUrl, Profile};
use super::cert;
use super::csr::{self, CsrRequest};
use super::fsutil;
use super::keystore::{DEFAULT_PBKDF2_ITERATIONS, KeyAlgorithm, Keystore, Passphrase};
use super::{PkiError, check_organ_id};

/// The CRL distribution point of demo CAs made with [`DemoOptions::new`]: a host under
/// `.invalid` (RFC 6761 §6.4), which never resolves, so a demo certificate cannot send anyone
/// anywhere.
pub const DEMO_CRL_URL: &str = "http://pki.lienthong.invalid/crl/intermediate.crl";

/// Options for [`generate`].
#[derive(Debug)]
pub struct DemoOptions {
    /// Seals every key (CA and organs).
    pub passphrase: Passphrase,
    /// PBKDF2 iterations for every key. **Lower than the default only in tests** (see
    /// `Keystore::with_pbkdf2_iterations`).
    pub pbkdf2_iterations: u32,
    /// Start of validity of everything.
    pub not_before: OffsetDateTime,
    /// CA validity in days (default 3650).
    pub ca_days: u32,
    /// Leaf validity in days (default 397: the CA/Browser Forum ceiling of 398 days, which
    /// testssl.sh holds TLS certificates to; `docs/SECURITY.md`).
    pub leaf_days: u32,
    /// Validity of the empty CRL written to `crl.pem`, in days (default 7).
    pub crl_days: u32,
    /// Also write `signing.key.pem` / `receipts.key.pem` / `tls.key.pem` as plain, unencrypted
    /// PKCS#8 (demo fixtures for other tools; never for real keys).
    pub export_plain_keys: bool,
    /// The organization name in the CA certificates.
    pub ca_name: String,
    /// CRL distribution point recorded in the CA and written into every leaf; `None` writes
    /// no extension. Default [`DEMO_CRL_URL`].
    pub crl_url: Option<CrlUrl>,
}

impl DemoOptions {
    /// Defaults: 600,000 PBKDF2 iterations, CA 10 years, leaves 397 days, CRL 7 days, no plain
    /// key files, CRL distribution point [`DEMO_CRL_URL`].
    pub fn new(passphrase: Passphrase, not_before: OffsetDateTime) -> Self {
        Self {
            passphrase,
            pbkdf2_iterations: DEFAULT_PBKDF2_ITERATIONS,
            not_before,
            ca_days: 3650,
            leaf_days: 397,
            crl_days: 7,
            export_plain_keys: false,
            ca_name: "lienthong demo".to_owned(),
            // A constant that `demo_crl_url_is_accepted` parses: never `None` in practice.
            crl_url: CrlUrl::parse(DEMO_CRL_URL).ok(),
        }
    }
}

/// One leaf key and certificate of the demo.
#[derive(Clone, Debug)]
pub struct DemoLeaf {
    /// Key name in the organ's keystore (`signing`, `receipts` or `tls`).
    pub key_name: String,
    /// Key algorithm.
    pub algorithm: KeyAlgorithm,
    /// `NAME.cert.pem` (leaf + intermediate).
    pub cert_pem: PathBuf,
    /// The plain PKCS#8 PEM, if exported.
    pub plain_key_pem: Option<PathBuf>,
    /// Serial, lowercase hex.
    pub serial_hex: String,
    /// Subject DN.
    pub subject: String,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// SHA-256 of the SPKI.
    pub fingerprint: String,
}

/// One organ of the demo.
#[derive(Clone, Debug)]
pub struct DemoOrgan {
    /// Organ id (e.g. `TU.BENTRE`).
    pub id: String,
    /// Organ name.
    pub name: String,
    /// `dir/<ID>`: the organ's keystore.
    pub dir: PathBuf,
    /// `chain.pem`: intermediate + root.
    pub chain_pem: PathBuf,
    /// Document-signing key (RSA-2048).
    pub signing: DemoLeaf,
    /// Gateway TLS key (P-256).
    pub tls: DemoLeaf,
    /// Receipt- and hop-record-signing key (P-256), same certificate profile as `signing`.
    pub receipts: DemoLeaf,
    /// Document-encryption key (RSA-2048, profile `encryption`): `mat` documents' content
    /// keys are wrapped for it.
    pub encryption: DemoLeaf,
}

/// What [`generate`] made.
#[derive(Clone, Debug)]
pub struct DemoPki {
    /// The CA directory.
    pub dir: PathBuf,
    /// Trust anchor.
    pub root_pem: PathBuf,
    /// Intermediate certificate.
    pub intermediate_pem: PathBuf,
    /// Empty CRL signed by the intermediate.
    pub crl_pem: PathBuf,
    /// The CRL distribution point the leaves name, if any.
    pub crl_url: Option<CrlUrl>,
    /// The organs, in the order given.
    pub organs: Vec<DemoOrgan>,
}

/// Makes the demo PKI in `dir` (see the module docs). `organs` are `(id, name)`; the name is
/// the certificates' CN. Refuses a `dir` that already holds a CA.
pub fn generate(
    dir: &Path,
    organs: &[(&str, &str)],
    opts: &DemoOptions,
) -> Result<DemoPki, PkiError> {
    // Every organ id is checked before anything is written.
    for (id, _) in organs {
        check_organ_id(id)?;
    }
    let days = |d: u32| Duration::days(i64::from(d));
    let ca_not_after = opts.not_before + days(opts.ca_days);
    let leaf_not_after = opts.not_before + days(opts.leaf_days);
    // The CA: root and intermediate, in `dir`.
    let mut ca = Ca::init(
        dir,
        &opts.passphrase,
        opts.pbkdf2_iterations,
        CaValidity {
            not_before: opts.not_before,
            not_after: ca_not_after,
        },
        &opts.ca_name,
        opts.crl_url.as_ref(),
    )?;
    let root_pem = read(&ca.root_pem_path())?;
    let int_pem = read(&ca.intermediate_pem_path())?;
    // Each organ's keystore, with its keys and certificates.
    let mut out = Vec::new();
    for (id, name) in organs {
        let organ = OrganSpec {
            id,
            name,
            dir: dir.join(id),
            opts,
            leaf_not_after,
        };
        out.push(make_organ(&mut ca, organ, &format!("{int_pem}{root_pem}"))?);
    }
    // The intermediate's empty CRL.
    let crl = ca.crl(
        opts.not_before,
        opts.not_before + days(opts.crl_days),
        &opts.passphrase,
    )?;
    let crl_pem = dir.join("crl.pem");
    fsutil::write_atomic(&crl_pem, crl.as_bytes()).map_err(|source| io(&crl_pem, source))?;
    Ok(DemoPki {
        dir: dir.to_path_buf(),
        root_pem: ca.root_pem_path(),
        intermediate_pem: ca.intermediate_pem_path(),
        crl_pem,
        crl_url: ca.crl_url().cloned(),
        organs: out,
    })
}

/// One organ to make, with what its leaves share.
struct OrganSpec<'a> {
    /// Organ id.
    id: &'a str,
    /// Organ name (the certificates' CN).
    name: &'a str,
    /// `dir/<ID>`: the organ's keystore.
    dir: PathBuf,
    /// The options of [`generate`].
    opts: &'a DemoOptions,
    /// End of validity of every leaf.
    leaf_not_after: OffsetDateTime,
}

/// Makes the organ's keystore, its `chain.pem` (`ca_chain`: intermediate + root) and its four
/// keys with their certificates.
fn make_organ(ca: &mut Ca, organ: OrganSpec<'_>, ca_chain: &str) -> Result<DemoOrgan, PkiError> {
    let ks = Keystore::create(&organ.dir)?.with_pbkdf2_iterations(organ.opts.pbkdf2_iterations)?;
    let chain_pem = organ.dir.join("chain.pem");
    fsutil::write_atomic(&chain_pem, ca_chain.as_bytes())
        .map_err(|source| io(&chain_pem, source))?;
    let signing = make_leaf(
        ca,
        &organ,
        &ks,
        "signing",
        KeyAlgorithm::Rsa2048,
        Profile::Signing,
    )?;
    let tls = make_leaf(ca, &organ, &ks, "tls", KeyAlgorithm::P256, Profile::Tls)?;
    let receipts = make_leaf(
        ca,
        &organ,
        &ks,
        "receipts",
        KeyAlgorithm::P256,
        Profile::Signing,
    )?;
    let encryption = make_leaf(
        ca,
        &organ,
        &ks,
        "encryption",
        KeyAlgorithm::Rsa2048,
        Profile::Encryption,
    )?;
    Ok(DemoOrgan {
        id: organ.id.to_owned(),
        name: organ.name.to_owned(),
        dir: organ.dir,
        chain_pem,
        signing,
        tls,
        receipts,
        encryption,
    })
}

/// Generates key `key_name` of `alg` into `ks`, has the CA certify it for the organ with
/// `profile` and installs the chain; exports it plain if asked.
fn make_leaf(
    ca: &mut Ca,
    organ: &OrganSpec<'_>,
    ks: &Keystore,
    key_name: &str,
    alg: KeyAlgorithm,
    profile: Profile,
) -> Result<DemoLeaf, PkiError> {
    let opts = organ.opts;
    let der = alg.generate_pkcs8()?;
    ks.import_pkcs8(key_name, &der, &opts.passphrase, opts.not_before)?;
    let key = ks.load(key_name, &opts.passphrase)?;
    let (dns_names, ip_addresses) = match profile {
        Profile::Tls => (
            vec!["localhost".to_owned()],
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        ),
        _ => (Vec::new(), Vec::new()),
    };
    let request = CsrRequest {
        organ: organ.id.to_owned(),
        common_name: organ.name.to_owned(),
        dns_names,
        ip_addresses,
    };
    let csr_pem = csr::create(&key, &request).map_err(CaError::from)?;
    let issued = ca.issue(
        &csr_pem,
        profile,
        opts.not_before,
        organ.leaf_not_after,
        &opts.passphrase,
    )?;
    ks.install_cert(key_name, issued.chain_pem.as_bytes())?;
    let plain_key_pem = if opts.export_plain_keys {
        Some(export_plain_key(&organ.dir, key_name, &der)?)
    } else {
        None
    };
    Ok(DemoLeaf {
        key_name: key_name.to_owned(),
        algorithm: alg,
        cert_pem: ks.cert_path(key_name),
        plain_key_pem,
        serial_hex: issued.summary.serial_hex,
        subject: issued.summary.subject,
        not_after: issued.summary.not_after,
        fingerprint: key.info().fingerprint.clone(),
    })
}

/// Writes the PKCS#8 `der` as plain `organ_dir/KEY_NAME.key.pem` (demo fixtures only).
fn export_plain_key(organ_dir: &Path, key_name: &str, der: &[u8]) -> Result<PathBuf, PkiError> {
    let p = organ_dir.join(format!("{key_name}.key.pem"));
    let pem = Zeroizing::new(cert::pem_block("PRIVATE KEY", der));
    fsutil::write_atomic(&p, pem.as_bytes()).map_err(|source| io(&p, source))?;
    Ok(p)
}

fn io(path: &Path, source: std::io::Error) -> PkiError {
    PkiError::Ca(CaError::Io {
        action: "writing",
        path: path.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| {
        PkiError::Ca(CaError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_crl_url_is_accepted() {
        assert_eq!(
            CrlUrl::parse(DEMO_CRL_URL)
                .map(|u| u.as_str().to_owned())
                .ok(),
            Some(DEMO_CRL_URL.to_owned())
        );
    }
}
