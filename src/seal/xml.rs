//! The `EncryptedData` element of a sealed document (schemas/lienthong-seal.xsd), written and
//! read on the one XML tree (`doc::tree`) — never by string search.
//!
//! ```text
//! xenc:EncryptedData [MimeType]
//!   xenc:EncryptionMethod  @Algorithm = xmlenc11#aes256-gcm
//!   ds:KeyInfo
//!     xenc:EncryptedKey [@Recipient]          one per recipient
//!       xenc:EncryptionMethod @Algorithm = xmlenc11#rsa-oaep | xmlenc#rsa-oaep-mgf1p
//!         ds:DigestMethod, xenc11:MGF         (the OAEP hashes)
//!       ds:KeyInfo / ds:X509Data / dsig11:X509Digest @Algorithm = xmlenc#sha256
//!       xenc:CipherData / xenc:CipherValue    base64(RSA-OAEP(content key))
//!   xenc:CipherData / xenc:CipherValue        base64(IV ‖ AES-256-GCM(plaintext) ‖ tag)
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::algorithm::{AES256_GCM, DS_NS, DSIG11_NS, KeyTransport, SHA256, XENC_NS, XENC11_NS};
use super::error::SealError;
use super::recipient::{Recipient, certificate_digest};
use crate::doc::{Element, Node, NsDecl};

/// At most this many `EncryptedKey`s are read from one document.
pub const MAX_RECIPIENTS: usize = 256;

/// One `EncryptedKey` as read: for whom, which certificate, how wrapped, the wrapped key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// `@Recipient`, when present (a hint, never trusted for access).
    pub recipient: Option<String>,
    /// SHA-256 of the certificate it is wrapped for: from `X509Digest`, or computed from an
    /// `X509Certificate`; `None` when the `EncryptedKey` does not say.
    pub certificate_sha256: Option<[u8; 32]>,
    /// The key transport.
    pub transport: KeyTransport,
    /// The RSA-OAEP ciphertext.
    pub wrapped: Vec<u8>,
}

fn el(prefix: &str, local: &str, ns: &str) -> Element {
    Element::new(Some(prefix), local, Some(ns))
}

fn declare(mut e: Element, prefix: &str, ns: &str) -> Element {
    e.ns_decls.push(NsDecl {
        prefix: Some(prefix.to_owned()),
        uri: ns.to_owned(),
    });
    e
}

fn method(uri: &str) -> Element {
    let mut m = el("xenc", "EncryptionMethod", XENC_NS);
    m.set_attr("Algorithm", uri);
    m
}

fn cipher_data(bytes: &[u8]) -> Element {
    el("xenc", "CipherData", XENC_NS)
        .with_child(el("xenc", "CipherValue", XENC_NS).with_text(STANDARD.encode(bytes)))
}

/// The `EncryptedKey` wrapping `content_key` for `r`.
pub(super) fn encrypted_key(r: &Recipient, transport: KeyTransport, wrapped: &[u8]) -> Element {
    let mut m = method(transport.uri());
    let mut digest = el("ds", "DigestMethod", DS_NS);
    digest.set_attr("Algorithm", transport.digest_uri());
    m.push_element(digest);
    if let Some(mgf) = transport.mgf_uri() {
        let mut g = declare(el("xenc11", "MGF", XENC11_NS), "xenc11", XENC11_NS);
        g.set_attr("Algorithm", mgf);
        m.push_element(g);
    }
    let mut x509_digest = declare(el("dsig11", "X509Digest", DSIG11_NS), "dsig11", DSIG11_NS);
    x509_digest.set_attr("Algorithm", SHA256);
    x509_digest.push_text(STANDARD.encode(r.certificate_sha256()));
    let key_info =
        el("ds", "KeyInfo", DS_NS).with_child(el("ds", "X509Data", DS_NS).with_child(x509_digest));
    let mut k = el("xenc", "EncryptedKey", XENC_NS);
    if !r.name().is_empty() {
        k.set_attr("Recipient", r.name());
    }
    k.with_child(m)
        .with_child(key_info)
        .with_child(cipher_data(wrapped))
}

/// The `EncryptedData` element around `ciphertext` (IV ‖ C ‖ tag) with its `EncryptedKey`s.
pub(super) fn encrypted_data(
    mime_type: Option<&str>,
    keys: Vec<Element>,
    ciphertext: &[u8],
) -> Element {
    let mut d = declare(
        declare(el("xenc", "EncryptedData", XENC_NS), "xenc", XENC_NS),
        "ds",
        DS_NS,
    );
    if let Some(m) = mime_type {
        d.set_attr("MimeType", m);
    }
    let mut key_info = el("ds", "KeyInfo", DS_NS);
    for k in keys {
        key_info.push_element(k);
    }
    d.with_child(method(AES256_GCM))
        .with_child(key_info)
        .with_child(cipher_data(ciphertext))
}

fn layout(msg: impl Into<String>) -> SealError {
    SealError::Layout(msg.into())
}

/// The element children of `e`, refusing non-blank text between them.
fn children(e: &Element) -> Result<Vec<&Element>, SealError> {
    let mut out = Vec::new();
    for n in &e.children {
        match n {
            Node::Element(c) => out.push(c),
            Node::Text(t) if t.trim().is_empty() => {}
            Node::Text(_) => return Err(layout(format!("text inside {}", e.local))),
            Node::Comment(_) => return Err(layout(format!("a comment inside {}", e.local))),
        }
    }
    Ok(out)
}

fn expect<'a>(
    kids: &mut std::slice::Iter<'_, &'a Element>,
    ns: &str,
    local: &str,
    parent: &str,
) -> Result<&'a Element, SealError> {
    match kids.next() {
        Some(c) if c.is(ns, local) => Ok(c),
        Some(c) => Err(layout(format!(
            "{parent}: expected {local}, found {}",
            c.qname()
        ))),
        None => Err(layout(format!("{parent}: {local} is missing"))),
    }
}

fn no_more(kids: &mut std::slice::Iter<'_, &Element>, parent: &str) -> Result<(), SealError> {
    match kids.next() {
        None => Ok(()),
        Some(c) => Err(layout(format!("{parent}: unexpected {}", c.qname()))),
    }
}

fn algorithm(m: &Element) -> Result<&str, SealError> {
    m.attr("Algorithm")
        .ok_or_else(|| layout("EncryptionMethod without Algorithm"))
}

fn base64(e: &Element, what: &'static str) -> Result<Vec<u8>, SealError> {
    let text: String = e
        .text()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(text.as_bytes())
        .map_err(|_| SealError::Base64 { what })
}

/// `CipherData/CipherValue`, decoded; `CipherReference` is refused (nothing is fetched).
fn cipher_value(cd: &Element, what: &'static str) -> Result<Vec<u8>, SealError> {
    let kids = children(cd)?;
    match kids.as_slice() {
        [v] if v.is(XENC_NS, "CipherValue") => base64(v, what),
        [r] if r.is(XENC_NS, "CipherReference") => Err(layout(
            "CipherReference is not read: a sealed document carries its ciphertext",
        )),
        _ => Err(layout("CipherData must hold exactly one CipherValue")),
    }
}

/// Reads the content cipher: `EncryptionMethod` of `EncryptedData` must be AES-256-GCM.
pub(super) fn content_method(m: &Element) -> Result<(), SealError> {
    let uri = algorithm(m)?;
    if uri != AES256_GCM {
        return Err(SealError::UnsupportedAlgorithm {
            what: "content EncryptionMethod",
            uri: uri.to_owned(),
        });
    }
    if !children(m)?.is_empty() {
        return Err(layout("the AES-GCM EncryptionMethod takes no parameters"));
    }
    Ok(())
}

/// Reads the `EncryptedKey`s under `EncryptedData/KeyInfo`.
pub(super) fn wrapped_keys(key_info: &Element) -> Result<Vec<WrappedKey>, SealError> {
    let kids = children(key_info)?;
    if kids.is_empty() {
        return Err(layout("KeyInfo holds no EncryptedKey"));
    }
    if kids.len() > MAX_RECIPIENTS {
        return Err(layout(format!(
            "{} EncryptedKeys, over the limit of {MAX_RECIPIENTS}",
            kids.len()
        )));
    }
    kids.into_iter()
        .map(|k| {
            if k.is(XENC_NS, "EncryptedKey") {
                wrapped_key(k)
            } else {
                Err(layout(format!(
                    "KeyInfo of EncryptedData: unexpected {} (only EncryptedKey)",
                    k.qname()
                )))
            }
        })
        .collect()
}

fn wrapped_key(k: &Element) -> Result<WrappedKey, SealError> {
    let kids = children(k)?;
    let mut it = kids.iter();
    let m = expect(&mut it, XENC_NS, "EncryptionMethod", "EncryptedKey")?;
    let transport = key_transport(m)?;
    let mut next = it.next();
    let mut certificate_sha256 = None;
    if let Some(ki) = next.filter(|e| e.is(DS_NS, "KeyInfo")) {
        certificate_sha256 = key_info_certificate(ki)?;
        next = it.next();
    }
    let cd = match next {
        Some(c) if c.is(XENC_NS, "CipherData") => c,
        Some(c) => return Err(layout(format!("EncryptedKey: unexpected {}", c.qname()))),
        None => return Err(layout("EncryptedKey: CipherData is missing")),
    };
    let wrapped = cipher_value(cd, "the wrapped key")?;
    // ReferenceList and CarriedKeyName may follow; neither changes what the key opens.
    for rest in it {
        if !(rest.is(XENC_NS, "ReferenceList") || rest.is(XENC_NS, "CarriedKeyName")) {
            return Err(layout(format!("EncryptedKey: unexpected {}", rest.qname())));
        }
    }
    Ok(WrappedKey {
        recipient: k.attr("Recipient").map(str::to_owned),
        certificate_sha256,
        transport,
        wrapped,
    })
}

fn key_transport(m: &Element) -> Result<KeyTransport, SealError> {
    let uri = algorithm(m)?;
    let (mut digest, mut mgf) = (None, None);
    for p in children(m)? {
        if p.is(DS_NS, "DigestMethod") {
            digest = Some(p.attr("Algorithm").unwrap_or_default());
        } else if p.is(XENC11_NS, "MGF") {
            mgf = Some(p.attr("Algorithm").unwrap_or_default());
        } else if p.is(XENC_NS, "OAEPparams") {
            return Err(SealError::UnsupportedAlgorithm {
                what: "OAEPparams (an OAEP label)",
                uri: uri.to_owned(),
            });
        } else {
            return Err(layout(format!(
                "EncryptionMethod: unexpected {}",
                p.qname()
            )));
        }
    }
    KeyTransport::from_uris(uri, digest, mgf)
}

/// The certificate an `EncryptedKey`'s `KeyInfo` names: `X509Digest` (SHA-256) or a whole
/// `X509Certificate`. Other hints (`KeyName`, `X509IssuerSerial`, …) name nothing we match on.
fn key_info_certificate(ki: &Element) -> Result<Option<[u8; 32]>, SealError> {
    for data in children(ki)?
        .into_iter()
        .filter(|e| e.is(DS_NS, "X509Data"))
    {
        for item in children(data)? {
            if item.is(DSIG11_NS, "X509Digest") && item.attr("Algorithm") == Some(SHA256) {
                let d = base64(item, "X509Digest")?;
                let d: [u8; 32] = d
                    .try_into()
                    .map_err(|_| layout("X509Digest is not 32 bytes (SHA-256)"))?;
                return Ok(Some(d));
            }
            if item.is(DS_NS, "X509Certificate") {
                return Ok(Some(certificate_digest(&base64(item, "X509Certificate")?)));
            }
        }
    }
    Ok(None)
}

/// Splits an `EncryptedData` element into its three parts.
pub(super) fn parts(d: &Element) -> Result<(&Element, &Element, &Element), SealError> {
    if !d.is(XENC_NS, "EncryptedData") {
        return Err(layout(format!(
            "expected xenc:EncryptedData, found {}",
            d.qname()
        )));
    }
    let kids = children(d)?;
    let mut it = kids.iter();
    let m = expect(&mut it, XENC_NS, "EncryptionMethod", "EncryptedData")?;
    let ki = expect(&mut it, DS_NS, "KeyInfo", "EncryptedData")?;
    let cd = expect(&mut it, XENC_NS, "CipherData", "EncryptedData")?;
    // EncryptionProperties may close the element; it says nothing we act on.
    match it.next() {
        Some(p) if p.is(XENC_NS, "EncryptionProperties") => no_more(&mut it, "EncryptedData")?,
        Some(p) => return Err(layout(format!("EncryptedData: unexpected {}", p.qname()))),
        None => {}
    }
    Ok((m, ki, cd))
}

/// The content ciphertext of `CipherData`.
pub(super) fn content(cd: &Element) -> Result<Vec<u8>, SealError> {
    cipher_value(cd, "the ciphertext")
}
