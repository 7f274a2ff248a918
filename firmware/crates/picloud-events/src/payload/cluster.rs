//! Cluster membership events (emitted by the cluster slice, committed through Raft).

use picloud_domain::{ClusterDomain, Name};
use serde::{Deserialize, Serialize};

use crate::bytes::Sha256Digest;
use crate::id::{ClusterId, NodeId};

/// A node's Raft membership role. At most five voters; further nodes are learners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// Votes in elections and counts towards the commit quorum.
    Voter,
    /// Receives the log but does not vote.
    Learner,
}

/// Emitted once, by the first node at `cluster init`: the cluster exists, with this id,
/// domain and CA. The first event of every log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInitializedV1 {
    /// The cluster's id (drawn by the node at init).
    pub cluster_id: ClusterId,
    /// The cluster domain every IRI lives under (`picloud.local` by default).
    pub domain: ClusterDomain,
    /// SHA-256 of the cluster CA certificate's DER, as shown on the console.
    pub ca_fingerprint: Sha256Digest,
}

/// Emitted by the leader when it admits a node (approved by an admin or by auto-enrolment):
/// the node is now a member with this role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeJoinedV1 {
    /// The node's name (`<node>.picloud.local`).
    pub node: Name,
    /// The node's stable id.
    pub node_id: NodeId,
    /// Where peers reach it, `host:port`.
    pub address: String,
    /// Its Raft role on joining.
    pub role: NodeRole,
}

/// Emitted by the leader when a learner becomes a voter (e.g. after a voter left).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePromotedV1 {
    /// The promoted node.
    pub node: Name,
    /// Its id.
    pub node_id: NodeId,
}

/// Emitted by the leader when a voter becomes a learner (e.g. to keep at most five voters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeDemotedV1 {
    /// The demoted node.
    pub node: Name,
    /// Its id.
    pub node_id: NodeId,
}

/// Emitted by the leader when a node leaves the membership (`node remove`); its
/// certificates are revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRemovedV1 {
    /// The removed node.
    pub node: Name,
    /// Its id.
    pub node_id: NodeId,
}
