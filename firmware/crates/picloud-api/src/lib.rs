//! PiCloud's HTTP API wire types — ring 0: the JSON bodies the server (`picloud-http`) sends
//! and receives and the CLI builds and reads. No HTTP dependency, so the CLI can use them
//! on any platform.
//!
//! Field names are camelCase on the wire. These are API shapes, not persisted formats:
//! optional fields are omitted when empty. Every route and status code is in `docs/api.md`.
//!
//! - Commands: [`ApplyRequest`] → [`ApplyResponse`] (`POST /api/apply`), [`DeleteRequest`]
//!   → [`ApplyResponse`] (`POST /api/delete`).
//! - Events: [`EventItem`] is one item of `GET /api/events` (server-sent events; the SSE
//!   `data:` is the envelope's JSON, the SSE `id:` its log offset).
//! - Reads: [`ProductStatus`] (`GET /api/status/<p>`), [`ClusterStatus`] (`GET /api/cluster`),
//!   [`GraphDocument`] (the plain JSON view of an IRI), [`Health`] (`GET /health`).
//! - Errors: every 4xx/5xx answer of the API carries an [`ErrorBody`].

use std::collections::BTreeMap;

use picloud_domain::{Name, Resource};
use picloud_events::{CorrelationId, Envelope, IdempotencyKey};
use serde::{Deserialize, Serialize};

/// Media type of the JSON bodies.
pub const JSON: &str = "application/json";

/// `POST /api/apply`: a whole apply set (one `.picloud` directory, validated by the client;
/// the server validates again through the product slice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyRequest {
    /// The typed resources of the set.
    pub resources: Vec<Resource>,
    /// Makes a retry safe: a key already applied commits nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// `POST /api/delete`: a product (cascading to all its resources) or one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteRequest {
    /// The product.
    pub product: Name,
    /// The resource kind keyword (`container`, `volume`, …); absent with `name` absent to
    /// delete the whole product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The resource name; required when `kind` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// Makes a retry safe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// The answer to an accepted command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResponse {
    /// Links the command with its events: filter `GET /api/events?correlationId=` by it.
    pub correlation_id: CorrelationId,
    /// How many events were committed (0 when nothing changed or the idempotency key was
    /// already applied).
    pub events: u64,
    /// Log offset of the first committed event, when `events > 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_offset: Option<u64>,
    /// Log offset of the last committed event, when `events > 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_offset: Option<u64>,
    /// Whether the graph (IRIs, SPARQL) already shows the events when the answer is sent.
    pub projected: bool,
}

/// One item of the event stream: the envelope and its log offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventItem {
    /// The log offset (the SSE `id:`; resume with `Last-Event-ID`).
    pub offset: u64,
    /// The committed event (the SSE `data:`).
    pub event: Envelope,
}

/// The lifecycle status of one resource, read from the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// The resource kind keyword (`container`).
    pub kind: String,
    /// The resource name.
    pub name: String,
    /// The resource IRI.
    pub iri: String,
    /// The spec generation (1 when declared, +1 per change).
    pub generation: u64,
    /// `Declared`, `Provisioning`, `Ready`, `Failed` or `Deleting`.
    pub status: String,
    /// Why, for humans ("waiting for the workload controller").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /api/status/<p>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductStatus {
    /// The product.
    pub product: String,
    /// The product IRI.
    pub iri: String,
    /// Every resource of the product (the product resource included), sorted by kind and
    /// name.
    pub resources: Vec<ResourceStatus>,
    /// The projector cursor the statuses were read at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_offset: Option<u64>,
}

/// One member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// The node name.
    pub name: String,
    /// Its IRI.
    pub iri: String,
    /// `voter`, `learner`, … as the replication layer says.
    pub role: String,
    /// Its cluster address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Whether it leads the cluster now.
    pub leader: bool,
    /// Whether it answers.
    pub reachable: bool,
}

/// `GET /api/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The cluster domain (`picloud.local`).
    pub domain: String,
    /// The cluster IRI.
    pub iri: String,
    /// The node answering this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub this_node: Option<String>,
    /// The leader's name, when one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// The members.
    pub nodes: Vec<NodeStatus>,
    /// The product names, sorted.
    pub products: Vec<String>,
    /// The last committed log offset known here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_offset: Option<u64>,
    /// The projector cursor here (graph lag = committed − projected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_offset: Option<u64>,
    /// SHA-256 of the cluster CA certificate (hex, colon separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_fingerprint: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// One RDF term in the plain JSON view: an IRI, or a literal with its datatype / language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TermValue {
    /// The IRI, for an IRI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iri: Option<String>,
    /// The lexical value, for a literal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The datatype IRI, for a literal that is not a plain string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
    /// The language tag, for a language-tagged string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// One subject in the plain JSON view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectDocument {
    /// The subject IRI.
    pub iri: String,
    /// Its properties: the predicate, compacted to `pc:` / `rdf:` / `rdfs:` / `xsd:` when
    /// it has one of those prefixes, to its sorted values.
    pub properties: BTreeMap<String, Vec<TermValue>>,
}

/// The plain JSON view (`application/json`) of a dereferenced IRI: the IRI itself first,
/// then its nested values (`…/mounts/0`, …) in IRI order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphDocument {
    /// The dereferenced IRI.
    pub iri: String,
    /// The prefixes used in property names.
    pub prefixes: BTreeMap<String, String>,
    /// The subjects.
    pub subjects: Vec<SubjectDocument>,
}

/// `POST /api/cluster/add`: admit the node whose node-protocol listener is at `address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddNodeRequest {
    /// The new node's `--listen`/`--advertise` address (`HOST:PORT`).
    pub address: String,
}

/// `POST /api/cluster/remove`: remove a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveNodeRequest {
    /// The node id (as `cluster status` shows it; `node-<id>` is accepted too).
    pub node: String,
}

/// The answer of `POST /api/cluster/init`, `/add` and `/remove`: what the node did and
/// the membership afterwards. It never carries a bootstrap code (that stays on the node's
/// console).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterChangeResponse {
    /// What happened, one line per step (`initialised a cluster with node …`, `added node
    /// … at …`, `peer … not admitted: …`).
    pub summary: Vec<String>,
    /// The voters' node ids after the change.
    pub voters: Vec<u64>,
    /// The learners' node ids after the change.
    pub learners: Vec<u64>,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable machine-readable code (`not_found`, `rejected`, `not_acceptable`,
    /// `update_refused`, `bad_query`, `bad_request`, `internal`, `unavailable`).
    pub error: String,
    /// What went wrong, for humans (lower case, no trailing period).
    pub message: String,
    /// For 406: the media types this resource is available in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub available: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_request_round_trips_with_camel_case_key() {
        let json = r#"{"resources":[],"idempotencyKey":"k-1"}"#;
        let r: ApplyRequest = serde_json::from_str(json).unwrap();
        assert_eq!(r.idempotency_key.as_ref().map(|k| k.as_str()), Some("k-1"));
        assert_eq!(serde_json::to_string(&r).unwrap(), json);
        let r: ApplyRequest = serde_json::from_str(r#"{"resources":[]}"#).unwrap();
        assert!(r.idempotency_key.is_none());
    }

    #[test]
    fn error_body_omits_empty_available() {
        let e = ErrorBody {
            error: "not_found".into(),
            message: "no such resource".into(),
            available: vec![],
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"error":"not_found","message":"no such resource"}"#
        );
    }
}
