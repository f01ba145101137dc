//! # lienthong — a secure electronic document exchange gateway
//!
//! One gateway runs beside each party committee office. Offices submit edXML documents; the
//! gateway checks them against the classification policy, signs them (XML-DSig, X.509), queues
//! them durably and relays them over mutually authenticated TLS to peer gateways, which verify
//! signature, chain and revocation before placing them in an inbox.
//!
//! The flow: office → `policy` → `sign` → `store` (outbox) → `relay` → peer: `sign::verify` →
//! `policy` → `store` (inbox) → receiving system.
//!
//! What lienthong refuses to do, by design: fetch anything a document points to (external
//! Reference URIs, KeyInfo RetrievalMethod), read a DTD or expand an entity beyond the five
//! predefined ones, run XSLT or XPath transforms.
//!
//! Modules:
//! - [`doc`]: the XML tree, its one parser (with limits), the writer, exclusive c14n, and the
//!   typed edXML envelope.
//! - [`store`]: durable storage (messages, outbox per peer, inbox per organ, dedup) behind the
//!   [`store::Store`] trait, on sled with group commit.
//! - [`pki`]: the encrypted keystore, CSRs, the small CA (issue, revoke, CRL), the demo PKI and
//!   PKCS#11 tokens; [`pki::load_signer`] turns a key reference into a signer.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod audit;
pub mod bench;
pub mod client;
pub mod config;
pub mod demo;
pub mod doc;
pub mod exchange;
pub mod gateway;
mod group_commit;
pub mod pki;
pub mod policy;
pub mod relay;
pub mod seal;
pub mod sign;
pub mod store;
pub mod swap;
pub mod tls;
