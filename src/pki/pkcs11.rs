//! Signing keys on PKCS#11 tokens (HSMs, smart cards, SoftHSM for tests): the private key never
//! leaves the token.
//!
//! A key is named by a PKCS#11 URI (RFC 7512), e.g. `pkcs11:token=VPTW;object=signing`. Path
//! attributes understood: `token`, `object`, `id`, `type` (must be `private`), `manufacturer`,
//! `model`, `serial`, `slot-id`; query attributes: `module-path`, `pin-source` (`file:` only).
//! Anything else is refused rather than ignored (a misspelt attribute must not widen the
//! match), and `pin-value` is refused outright: a PIN in a key reference ends up in argv, shell
//! history and logs.
//!
//! Mechanisms: CKM_SHA256_RSA_PKCS for RSA (PKCS#1 v1.5, RFC 8017 §8.2); for P-256, CKM_ECDSA
//! over a SHA-256 digest computed here (PKCS#11 returns `r || s`, exactly XML-DSig 1.1's form).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::rcgen_key;
use crate::sign::{SignatureAlgorithm, Signer, SignerError};

/// The module (shared library) path when the URI has no `module-path`.
pub const MODULE_ENV: &str = "LIENTHONG_PKCS11_MODULE";
/// The user PIN.
pub const PIN_ENV: &str = "LIENTHONG_PKCS11_PIN";
/// A file holding the user PIN (one trailing newline ignored).
pub const PIN_FILE_ENV: &str = "LIENTHONG_PKCS11_PIN_FILE";

/// DER of the P-256 curve OID (prime256v1, RFC 5480 §2.1.1.1), as CKA_EC_PARAMS holds it.
const P256_EC_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Why a PKCS#11 key could not be used. Never carries the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The URI is malformed.
    #[error("invalid PKCS#11 URI {uri:?}: {reason}")]
    Uri {
        /// The URI (PIN-free: a `pin-value` URI is refused before this is built).
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The URI carries a PIN.
    #[error(
        "PKCS#11 URI carries a pin-value: refused (set LIENTHONG_PKCS11_PIN or a PIN file instead)"
    )]
    PinInUri,
    /// No module path.
    #[error("no PKCS#11 module: set LIENTHONG_PKCS11_MODULE or module-path in the URI")]
    NoModule,
    /// No PIN.
    #[error(
        "no PKCS#11 PIN: set LIENTHONG_PKCS11_PIN, LIENTHONG_PKCS11_PIN_FILE or pin-source in the URI"
    )]
    NoPin,
    /// The PIN file could not be read.
    #[error("cannot read PKCS#11 PIN file {path}: {reason}")]
    PinFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The module could not be loaded or initialised.
    #[error("cannot load PKCS#11 module {path}: {reason}")]
    Module {
        /// The module.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No token matches.
    #[error("no PKCS#11 token matches {uri}")]
    TokenNotFound {
        /// The URI.
        uri: String,
    },
    /// More than one token or key matches.
    #[error("{what} matching {uri} is ambiguous ({count} match); add attributes to the URI")]
    Ambiguous {
        /// Token or key.
        what: &'static str,
        /// The URI.
        uri: String,
        /// How many matched.
        count: usize,
    },
    /// No private key matches.
    #[error("no private key on the token matches {uri}")]
    KeyNotFound {
        /// The URI.
        uri: String,
    },
    /// The PIN was refused.
    #[error("the token refused the PIN for {uri}")]
    WrongPin {
        /// The URI.
        uri: String,
    },
    /// The key is not RSA or P-256.
    #[error("key {uri} is not an RSA or ECDSA P-256 key: {reason}")]
    UnsupportedKey {
        /// The URI.
        uri: String,
        /// Why.
        reason: String,
    },
    /// A PKCS#11 call failed.
    #[error("PKCS#11 {operation} failed for {uri}: {reason}")]
    Call {
        /// What was being done.
        operation: &'static str,
        /// The URI.
        uri: String,
        /// The module's error.
        reason: String,
    },
}

// === URI ===

/// A parsed PKCS#11 URI (RFC 7512) naming a private key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11Uri {
    /// The URI as given.
    pub text: String,
    /// Token label.
    pub token: Option<String>,
    /// Token manufacturer id.
    pub manufacturer: Option<String>,
    /// Token model.
    pub model: Option<String>,
    /// Token serial number.
    pub serial: Option<String>,
    /// Slot id.
    pub slot_id: Option<u64>,
    /// Object label (CKA_LABEL).
    pub object: Option<String>,
    /// Object id (CKA_ID), raw bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path` query attribute.
    pub module_path: Option<PathBuf>,
    /// `pin-source` query attribute (`file:` path).
    pub pin_source: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// Parses `pkcs11:attr=value;…[?attr=value&…]`, percent-decoding values (RFC 7512 §2.3).
    pub fn parse(text: &str) -> Result<Self, Pkcs11Error> {
        let err = |reason: String| Pkcs11Error::Uri {
            uri: text.to_owned(),
            reason,
        };
        let rest = text
            .strip_prefix("pkcs11:")
            .ok_or_else(|| err("it does not start with pkcs11:".to_owned()))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Self {
            text: text.to_owned(),
            ..Self::default()
        };
        let mut seen = Vec::new();
        for part in path.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err(format!("attribute {part:?} has no value")))?;
            if seen.contains(&k) {
                return Err(err(format!("attribute {k} given twice")));
            }
            seen.push(k);
            let raw =
                percent_decode(v).ok_or_else(|| err(format!("bad percent-encoding in {k}")))?;
            let text_value =
                || String::from_utf8(raw.clone()).map_err(|_| err(format!("{k} is not UTF-8")));
            match k {
                "token" => uri.token = Some(text_value()?),
                "object" => uri.object = Some(text_value()?),
                "manufacturer" => uri.manufacturer = Some(text_value()?),
                "model" => uri.model = Some(text_value()?),
                "serial" => uri.serial = Some(text_value()?),
                "id" => uri.id = Some(raw.clone()),
                "slot-id" => {
                    uri.slot_id = Some(
                        text_value()?
                            .parse()
                            .map_err(|_| err("slot-id is not a number".to_owned()))?,
                    );
                }
                "type" => {
                    if text_value()? != "private" {
                        return Err(err("only type=private keys can sign".to_owned()));
                    }
                }
                other => return Err(err(format!("unknown path attribute {other:?}"))),
            }
        }
        for part in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err(format!("query attribute {part:?} has no value")))?;
            if k == "pin-value" {
                return Err(Pkcs11Error::PinInUri);
            }
            if seen.contains(&k) {
                return Err(err(format!("attribute {k} given twice")));
            }
            seen.push(k);
            let value = percent_decode(v)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| err(format!("bad value for {k}")))?;
            match k {
                "module-path" => uri.module_path = Some(PathBuf::from(value)),
                "pin-source" => {
                    let p = value
                        .strip_prefix("file:")
                        .ok_or_else(|| err("pin-source must be a file: path".to_owned()))?;
                    // `file:///x` and `file:/x` both name /x.
                    let p = p.strip_prefix("//").unwrap_or(p);
                    uri.pin_source = Some(PathBuf::from(p));
                }
                other => return Err(err(format!("unknown query attribute {other:?}"))),
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(err("it names no key (object= or id=)".to_owned()));
        }
        Ok(uri)
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

// === PIN ===

/// A token user PIN. Zeroized on drop; `Debug` shows nothing.
pub struct Pkcs11Pin(Zeroizing<String>);

impl std::fmt::Debug for Pkcs11Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pkcs11Pin(<redacted>)")
    }
}

impl Pkcs11Pin {
    /// Wraps a PIN.
    pub fn new(pin: String) -> Self {
        Self(Zeroizing::new(pin))
    }

    /// Reads a PIN file (one trailing newline ignored).
    pub fn from_file(path: &Path) -> Result<Self, Pkcs11Error> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| Pkcs11Error::PinFile {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?,
            );
        let t = text.trim_end_matches(['\n', '\r']);
        Ok(Self::new(t.to_owned()))
    }
}

// === Signer ===

/// A private key on a token, as a [`Signer`].
pub struct Pkcs11Signer {
    uri: String,
    algorithm: SignatureAlgorithm,
    // cryptoki sessions are Send but not Sync: one signature at a time per key.
    session: Mutex<Session>,
    key: ObjectHandle,
    public_key: Vec<u8>,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("uri", &self.uri)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Opens the key named by `uri` with the module and PIN from the environment or the URI:
    /// module = URI `module-path`, else `LIENTHONG_PKCS11_MODULE`; PIN = `LIENTHONG_PKCS11_PIN`,
    /// else the URI's `pin-source`, else the file named by `LIENTHONG_PKCS11_PIN_FILE`.
    pub fn from_env(uri: &Pkcs11Uri) -> Result<Self, Pkcs11Error> {
        let module = match &uri.module_path {
            Some(p) => p.clone(),
            None => std::env::var_os(MODULE_ENV)
                .map(PathBuf::from)
                .ok_or(Pkcs11Error::NoModule)?,
        };
        let pin = if let Some(p) = std::env::var_os(PIN_ENV) {
            Pkcs11Pin::new(p.into_string().map_err(|_| Pkcs11Error::PinFile {
                path: PathBuf::from(PIN_ENV),
                reason: "not UTF-8".to_owned(),
            })?)
        } else if let Some(p) = &uri.pin_source {
            Pkcs11Pin::from_file(p)?
        } else if let Some(p) = std::env::var_os(PIN_FILE_ENV) {
            Pkcs11Pin::from_file(Path::new(&p))?
        } else {
            return Err(Pkcs11Error::NoPin);
        };
        Self::open(uri, &module, &pin)
    }

    /// Loads `module`, finds the one token and the one private key matching `uri`, logs in
    /// with `pin` and reads the public key.
    pub fn open(uri: &Pkcs11Uri, module: &Path, pin: &Pkcs11Pin) -> Result<Self, Pkcs11Error> {
        let u = uri.text.clone();
        // The module, initialised once per process.
        let ctx = load_module(module)?;
        // A session on the one matching token, logged in.
        let slot = find_slot(&ctx, uri)?;
        let session = ctx
            .open_ro_session(slot)
            .map_err(call(&u, "open session"))?;
        login(&session, &u, pin)?;
        // The one matching private key, its type, and any public object beside it.
        let key = find_one(&session, uri, ObjectClass::PRIVATE_KEY)?
            .ok_or_else(|| Pkcs11Error::KeyNotFound { uri: u.clone() })?;
        let attrs = session
            .get_attributes(key, &[AttributeType::KeyType])
            .map_err(call(&u, "read key type"))?;
        let key_type = attrs.iter().find_map(|a| match a {
            Attribute::KeyType(t) => Some(*t),
            _ => None,
        });
        let public_object = find_one(&session, uri, ObjectClass::PUBLIC_KEY)?;
        // The signature algorithm and the public key, by key type.
        let (algorithm, public_key) = match key_type {
            Some(KeyType::RSA) => (
                SignatureAlgorithm::RsaSha256,
                rsa_public_key(&session, key, &u)?,
            ),
            Some(KeyType::EC) => (
                SignatureAlgorithm::EcdsaP256Sha256,
                p256_public_key(&session, key, public_object, &u)?,
            ),
            _ => return Err(unsupported(&u, "unsupported key type")),
        };
        Ok(Self {
            uri: u,
            algorithm,
            session: Mutex::new(session),
            key,
            public_key,
        })
    }

    /// The public key as ring encodes it (RSA: PKCS#1 RSAPublicKey DER; EC: uncompressed point).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        rcgen_key::spki_der(self.algorithm, &self.public_key)
    }

    /// RSA-OAEP-decrypts `data` on the token (CKM_RSA_PKCS_OAEP, empty label); the key never
    /// leaves it. The token's own error is kept; it says no more than "did not decrypt".
    pub fn decrypt_oaep(
        &self,
        digest: crate::seal::OaepHash,
        mgf: crate::seal::OaepHash,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        use crate::seal::OaepHash;
        use cryptoki::mechanism::MechanismType;
        use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
        if self.algorithm != SignatureAlgorithm::RsaSha256 {
            return Err("not an RSA key".to_owned());
        }
        let hash = match digest {
            OaepHash::Sha1 => MechanismType::SHA1,
            OaepHash::Sha256 => MechanismType::SHA256,
        };
        let mgf = match mgf {
            OaepHash::Sha1 => PkcsMgfType::MGF1_SHA1,
            OaepHash::Sha256 => PkcsMgfType::MGF1_SHA256,
        };
        let mechanism =
            Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty()));
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        session
            .decrypt(&mechanism, self.key, data)
            .map(Zeroizing::new)
            .map_err(|e| e.to_string())
    }
}

/// A decryption key on a token, bound to its encryption certificate: opens sealed documents
/// (`seal::ContentKeyUnwrap`) without the private key ever leaving the token.
pub struct Pkcs11Decrypter {
    token: Pkcs11Signer,
    certificate_sha256: [u8; 32],
}

impl std::fmt::Debug for Pkcs11Decrypter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Decrypter")
            .field("uri", &self.token.uri)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Decrypter {
    /// The token key `uri` (module and PIN as for signing: the environment or the URI) with the
    /// DER encryption certificate it belongs to; refused when the certificate's key is not the
    /// token key's public half.
    pub fn open(uri: &Pkcs11Uri, certificate: &[u8]) -> Result<Self, Pkcs11Error> {
        let token = Pkcs11Signer::from_env(uri)?;
        let cert_key = crate::seal::Recipient::from_certificate(&uri.text, "", certificate)
            .map_err(|e| Pkcs11Error::UnsupportedKey {
                uri: uri.text.clone(),
                reason: e.to_string(),
            })?;
        let same = token.algorithm == SignatureAlgorithm::RsaSha256
            && rsa_public_key_der_of(&cert_key).as_deref() == Some(token.public_key.as_slice());
        if !same {
            return Err(Pkcs11Error::UnsupportedKey {
                uri: uri.text.clone(),
                reason: "the certificate's key is not this token key".to_owned(),
            });
        }
        Ok(Self {
            token,
            certificate_sha256: crate::seal::certificate_digest(certificate),
        })
    }
}

/// PKCS#1 RSAPublicKey DER of a recipient's key (the form the token's is read into).
fn rsa_public_key_der_of(r: &crate::seal::Recipient) -> Option<Vec<u8>> {
    use rsa::traits::PublicKeyParts;
    let k = r.public_key();
    Some(rsa_public_key_der(
        &k.n().to_be_bytes_trimmed_vartime(),
        &k.e().to_be_bytes_trimmed_vartime(),
    ))
}

impl crate::seal::ContentKeyUnwrap for Pkcs11Decrypter {
    fn certificate_sha256(&self) -> [u8; 32] {
        self.certificate_sha256
    }

    fn unwrap_content_key(
        &self,
        transport: crate::seal::KeyTransport,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        self.token
            .decrypt_oaep(transport.digest, transport.mgf, wrapped)
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let failed = |reason: String| SignerError::Failed {
            key: self.uri.clone(),
            reason,
        };
        // A panic elsewhere while holding the lock leaves the session usable: take it anyway.
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        match self.algorithm {
            SignatureAlgorithm::RsaSha256 => session
                .sign(&Mechanism::Sha256RsaPkcs, self.key, message)
                .map_err(|e| failed(e.to_string())),
            SignatureAlgorithm::EcdsaP256Sha256 => {
                let digest = ring::digest::digest(&ring::digest::SHA256, message);
                let sig = session
                    .sign(&Mechanism::Ecdsa, self.key, digest.as_ref())
                    .map_err(|e| failed(e.to_string()))?;
                if sig.len() != 64 {
                    return Err(failed(format!(
                        "the token returned a {}-byte ECDSA signature, expected 64 (r || s)",
                        sig.len()
                    )));
                }
                Ok(sig)
            }
            other => Err(failed(format!(
                "{} is not supported on tokens",
                other.name()
            ))),
        }
    }
}

/// Maps a failed PKCS#11 call of `operation` on `uri` to [`Pkcs11Error::Call`].
fn call(uri: &str, operation: &'static str) -> impl FnOnce(CkError) -> Pkcs11Error + use<> {
    let uri = uri.to_owned();
    move |e: CkError| Pkcs11Error::Call {
        operation,
        uri,
        reason: e.to_string(),
    }
}

/// The key of `uri` cannot be used, for `reason`.
fn unsupported(uri: &str, reason: &str) -> Pkcs11Error {
    Pkcs11Error::UnsupportedKey {
        uri: uri.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Loads the module and initialises it (one already initialised in this process is fine).
fn load_module(module: &Path) -> Result<Pkcs11, Pkcs11Error> {
    let ctx = Pkcs11::new(module).map_err(|e| Pkcs11Error::Module {
        path: module.to_path_buf(),
        reason: e.to_string(),
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(Pkcs11Error::Module {
            path: module.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

/// Logs the session in as the user with `pin` (a session already logged in is fine).
fn login(session: &Session, uri: &str, pin: &Pkcs11Pin) -> Result<(), Pkcs11Error> {
    match session.login(UserType::User, Some(&AuthPin::new(pin.0.as_str().into()))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
            Err(Pkcs11Error::WrongPin {
                uri: uri.to_owned(),
            })
        }
        Err(e) => Err(call(uri, "login")(e)),
    }
}

/// The RSA public key of private key `key`, as PKCS#1 RSAPublicKey DER.
fn rsa_public_key(session: &Session, key: ObjectHandle, uri: &str) -> Result<Vec<u8>, Pkcs11Error> {
    // The private object of an RSA key carries its modulus and public exponent
    // (PKCS#11 v2.40 §2.1.3), so no public object is needed.
    let a = session
        .get_attributes(
            key,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .map_err(call(uri, "read RSA public key"))?;
    let (mut n, mut e) = (None, None);
    for attr in a {
        match attr {
            Attribute::Modulus(v) => n = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    let (Some(n), Some(e)) = (n, e) else {
        return Err(unsupported(
            uri,
            "the token does not reveal the RSA public key",
        ));
    };
    Ok(rsa_public_key_der(&n, &e))
}

/// The uncompressed point of P-256 private key `key`, read from its `public` object.
fn p256_public_key(
    session: &Session,
    key: ObjectHandle,
    public: Option<ObjectHandle>,
    uri: &str,
) -> Result<Vec<u8>, Pkcs11Error> {
    let a = session
        .get_attributes(key, &[AttributeType::EcParams])
        .map_err(call(uri, "read EC parameters"))?;
    let params = a.into_iter().find_map(|x| match x {
        Attribute::EcParams(p) => Some(p),
        _ => None,
    });
    if params.as_deref() != Some(P256_EC_PARAMS) {
        return Err(unsupported(uri, "only the P-256 curve is supported"));
    }
    let public = public.ok_or_else(|| unsupported(uri, "no public key object beside it"))?;
    let a = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(call(uri, "read EC point"))?;
    a.into_iter()
        .find_map(|x| match x {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .and_then(|p| unwrap_ec_point(&p))
        .ok_or_else(|| unsupported(uri, "the EC point is not an uncompressed P-256 point"))
}

fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, Pkcs11Error> {
    let slots = ctx.get_slots_with_token().map_err(|e| Pkcs11Error::Call {
        operation: "list slots",
        uri: uri.text.clone(),
        reason: e.to_string(),
    })?;
    let mut matches = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        if ok(&uri.token, info.label())
            && ok(&uri.manufacturer, info.manufacturer_id())
            && ok(&uri.model, info.model())
            && ok(&uri.serial, info.serial_number())
        {
            matches.push(slot);
        }
    }
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Pkcs11Error::TokenNotFound {
            uri: uri.text.clone(),
        }),
        many => Err(Pkcs11Error::Ambiguous {
            what: "token",
            uri: uri.text.clone(),
            count: many.len(),
        }),
    }
}

fn find_one(
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<Option<ObjectHandle>, Pkcs11Error> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| Pkcs11Error::Call {
            operation: "find objects",
            uri: uri.text.clone(),
            reason: e.to_string(),
        })?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(Pkcs11Error::Ambiguous {
            what: "key",
            uri: uri.text.clone(),
            count: many.len(),
        }),
    }
}

/// CKA_EC_POINT is a DER OCTET STRING wrapping the point (PKCS#11 v2.40 §2.3.3); some modules
/// return the bare point. Either way, return the 65-byte uncompressed point.
fn unwrap_ec_point(v: &[u8]) -> Option<Vec<u8>> {
    match v {
        [0x04, 65, rest @ ..] if rest.len() == 65 && rest.first() == Some(&0x04) => {
            Some(rest.to_vec())
        }
        [0x04, ..] if v.len() == 65 => Some(v.to_vec()),
        _ => None,
    }
}

/// DER RSAPublicKey (RFC 8017 §A.1.1) from big-endian modulus and exponent.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, l: usize) {
        if l < 0x80 {
            out.push(u8::try_from(l).unwrap_or(0));
        } else {
            let bytes: Vec<u8> = l
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | u8::try_from(bytes.len()).unwrap_or(0));
            out.extend(bytes);
        }
    }
    fn int(v: &[u8]) -> Vec<u8> {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = Vec::new();
        if v.first().is_none_or(|b| b & 0x80 != 0) {
            body.push(0);
        }
        body.extend(v);
        let mut out = vec![0x02];
        len(&mut out, body.len());
        out.extend(body);
        out
    }
    let mut content = int(n);
    content.extend(int(e));
    let mut out = vec![0x30];
    len(&mut out, content.len());
    out.extend(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_parses_and_decodes() {
        let u = Pkcs11Uri::parse("pkcs11:token=My%20Token;object=K;id=%01%02").unwrap();
        assert_eq!(u.token.as_deref(), Some("My Token"));
        assert_eq!(u.object.as_deref(), Some("K"));
        assert_eq!(u.id, Some(vec![1, 2]));
        let u = Pkcs11Uri::parse(
            "pkcs11:object=K;type=private?module-path=/usr/lib/x.so&pin-source=file:/tmp/pin",
        )
        .unwrap();
        assert_eq!(u.module_path.as_deref(), Some(Path::new("/usr/lib/x.so")));
        assert_eq!(u.pin_source.as_deref(), Some(Path::new("/tmp/pin")));
    }

    #[test]
    fn uri_refusals() {
        for bad in [
            "pkcs11:token=T",              // no key named
            "pkcs11:token=T;object=K;x=1", // unknown attribute
            "pkcs11:object=K;object=L",    // duplicate
            "pkcs11:object=%zz",           // bad escape
            "pkcs11:object=K;type=public", // cannot sign
            "token=T;object=K",            // no scheme
            "pkcs11:object=K?foo=bar",     // unknown query
        ] {
            assert!(
                matches!(Pkcs11Uri::parse(bad), Err(Pkcs11Error::Uri { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            Pkcs11Uri::parse("pkcs11:object=K?pin-value=1234"),
            Err(Pkcs11Error::PinInUri)
        ));
    }

    #[test]
    fn rsa_public_key_der_matches_ring_form() {
        let der = rsa_public_key_der(&[0x80; 256], &[0x01, 0x00, 0x01]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(&der[4..8], &[0x02, 0x82, 0x01, 0x01]);
        assert_eq!(&der[der.len() - 5..], &[0x02, 0x03, 0x01, 0x00, 0x01]);
    }

    #[test]
    fn pin_debug_is_redacted() {
        assert!(!format!("{:?}", Pkcs11Pin::new("1234".into())).contains("1234"));
    }
}
