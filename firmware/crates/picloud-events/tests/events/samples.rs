//! One deterministic sample envelope per catalogue variant: the fixture generator's input.

use picloud_domain::{ClusterDomain, Iri, IriBuilder, Name, Resource, ResourceKind};
use picloud_events::payload::*;
use picloud_events::{
    Bytes, ClientId, ClusterId, CorrelationId, Envelope, EventId, IdempotencyKey, KeyId, NodeId,
    Sha256Digest, Timestamp, TokenFamilyId,
};
use serde_json::json;

pub fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub fn ts(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis).unwrap()
}

fn digest(b: u8) -> Sha256Digest {
    Sha256Digest([b; 32])
}

fn bytes(len: usize, seed: u8) -> Bytes {
    Bytes((0..len).map(|i| seed.wrapping_add(i as u8)).collect())
}

pub fn container() -> Resource {
    serde_json::from_value(json!({
        "kind": "container", "name": "api-server", "product": "photo-app",
        "spec": {"container": {
            "image": "photo-api:1.0.0", "identity": "api-worker",
            "command": [], "args": ["--port", "8080"],
            "env": {"DB_URL": {"secret": "db-connection"}, "MODE": {"literal": "prod"}},
            "mounts": [{"volume": "media-store", "path": "/data", "readOnly": false}],
            "ports": [{"name": "http", "port": 8080, "protocol": "tcp"}],
            "resources": {"cpu": 500, "memory": 536870912},
            "healthCheck": {"probe": {"http": {"path": "/healthz", "port": 8080}},
                            "interval": 10000, "timeout": 2000, "failureThreshold": 3},
            "restartPolicy": "always"
        }}
    }))
    .unwrap()
}

pub fn volume() -> Resource {
    serde_json::from_value(json!({
        "kind": "volume", "name": "media-store", "product": "photo-app",
        "spec": {"volume": {
            "size": 100_000_000_000_u64,
            "storageIntent": {"durability": "full-replication", "performance": "standard"},
            "volumeType": "mounted"
        }}
    }))
    .unwrap()
}

/// Every payload, in catalogue order (the fixture test checks the order and coverage).
pub fn payloads() -> Vec<EventPayload> {
    let node = name("pi-1");
    let node_id = NodeId::from_bytes([0x11; 16]);
    let family = TokenFamilyId::from_bytes([0x22; 16]);
    let alice = name("alice");
    vec![
        ClusterInitializedV1 {
            cluster_id: ClusterId::from_bytes([0x33; 16]),
            domain: ClusterDomain::parse("picloud.local").unwrap(),
            ca_fingerprint: digest(0xca),
        }
        .into(),
        NodeJoinedV1 {
            node: node.clone(),
            node_id,
            address: "192.168.1.21:7443".into(),
            role: NodeRole::Voter,
        }
        .into(),
        NodePromotedV1 {
            node: node.clone(),
            node_id,
        }
        .into(),
        NodeDemotedV1 {
            node: node.clone(),
            node_id,
        }
        .into(),
        NodeRemovedV1 {
            node: node.clone(),
            node_id,
        }
        .into(),
        ResourceDeclaredV1 {
            resource: volume(),
            generation: 1,
        }
        .into(),
        ResourceUpdatedV1 {
            resource: container(),
            generation: 3,
            previous_generation: 2,
        }
        .into(),
        ResourceDeletedV1 {
            kind: ResourceKind::Volume,
            product: name("photo-app"),
            name: name("media-store"),
            generation: 4,
        }
        .into(),
        ResourceStatusChangedV1 {
            kind: ResourceKind::Container,
            product: name("photo-app"),
            name: name("api-server"),
            generation: 3,
            status: ResourceStatus::Failed,
            reason: Some("image photo-api:1.0.0 not found".into()),
        }
        .into(),
        ProductDeletedV1 {
            product: name("photo-app"),
        }
        .into(),
        IdentityCreatedV1 {
            identity: alice.clone(),
            kind: IdentityKind::Human,
            display_name: "Alice Admin".into(),
        }
        .into(),
        PasskeyRegisteredV1 {
            identity: alice.clone(),
            credential_id: bytes(16, 1),
            public_key: bytes(77, 0xa5),
            sign_count: 0,
            label: "YubiKey 5C".into(),
        }
        .into(),
        PasskeyUsedV1 {
            identity: alice.clone(),
            credential_id: bytes(16, 1),
            sign_count: 42,
        }
        .into(),
        PasskeyRevokedV1 {
            identity: alice.clone(),
            credential_id: bytes(16, 1),
        }
        .into(),
        BootstrapCodeIssuedV1 {
            code_hash: digest(0xb0),
            expires: ts(1_795_795_761_123),
        }
        .into(),
        BootstrapCodeRedeemedV1 {
            code_hash: digest(0xb0),
            identity: alice.clone(),
        }
        .into(),
        ReEnrolmentCodeIssuedV1 {
            identity: alice.clone(),
            code_hash: digest(0xe0),
            expires: ts(1_795_881_261_123),
        }
        .into(),
        ClientRegisteredV1 {
            client_id: ClientId::new("photo-app").unwrap(),
            product: Some(name("photo-app")),
            secret_hash: Some(digest(0x5e)),
            redirect_uris: vec!["https://photo-app.picloud.local/callback".into()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
        }
        .into(),
        SigningKeyCreatedV1 {
            kid: KeyId::new("2026-11-27-1").unwrap(),
            alg: SigningAlgorithm::Es256,
            x: bytes(32, 0x10),
            y: bytes(32, 0x40),
            encrypted_private_key: bytes(60, 0x70),
        }
        .into(),
        SigningKeyRetiredV1 {
            kid: KeyId::new("2026-11-27-1").unwrap(),
            retire_after: ts(1_796_399_661_123),
        }
        .into(),
        RoleAssignedV1 {
            identity: alice.clone(),
            role: name("admin"),
            product: None,
        }
        .into(),
        RoleRevokedV1 {
            identity: alice.clone(),
            role: name("editor"),
            product: Some(name("photo-app")),
        }
        .into(),
        RefreshTokenIssuedV1 {
            family_id: family,
            identity: alice.clone(),
            client_id: ClientId::new("picloud-cli").unwrap(),
            token_hash: digest(0x01),
            expires: ts(1_798_386_861_123),
        }
        .into(),
        RefreshTokenRotatedV1 {
            family_id: family,
            previous_token_hash: digest(0x01),
            token_hash: digest(0x02),
            expires: ts(1_798_386_961_123),
        }
        .into(),
        RefreshTokenFamilyRevokedV1 {
            family_id: family,
            reason: RevocationReason::ReuseDetected,
        }
        .into(),
        CaCreatedV1 {
            certificate_der: bytes(48, 0x30),
            encrypted_key: bytes(40, 0x90),
            fingerprint: digest(0xca),
        }
        .into(),
        RecoveryPerformedV1 {
            node: node.clone(),
            identity: alice,
            audit_note: "lost both passkeys; console recovery by operator".into(),
        }
        .into(),
        NodeBootedV1 {
            node,
            slot: BootSlot::B,
            version: "0.1.0".into(),
        }
        .into(),
        ClientRegisteredV2 {
            client_id: ClientId::new("picloud-dev-admin").unwrap(),
            product: None,
            secret_hash: Some(digest(0x5f)),
            redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            identity: Some(name("dev-admin")),
        }
        .into(),
        AuthorizationCodeIssuedV1 {
            code_hash: digest(0xc0),
            client_id: ClientId::new("photo-app").unwrap(),
            identity: name("alice"),
            redirect_uri: "https://photo-app.picloud.local/callback".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scope: "openid profile".into(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            expires: ts(1_795_794_921_123),
        }
        .into(),
        AuthorizationCodeRedeemedV1 {
            code_hash: digest(0xc0),
        }
        .into(),
        DeviceCodeIssuedV1 {
            device_code_hash: digest(0xd0),
            user_code_hash: digest(0xd1),
            client_id: ClientId::new("picloud-cli").unwrap(),
            scope: "openid offline_access".into(),
            expires: ts(1_795_795_761_123),
        }
        .into(),
        DeviceCodeApprovedV1 {
            user_code_hash: digest(0xd1),
            identity: name("alice"),
        }
        .into(),
        DeviceCodeRedeemedV1 {
            device_code_hash: digest(0xd0),
        }
        .into(),
        ClientSecretRotatedV1 {
            client_id: ClientId::new("photo-app").unwrap(),
            product: Some(name("photo-app")),
            secret_hash: digest(0x5e),
        }
        .into(),
        AccessTokenRevokedV1 {
            jti: "q2lEa3c0-RZ1nV3w".into(),
            client_id: ClientId::new("picloud-cli").unwrap(),
            expires: ts(1_795_795_461_000),
        }
        .into(),
        WebAuthnCeremonyFinishedV1 {
            challenge_hash: digest(0xce),
            expires: ts(1_795_795_161_000),
        }
        .into(),
    ]
}

/// The sample envelope around `payload`, deterministic per catalogue index.
pub fn envelope(index: u32, payload: EventPayload) -> Envelope {
    let iri = IriBuilder::default();
    let source = match payload.product() {
        Some(p) => iri.product(p),
        None => Iri::parse("https://picloud.local/nodes/pi-1").unwrap(),
    };
    let correlation = CorrelationId::from_bytes([0x5a; 16]);
    let key = index
        .is_multiple_of(2)
        .then(|| IdempotencyKey::new(format!("fixture-{index}")).unwrap());
    Envelope::new(
        &iri,
        EventId::derive(correlation, index),
        ts(1_795_794_861_123 + i64::from(index)),
        source,
        correlation,
        payload,
    )
    .unwrap()
    .with_idempotency_key(key)
}

pub fn envelopes() -> Vec<Envelope> {
    payloads()
        .into_iter()
        .enumerate()
        .map(|(i, p)| envelope(i as u32, p))
        .collect()
}
