//! picloud-projection suite: photo-app (t10), determinism and snapshots (t20), lifecycle
//! of resources, products, nodes and IAM (t30), the ontology (t40).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failed unwrap is a failed test"
)]

mod support;
mod t10_photo_app;
mod t20_determinism;
mod t30_lifecycle;
mod t40_ontology;
