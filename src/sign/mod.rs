//! XML-DSig: enveloped signatures over the whole edXML envelope, and their verification.

pub mod algorithm;
pub mod pkcs8;

pub use algorithm::{SignatureAlgorithm, Signer, SignerError};
pub use pkcs8::{KeyError, Pkcs8Signer};
