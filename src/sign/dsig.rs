//! XML-DSig vocabulary (XML Signature Syntax and Processing 1.1) and the one shape of `Signature`
//! lienthong writes and accepts.

/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The edXML namespace (QCVN 102:2016).
pub const EDXML_NS: &str = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
/// Exclusive c14n without comments (xml-exc-c14n §4).
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Inclusive Canonical XML 1.0 without comments: verify-only, legacy (the platform's SDK
/// signers), accepted only with `allow_legacy`.
pub const C14N_10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// Exclusive c14n with comments: recognised only to be refused by name.
pub const EXC_C14N_WITH_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
/// The enveloped-signature transform (XML-DSig §6.6.4).
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// SHA-256 digest (XML Encryption §5.7.2).
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// SHA-1 digest: legacy edXML archives only, behind `allow_legacy`.
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
/// RSA-SHA1 signature: legacy edXML archives only, behind `allow_legacy`.
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
/// The namespace of `InclusiveNamespaces` (xml-exc-c14n §3).
pub const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The prefix lienthong gives the XML-DSig namespace.
pub const DS_PREFIX: &str = "ds";
/// RSA PKCS#1 v1.5 with SHA-384 (RFC 6931 §2.3.2): verified, never produced.
pub const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
/// RSA PKCS#1 v1.5 with SHA-512 (RFC 6931 §2.3.2): verified, never produced.
pub const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
/// ECDSA with SHA-384 (RFC 6931 §2.3.6), on P-384: verified, never produced.
pub const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";

/// The short name of a signature method lienthong verifies but does not produce.
pub(crate) fn verify_only_name(uri: &str) -> Option<&'static str> {
    match uri {
        RSA_SHA384 => Some("rsa-sha384"),
        RSA_SHA512 => Some("rsa-sha512"),
        ECDSA_SHA384 => Some("ecdsa-sha384"),
        _ => None,
    }
}
