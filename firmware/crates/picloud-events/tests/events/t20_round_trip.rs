//! Both encodings round-trip exactly, for every variant and arbitrary envelope metadata.

use picloud_domain::IriBuilder;
use picloud_events::payload::*;
use picloud_events::{
    decode_json, decode_log, encode_json, encode_log, Bytes, CorrelationId, Envelope, EventId,
    EventPayload, IdempotencyKey, Timestamp,
};
use proptest::prelude::*;

use crate::samples;

fn arb_payload() -> impl Strategy<Value = EventPayload> {
    let fixed = proptest::sample::select(samples::payloads());
    let passkey = (
        proptest::collection::vec(any::<u8>(), 0..80),
        any::<u32>(),
        "\\PC{0,30}",
    )
        .prop_map(|(cred, count, label)| {
            EventPayload::from(PasskeyRegisteredV1 {
                identity: samples::name("bob"),
                credential_id: Bytes(cred.clone()),
                public_key: Bytes(cred),
                sign_count: count,
                label,
            })
        });
    let status = (any::<u64>(), proptest::option::of("\\PC{0,40}")).prop_map(|(g, reason)| {
        EventPayload::from(ResourceStatusChangedV1 {
            kind: picloud_domain::ResourceKind::Volume,
            product: samples::name("p"),
            name: samples::name("v"),
            generation: g,
            status: ResourceStatus::Provisioning,
            reason,
        })
    });
    prop_oneof![4 => fixed, 1 => passkey, 1 => status]
}

fn arb_envelope() -> impl Strategy<Value = Envelope> {
    (
        arb_payload(),
        any::<[u8; 16]>(),
        any::<u32>(),
        Timestamp::MIN.unix_millis()..=Timestamp::MAX.unix_millis(),
        proptest::option::of("[ -~]{1,128}"),
        any::<bool>(),
    )
        .prop_map(|(payload, corr, index, millis, key, drop_product)| {
            let iri = IriBuilder::default();
            let corr = CorrelationId::from_bytes(corr);
            let e = Envelope::new(
                &iri,
                EventId::derive(corr, index),
                Timestamp::from_unix_millis(millis).unwrap(),
                iri.cluster(),
                corr,
                payload,
            )
            .unwrap()
            .with_idempotency_key(key.map(|k| IdempotencyKey::new(k).unwrap()));
            if drop_product {
                e.with_product(None)
            } else {
                e
            }
        })
}

proptest! {
    #[test]
    fn log_round_trip(e in arb_envelope()) {
        let bytes = encode_log(&e).unwrap();
        prop_assert_eq!(decode_log(&bytes).unwrap(), e.clone());
        prop_assert_eq!(postcard::from_bytes::<Envelope>(&postcard::to_stdvec(&e).unwrap()).unwrap(), e);
    }

    #[test]
    fn json_round_trip(e in arb_envelope()) {
        let text = encode_json(&e).unwrap();
        let back = decode_json(&text).unwrap();
        prop_assert_eq!(encode_json(&back).unwrap(), text);
        prop_assert_eq!(back, e.clone());
        prop_assert_eq!(serde_json::from_str::<Envelope>(&serde_json::to_string(&e).unwrap()).unwrap(), e);
    }
}

#[test]
fn json_shape_is_documented_one() {
    let e = samples::envelopes().swap_remove(5); // ResourceDeclared
    let v: serde_json::Value = serde_json::from_str(&encode_json(&e).unwrap()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "id",
        "schema",
        "type",
        "time",
        "source",
        "product",
        "correlationId",
        "idempotencyKey",
        "payload",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(v["type"], "ResourceDeclared");
    assert_eq!(
        v["schema"],
        "https://picloud.local/schemas/events/ResourceDeclared/v1"
    );
    assert_eq!(v["time"], "2026-11-27T15:54:21.128Z");
    assert_eq!(v["product"], "photo-app");
    assert_eq!(v["payload"]["generation"], 1);
    assert_eq!(
        v["payload"]["resource"]["spec"]["volume"]["storageIntent"]["durability"],
        "full-replication"
    );
}
