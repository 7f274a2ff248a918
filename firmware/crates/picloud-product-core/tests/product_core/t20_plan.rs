//! plan: create / change (with field paths) / delete / unchanged.

use picloud_domain::resource::{Durability, EnvName, EnvValue, ResourceSpec};
use picloud_domain::ResourceKind;
use picloud_product_core::{changed_fields, plan, ProductState};

use crate::support::*;

#[test]
fn plan_lists_creates_changes_deletes() {
    let mut state = ProductState::default();
    let p = plan(&state, &apply_set(photo_app()), now(), &iri()).unwrap();
    assert_eq!(p.create.len(), 4);
    assert_eq!(
        p.create[0].iri.as_str(),
        "https://picloud.local/products/photo-app"
    );
    assert_eq!(
        p.create[3].iri.as_str(),
        "https://picloud.local/products/photo-app/containers/api-server"
    );
    assert_eq!((p.change.len(), p.delete.len(), p.unchanged), (0, 0, 0));
    assert_eq!(state, ProductState::default(), "plan changes nothing");

    run(&mut state, &apply_set(photo_app())).unwrap();
    let same = plan(&state, &apply_set(photo_app()), now(), &iri()).unwrap();
    assert!(same.is_empty());
    assert_eq!(same.unchanged, 4);

    let mut next = photo_app();
    next.retain(|r| r.kind != ResourceKind::Secret);
    next[1] = volume("photo-app", "media-store", 100, Durability::Quorum);
    next.push(secret("photo-app", "other", "v"));
    next[2] = container(
        "photo-app",
        "api-server",
        "photo-api:1.1.0",
        &["media-store"],
    );
    let p = plan(&state, &apply_set(next), now(), &iri()).unwrap();
    let ids = |v: &[picloud_product_core::PlannedResource]| -> Vec<String> {
        v.iter().map(|r| r.id.to_string()).collect()
    };
    assert_eq!(ids(&p.create), ["secret 'other' in product 'photo-app'"]);
    assert_eq!(
        ids(&p.delete),
        ["secret 'db-connection' in product 'photo-app'"]
    );
    let changes: Vec<(String, u64, Vec<String>)> = p
        .change
        .iter()
        .map(|c| (c.id.name.to_string(), c.generation, c.fields.clone()))
        .collect();
    assert_eq!(
        changes,
        [
            (
                "media-store".into(),
                2,
                vec!["storageIntent.durability".to_owned()]
            ),
            ("api-server".into(), 2, vec!["image".to_owned()]),
        ]
    );
    assert_eq!(p.unchanged, 1);
}

#[test]
fn plan_of_a_product_delete() {
    let mut state = ProductState::default();
    run(&mut state, &apply_set(photo_app())).unwrap();
    let p = plan(&state, &delete_product("photo-app"), now(), &iri()).unwrap();
    assert_eq!(p.delete.len(), 4);
    assert_eq!(p.delete[3].id.kind, ResourceKind::Product);
    assert_eq!(p.unchanged, 0);
}

#[test]
fn secret_values_never_appear_in_field_paths() {
    let old = secret("p", "s", "hunter2");
    let new = secret("p", "s", "correct horse");
    let fields = changed_fields(&old.spec, &new.spec).unwrap();
    assert_eq!(fields, ["value"]);
    assert!(!format!("{fields:?}").contains("hunter2"));
}

#[test]
fn field_paths_for_maps_lists_and_options() {
    let base = container("p", "c", "img:1", &["a", "b"]);
    let mut changed = container("p", "c", "img:1", &["a"]);
    assert_eq!(
        changed_fields(&base.spec, &changed.spec).unwrap(),
        ["mounts"]
    );
    changed = container("p", "c", "img:1", &["a", "z"]);
    assert_eq!(
        changed_fields(&base.spec, &changed.spec).unwrap(),
        ["mounts[1].path", "mounts[1].volume"]
    );
    if let ResourceSpec::Container(spec) = &mut changed.spec {
        spec.env
            .insert(EnvName::parse("DB_URL").unwrap(), EnvValue::Secret(n("db")));
        spec.identity = Some(n("worker"));
    }
    let fields = changed_fields(&base.spec, &changed.spec).unwrap();
    assert_eq!(
        fields,
        [
            "env.DB_URL",
            "identity",
            "mounts[1].path",
            "mounts[1].volume"
        ]
    );
}
