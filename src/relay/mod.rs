//! Delivery between gateways: per-peer clients over mutual TLS, workers with retries and
//! backoff, dead letters.

pub mod client;
pub mod ocsp;
pub mod worker;
