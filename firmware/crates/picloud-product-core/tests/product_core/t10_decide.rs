//! decide/apply tables.

use picloud_domain::resource::Durability;
use picloud_domain::ResourceKind;
use picloud_events::payload::{ResourceStatus, ResourceStatusChangedV1};
use picloud_events::{decode_log, encode_log, Envelope, EventId, EventPayload};
use picloud_product_core::{apply, decide, Command, ProductState, Rejection};

use crate::support::*;

/// (name, setup commands, command, expected event summaries or rejection message).
type Case = (
    &'static str,
    Vec<Command>,
    Command,
    Result<&'static [&'static str], &'static str>,
);

/// Runs `setup` (each must succeed), then `command`; compares event summaries or the
/// rejection's message.
fn check(
    setup: Vec<picloud_product_core::Command>,
    command: picloud_product_core::Command,
    expect: Result<&[&str], &str>,
) {
    let mut state = ProductState::default();
    for c in &setup {
        run(&mut state, c).unwrap_or_else(|r| panic!("setup {c:?} rejected: {r}"));
    }
    let before = state.clone();
    match (run(&mut state, &command), expect) {
        (Ok(events), Ok(want)) => assert_eq!(summary(&events), want, "{command:?}"),
        (Err(rejection), Err(want)) => {
            assert_eq!(rejection.to_string(), want);
            assert_eq!(state, before, "a rejection must not change the state");
        }
        (got, want) => panic!("{command:?}: got {got:?}, want {want:?}"),
    }
}

fn with(
    mut set: Vec<picloud_domain::Resource>,
    extra: picloud_domain::Resource,
) -> Vec<picloud_domain::Resource> {
    set.push(extra);
    set
}

fn without(set: Vec<picloud_domain::Resource>, name: &str) -> Vec<picloud_domain::Resource> {
    set.into_iter()
        .filter(|r| r.name.as_str() != name || r.kind == ResourceKind::Product)
        .collect()
}

#[test]
fn apply_sets() {
    let photo = apply_set(photo_app());
    let cases: Vec<Case> = vec![
        (
            "new set: declared in dependency order, generation 1",
            vec![],
            photo.clone(),
            Ok(&[
                "+product photo-app g1",
                "+secret db-connection g1",
                "+volume media-store g1",
                "+container api-server g1",
            ]),
        ),
        ("unchanged set: zero events", vec![photo.clone()], photo.clone(), Ok(&[])),
        (
            "changed spec: updated, generation + 1",
            vec![photo.clone()],
            apply_set(with(
                without(photo_app(), "media-store"),
                volume("photo-app", "media-store", 100, Durability::Quorum),
            )),
            Ok(&["~volume media-store g2"]),
        ),
        (
            "prune: absent from an authoritative set is deleted",
            vec![photo.clone()],
            apply_set(without(photo_app(), "db-connection")),
            Ok(&["-secret db-connection g1"]),
        ),
        (
            "partial set (no product declaration): adds, prunes nothing",
            vec![photo.clone()],
            apply_set(vec![volume("photo-app", "thumbs", 5, Durability::Local)]),
            Ok(&["+volume thumbs g1"]),
        ),
        (
            "two products: each authoritative for itself only",
            vec![photo.clone()],
            apply_set(vec![product("blog", "0.1.0"), secret("blog", "key", "k")]),
            Ok(&["+product blog g1", "+secret key g1"]),
        ),
        ("empty set", vec![], apply_set(vec![]), Err("the apply set is empty: declare at least one resource")),
        (
            "resource of an unknown product",
            vec![],
            apply_set(vec![volume("ghost", "v", 1, Durability::Local)]),
            Err("volume 'v' in product 'ghost' belongs to product 'ghost', which is neither declared in the apply set nor exists in the cluster"),
        ),
        (
            "dangling mount",
            vec![],
            apply_set(vec![product("p", "1.0.0"), container("p", "c", "img:1", &["nope"])]),
            Err("dangling references: container 'c' in product 'p' field `mounts[0].volume` names volume 'nope', which neither the apply set nor the cluster has"),
        ),
        (
            "pruning a volume that a kept container mounts",
            vec![photo.clone()],
            apply_set(without(photo_app(), "media-store")),
            Err("dangling references: container 'api-server' in product 'photo-app' field `mounts[0].volume` names volume 'media-store', which neither the apply set nor the cluster has"),
        ),
        (
            "a partial set may reference resources already in the cluster",
            vec![photo.clone()],
            apply_set(vec![container("photo-app", "worker", "w:1", &["media-store"])]),
            Ok(&["+container worker g1"]),
        ),
        (
            "duplicate declaration",
            vec![],
            apply_set(vec![product("p", "1.0.0"), secret("p", "s", "a"), secret("p", "s", "b")]),
            Err("secret 's' in product 'p' is declared more than once in the apply set"),
        ),
        (
            "product that claims another product",
            vec![],
            apply_set(vec![{
                let mut p = product("p", "1.0.0");
                p.product = n("q");
                p
            }]),
            Err("product 'p' must belong to itself, not to product 'q'"),
        ),
        (
            "kind disagreeing with the spec",
            vec![],
            apply_set(vec![product("p", "1.0.0"), {
                let mut s = secret("p", "s", "a");
                s.kind = ResourceKind::Volume;
                s
            }]),
            Err("volume 's' in product 'p' carries a secret spec"),
        ),
    ];
    for (name, setup, command, expect) in cases {
        eprintln!("case: {name}");
        check(setup, command, expect);
    }
}

#[test]
fn deletes() {
    let photo = apply_set(photo_app());
    let cases: Vec<Case> = vec![
        (
            "delete product cascades, dependents first, product last",
            vec![photo.clone()],
            delete_product("photo-app"),
            Ok(&[
                "-container api-server g1",
                "-volume media-store g1",
                "-secret db-connection g1",
                "-product photo-app",
            ]),
        ),
        ("delete unknown product", vec![], delete_product("ghost"), Err("product 'ghost' does not exist")),
        (
            "delete an unreferenced resource",
            vec![photo.clone()],
            delete_resource("photo-app", ResourceKind::Container, "api-server"),
            Ok(&["-container api-server g1"]),
        ),
        (
            "delete a mounted volume names its referrers",
            vec![photo.clone()],
            delete_resource("photo-app", ResourceKind::Volume, "media-store"),
            Err("volume 'media-store' in product 'photo-app' cannot be deleted: it is referenced by container 'api-server' in product 'photo-app' (field `mounts[0].volume`)"),
        ),
        (
            "delete the product resource alone",
            vec![photo.clone()],
            delete_resource("photo-app", ResourceKind::Product, "photo-app"),
            Err("the product resource of 'photo-app' cannot be deleted alone: delete the product"),
        ),
        (
            "delete an unknown resource",
            vec![photo.clone()],
            delete_resource("photo-app", ResourceKind::Volume, "nope"),
            Err("volume 'nope' in product 'photo-app' does not exist"),
        ),
        (
            "delete in an unknown product",
            vec![],
            delete_resource("ghost", ResourceKind::Volume, "v"),
            Err("product 'ghost' does not exist"),
        ),
        (
            "a deleted product can be declared again from generation 1",
            vec![photo.clone(), delete_product("photo-app")],
            photo.clone(),
            Ok(&[
                "+product photo-app g1",
                "+secret db-connection g1",
                "+volume media-store g1",
                "+container api-server g1",
            ]),
        ),
    ];
    for (name, setup, command, expect) in cases {
        eprintln!("case: {name}");
        check(setup, command, expect);
    }
}

#[test]
fn idempotency_keys() {
    let mut state = ProductState::default();
    let first = keyed(apply_set(photo_app()), "deploy-42");
    assert_eq!(run(&mut state, &first).unwrap().len(), 4);
    // The same key with another set (a confused retry) changes nothing.
    let retry = keyed(apply_set(vec![product("photo-app", "2.0.0")]), "deploy-42");
    assert!(run(&mut state, &retry).unwrap().is_empty());
    // Without the key, the same set would prune three resources.
    assert_eq!(
        run(&mut state, &apply_set(vec![product("photo-app", "2.0.0")]))
            .unwrap()
            .len(),
        4
    );
    // Replay rebuilds the key set too.
    assert!(state.has_applied(&picloud_events::IdempotencyKey::new("deploy-42").unwrap()));
}

#[test]
fn envelopes_carry_the_command_metadata() {
    let state = ProductState::default();
    let command = keyed(apply_set(photo_app()), "k1");
    let events = decide(&state, &command, now(), &iri()).unwrap();
    assert_eq!(
        events,
        decide(&state, &command, now(), &iri()).unwrap(),
        "deterministic"
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id, EventId::derive(corr(1), i as u32));
        assert_eq!(e.correlation_id, corr(1));
        assert_eq!(e.time, now());
        assert_eq!(e.source, source());
        assert_eq!(e.product, Some(n("photo-app")));
        assert_eq!(e.idempotency_key.as_ref().map(|k| k.as_str()), Some("k1"));
        assert_eq!(
            e.schema.as_str(),
            "https://picloud.local/schemas/events/ResourceDeclared/v1"
        );
        // Every event survives the log codec.
        assert_eq!(&decode_log(&encode_log(e).unwrap()).unwrap(), e);
    }
}

fn status_event(generation: u64, status: ResourceStatus) -> Envelope {
    Envelope::new(
        &iri(),
        EventId::from_bytes([9; 16]),
        now(),
        source(),
        corr(9),
        EventPayload::from(ResourceStatusChangedV1 {
            kind: ResourceKind::Volume,
            product: n("photo-app"),
            name: n("media-store"),
            generation,
            status,
            reason: None,
        }),
    )
    .unwrap()
}

#[test]
fn statuses_follow_generations() {
    let mut state = ProductState::default();
    run(&mut state, &apply_set(photo_app())).unwrap();
    let vol = |s: &ProductState| {
        s.resource(&n("photo-app"), ResourceKind::Volume, &n("media-store"))
            .unwrap()
            .clone()
    };
    assert_eq!(vol(&state).status, ResourceStatus::Declared);
    apply(&mut state, &status_event(1, ResourceStatus::Ready));
    assert_eq!(vol(&state).status, ResourceStatus::Ready);
    apply(&mut state, &status_event(7, ResourceStatus::Failed));
    assert_eq!(
        vol(&state).status,
        ResourceStatus::Ready,
        "status of another generation is ignored"
    );
    // A status does not make the set "changed".
    assert!(run(&mut state, &apply_set(photo_app())).unwrap().is_empty());
    // A spec change resets the status.
    run(
        &mut state,
        &apply_set(with(
            without(photo_app(), "media-store"),
            volume("photo-app", "media-store", 200, Durability::FullReplication),
        )),
    )
    .unwrap();
    assert_eq!(
        (vol(&state).generation, vol(&state).status),
        (2, ResourceStatus::Declared)
    );
}

#[test]
fn rejection_is_a_typed_value() {
    let state = ProductState::default();
    let r = decide(
        &state,
        &delete_resource("p", ResourceKind::Volume, "v"),
        now(),
        &iri(),
    )
    .unwrap_err();
    assert!(matches!(r, Rejection::UnknownProduct { .. }));
}
