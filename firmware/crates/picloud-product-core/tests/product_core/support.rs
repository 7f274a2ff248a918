//! Builders for resources and commands, and a tiny harness around decide/apply.

use picloud_domain::resource::*;
use picloud_domain::units::ByteSize;
use picloud_domain::{Iri, IriBuilder, Name, Resource, ResourceKind, ResourceSpec};
use picloud_events::{CorrelationId, Envelope, IdempotencyKey, Timestamp};
use picloud_product_core::{apply, decide, Command, ProductState, Rejection};

pub fn n(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub fn now() -> Timestamp {
    Timestamp::from_unix_millis(1_795_794_861_123).unwrap()
}

pub fn iri() -> IriBuilder {
    IriBuilder::default()
}

pub fn product(name: &str, version: &str) -> Resource {
    Resource::new(
        n(name),
        n(name),
        ResourceSpec::Product(ProductSpec {
            version: SemVer::parse(version).unwrap(),
            description: None,
        }),
    )
}

pub fn volume(product: &str, name: &str, gb: u64, durability: Durability) -> Resource {
    Resource::new(
        n(product),
        n(name),
        ResourceSpec::Volume(VolumeSpec {
            size: ByteSize(gb * 1_000_000_000),
            storage_intent: StorageIntent {
                durability,
                performance: Performance::Standard,
            },
            volume_type: VolumeType::Mounted,
        }),
    )
}

pub fn secret(product: &str, name: &str, value: &str) -> Resource {
    Resource::new(
        n(product),
        n(name),
        ResourceSpec::Secret(SecretSpec {
            value: SecretValue::new(value),
        }),
    )
}

/// A container mounting `volumes` at `/data/<volume>`.
pub fn container(product: &str, name: &str, image: &str, volumes: &[&str]) -> Resource {
    Resource::new(
        n(product),
        n(name),
        ResourceSpec::Container(ContainerSpec {
            image: ImageRef::parse(image).unwrap(),
            identity: None,
            command: vec![],
            args: vec![],
            env: Default::default(),
            mounts: volumes
                .iter()
                .map(|v| Mount {
                    volume: n(v),
                    path: format!("/data/{v}"),
                    read_only: false,
                })
                .collect(),
            ports: vec![],
            resources: None,
            health_check: None,
            restart_policy: RestartPolicy::Always,
        }),
    )
}

pub fn source() -> Iri {
    iri().cluster()
}

pub fn corr(seed: u8) -> CorrelationId {
    CorrelationId::from_bytes([seed; 16])
}

pub fn apply_set(resources: Vec<Resource>) -> Command {
    Command::ApplySet {
        resources,
        idempotency_key: None,
        correlation_id: corr(1),
        source: source(),
    }
}

pub fn keyed(command: Command, key: &str) -> Command {
    let k = Some(IdempotencyKey::new(key).unwrap());
    match command {
        Command::ApplySet {
            resources,
            correlation_id,
            source,
            ..
        } => Command::ApplySet {
            resources,
            idempotency_key: k,
            correlation_id,
            source,
        },
        other => panic!("keyed() supports ApplySet only, got {other:?}"),
    }
}

pub fn delete_product(product: &str) -> Command {
    Command::DeleteProduct {
        product: n(product),
        idempotency_key: None,
        correlation_id: corr(2),
        source: source(),
    }
}

pub fn delete_resource(product: &str, kind: ResourceKind, name: &str) -> Command {
    Command::DeleteResource {
        product: n(product),
        kind,
        name: n(name),
        idempotency_key: None,
        correlation_id: corr(3),
        source: source(),
    }
}

/// decide, then apply the events; returns them.
pub fn run(state: &mut ProductState, command: &Command) -> Result<Vec<Envelope>, Rejection> {
    let events = decide(state, command, now(), &iri())?;
    for e in &events {
        apply(state, e);
    }
    Ok(events)
}

/// `Type gen` summaries of events, for compact table assertions.
pub fn summary(events: &[Envelope]) -> Vec<String> {
    use picloud_events::EventPayload as P;
    events
        .iter()
        .map(|e| match &e.payload {
            P::ResourceDeclaredV1(p) => {
                format!("+{} {} g{}", p.resource.kind, p.resource.name, p.generation)
            }
            P::ResourceUpdatedV1(p) => {
                format!("~{} {} g{}", p.resource.kind, p.resource.name, p.generation)
            }
            P::ResourceDeletedV1(p) => format!("-{} {} g{}", p.kind, p.name, p.generation),
            P::ProductDeletedV1(p) => format!("-product {}", p.product),
            other => format!("?{}", other.type_name()),
        })
        .collect()
}

/// The photo-app example of product.md: product, volume, secret, container.
pub fn photo_app() -> Vec<Resource> {
    vec![
        product("photo-app", "1.0.0"),
        volume("photo-app", "media-store", 100, Durability::FullReplication),
        secret("photo-app", "db-connection", "postgres://u:p@db/photos"),
        container(
            "photo-app",
            "api-server",
            "photo-api:1.0.0",
            &["media-store"],
        ),
    ]
}
