//! Properties over random command sequences: decide/apply agree with a model, replaying the
//! log rebuilds the state, re-applying changes nothing, references never dangle.

use std::collections::BTreeMap;

use picloud_domain::resource::Durability;
use picloud_domain::{Resource, ResourceKind};
use picloud_events::{decode_log, encode_log, CorrelationId, Envelope, IdempotencyKey};
use picloud_product_core::{apply, decide, Command, ProductState};
use proptest::prelude::*;

use crate::support::*;

const PRODUCTS: [&str; 2] = ["p1", "p2"];

/// One product's part of an apply set.
fn arb_chunk() -> impl Strategy<Value = Vec<Resource>> {
    (
        0..PRODUCTS.len(),
        proptest::option::weighted(0.75, prop::bool::ANY),
        proptest::option::of(1..3_u64),
        proptest::option::of(1..3_u64),
        proptest::option::of(prop::bool::ANY),
        proptest::option::of((prop::bool::ANY, prop::bool::ANY, prop::bool::ANY)),
        proptest::option::of((prop::bool::ANY, prop::bool::ANY)),
    )
        .prop_map(|(p, prod, v1, v2, s1, c1, c2)| {
            let p = PRODUCTS[p];
            let mut out = Vec::new();
            if let Some(major) = prod {
                out.push(product(p, if major { "2.0.0" } else { "1.0.0" }));
            }
            if let Some(gb) = v1 {
                out.push(volume(p, "v1", gb, Durability::Local));
            }
            if let Some(gb) = v2 {
                out.push(volume(p, "v2", gb, Durability::Quorum));
            }
            if let Some(b) = s1 {
                out.push(secret(p, "s1", if b { "a" } else { "b" }));
            }
            if let Some((m1, m2, img)) = c1 {
                let mounts: Vec<&str> = [(m1, "v1"), (m2, "v2")]
                    .iter()
                    .filter(|(m, _)| *m)
                    .map(|(_, v)| *v)
                    .collect();
                out.push(container(
                    p,
                    "c1",
                    if img { "img:1" } else { "img:2" },
                    &mounts,
                ));
            }
            if let Some((m1, img)) = c2 {
                let mounts: &[&str] = if m1 { &["v1"] } else { &[] };
                out.push(container(
                    p,
                    "c2",
                    if img { "img:1" } else { "img:2" },
                    mounts,
                ));
            }
            out
        })
}

#[derive(Debug, Clone)]
enum Op {
    Apply(Vec<Resource>, Option<u8>),
    DeleteProduct(usize),
    DeleteResource(usize, ResourceKind, &'static str),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::collection::vec(arb_chunk(), 1..3), proptest::option::weighted(0.3, 0..3_u8))
            .prop_map(|(chunks, key)| Op::Apply(chunks.concat(), key)),
        1 => (0..PRODUCTS.len()).prop_map(Op::DeleteProduct),
        2 => (0..PRODUCTS.len(), prop::sample::select(vec![
                (ResourceKind::Volume, "v1"), (ResourceKind::Volume, "v2"),
                (ResourceKind::Secret, "s1"), (ResourceKind::Container, "c1"),
                (ResourceKind::Container, "c2"), (ResourceKind::Product, "p1"),
            ]))
            .prop_map(|(p, (k, name))| Op::DeleteResource(p, k, name)),
    ]
}

fn to_command(op: &Op, step: usize) -> Command {
    let correlation_id = CorrelationId::from_bytes((step as u128 + 1000).to_be_bytes());
    let source = source();
    match op {
        Op::Apply(resources, key) => Command::ApplySet {
            resources: resources.clone(),
            idempotency_key: key.map(|k| IdempotencyKey::new(format!("key-{k}")).unwrap()),
            correlation_id,
            source,
        },
        Op::DeleteProduct(p) => Command::DeleteProduct {
            product: n(PRODUCTS[*p]),
            idempotency_key: None,
            correlation_id,
            source,
        },
        Op::DeleteResource(p, kind, name) => Command::DeleteResource {
            product: n(PRODUCTS[*p]),
            kind: *kind,
            name: n(name),
            idempotency_key: None,
            correlation_id,
            source,
        },
    }
}

fn resources_of(state: &ProductState, product: &str) -> BTreeMap<(ResourceKind, String), Resource> {
    state
        .product(&n(product))
        .map(|rs| {
            rs.iter()
                .map(|((k, nm), e)| ((*k, nm.to_string()), e.resource.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_no_dangling_references(state: &ProductState) {
    for (_, resources) in state.products() {
        for entry in resources.values() {
            for r in entry.resource.references() {
                assert!(
                    r.kinds
                        .iter()
                        .any(|k| resources.contains_key(&(*k, r.name.clone()))),
                    "{} has a dangling {}",
                    entry.resource.id(),
                    r.field
                );
            }
        }
    }
}

fn replay(log: &[Envelope]) -> ProductState {
    let mut state = ProductState::default();
    for e in log {
        apply(&mut state, e);
    }
    state
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn decide_apply_replay_agree(ops in proptest::collection::vec(arb_op(), 1..25)) {
        let mut state = ProductState::default();
        let mut log: Vec<Envelope> = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            let command = to_command(op, step);
            let result = decide(&state, &command, now(), &iri());
            prop_assert_eq!(&result, &decide(&state, &command, now(), &iri()), "deterministic");
            let key_was_used = command.idempotency_key().is_some_and(|k| state.has_applied(k));
            let Ok(events) = result else { continue };
            for e in &events {
                apply(&mut state, e);
            }
            log.extend(events.iter().cloned());
            assert_no_dangling_references(&state);

            // Doing it again changes nothing (same key, or same content).
            if matches!(op, Op::Apply(..)) {
                let again = decide(&state, &to_command(op, step + 10_000), now(), &iri()).unwrap();
                prop_assert!(again.is_empty(), "re-apply produced {:?}", summary(&again));
            }

            // The model.
            match op {
                Op::Apply(resources, _) if !key_was_used => {
                    for p in PRODUCTS {
                        let in_set: BTreeMap<_, _> = resources
                            .iter()
                            .filter(|r| r.product.as_str() == p)
                            .map(|r| ((r.kind, r.name.to_string()), r.clone()))
                            .collect();
                        let declared = in_set.keys().any(|(k, _)| *k == ResourceKind::Product);
                        let actual = resources_of(&state, p);
                        if declared {
                            prop_assert_eq!(&actual, &in_set, "authoritative for {}", p);
                        } else {
                            for (k, r) in &in_set {
                                prop_assert_eq!(actual.get(k), Some(r));
                            }
                        }
                    }
                }
                Op::Apply(..) => prop_assert!(events.is_empty(), "a used key must yield nothing"),
                Op::DeleteProduct(p) => prop_assert!(state.product(&n(PRODUCTS[*p])).is_none()),
                Op::DeleteResource(p, kind, name) => {
                    prop_assert!(state.resource(&n(PRODUCTS[*p]), *kind, &n(name)).is_none());
                }
            }
        }

        // Replaying the log from empty rebuilds the identical state, also through the codec.
        prop_assert_eq!(&replay(&log), &state);
        let decoded: Vec<Envelope> =
            log.iter().map(|e| decode_log(&encode_log(e).unwrap()).unwrap()).collect();
        prop_assert_eq!(&replay(&decoded), &state);
        for (_, resources) in state.products() {
            prop_assert!(resources.values().all(|e| e.generation >= 1));
        }
    }
}
