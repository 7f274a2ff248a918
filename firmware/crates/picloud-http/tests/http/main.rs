//! End-to-end tests: the real HTTPS server (rustls, MemoryBackend) on 127.0.0.1:0, driven
//! by real clients: the system `curl` (with `--cacert`) and Python rdflib / SPARQLWrapper.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failed unwrap is a failed test"
)]

mod support;
mod t10_iris;
mod t20_sparql;
mod t30_commands;
mod t40_python;
mod t50_tls;
mod t60_auth;
mod t65_product_clients;
mod t70_oidc;
mod t80_passkeys;
mod t90_authlib;
