//! PiCloud consensus: openraft 0.9 (`storage-v2`) over the `picloud-log` engine.
//!
//! - [`LogStore`]: openraft's `RaftLogStorage`/`RaftLogReader` on a
//!   [`picloud_log::Log`] (the Raft log, the replication buffer).
//! - [`StateMachine`]: openraft's `RaftStateMachine`; committed events go to
//!   the permanent **event store** (a second engine, offset = index), with
//!   exactly-once sessions. The module docs state the snapshot, restart and
//!   install rules.
//! - [`network`]: TCP transport with postcard frames ([`wire`]), pipelined,
//!   reconnecting, with a TLS seam ([`Connector`]).
//! - [`RaftNode`]: the handle the binary uses: start, initialize, membership
//!   with the voter policy ([`voters`]), writes from any node (forwarded to the
//!   leader), linearizable reads, status.
//!
//! On-disk layout under a node's data directory:
//!
//! ```text
//! <data>/raft/     picloud-log: Raft log entries (postcard openraft Entry), vote,
//!                  committed log id, purge marker
//! <data>/events/   picloud-log: event i = record i; its snapshot file holds the
//!                  state machine snapshot (meta + state, no events)
//! ```

mod error;
mod log_store;
pub mod network;
mod node;
mod state_machine;
mod types;
pub mod voters;
pub mod wire;

pub use error::{ClientError, FrameError, NodeError, StoreError, TransportError};
pub use log_store::LogStore;
pub use network::Connector;
pub use node::{NodeConfig, NodeStatus, RaftNode, MAX_REQUEST_BYTES};
pub use state_machine::{
    hash_event, EventStore, Session, SmConfig, SmData, SnapshotBuilder, SnapshotImage,
    StateMachine, EVENTS_DIR,
};
pub use types::{
    ClientRequest, ClientResponse, Entry, LogId, NodeId, Op, PeerInfo, Raft, SnapshotMeta,
    StorageError, StoredMembership, TypeConfig,
};

/// Directory of the Raft log under the data directory.
pub const RAFT_DIR: &str = "raft";

/// Re-export of openraft, so users name the same version.
pub use openraft;
