//! The client protocol of `picloud node`, served on the node's one listener beside the
//! node-to-node Raft transport.
//!
//! A client connection starts with the 4 bytes [`MAGIC`]; a Raft connection starts with a
//! frame length whose first byte is at most `0x02` (frames are at most 32 MiB), so the node
//! tells them apart by the first byte. After the magic, both directions carry frames:
//!
//! ```text
//! frame = len: u32 (big endian, body bytes, <= MAX_FRAME) || body: postcard(Frame)
//! ```
//!
//! Requests carry an id chosen by the client, unique per connection; responses carry the
//! same id and may arrive in any order (requests are pipelined).

use picloud_raft::{ClientError, ClientResponse, NodeId};
use serde::{Deserialize, Serialize};

/// First bytes of a client connection.
pub const MAGIC: [u8; 4] = *b"PCc1";
/// Largest frame body accepted or sent.
pub const MAX_FRAME: usize = 32 << 20;
/// Most events one read returns.
pub const MAX_READ: u32 = 10_000;

/// A frame body.
#[derive(Debug, Serialize, Deserialize)]
pub enum Frame {
    /// A request.
    Request {
        /// Request id (per connection).
        id: u64,
        /// The request.
        body: ApiRequest,
    },
    /// The response to request `id`.
    Response {
        /// Id of the request answered.
        id: u64,
        /// The response.
        body: ApiResponse,
    },
}

/// What a client asks a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ApiRequest {
    /// Who are you? Answered with [`ApiResponse::Hello`].
    Hello,
    /// Append events (one: `Op::Append`, several: one atomic `Op::AppendBatch`). Any node
    /// accepts it and forwards it to the leader. `(client, seq)` makes it exactly-once:
    /// retry with the same pair until it succeeds, one request in flight per client.
    Append {
        /// Client session id.
        client: u128,
        /// Sequence number within the session.
        seq: u64,
        /// The events.
        payloads: Vec<Vec<u8>>,
    },
    /// Read events from offset `from`, at most `limit` (capped at [`MAX_READ`]).
    Read {
        /// First offset.
        from: u64,
        /// Most events returned.
        limit: u32,
        /// Read index through the leader first: the result reflects every append
        /// acknowledged before the request.
        linearizable: bool,
    },
    /// This node's view of the cluster.
    Status,
    /// Form a cluster: this node becomes its only voter, then the node's `--peer`s are
    /// admitted as learners and promoted up to five voters.
    Init,
    /// Admit the node listening at `addr` (learner, promoted if there are fewer than five
    /// voters). Forwarded to the leader.
    Add {
        /// The new node's address.
        addr: String,
    },
    /// Remove a node; a removed voter is replaced by the longest-serving learner.
    /// Forwarded to the leader.
    Remove {
        /// The node id.
        id: NodeId,
    },
}

/// What a node answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ApiResponse {
    /// To [`ApiRequest::Hello`].
    Hello(Hello),
    /// To [`ApiRequest::Append`].
    Append(Result<ClientResponse, ClientError>),
    /// To [`ApiRequest::Read`]: `(offset, event)` pairs.
    Read(Result<Vec<(u64, Vec<u8>)>, ClientError>),
    /// To [`ApiRequest::Status`].
    Status(Status),
    /// To the admin requests: a summary of what was done.
    Admin(Result<String, ClientError>),
}

/// A node introducing itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Node id (persisted in its data directory).
    pub id: NodeId,
    /// The address other nodes and clients use to reach it.
    pub addr: String,
}

/// One member of the cluster, as a node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Node id.
    pub id: NodeId,
    /// Advertised address.
    pub addr: String,
    /// Voter (true) or learner.
    pub voter: bool,
}

/// A node's view of itself and the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its advertised address.
    pub addr: String,
    /// Leader, Follower, Learner, Candidate or Shutdown.
    pub state: String,
    /// Current term.
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// Index of the last entry in this node's Raft log.
    pub last_log_index: Option<u64>,
    /// Index of the last applied entry.
    pub applied: Option<u64>,
    /// Members of the effective membership (voters first, learners by seniority).
    pub members: Vec<Member>,
    /// Events in this node's event store.
    pub events: u64,
    /// Running hash of those events (equal on nodes with equal logs).
    pub event_hash: u64,
}

/// Frame encoding errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The body exceeds [`MAX_FRAME`].
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Length.
        len: usize,
        /// Maximum.
        max: usize,
    },
    /// The body does not decode.
    #[error("frame body: {0}")]
    Body(String),
}

/// Encodes one frame, header included.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, FrameError> {
    let out =
        postcard::to_extend(frame, vec![0u8; 4]).map_err(|e| FrameError::Body(e.to_string()))?;
    let len = out.len() - 4;
    let too_large = FrameError::TooLarge {
        len,
        max: MAX_FRAME,
    };
    if len > MAX_FRAME {
        return Err(too_large);
    }
    let prefix = u32::try_from(len).map_err(|_| too_large)?.to_be_bytes();
    let mut out = out;
    if let Some(h) = out.get_mut(..4) {
        h.copy_from_slice(&prefix);
    }
    Ok(out)
}

/// Reads the body length from a header, checking the maximum.
pub fn body_len(header: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    Ok(len)
}

/// Decodes a frame body. Never panics.
pub fn decode(body: &[u8]) -> Result<Frame, FrameError> {
    postcard::from_bytes(body).map_err(|e| FrameError::Body(e.to_string()))
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<Frame>, std::io::Error> {
    use tokio::io::AsyncReadExt;
    let mut h = [0u8; 4];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let invalid = |e: FrameError| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let len = body_len(h).map_err(invalid)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    decode(&body).map(Some).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let f = Frame::Request {
            id: 9,
            body: ApiRequest::Append {
                client: 7,
                seq: 1,
                payloads: vec![vec![1; 256]],
            },
        };
        let bytes = encode(&f).unwrap();
        let len = body_len(bytes[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, bytes.len() - 4);
        match decode(&bytes[4..]).unwrap() {
            Frame::Request {
                id: 9,
                body: ApiRequest::Append { seq: 1, .. },
            } => {}
            other => panic!("{other:?}"),
        }
        assert!(decode(&bytes[4..bytes.len() - 3]).is_err());
        assert!(body_len(u32::MAX.to_be_bytes()).is_err());
        // The first byte of a client connection never looks like a Raft frame length.
        assert!(MAGIC[0] > 0x02);
    }
}
