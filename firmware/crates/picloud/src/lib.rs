//! The library half of the `picloud` crate: what other programs need to talk to a running
//! node — the client wire protocol ([`api`]) and a pipelined async client ([`client`]).
//! The binary (`src/main.rs`) serves this protocol in `picloud node`; the fault tests and the
//! benchmark (`cargo xtask bench log`) drive clusters through [`client`].
//!
//! Node and client code is Unix-only for now (the node process runs on Linux); the offline
//! CLI builds everywhere.

#[cfg(unix)]
pub mod api;
#[cfg(unix)]
pub mod client;
