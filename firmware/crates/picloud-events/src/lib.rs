//! WIP
pub mod bytes;
pub mod id;
pub mod time;
pub mod token;
