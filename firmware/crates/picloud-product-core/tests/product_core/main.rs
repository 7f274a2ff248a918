//! picloud-product-core suite: decide tables (t10), plan (t20), properties (t30).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failed unwrap is a failed test"
)]

mod support;
mod t10_decide;
mod t20_plan;
mod t30_properties;
