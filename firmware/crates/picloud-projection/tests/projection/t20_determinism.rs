//! Determinism: the same events give the same canonical N-Quads, from empty or from a
//! snapshot plus the rest of the log; the graph agrees with product-core's state.

use picloud_domain::resource::*;
use picloud_domain::units::ByteSize;
use picloud_domain::{Resource, ResourceKind, ResourceSpec};
use picloud_events::payload::*;
use picloud_events::Envelope;
use picloud_projection::{Applied, GraphScope, Projection};
use proptest::prelude::*;

use crate::support::*;

#[derive(Debug, Clone)]
enum Op {
    /// Apply photo-app with a mount path variant, image variant, with/without ingress.
    ApplyPhoto {
        path: u8,
        image: u8,
        ingress: bool,
    },
    /// Apply the small `shop` product with `volumes` volumes mounted by its container.
    ApplyShop {
        volumes: u8,
    },
    DeleteProduct(u8),
    DeleteResource(u8, u8),
    /// A provisioner status for (product, resource pick), current or stale generation.
    Status {
        product: u8,
        pick: u8,
        status: u8,
        stale: bool,
    },
    NodeJoined(u8, bool),
    NodePromoted(u8),
    NodeRemoved(u8),
    Identity(u8),
    Role(u8, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 0u8..2, any::<bool>()).prop_map(|(path, image, ingress)| Op::ApplyPhoto { path, image, ingress }),
        2 => (0u8..3).prop_map(|volumes| Op::ApplyShop { volumes }),
        1 => (0u8..2).prop_map(Op::DeleteProduct),
        1 => (0u8..2, 0u8..12).prop_map(|(p, r)| Op::DeleteResource(p, r)),
        3 => (0u8..2, 0u8..12, 0u8..5, any::<bool>()).prop_map(|(product, pick, status, stale)| Op::Status { product, pick, status, stale }),
        1 => (0u8..3, any::<bool>()).prop_map(|(n, v)| Op::NodeJoined(n, v)),
        1 => (0u8..3).prop_map(Op::NodePromoted),
        1 => (0u8..3).prop_map(Op::NodeRemoved),
        1 => (0u8..2).prop_map(Op::Identity),
        1 => (0u8..2, any::<bool>()).prop_map(|(i, a)| Op::Role(i, a)),
    ]
}

const PRODUCTS: [&str; 2] = ["photo-app", "shop"];

fn photo(path: u8, image: u8, ingress: bool) -> Vec<Resource> {
    let mut rs = photo_app_with_mount_path(&format!("/data{path}"));
    for r in &mut rs {
        if let ResourceSpec::Container(c) = &mut r.spec {
            c.image = ImageRef::parse(&format!("photo-api:1.0.{image}")).unwrap();
        }
    }
    if !ingress {
        rs.retain(|r| r.kind != ResourceKind::Ingress);
    }
    rs
}

fn shop(volumes: u8) -> Vec<Resource> {
    let p = n("shop");
    let mut rs = vec![Resource::new(
        p.clone(),
        p.clone(),
        ResourceSpec::Product(ProductSpec {
            version: SemVer::parse("2.0.0").unwrap(),
            description: None,
        }),
    )];
    let names: Vec<String> = (0..volumes).map(|i| format!("vol{i}")).collect();
    for v in &names {
        rs.push(Resource::new(
            p.clone(),
            n(v),
            ResourceSpec::Volume(VolumeSpec {
                size: ByteSize(1_000_000_000),
                storage_intent: StorageIntent {
                    durability: Durability::Quorum,
                    performance: Performance::Fast,
                },
                volume_type: VolumeType::Mounted,
            }),
        ));
    }
    rs.push(Resource::new(
        p.clone(),
        n("worker"),
        ResourceSpec::Binary(BinarySpec {
            executable: "/bin/worker".into(),
            args: vec!["--fast".into(), "-v".into()],
            identity: None,
            env: Default::default(),
            mounts: names
                .iter()
                .map(|v| Mount {
                    volume: n(v),
                    path: format!("/{v}"),
                    read_only: true,
                })
                .collect(),
            ports: vec![],
            resources: None,
            health_check: Some(HealthCheck {
                probe: Probe::Exec {
                    command: vec!["/bin/check".into(), "--quick".into()],
                },
                interval: DEFAULT_PROBE_INTERVAL,
                timeout: DEFAULT_PROBE_TIMEOUT,
                failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            }),
            restart_policy: RestartPolicy::OnFailure {
                max_retries: Some(3),
            },
        }),
    ));
    rs.push(Resource::new(
        p,
        n("front"),
        ResourceSpec::Ingress(IngressSpec {
            target: n("worker"),
            port: 9000,
            path: None,
            host: Some("shop.picloud.local".into()),
            tls: true,
            internal: false,
        }),
    ));
    rs
}

const STATUSES: [ResourceStatus; 5] = [
    ResourceStatus::Declared,
    ResourceStatus::Provisioning,
    ResourceStatus::Ready,
    ResourceStatus::Failed,
    ResourceStatus::Deleting,
];

fn run(ops: &[Op]) -> Log {
    let mut log = Log::default();
    for op in ops {
        match op {
            Op::ApplyPhoto {
                path,
                image,
                ingress,
            } => {
                log.apply_set(photo(*path, *image, *ingress));
            }
            Op::ApplyShop { volumes } => {
                log.apply_set(shop(*volumes));
            }
            Op::DeleteProduct(p) => {
                log.delete_product(PRODUCTS[usize::from(*p)]);
            }
            Op::DeleteResource(p, pick) => {
                let product = PRODUCTS[usize::from(*p)];
                let target = log.state.product(&n(product)).and_then(|rs| {
                    let keys: Vec<_> = rs.keys().cloned().collect();
                    keys.get(usize::from(*pick) % keys.len().max(1)).cloned()
                });
                if let Some((kind, name)) = target {
                    log.delete_resource(product, kind, name.as_str());
                }
            }
            Op::Status {
                product,
                pick,
                status: which,
                stale,
            } => {
                let product = PRODUCTS[usize::from(*product)];
                let target = log.state.product(&n(product)).and_then(|rs| {
                    let entries: Vec<_> = rs.values().cloned().collect();
                    entries
                        .get(usize::from(*pick) % entries.len().max(1))
                        .cloned()
                });
                if let Some(e) = target {
                    let generation = if *stale {
                        e.generation.saturating_sub(1)
                    } else {
                        e.generation
                    };
                    log.event(status(
                        product,
                        e.resource.kind,
                        e.resource.name.as_str(),
                        generation,
                        STATUSES[usize::from(*which)],
                        Some("controller says so"),
                    ));
                }
            }
            Op::NodeJoined(i, voter) => log.event(node_joined(
                &format!("pi{i}"),
                *i,
                if *voter {
                    NodeRole::Voter
                } else {
                    NodeRole::Learner
                },
            )),
            Op::NodePromoted(i) => log.event(NodePromotedV1 {
                node: n(&format!("pi{i}")),
                node_id: picloud_events::NodeId::from_bytes([*i; 16]),
            }),
            Op::NodeRemoved(i) => log.event(NodeRemovedV1 {
                node: n(&format!("pi{i}")),
                node_id: picloud_events::NodeId::from_bytes([*i; 16]),
            }),
            Op::Identity(i) => log.event(IdentityCreatedV1 {
                identity: n(&format!("user{i}")),
                kind: IdentityKind::Human,
                display_name: format!("User {i}"),
            }),
            Op::Role(i, assign) => {
                let identity = n(&format!("user{i}"));
                let role = n("admin");
                if *assign {
                    log.event(RoleAssignedV1 {
                        identity,
                        role,
                        product: None,
                    });
                } else {
                    log.event(RoleRevokedV1 {
                        identity,
                        role,
                        product: None,
                    });
                }
            }
        }
    }
    log
}

/// Projects from empty twice, and from a snapshot at every `split`; all must agree.
fn check_determinism(events: &[Envelope], splits: &[usize]) -> String {
    let full = project(events).canonical_nquads().unwrap();
    assert_eq!(
        full,
        project(events).canonical_nquads().unwrap(),
        "two runs differ"
    );
    // Batches of any size, and a compaction after every batch, give the same graph; the
    // live-quad count the projection keeps is the store's.
    for size in [1, 2, 5, events.len().max(1)] {
        for compact in [false, true] {
            let mut p = Projection::new(iri()).unwrap();
            p.set_compaction_floor(None);
            for (i, chunk) in events.chunks(size).enumerate() {
                let first = (i * size) as u64;
                let batch = chunk.iter().enumerate().map(|(j, e)| (first + j as u64, e));
                assert_eq!(p.apply_batch(batch).unwrap(), chunk.len());
                if compact {
                    p.compact().unwrap();
                    assert_eq!(p.stats().dead_quads, 0);
                }
                assert_eq!(p.stats().live_quads, p.reader().len().unwrap());
            }
            assert_eq!(
                p.canonical_nquads().unwrap(),
                full,
                "batches of {size} (compacting: {compact}) differ"
            );
            assert_eq!(p.cursor(), events.len().checked_sub(1).map(|c| c as u64));
        }
    }
    // Background compactions as often as possible (floor 1): the copy catches up with the
    // events folded meanwhile, the swap adds the rest; the graph is still the same.
    let mut p = Projection::new(iri()).unwrap();
    p.set_compaction_floor(Some(1));
    for (i, e) in events.iter().enumerate() {
        p.apply(e, i as u64).unwrap();
        assert_eq!(
            p.canonical_nquads().unwrap(),
            project(&events[..=i]).canonical_nquads().unwrap()
        );
    }
    p.finish_compaction().unwrap();
    assert_eq!(
        p.canonical_nquads().unwrap(),
        full,
        "background compactions changed the graph"
    );
    for &split in splits {
        let split = split.min(events.len());
        let first = project(&events[..split]);
        let snapshot = first.snapshot().unwrap();
        let mut restored = Projection::from_snapshot(iri(), &snapshot).unwrap();
        assert_eq!(restored.cursor(), first.cursor());
        assert_eq!(
            restored.canonical_nquads().unwrap(),
            first.canonical_nquads().unwrap()
        );
        project_into(&mut restored, &events[split..], split as u64);
        assert_eq!(
            restored.canonical_nquads().unwrap(),
            full,
            "snapshot at {split} + rest differs"
        );
    }
    full
}

/// Every resource of product-core's state is in the graph with its generation and status,
/// and nothing else is.
fn check_agrees_with_state(log: &Log) {
    let p = project(&log.events);
    let rows = select(
        &p,
        &GraphScope::Cluster,
        "SELECT ?r ?g ?s WHERE { GRAPH ?graph { ?r pc:generation ?g ; pc:status ?s } }",
    );
    let mut expected = Vec::new();
    for (_, resources) in log.state.products() {
        for e in resources.values() {
            let r = &e.resource;
            expected.push(vec![
                format!("<{}>", iri().resource(&r.product, r.kind, &r.name)),
                format!(
                    "\"{}\"^^<http://www.w3.org/2001/XMLSchema#integer>",
                    e.generation
                ),
                format!(
                    "<https://picloud.local/ontology#{}>",
                    picloud_projection::status_term(e.status)
                ),
            ]);
        }
    }
    expected.sort();
    assert_eq!(rows, expected);
    // Cluster graph lists exactly the products that have a product resource.
    let listed = select(
        &p,
        &GraphScope::Cluster,
        "SELECT ?p WHERE { <https://picloud.local/> pc:hasProduct ?p }",
    );
    let mut want: Vec<Vec<String>> = log
        .state
        .products()
        .filter(|(name, _)| log.state.has_product(name))
        .map(|(name, _)| vec![format!("<{}>", iri().product(name))])
        .collect();
    want.sort();
    assert_eq!(listed, want);
}

#[test]
fn table_sequences_are_deterministic() {
    let sequences: Vec<Vec<Op>> = vec![
        vec![Op::ApplyPhoto {
            path: 0,
            image: 0,
            ingress: true,
        }],
        vec![
            Op::NodeJoined(1, true),
            Op::ApplyPhoto {
                path: 0,
                image: 0,
                ingress: true,
            },
            Op::Status {
                product: 0,
                pick: 3,
                status: 2,
                stale: false,
            },
            Op::ApplyPhoto {
                path: 1,
                image: 1,
                ingress: false,
            },
            Op::Status {
                product: 0,
                pick: 3,
                status: 2,
                stale: true,
            },
            Op::ApplyShop { volumes: 2 },
            Op::ApplyShop { volumes: 1 },
            Op::DeleteProduct(0),
            Op::ApplyPhoto {
                path: 2,
                image: 0,
                ingress: true,
            },
            Op::NodePromoted(1),
            Op::Identity(0),
            Op::Role(0, true),
            Op::NodeRemoved(1),
            Op::Role(0, false),
        ],
    ];
    for ops in sequences {
        let log = run(&ops);
        let splits: Vec<usize> = (0..=log.events.len()).collect();
        check_determinism(&log.events, &splits);
        check_agrees_with_state(&log);
    }
}

#[test]
fn replayed_offsets_are_skipped() {
    let log = run(&[Op::ApplyPhoto {
        path: 0,
        image: 0,
        ingress: true,
    }]);
    let mut p = project(&log.events);
    let before = p.canonical_nquads().unwrap();
    for (i, e) in log.events.iter().enumerate() {
        assert_eq!(p.apply(e, i as u64).unwrap(), Applied::AlreadyProjected);
    }
    assert_eq!(p.canonical_nquads().unwrap(), before);
}

#[test]
fn a_bad_snapshot_changes_nothing() {
    let log = run(&[Op::ApplyPhoto {
        path: 0,
        image: 0,
        ingress: true,
    }]);
    let mut p = project(&log.events);
    let before = p.canonical_nquads().unwrap();
    assert!(p.restore(b"this is not n-quads").is_err());
    assert_eq!(p.canonical_nquads().unwrap(), before);
    // Two cursors, or one that is not an offset, are refused too.
    let cursor = |v: &str| {
        format!(
            "<https://picloud.local/meta/projector> <https://picloud.local/ontology#lastProjectedOffset> {v} <https://picloud.local/graph> .\n"
        )
    };
    let xsd_int = |n: u64| format!("\"{n}\"^^<http://www.w3.org/2001/XMLSchema#integer>");
    let two = format!("{before}{}", cursor(&xsd_int(9999)));
    assert!(p.restore(two.as_bytes()).is_err());
    let bad = before
        .lines()
        .filter(|l| !l.contains("lastProjectedOffset"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + &cursor("\"soon\"");
    assert!(p.restore(bad.as_bytes()).is_err());
    assert_eq!(p.canonical_nquads().unwrap(), before);
    assert_eq!(p.cursor(), Some(log.events.len() as u64 - 1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_are_deterministic(ops in prop::collection::vec(op(), 1..14), split in 0usize..200) {
        let log = run(&ops);
        check_determinism(&log.events, &[split % (log.events.len() + 1)]);
        check_agrees_with_state(&log);
    }
}
