//! Firmware events (emitted by a node's platform process about its own boot).

use picloud_domain::Name;
use serde::{Deserialize, Serialize};

/// One of the two A/B system slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BootSlot {
    /// Slot A (partitions p2/p5).
    A,
    /// Slot B (partitions p3/p6).
    B,
}

/// Emitted by a node once its platform process is up after a boot: which slot and
/// firmware version it runs. OTA rollouts watch for it to confirm a trial boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeBootedV1 {
    /// The node that booted.
    pub node: Name,
    /// The slot it booted from.
    pub slot: BootSlot,
    /// The firmware version string of that slot.
    pub version: String,
}
