//! XML-DSig: enveloped signatures over the whole edXML envelope, and their verification.

pub mod algorithm;

pub use algorithm::{SignatureAlgorithm, Signer, SignerError};
