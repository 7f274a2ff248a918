//! Error types. Two tiers, like openraft: [`NodeError`] is fatal (the node
//! cannot run: storage or listener failure, Raft core stopped); [`ClientError`]
//! is an API outcome a caller can act on (retry, go to the leader, give up).

use std::io;

use picloud_log::LogError;
use serde::{Deserialize, Serialize};

use crate::types::{NodeId, PeerInfo};

/// Errors of the state machine's event store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An engine operation on the event store failed.
    #[error("event store {op}: {source}")]
    Events {
        /// What was being done.
        op: &'static str,
        /// The engine error.
        #[source]
        source: LogError,
    },
    /// Stored bytes did not decode.
    #[error("decode {what}: {reason}")]
    Decode {
        /// Which structure.
        what: &'static str,
        /// Decoder message.
        reason: String,
    },
    /// The stored state contradicts itself.
    #[error("event store corrupt: {reason}")]
    Corrupt {
        /// What is inconsistent.
        reason: String,
    },
}

/// Errors decoding a wire frame. Never a panic, whatever the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the length prefix announces (or than the prefix itself).
    #[error("frame truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The length prefix exceeds the maximum frame size.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// Bytes after the frame body.
    #[error("{extra} trailing bytes after the frame")]
    Trailing {
        /// How many.
        extra: usize,
    },
    /// The body is not a valid message.
    #[error("frame body: {reason}")]
    Body {
        /// Decoder message.
        reason: String,
    },
}

/// Transport failures between nodes.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Connecting to the peer failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// Peer address.
        addr: String,
        /// OS error.
        #[source]
        source: io::Error,
    },
    /// In backoff after a failed connection attempt.
    #[error("peer {addr} unreachable (backing off)")]
    Backoff {
        /// Peer address.
        addr: String,
    },
    /// The connection broke before the response arrived.
    #[error("connection to {addr} closed")]
    Closed {
        /// Peer address.
        addr: String,
    },
    /// No response within the deadline.
    #[error("request to {addr} timed out after {ms} ms")]
    Timeout {
        /// Peer address.
        addr: String,
        /// Deadline in milliseconds.
        ms: u64,
    },
    /// Encoding or decoding a frame failed.
    #[error("frame to/from {addr}: {source}")]
    Frame {
        /// Peer address.
        addr: String,
        /// Frame error.
        #[source]
        source: FrameError,
    },
    /// The peer answered with an unexpected message kind.
    #[error("unexpected response from {addr}: {what}")]
    Unexpected {
        /// Peer address.
        addr: String,
        /// What came back.
        what: String,
    },
    /// The TLS handshake failed or was refused (either side): bad, missing,
    /// expired or foreign certificate, wrong name, or a TLS protocol error.
    #[error("tls with {addr}: {reason}")]
    Tls {
        /// Peer address.
        addr: String,
        /// What rustls reported.
        reason: String,
        /// The rustls error, when there is one (for callers that match on it).
        rustls: Option<rustls::Error>,
    },
    /// The node's TLS material could not be loaded.
    #[error("tls setup: {what}: {reason}")]
    TlsSetup {
        /// Which file or step.
        what: String,
        /// Why.
        reason: String,
    },
    /// Refusing to listen/connect in plaintext on a non-loopback address.
    #[error("plaintext transport refused on non-loopback address {addr} (use TLS, or allow plaintext for tests)")]
    PlaintextRefused {
        /// The address.
        addr: String,
    },
    /// Binding the listener failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// OS error.
        #[source]
        source: io::Error,
    },
}

/// Fatal node errors: the node cannot start or has stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Opening the Raft log failed.
    #[error("open raft log in {dir}: {source}")]
    OpenLog {
        /// Directory.
        dir: String,
        /// Engine error.
        #[source]
        source: LogError,
    },
    /// Opening the event store failed.
    #[error("open event store: {0}")]
    OpenEvents(#[from] StoreError),
    /// The transport failed to start.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The openraft configuration is invalid.
    #[error("raft config: {0}")]
    Config(String),
    /// The Raft core stopped (storage failure or shutdown).
    #[error("raft core stopped: {0}")]
    Fatal(String),
}

/// API errors of client and admin calls, as also sent over the wire when a
/// call is forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ClientError {
    /// This node is not the leader; the leader (if known) is given. Returned
    /// only when forwarding is off or exhausted its retries.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The known leader.
        leader: Option<(NodeId, PeerInfo)>,
    },
    /// Transient: no leader, the leader changed, a peer is unreachable or a
    /// request timed out. Retrying with the same `(client, seq)` is safe.
    #[error("unavailable, retry: {reason}")]
    Unavailable {
        /// What happened.
        reason: String,
    },
    /// The request was refused and retrying will not help.
    #[error("rejected: {reason}")]
    Rejected {
        /// Why.
        reason: String,
    },
    /// The node is shutting down or its storage failed.
    #[error("node stopped: {reason}")]
    Fatal {
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// Whether retrying (with the same request id) can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ClientError::NotLeader { .. } | ClientError::Unavailable { .. }
        )
    }
}
