//! IRIs of the projection that [`IriBuilder`] does not build itself: named graphs, nested
//! values, the projector's cursor and platform IAM subjects.
//!
//! Every IRI here is derived from an IRI that [`IriBuilder`] built, by appending path
//! segments with [`nested`]. Nothing else in this crate concatenates IRIs.
//!
//! | what | IRI |
//! | --- | --- |
//! | cluster graph | `https://<domain>/graph` |
//! | product graph | `https://<domain>/products/<p>/graph` |
//! | nested value of a resource | `<resource>/mounts/0`, `<resource>/env/DB_URL`, `<resource>/storageIntent`, … |
//! | projector cursor subject | `https://<domain>/meta/projector` |
//! | platform identity (IAM) | `https://<domain>/platform/identities/<name>` |
//! | platform role (IAM) | `https://<domain>/platform/roles/<name>` |

use picloud_domain::{Iri, IriBuilder, Name};

/// `<parent>/<segment>/<segment>…`: the IRI of a value nested inside `parent`.
///
/// Nested values (mounts, ports, env entries, config entries, the storage intent, …) get
/// IRIs derived from their resource instead of blank nodes, so the graph is canonical: the
/// same events always give byte-identical N-Quads. Segments are field names, list indexes
/// or keys (environment names, config keys); any character outside the RFC 3986 unreserved
/// set is percent-encoded, so the result is always a valid IRI. A trailing `/` of `parent`
/// (the cluster IRI ends with one) is not doubled.
pub fn nested(parent: &Iri, segments: &[&str]) -> String {
    let mut out = parent.as_str().trim_end_matches('/').to_owned();
    for segment in segments {
        out.push('/');
        for b in segment.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// `https://<domain>/graph`: the cluster graph (cluster, nodes, product list, IAM, cursor).
pub fn cluster_graph(iri: &IriBuilder) -> String {
    nested(&iri.cluster(), &["graph"])
}

/// `https://<domain>/products/<p>/graph`: the named graph holding one product's resources.
pub fn product_graph(iri: &IriBuilder, product: &Name) -> String {
    nested(&iri.product(product), &["graph"])
}

/// `https://<domain>/meta/projector`: the subject of the projector's cursor triple.
pub fn projector(iri: &IriBuilder) -> String {
    nested(&iri.cluster(), &["meta", "projector"])
}

/// `https://<domain>/platform/identities/<name>`: a human or workload identity of IAM.
pub fn platform_identity(iri: &IriBuilder, name: &Name) -> String {
    nested(&iri.cluster(), &["platform", "identities", name.as_str()])
}

/// `https://<domain>/platform/roles/<name>`: a platform-wide role (not a product role).
pub fn platform_role(iri: &IriBuilder, name: &Name) -> String {
    nested(&iri.cluster(), &["platform", "roles", name.as_str()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let b = IriBuilder::default();
        let p = Name::parse("photo-app").unwrap();
        assert_eq!(cluster_graph(&b), "https://picloud.local/graph");
        assert_eq!(
            product_graph(&b, &p),
            "https://picloud.local/products/photo-app/graph"
        );
        assert_eq!(projector(&b), "https://picloud.local/meta/projector");
        assert_eq!(
            nested(&b.product(&p), &["env", "DB_URL"]),
            "https://picloud.local/products/photo-app/env/DB_URL"
        );
        assert_eq!(
            nested(&b.product(&p), &["x y", "é"]),
            "https://picloud.local/products/photo-app/x%20y/%C3%A9"
        );
    }
}
