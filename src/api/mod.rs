//! HTTP surfaces: the office and inbox API, the exchange API between gateways, health and
//! metrics — all on the one TLS listener in [`server`].

pub mod auth;
pub mod portal;
pub mod problem;
pub mod routes;
pub mod server;
