//! picloud-events integration suite: fixtures (t10), round trips (t20), hostile input (t30).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: a failed unwrap is a failed test"
)]

mod samples;
mod t10_fixtures;
mod t20_round_trip;
mod t30_hostile_input;
