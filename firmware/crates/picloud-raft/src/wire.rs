//! The node-to-node wire format.
//!
//! A connection carries frames in both directions:
//!
//! ```text
//! frame = len: u32 (big endian, body bytes, <= MAX_FRAME) || body: postcard(RpcMessage)
//! ```
//!
//! Every [`RpcMessage::Request`] carries an id chosen by the connecting side,
//! unique per connection; the matching [`RpcMessage::Response`] carries the
//! same id. Requests are pipelined: many may be outstanding on one connection
//! and responses may arrive in any order.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, FrameError};
use crate::types::{ClientRequest, ClientResponse, NodeId, TypeConfig};

/// Largest frame body accepted or sent (32 MiB). openraft's snapshot chunk
/// size and AppendEntries payload limits are configured well below this.
pub const MAX_FRAME: usize = 32 << 20;
/// Length of the frame header.
pub const FRAME_HEADER: usize = 4;

/// A frame body.
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcMessage {
    /// A request.
    Request {
        /// Request id (per connection).
        id: u64,
        /// The request.
        body: Request,
    },
    /// The response to request `id`.
    Response {
        /// Id of the request answered.
        id: u64,
        /// The response.
        body: Response,
    },
}

/// Requests.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Raft AppendEntries (also heartbeats).
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Raft RequestVote.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot (openraft 0.9 chunked transfer).
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A client write forwarded to the node believed to be the leader.
    ClientWrite(ClientRequest),
    /// Ask the leader for a linearizable read index.
    ReadIndex,
    /// Several client writes forwarded together (answered in order).
    ClientWriteBatch(Vec<ClientRequest>),
}

/// Responses.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// To [`Request::AppendEntries`].
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// To [`Request::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// To [`Request::InstallSnapshot`].
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// To [`Request::ClientWrite`].
    ClientWrite(Result<ClientResponse, ClientError>),
    /// To [`Request::ReadIndex`]: the log index a read must wait for (None: nothing committed).
    ReadIndex(Result<Option<u64>, ClientError>),
    /// To [`Request::ClientWriteBatch`]: one result per request, in order.
    ClientWriteBatch(Vec<Result<ClientResponse, ClientError>>),
}

/// Encodes a message as one frame (header included).
pub fn encode_frame(msg: &RpcMessage) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; FRAME_HEADER];
    out = postcard::to_extend(msg, out).map_err(|e| FrameError::Body {
        reason: e.to_string(),
    })?;
    let len = out.len() - FRAME_HEADER;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    let prefix = u32::try_from(len)
        .map_err(|_| FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        })?
        .to_be_bytes();
    if let Some(h) = out.get_mut(..FRAME_HEADER) {
        h.copy_from_slice(&prefix);
    }
    Ok(out)
}

/// Reads the body length from a frame header, checking the maximum.
pub fn frame_len(header: [u8; FRAME_HEADER]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    Ok(len)
}

/// Decodes a frame body (without the header).
pub fn decode_body(body: &[u8]) -> Result<RpcMessage, FrameError> {
    let (msg, rest) =
        postcard::take_from_bytes::<RpcMessage>(body).map_err(|e| FrameError::Body {
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(FrameError::Trailing { extra: rest.len() });
    }
    Ok(msg)
}

/// Decodes exactly one whole frame (header and body). Never panics.
pub fn decode_frame(bytes: &[u8]) -> Result<RpcMessage, FrameError> {
    let have = bytes.len();
    let (Some(head), Some(rest)) = (bytes.get(..FRAME_HEADER), bytes.get(FRAME_HEADER..)) else {
        return Err(FrameError::Truncated {
            need: FRAME_HEADER,
            have,
        });
    };
    let mut h = [0u8; FRAME_HEADER];
    h.copy_from_slice(head);
    let len = frame_len(h)?;
    if rest.len() < len {
        return Err(FrameError::Truncated {
            need: FRAME_HEADER + len,
            have,
        });
    }
    if rest.len() > len {
        return Err(FrameError::Trailing {
            extra: rest.len() - len,
        });
    }
    decode_body(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Op;
    use proptest::prelude::*;

    #[test]
    fn round_trip_client_write() {
        let msg = RpcMessage::Request {
            id: 7,
            body: Request::ClientWrite(ClientRequest {
                client: 1 << 100,
                seq: 3,
                op: Op::Append {
                    payload: vec![1; 256],
                },
            }),
        };
        let f = encode_frame(&msg).unwrap();
        match decode_frame(&f).unwrap() {
            RpcMessage::Request {
                id: 7,
                body: Request::ClientWrite(r),
            } => {
                assert_eq!(r.seq, 3);
                assert_eq!(r.client, 1 << 100);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_frame(&f[..f.len() - 1]),
            Err(FrameError::Truncated { .. })
        ));
        let mut long = f.clone();
        long.push(0);
        assert!(matches!(
            decode_frame(&long),
            Err(FrameError::Trailing { extra: 1 })
        ));
    }

    #[test]
    fn oversized_length_is_refused() {
        let mut f = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&[0; 16]);
        assert!(matches!(decode_frame(&f), Err(FrameError::TooLarge { .. })));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_frame(&bytes);
            let _ = decode_body(&bytes);
        }

        #[test]
        fn decode_never_panics_on_framed_garbage(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut f = (body.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&body);
            let _ = decode_frame(&f);
        }
    }
}
