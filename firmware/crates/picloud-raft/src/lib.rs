//! PiCloud consensus: openraft 0.9 (`storage-v2`) over the `picloud-log` engine.
//!
//! - [`LogStore`]: openraft's `RaftLogStorage`/`RaftLogReader` on a
//!   [`picloud_log::Log`] (the Raft log, the replication buffer).
//! - [`StateMachine`]: openraft's `RaftStateMachine`; committed events go to
//!   the permanent **event store** (a second engine, offset = index), with
//!   exactly-once sessions. Its module docs state the snapshot, restart and
//!   install rules precisely.
//! - [`network`]: TCP transport with postcard frames ([`wire`]), pipelined,
//!   reconnecting, with a TLS seam ([`Connector`]).
//! - [`RaftNode`]: the handle the binary uses: start, initialize, membership
//!   with the voter policy ([`voters`]), writes from any node (forwarded to the
//!   leader), linearizable reads, status.
//!
//! # Raft entries
//!
//! The application data of an entry is a [`ClientBatch`]: the leader groups
//! concurrent [`ClientRequest`]s into one entry (openraft 0.9's core waits for
//! each log append to be durable before taking the next request, so one entry
//! per request would cost one fsync per request). Each request keeps its own
//! exactly-once record and [`ClientResponse`].
//!
//! # On disk
//!
//! ```text
//! <data>/raft/     picloud-log: record i = postcard(openraft Entry with index i);
//!                  metadata: vote (saved durably), committed log id (saved in
//!                  the background, coalesced), purge marker = purged log id
//! <data>/events/   picloud-log: record i = event at offset i (never purged);
//!                  its snapshot file = postcard(SnapshotMeta) + postcard(SmData)
//! <data>/events.new, events.old   transient, during a snapshot install
//! ```
//!
//! # Wire
//!
//! `[u32 big-endian body length <= 32 MiB][postcard(RpcMessage)]`, where
//! `RpcMessage` is `Request { id, body }` or `Response { id, body }`; ids are
//! per connection and requests are pipelined (see [`wire`]).
//!
//! # Error tiers
//!
//! [`NodeError`] is fatal (the node cannot start or its Raft core stopped);
//! [`ClientError`] is an API outcome: `NotLeader` and `Unavailable` are
//! retryable with the same `(client, seq)`, `Rejected` is final, `Fatal`
//! means this node stopped.

mod error;
mod log_store;
pub mod network;
mod node;
mod state_machine;
pub mod tls;
pub mod trace;
mod types;
pub mod voters;
pub mod wire;

pub use error::{ClientError, FrameError, NodeError, StoreError, TransportError};
pub use log_store::LogStore;
pub use network::Connector;
pub use node::{
    NodeConfig, NodeStatus, RaftNode, MAX_BATCHES_IN_FLIGHT, MAX_BATCH_BYTES, MAX_BATCH_REQUESTS,
    MAX_REQUEST_BYTES,
};
pub use state_machine::{
    hash_event, EventStore, Session, SmConfig, SmData, SnapshotBuilder, SnapshotImage,
    StateMachine, EVENTS_DIR,
};
pub use types::{
    BatchResponse, ClientBatch, ClientRequest, ClientResponse, Entry, LogId, NodeId, Op, PeerInfo,
    Raft, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// Directory of the Raft log under the data directory.
pub const RAFT_DIR: &str = "raft";

/// Re-export of openraft, so users name the same version.
pub use openraft;
