//! XML-DSig: enveloped signatures over the whole edXML envelope, and their verification.
//!
//! [`sign_document`] appends the one `Signature` lienthong writes; [`verify()`] is the only way to
//! obtain a [`VerifiedDocument`].

pub mod algorithm;
pub mod cache;
pub mod dsig;
pub mod ocsp;
pub mod pkcs8;
pub mod receipt;
pub mod signing;
pub mod trust;
pub mod verify;

pub use algorithm::{SignatureAlgorithm, Signer, SignerError};
pub use cache::{CHAIN_CACHE_CAPACITY, CacheStats};
pub use pkcs8::{KeyError, Pkcs8Signer};
pub use receipt::{ReceiptBody, ReceiptError, SignedReceipt};
pub use signing::{SignError, sign_document};
pub use trust::{DOC_SIGNING_EKU, RevocationSource, SigningPolicy, TrustError, TrustStore};
pub use verify::{
    ChainFailure, RevocationStatus, SignerIdentity, VerifiedDocument, VerifiedField, VerifyError,
    VerifyOptions, check_certificates, verify, verify_detached, verify_field,
};
