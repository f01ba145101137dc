//! HTTP surfaces: the office and inbox API, the exchange API between gateways, health and
//! metrics — all on the one TLS listener in [`server`].

pub mod auth;
mod connections;
pub mod json_form;
pub mod portal;
pub mod problem;
pub mod refusal;
pub mod routes;
pub mod server;
