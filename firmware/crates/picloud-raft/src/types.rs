//! The openraft type configuration and the application request/response types.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// Raft node id.
pub type NodeId = u64;

/// What the cluster knows about a node: where to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// `host:port` of the node's Raft listener (node-to-node RPC and forwarding).
    pub addr: String,
    /// `host:port` of the node's client/admin API; may equal `addr`.
    pub api: String,
}

impl PeerInfo {
    /// A peer whose API address is its Raft address.
    pub fn new(addr: impl Into<String>) -> Self {
        let addr = addr.into();
        PeerInfo {
            api: addr.clone(),
            addr,
        }
    }
}

impl fmt::Display for PeerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{raft: {}, api: {}}}", self.addr, self.api)
    }
}

/// One client command committed through Raft. `(client, seq)` makes it
/// idempotent: see [`crate::StateMachine`] for the exactly-once rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest {
    /// Client session id (random per client process).
    pub client: u128,
    /// Per-client sequence number, increasing by one per new request; a retry
    /// reuses the seq of the request it retries.
    pub seq: u64,
    /// What to do.
    pub op: Op,
}

impl fmt::Display for ClientRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.op {
            Op::Append { payload } => {
                write!(
                    f,
                    "{:032x}#{} append {}B",
                    self.client,
                    self.seq,
                    payload.len()
                )
            }
            Op::AppendBatch { payloads } => {
                write!(
                    f,
                    "{:032x}#{} append_batch x{}",
                    self.client,
                    self.seq,
                    payloads.len()
                )
            }
            Op::AppendIf {
                expected_offset,
                payloads,
            } => {
                write!(
                    f,
                    "{:032x}#{} append_if @{} x{}",
                    self.client,
                    self.seq,
                    expected_offset,
                    payloads.len()
                )
            }
        }
    }
}

/// A client operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Append one opaque event (later a postcard-encoded `picloud_events::Envelope`).
    Append {
        /// The event bytes.
        payload: Vec<u8>,
    },
    /// Append several events atomically, at consecutive offsets.
    AppendBatch {
        /// The event bytes, in order.
        payloads: Vec<Vec<u8>>,
    },
    /// Optimistic concurrency: append `payloads` atomically only if the event
    /// store holds exactly `expected_offset` events when the entry is applied;
    /// otherwise append nothing. The outcome is deterministic (every replica
    /// decides the same); see [`ClientResponse::refused`]. (Appended last so
    /// the postcard encoding of the older variants is unchanged.)
    AppendIf {
        /// The event count the caller decided against (= offset of the first
        /// payload if it is appended).
        expected_offset: u64,
        /// The event bytes, in order.
        payloads: Vec<Vec<u8>>,
    },
}

impl Op {
    /// Number of events this operation appends.
    pub fn event_count(&self) -> usize {
        match self {
            Op::Append { .. } => 1,
            Op::AppendBatch { payloads } | Op::AppendIf { payloads, .. } => payloads.len(),
        }
    }
}

/// The result of applying a [`ClientRequest`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientResponse {
    /// Event-store offset of the first appended event (for an empty batch or a
    /// non-client entry: the event count at that point).
    pub first_offset: u64,
    /// Number of events appended.
    pub count: u32,
    /// True when this was a retry of an already applied request: nothing was
    /// appended and the recorded response of the client's last request is returned.
    pub duplicate: bool,
}

impl ClientResponse {
    /// For an [`Op::AppendIf`] with `expected_offset` and `n` payloads: true
    /// when the condition failed and nothing was appended. A refusal is
    /// recorded as `count: 0` with `first_offset` = the event count at that
    /// point, which differs from `expected_offset` (that is what failed), so
    /// no new response field is needed and the encoding stays compatible.
    /// An empty `AppendIf` is never "refused" (it appends nothing either way).
    pub fn refused(&self, expected_offset: u64, n: usize) -> bool {
        n > 0 && (self.count == 0 || self.first_offset != expected_offset)
    }
}

/// The application data of one Raft entry: client requests batched by the
/// leader's write batcher (see [`crate::RaftNode::append`]). A follower's
/// openraft core waits for each log append to be durable before it takes the
/// next one (the leader's no longer does: `firmware/third_party/PATCHES.md`),
/// so one entry per request would cap a follower at one entry per fsync;
/// batching makes that one fsync per batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientBatch {
    /// The requests, applied in order.
    pub requests: Vec<ClientRequest>,
}

impl fmt::Display for ClientBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch of {}", self.requests.len())
    }
}

/// The responses to a [`ClientBatch`], one per request, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One response per request.
    pub responses: Vec<ClientResponse>,
}

openraft::declare_raft_types!(
    /// The PiCloud Raft type configuration.
    pub TypeConfig:
        D = ClientBatch,
        R = BatchResponse,
        NodeId = NodeId,
        Node = PeerInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The openraft instance type.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id.
pub type LogId = openraft::LogId<NodeId>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<NodeId>;
/// A membership as stored with its log id.
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerInfo>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerInfo>;
