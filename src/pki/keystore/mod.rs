//! The encrypted keystore: a directory with one JSON file per private key, `NAME.key.json`, and
//! the certificate chain for that key, if installed, in `NAME.cert.pem` (leaf first).
//!
//! A key file holds the PKCS#8 DER of the private key sealed with AES-256-GCM (NIST SP 800-38D)
//! under a key derived from the passphrase with PBKDF2-HMAC-SHA256 (RFC 8018 §5.2). The
//! iteration count defaults to [`DEFAULT_PBKDF2_ITERATIONS`] (600,000: OWASP Password Storage
//! Cheat Sheet, 2023, for PBKDF2-HMAC-SHA256) and is stored with the key, so a later default can
//! rise without breaking old files.
//!
//! The AEAD's associated data binds the key's name, algorithm, status and public key: a file
//! renamed, swapped with another key's file, or with its status or public key edited, fails to
//! open just like a wrong passphrase would (which it cannot tell apart: both are a tag mismatch).
//!
//! Every write is atomic with mode 0600 (see `fsutil`). A failed open changes nothing on disk.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{self, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use super::cert::{self, CertError, CertSummary};
use super::fsutil;
use super::rcgen_key;
use crate::sign::{Pkcs8Signer, SignatureAlgorithm, Signer, SignerError};

mod file;
mod kinds;

use file::{
    AEAD_NAME, AeadParams, KDF_NAME, KdfParams, KeyFile, derive_key, open_file, parse_file,
};
pub use kinds::{KeyAlgorithm, KeyStatus, Passphrase};

/// PBKDF2-HMAC-SHA256 iterations for new keys: OWASP Password Storage Cheat Sheet (2023).
pub const DEFAULT_PBKDF2_ITERATIONS: u32 = 600_000;

/// The lowest iteration count [`Keystore::with_pbkdf2_iterations`] accepts. **Tests and demos
/// only**: a count this low makes a stolen key file cheap to brute-force.
pub const MIN_PBKDF2_ITERATIONS: u32 = 1_000;

/// Files claiming more iterations than this are refused as corrupt: a hostile file must not
/// make `keys list`/`load` spin for hours.
const MAX_PBKDF2_ITERATIONS: u32 = 100_000_000;

/// The environment variable for the passphrase (never a command-line argument: argv is visible
/// to every user on the machine through `/proc`).
pub const PASSPHRASE_ENV: &str = "LIENTHONG_PASSPHRASE";

/// The environment variable naming the keystore directory when `--keystore` is not given.
pub const KEYSTORE_ENV: &str = "LIENTHONG_KEYSTORE";

const FILE_VERSION: u32 = 1;
const KEY_SUFFIX: &str = ".key.json";
const CERT_SUFFIX: &str = ".cert.pem";
const SALT_LEN: usize = 16;
const MAX_NAME_LEN: usize = 100;
/// Key files are small (an RSA-3072 key is ~3 KiB of base64); refuse anything huge unread.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Why a keystore operation failed. Never carries key material or the passphrase.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The passphrase does not open the key (or the file was tampered with: AES-GCM cannot
    /// tell the two apart). Nothing was changed.
    #[error("wrong passphrase for key {key} (or its file was altered); nothing was changed")]
    WrongPassphrase {
        /// The key name.
        key: String,
    },
    /// The key file is not a valid lienthong key file.
    #[error(
        "key file {path} is corrupted or not a lienthong key file: {reason}; nothing was changed"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// No key of that name.
    #[error("no key named {key} in keystore {dir}")]
    NotFound {
        /// The key name.
        key: String,
        /// The keystore directory.
        dir: PathBuf,
    },
    /// The keystore directory does not exist.
    #[error("keystore directory {dir} does not exist")]
    NoDirectory {
        /// The directory.
        dir: PathBuf,
    },
    /// A key of that name exists already.
    #[error("a key named {key} already exists in keystore {dir}")]
    AlreadyExists {
        /// The key name.
        key: String,
        /// The keystore directory.
        dir: PathBuf,
    },
    /// The name is not allowed.
    #[error(
        "invalid key name {name:?}: use 1–100 letters, digits, '.', '_' or '-', not starting with '.'"
    )]
    InvalidName {
        /// The refused name.
        name: String,
    },
    /// The algorithm name is not one lienthong generates.
    #[error("unknown key algorithm {name:?}: use rsa2048, rsa3072, p256 or ed25519")]
    UnknownAlgorithm {
        /// The refused name.
        name: String,
    },
    /// The passphrase is empty or unreadable.
    #[error("passphrase refused: {reason}")]
    BadPassphrase {
        /// Why (never the passphrase itself).
        reason: String,
    },
    /// The PBKDF2 iteration count asked for is below the floor.
    #[error("PBKDF2 iteration count {requested} is below the minimum {min}")]
    IterationsTooLow {
        /// Requested count.
        requested: u32,
        /// The floor.
        min: u32,
    },
    /// Key generation failed.
    #[error("could not generate a {algorithm} key: {reason}")]
    Generate {
        /// The algorithm.
        algorithm: KeyAlgorithm,
        /// Why.
        reason: String,
    },
    /// The decrypted or imported PKCS#8 key is not usable.
    #[error("key {key}: the private key is not usable ({reason})")]
    BadKey {
        /// The key name.
        key: String,
        /// Why.
        reason: String,
    },
    /// The certificate's public key is not this key's.
    #[error(
        "certificate {subject} (serial {serial}) does not match key {key}: its public key differs; nothing was installed"
    )]
    CertificateMismatch {
        /// The key name.
        key: String,
        /// The certificate subject.
        subject: String,
        /// The certificate serial.
        serial: String,
    },
    /// A certificate could not be read.
    #[error(transparent)]
    Certificate(#[from] CertError),
    /// The key is verify-only (rotated out) and cannot sign.
    #[error("key {key} is verify-only (rotated out); it cannot sign")]
    NotActive {
        /// The key name.
        key: String,
    },
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

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError {
    let path = path.to_path_buf();
    move |source| KeystoreError::Io {
        action,
        path,
        source,
    }
}

/// Public facts about a stored key (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key name.
    pub name: String,
    /// Its algorithm.
    pub algorithm: KeyAlgorithm,
    /// When it was created (RFC 3339).
    pub created: String,
    /// Active or verify-only.
    pub status: KeyStatus,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// SHA-256 of the SPKI, lowercase hex.
    pub fingerprint: String,
    /// PBKDF2 iterations protecting it.
    pub pbkdf2_iterations: u32,
    /// The installed certificate (the leaf), if any.
    pub certificate: Option<CertSummary>,
}

/// A decrypted key: signs, and (inside the crate) feeds rcgen. The PKCS#8 bytes are zeroized
/// on drop and never printed.
pub struct LoadedKey {
    info: KeyInfo,
    signer: Pkcs8Signer,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey")
            .field("name", &self.info.name)
            .field("algorithm", &self.info.algorithm)
            .field("status", &self.info.status)
            .field("fingerprint", &self.info.fingerprint)
            .finish_non_exhaustive()
    }
}

impl LoadedKey {
    /// Public facts about the key.
    pub fn info(&self) -> &KeyInfo {
        &self.info
    }

    /// The ring signer.
    pub fn signer(&self) -> &Pkcs8Signer {
        &self.signer
    }

    /// The ring signer, owned.
    pub fn into_signer(self) -> Pkcs8Signer {
        self.signer
    }

    /// This key as rcgen's signing key (for CSRs, certificates, CRLs).
    pub(crate) fn rcgen(&self) -> rcgen_key::RcgenKey<'_> {
        rcgen_key::RcgenKey::new(&self.signer, self.signer.public_key().to_vec())
    }
}

impl Signer for LoadedKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.signer.algorithm()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.signer.sign(message)
    }
}

/// One row of [`Keystore::list`]: a key, or the reason its file could not be read.
#[derive(Debug)]
pub enum ListEntry {
    /// A readable key file.
    Key(Box<KeyInfo>),
    /// A file ending in `.key.json` that is not a valid key file.
    Unreadable(KeystoreError),
}

// === The keystore ===

/// A keystore directory.
#[derive(Clone, Debug)]
pub struct Keystore {
    dir: PathBuf,
    iterations: u32,
}

impl Keystore {
    /// Opens the existing keystore at `dir`. New keys get [`DEFAULT_PBKDF2_ITERATIONS`].
    pub fn open(dir: &Path) -> Result<Self, KeystoreError> {
        if !dir.is_dir() {
            return Err(KeystoreError::NoDirectory {
                dir: dir.to_path_buf(),
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            iterations: DEFAULT_PBKDF2_ITERATIONS,
        })
    }

    /// Opens the keystore at `dir`, creating the directory (mode 0700) if it is missing.
    pub fn create(dir: &Path) -> Result<Self, KeystoreError> {
        if !dir.is_dir() {
            fsutil::create_private_dir(dir).map_err(io_err("creating keystore", dir))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            iterations: DEFAULT_PBKDF2_ITERATIONS,
        })
    }

    /// **Test/demo knob.** Sets the PBKDF2 iteration count for keys written from now on (at
    /// least [`MIN_PBKDF2_ITERATIONS`]). Never lower it for real keys: the count is what makes
    /// guessing the passphrase of a stolen key file slow.
    pub fn with_pbkdf2_iterations(mut self, iterations: u32) -> Result<Self, KeystoreError> {
        if iterations < MIN_PBKDF2_ITERATIONS {
            return Err(KeystoreError::IterationsTooLow {
                requested: iterations,
                min: MIN_PBKDF2_ITERATIONS,
            });
        }
        self.iterations = iterations;
        Ok(self)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{KEY_SUFFIX}"))
    }

    /// Where the certificate chain of key `name` lives (leaf first).
    pub fn cert_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{CERT_SUFFIX}"))
    }

    /// Generates a key and stores it sealed under `passphrase`.
    pub fn generate(
        &self,
        name: &str,
        algorithm: KeyAlgorithm,
        passphrase: &Passphrase,
        now: OffsetDateTime,
    ) -> Result<KeyInfo, KeystoreError> {
        check_name(name)?;
        if self.key_path(name).exists() {
            return Err(self.exists(name));
        }
        let der = algorithm.generate_pkcs8()?;
        self.store(
            name,
            algorithm,
            &der,
            KeyStatus::Active,
            passphrase,
            now,
            false,
        )
    }

    /// Stores an existing PKCS#8 key (DER) under `name`. The algorithm is found from the key.
    pub fn import_pkcs8(
        &self,
        name: &str,
        pkcs8_der: &[u8],
        passphrase: &Passphrase,
        now: OffsetDateTime,
    ) -> Result<KeyInfo, KeystoreError> {
        check_name(name)?;
        if self.key_path(name).exists() {
            return Err(self.exists(name));
        }
        let signer = to_signer(name, pkcs8_der)?;
        let algorithm = algorithm_of(name, &signer)?;
        self.store(
            name,
            algorithm,
            pkcs8_der,
            KeyStatus::Active,
            passphrase,
            now,
            false,
        )
    }

    fn exists(&self, name: &str) -> KeystoreError {
        KeystoreError::AlreadyExists {
            key: name.to_owned(),
            dir: self.dir.clone(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &self,
        name: &str,
        algorithm: KeyAlgorithm,
        pkcs8_der: &[u8],
        status: KeyStatus,
        passphrase: &Passphrase,
        created: OffsetDateTime,
        overwrite: bool,
    ) -> Result<KeyInfo, KeystoreError> {
        let signer = to_signer(name, pkcs8_der)?;
        if algorithm_of(name, &signer)?.signature_algorithm() != algorithm.signature_algorithm() {
            return Err(KeystoreError::BadKey {
                key: name.to_owned(),
                reason: format!("the key is not a {algorithm} key"),
            });
        }
        let spki = rcgen_key::spki_der(signer.algorithm(), signer.public_key());
        let rng = SystemRandom::new();
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; aead::NONCE_LEN];
        rng.fill(&mut salt)
            .and_then(|()| rng.fill(&mut nonce))
            .map_err(|_| KeystoreError::Generate {
                algorithm,
                reason: "the system random generator failed".to_owned(),
            })?;
        let created = created.format(&Rfc3339).unwrap_or_default();
        let mut file = KeyFile {
            version: FILE_VERSION,
            name: name.to_owned(),
            algorithm,
            created,
            status,
            public_key_spki_b64: B64.encode(&spki),
            kdf: KdfParams {
                name: KDF_NAME.to_owned(),
                iterations: self.iterations,
                salt_b64: B64.encode(salt),
            },
            aead: AeadParams {
                name: AEAD_NAME.to_owned(),
                nonce_b64: B64.encode(nonce),
            },
            ciphertext_b64: String::new(),
        };
        let key = derive_key(passphrase, &salt, self.iterations)?;
        let mut sealed = Zeroizing::new(pkcs8_der.to_vec());
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(file.aad()),
            &mut *sealed,
        )
        .map_err(|_| KeystoreError::BadKey {
            key: name.to_owned(),
            reason: "AES-GCM sealing failed".to_owned(),
        })?;
        file.ciphertext_b64 = B64.encode(&*sealed);
        let json = serde_json::to_vec_pretty(&file).map_err(|e| KeystoreError::BadKey {
            key: name.to_owned(),
            reason: e.to_string(),
        })?;
        let path = self.key_path(name);
        if !overwrite && path.exists() {
            return Err(self.exists(name));
        }
        fsutil::write_atomic(&path, &json).map_err(io_err("writing key file", &path))?;
        self.info_from_file(&path, &file)
    }

    fn read_file(&self, name: &str) -> Result<(PathBuf, KeyFile), KeystoreError> {
        check_name(name)?;
        let path = self.key_path(name);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeystoreError::NotFound {
                    key: name.to_owned(),
                    dir: self.dir.clone(),
                });
            }
            Err(e) => return Err(io_err("reading key file", &path)(e)),
        };
        let file = parse_file(&path, meta.len())?;
        if file.name != name {
            return Err(KeystoreError::Corrupt {
                path,
                reason: format!("the file says it holds key {:?}", file.name),
            });
        }
        Ok((path, file))
    }

    fn info_from_file(&self, path: &Path, file: &KeyFile) -> Result<KeyInfo, KeystoreError> {
        let spki = B64
            .decode(&file.public_key_spki_b64)
            .map_err(|_| corrupt(path, "public_key_spki_b64 is not base64"))?;
        cert::spki_public_key(&path.display().to_string(), &spki)
            .map_err(|_| corrupt(path, "public_key_spki_b64 is not a SubjectPublicKeyInfo"))?;
        let certificate = match fs::read(self.cert_path(&file.name)) {
            Ok(pem) => {
                let what = self.cert_path(&file.name).display().to_string();
                let chain = cert::parse_pem_chain(&what, &pem)?;
                match chain.first() {
                    Some(leaf) => Some(cert::summarize(&what, leaf)?),
                    None => None,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(io_err("reading certificate", &self.cert_path(&file.name))(
                    e,
                ));
            }
        };
        Ok(KeyInfo {
            name: file.name.clone(),
            algorithm: file.algorithm,
            created: file.created.clone(),
            status: file.status,
            fingerprint: cert::spki_fingerprint(&spki),
            spki_der: spki,
            pbkdf2_iterations: file.kdf.iterations,
            certificate,
        })
    }

    /// Public facts about key `name` (no passphrase needed).
    pub fn info(&self, name: &str) -> Result<KeyInfo, KeystoreError> {
        let (path, file) = self.read_file(name)?;
        self.info_from_file(&path, &file)
    }

    /// Every `*.key.json` in the directory, sorted by name; unreadable files are reported, not
    /// skipped.
    pub fn list(&self) -> Result<Vec<ListEntry>, KeystoreError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err("listing keystore", &self.dir))? {
            let entry = entry.map_err(io_err("listing keystore", &self.dir))?;
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if let Some(name) = file_name.strip_suffix(KEY_SUFFIX) {
                if !name.starts_with('.') {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names
            .into_iter()
            .map(|n| match self.info(&n) {
                Ok(i) => ListEntry::Key(Box::new(i)),
                Err(e) => ListEntry::Unreadable(e),
            })
            .collect())
    }

    /// Decrypts key `name`. A wrong passphrase is [`KeystoreError::WrongPassphrase`].
    /// The decrypted PKCS#8 DER of a key, for the one consumer that must hold the key itself:
    /// rustls, for the gateway's TLS key. Zeroized on drop; never printed.
    pub fn load_pkcs8(
        &self,
        name: &str,
        passphrase: &Passphrase,
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        // Load first: the same checks (authenticated public key, algorithm) as for signing.
        self.load(name, passphrase)?;
        let (path, file) = self.read_file(name)?;
        open_file(&path, &file, passphrase)
    }

    /// Decrypts a key.
    pub fn load(&self, name: &str, passphrase: &Passphrase) -> Result<LoadedKey, KeystoreError> {
        let (path, file) = self.read_file(name)?;
        let info = self.info_from_file(&path, &file)?;
        let der = open_file(&path, &file, passphrase)?;
        let signer = to_signer(name, &der)?;
        // The public key is authenticated (AAD), so a mismatch means a bug or a forged file.
        if rcgen_key::spki_der(signer.algorithm(), signer.public_key()) != info.spki_der
            || signer.algorithm() != file.algorithm.signature_algorithm()
        {
            return Err(corrupt(
                &path,
                "the private key does not match the stored public key",
            ));
        }
        Ok(LoadedKey { info, signer })
    }

    /// Decrypts key `name` for signing: refuses a verify-only key.
    pub fn load_active(
        &self,
        name: &str,
        passphrase: &Passphrase,
    ) -> Result<LoadedKey, KeystoreError> {
        let key = self.load(name, passphrase)?;
        if key.info.status != KeyStatus::Active {
            return Err(KeystoreError::NotActive {
                key: name.to_owned(),
            });
        }
        Ok(key)
    }

    /// Installs a certificate chain (PEM, leaf first) for key `name`, refusing a leaf whose
    /// public key is not the key's. Returns the leaf's summary.
    pub fn install_cert(&self, name: &str, chain_pem: &[u8]) -> Result<CertSummary, KeystoreError> {
        let info = self.info(name)?;
        let chain = cert::parse_pem_chain("certificate to install", chain_pem)?;
        let leaf = chain.first().ok_or_else(|| CertError::Pem {
            what: "certificate to install".to_owned(),
            reason: "empty".to_owned(),
        })?;
        let summary = cert::summarize("certificate to install", leaf)?;
        for (i, c) in chain.iter().enumerate().skip(1) {
            cert::summarize(&format!("chain certificate {i}"), c)?;
        }
        let cert_key = cert::cert_public_key("certificate to install", leaf)?;
        let own_key = cert::spki_public_key(name, &info.spki_der)?;
        if cert_key != own_key {
            return Err(KeystoreError::CertificateMismatch {
                key: name.to_owned(),
                subject: summary.subject,
                serial: summary.serial_hex,
            });
        }
        let path = self.cert_path(name);
        fsutil::write_atomic(&path, cert::chain_to_pem(&chain).as_bytes())
            .map_err(io_err("writing certificate", &path))?;
        Ok(summary)
    }

    /// The installed chain of key `name` (PEM, leaf first), if any.
    pub fn cert_chain_pem(&self, name: &str) -> Result<Option<String>, KeystoreError> {
        check_name(name)?;
        let path = self.cert_path(name);
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading certificate", &path)(e)),
        }
    }

    /// The public key of `name` as a PEM `PUBLIC KEY` (SPKI).
    pub fn export_public_pem(&self, name: &str) -> Result<String, KeystoreError> {
        Ok(cert::pem_block("PUBLIC KEY", &self.info(name)?.spki_der))
    }

    /// Replaces key `name` with a new key of the same algorithm. The old key is kept, re-sealed
    /// as `NAME.<UTC timestamp>` with status verify-only (its certificate moves with it), so
    /// signatures made with it can still be checked. Returns (new key, old key).
    ///
    /// Order, for crash safety: the old key's copy is written first; then the new key replaces
    /// `NAME`; only then is the old certificate removed. A crash leaves at worst an extra
    /// verify-only copy.
    pub fn rotate(
        &self,
        name: &str,
        passphrase: &Passphrase,
        now: OffsetDateTime,
    ) -> Result<(KeyInfo, KeyInfo), KeystoreError> {
        let (path, file) = self.read_file(name)?;
        let der = open_file(&path, &file, passphrase)?;
        let algorithm = file.algorithm;
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let old_name = format!("{name}.{stamp}");
        check_name(&old_name)?;
        if self.key_path(&old_name).exists() {
            return Err(self.exists(&old_name));
        }
        let created = OffsetDateTime::parse(&file.created, &Rfc3339).unwrap_or(now);
        let new_der = algorithm.generate_pkcs8()?;
        // Keep the old key's iteration count if it was stronger than ours.
        let keeper = Self {
            dir: self.dir.clone(),
            iterations: self.iterations.max(file.kdf.iterations),
        };
        keeper.store(
            &old_name,
            algorithm,
            &der,
            KeyStatus::VerifyOnly,
            passphrase,
            created,
            false,
        )?;
        if let Some(chain) = self.cert_chain_pem(name)? {
            let p = self.cert_path(&old_name);
            fsutil::write_atomic(&p, chain.as_bytes())
                .map_err(io_err("writing certificate", &p))?;
        }
        let new = self.store(
            name,
            algorithm,
            &new_der,
            KeyStatus::Active,
            passphrase,
            now,
            true,
        )?;
        let cert_path = self.cert_path(name);
        if cert_path.exists() {
            fs::remove_file(&cert_path).map_err(io_err("removing old certificate", &cert_path))?;
            fsutil::sync_dir(&self.dir).map_err(io_err("flushing keystore", &self.dir))?;
        }
        let new = KeyInfo {
            certificate: None,
            ..new
        };
        Ok((new, self.info(&old_name)?))
    }

    /// Overwrites then removes key `name` and its certificate. Irreversible: the CLI asks for
    /// `--yes-destroy` first.
    pub fn destroy(&self, name: &str) -> Result<(), KeystoreError> {
        // A corrupt file can still be destroyed, so only the name and existence are checked.
        check_name(name)?;
        let path = self.key_path(name);
        if !path.exists() {
            return Err(KeystoreError::NotFound {
                key: name.to_owned(),
                dir: self.dir.clone(),
            });
        }
        fsutil::overwrite_and_remove(&path).map_err(io_err("destroying key file", &path))?;
        let cert_path = self.cert_path(name);
        if cert_path.exists() {
            fs::remove_file(&cert_path).map_err(io_err("removing certificate", &cert_path))?;
            fsutil::sync_dir(&self.dir).map_err(io_err("flushing keystore", &self.dir))?;
        }
        Ok(())
    }
}

// === Helpers ===

fn check_name(name: &str) -> Result<(), KeystoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(KeystoreError::InvalidName {
            name: name.to_owned(),
        })
    }
}

fn corrupt(path: &Path, reason: &str) -> KeystoreError {
    KeystoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    }
}

fn to_signer(name: &str, der: &[u8]) -> Result<Pkcs8Signer, KeystoreError> {
    Pkcs8Signer::from_der(name, der).map_err(|e| KeystoreError::BadKey {
        key: name.to_owned(),
        reason: e.to_string(),
    })
}

fn algorithm_of(name: &str, signer: &Pkcs8Signer) -> Result<KeyAlgorithm, KeystoreError> {
    Ok(match signer.algorithm() {
        SignatureAlgorithm::RsaSha256 => {
            // RSAPublicKey DER: the modulus length tells 2048 from 3072.
            let bits = rsa_modulus_bits(signer.public_key()).unwrap_or(0);
            match bits {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                _ => {
                    return Err(KeystoreError::BadKey {
                        key: name.to_owned(),
                        reason: format!("RSA keys must be 2048 or 3072 bits, not {bits}"),
                    });
                }
            }
        }
        SignatureAlgorithm::EcdsaP256Sha256 => KeyAlgorithm::P256,
        SignatureAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
    })
}

/// Bit length of the modulus in a DER RSAPublicKey (RFC 8017 §A.1.1).
fn rsa_modulus_bits(der: &[u8]) -> Option<usize> {
    use x509_parser::der_parser::ber::BerObjectContent;
    let (_, obj) = x509_parser::der_parser::parse_der(der).ok()?;
    let BerObjectContent::Sequence(items) = obj.content else {
        return None;
    };
    let n = items.first()?.as_slice().ok()?;
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    let first = *n.first()?;
    Some((n.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("signing").is_ok());
        assert!(check_name("signing.20260101T000000Z").is_ok());
        for bad in ["", ".hidden", "a/b", "../x", "a b", &"x".repeat(101)] {
            assert!(
                matches!(check_name(bad), Err(KeystoreError::InvalidName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn passphrase_debug_is_redacted() {
        let p = Passphrase::new("hunter2-secret".to_owned()).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(matches!(
            Passphrase::new(String::new()),
            Err(KeystoreError::BadPassphrase { .. })
        ));
    }

    #[test]
    fn iteration_floor_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let ks = Keystore::open(dir.path()).unwrap();
        assert!(matches!(
            ks.with_pbkdf2_iterations(999),
            Err(KeystoreError::IterationsTooLow { requested: 999, .. })
        ));
    }
}
