//! Every refusal of the identity core, and the lifecycles it enforces.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use picloud_domain::{Iri, IriBuilder, Name};
use picloud_events::payload::{GrantType, RevocationReason};
use picloud_events::{
    ClientId, CorrelationId, EventPayload, KeyId, Sha256Digest, Timestamp, TokenFamilyId,
};
use picloud_iam::decide::{
    client_credentials, rotation_due, NewCa, NewClient, NewKey, NewPasskey, NewRefresh,
    BOOTSTRAP_TTL_SECS, CEREMONY_TTL_SECS, KEY_OVERLAP_SECS, KEY_ROTATION_SECS,
};
use picloud_iam::{apply, decide, Command, Context, Decision, IamState, Rejection, Role};

const T0: i64 = 1_795_000_000_000;
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://photo.picloud.local/cb";

fn h(b: u8) -> Sha256Digest {
    Sha256Digest([b; 32])
}
fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}
fn cid(s: &str) -> ClientId {
    ClientId::new(s).unwrap()
}
fn key(kid: &str) -> NewKey {
    NewKey {
        kid: KeyId::new(kid).unwrap(),
        x: vec![1; 32],
        y: vec![2; 32],
        sealed: vec![3; 60],
    }
}
fn passkey(id: u8) -> NewPasskey {
    NewPasskey {
        credential_id: vec![id; 16],
        public_key: vec![9; 77],
        sign_count: 0,
        label: "key".into(),
    }
}

struct World {
    state: IamState,
    iri: IriBuilder,
    now: i64,
    n: u8,
    log: Vec<picloud_events::Envelope>,
}

impl World {
    fn run(&mut self, c: Command) -> Result<Decision, Rejection> {
        self.n = self.n.wrapping_add(1);
        let ctx = Context {
            iri: &self.iri,
            now: Timestamp::from_unix_millis(self.now).unwrap(),
            correlation_id: CorrelationId::from_bytes([self.n; 16]),
            source: Iri::parse("https://picloud.local/").unwrap(),
        };
        let d = decide(&self.state, &c, &ctx)?;
        for e in &d.events {
            apply(&mut self.state, e);
        }
        self.log.extend(d.events.iter().cloned());
        Ok(d)
    }
    /// The state folded again from the log, through the log encoding as a restarted node
    /// reads it, equals the state folded as the decisions were made.
    fn assert_replays(&self) {
        let mut replayed = IamState::default();
        for e in &self.log {
            let bytes = picloud_events::encode_log(e).unwrap();
            apply(&mut replayed, &picloud_events::decode_log(&bytes).unwrap());
        }
        assert_eq!(replayed, self.state);
    }
    fn ok(&mut self, c: Command) -> Decision {
        let d = self.run(c).unwrap();
        assert_eq!(d.refusal, None);
        d
    }
    fn advance(&mut self, secs: i64) {
        self.now += secs * 1000;
    }

    fn new() -> World {
        let mut w = World {
            state: IamState::default(),
            iri: IriBuilder::default(),
            now: T0,
            n: 0,
            log: vec![],
        };
        w.ok(Command::Initialise {
            ca: NewCa {
                certificate_der: vec![1, 2, 3],
                sealed_key: vec![4; 40],
                fingerprint: h(0xca),
            },
            key: key("k1"),
            bootstrap_code_hash: h(0xb0),
            clients: vec![
                NewClient {
                    client_id: cid("picloud-cli"),
                    product: None,
                    secret_hash: None,
                    redirect_uris: vec![],
                    grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
                    identity: None,
                    roles: vec![],
                },
                NewClient {
                    client_id: cid("photo"),
                    product: Some(name("photo")),
                    secret_hash: Some(h(0x5e)),
                    redirect_uris: vec![REDIRECT.into()],
                    grant_types: vec![
                        GrantType::AuthorizationCode,
                        GrantType::ClientCredentials,
                        GrantType::RefreshToken,
                    ],
                    identity: Some(name("photo-app")),
                    roles: vec![Role {
                        product: Some(name("photo")),
                        role: name("app"),
                    }],
                },
            ],
        });
        w.ok(Command::EnrolFirstAdmin {
            code_hash: h(0xb0),
            identity: name("alice"),
            display_name: "Alice".into(),
            passkey: passkey(1),
        });
        w
    }

    fn code(&mut self, hash: u8, scope: &str) {
        self.ok(Command::IssueAuthorizationCode {
            code_hash: h(hash),
            client_id: cid("photo"),
            identity: name("alice"),
            redirect_uri: REDIRECT.into(),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            scope: scope.into(),
            nonce: Some("n1".into()),
        });
    }

    fn redeem(
        &mut self,
        hash: u8,
        verifier: Option<&str>,
        redirect: Option<&str>,
        fam: u8,
    ) -> Result<Decision, Rejection> {
        self.run(Command::RedeemAuthorizationCode {
            code_hash: h(hash),
            client_id: cid("photo"),
            redirect_uri: redirect.map(str::to_owned),
            code_verifier: verifier.map(str::to_owned),
            refresh: NewRefresh {
                family: TokenFamilyId::from_bytes([fam; 16]),
                token_hash: h(fam),
            },
        })
    }
}

#[test]
fn init_then_bootstrap_makes_an_admin_and_the_code_is_single_use() {
    let mut w = World::new();
    assert!(w.state.has_admin());
    assert_eq!(w.state.role_claims(&name("alice")), vec!["admin"]);
    let again = w.run(Command::EnrolFirstAdmin {
        code_hash: h(0xb0),
        identity: name("mallory"),
        display_name: "M".into(),
        passkey: passkey(2),
    });
    assert_eq!(
        again.unwrap_err(),
        Rejection::Code {
            what: "bootstrap",
            why: "already used"
        }
    );
    // No new bootstrap code once an admin exists.
    assert_eq!(
        w.run(Command::IssueBootstrapCode { code_hash: h(0xb1) })
            .unwrap_err(),
        Rejection::BootstrapClosed
    );
    assert_eq!(
        w.run(Command::Initialise {
            ca: NewCa {
                certificate_der: vec![],
                sealed_key: vec![],
                fingerprint: h(0)
            },
            key: key("k9"),
            bootstrap_code_hash: h(1),
            clients: vec![],
        })
        .unwrap_err(),
        Rejection::AlreadyInitialised
    );
}

#[test]
fn a_bootstrap_code_expires_after_15_minutes_and_a_new_one_can_be_issued() {
    let mut w = World {
        state: IamState::default(),
        iri: IriBuilder::default(),
        now: T0,
        n: 0,
        log: vec![],
    };
    assert_eq!(
        w.run(Command::IssueBootstrapCode { code_hash: h(1) })
            .unwrap_err(),
        Rejection::NotInitialised
    );
    w.ok(Command::Initialise {
        ca: NewCa {
            certificate_der: vec![1],
            sealed_key: vec![2],
            fingerprint: h(3),
        },
        key: key("k1"),
        bootstrap_code_hash: h(0xb0),
        clients: vec![],
    });
    w.advance(BOOTSTRAP_TTL_SECS);
    let enrol = |code| Command::EnrolFirstAdmin {
        code_hash: h(code),
        identity: name("alice"),
        display_name: "A".into(),
        passkey: passkey(1),
    };
    assert_eq!(
        w.run(enrol(0xb0)).unwrap_err(),
        Rejection::Code {
            what: "bootstrap",
            why: "expired"
        }
    );
    assert_eq!(
        w.run(enrol(0xee)).unwrap_err(),
        Rejection::Code {
            what: "bootstrap",
            why: "unknown"
        }
    );
    w.ok(Command::IssueBootstrapCode { code_hash: h(0xb1) });
    w.ok(enrol(0xb1));
}

#[test]
fn code_flow_with_pkce_s256_and_exact_redirect() {
    let mut w = World::new();
    w.code(0xc1, "openid offline_access");
    let d = w.redeem(0xc1, Some(VERIFIER), Some(REDIRECT), 7).unwrap();
    let g = d.grant.unwrap();
    assert_eq!(g.identity, name("alice"));
    assert_eq!(g.nonce.as_deref(), Some("n1"));
    assert!(g.refresh);
}

#[test]
fn pkce_missing_plain_or_wrong_is_refused() {
    let mut w = World::new();
    let issue = |challenge: Option<&str>, method: Option<&str>| Command::IssueAuthorizationCode {
        code_hash: h(0xc2),
        client_id: cid("photo"),
        identity: name("alice"),
        redirect_uri: REDIRECT.into(),
        code_challenge: challenge.map(str::to_owned),
        code_challenge_method: method.map(str::to_owned),
        scope: "openid".into(),
        nonce: None,
    };
    assert_eq!(
        w.run(issue(None, None)).unwrap_err(),
        Rejection::Pkce("missing")
    );
    assert!(matches!(
        w.run(issue(Some(CHALLENGE), Some("plain"))),
        Err(Rejection::Pkce(_))
    ));
    assert!(matches!(
        w.run(issue(Some(CHALLENGE), None)),
        Err(Rejection::Pkce(_))
    ));
    assert!(matches!(
        w.run(issue(Some("short"), Some("S256"))),
        Err(Rejection::Pkce(_))
    ));
    w.code(0xc3, "openid");
    assert_eq!(
        w.redeem(0xc3, None, Some(REDIRECT), 1).unwrap_err(),
        Rejection::Pkce("missing")
    );
    assert!(matches!(
        w.redeem(
            0xc3,
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"),
            Some(REDIRECT),
            1
        ),
        Err(Rejection::Pkce(_))
    ));
    // A failed attempt does not spend the code.
    assert!(w.redeem(0xc3, Some(VERIFIER), Some(REDIRECT), 1).is_ok());
}

#[test]
fn redirect_uri_mismatch_is_refused_at_both_ends() {
    let mut w = World::new();
    let r = w.run(Command::IssueAuthorizationCode {
        code_hash: h(0xc4),
        client_id: cid("photo"),
        identity: name("alice"),
        redirect_uri: format!("{REDIRECT}/"),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        scope: "openid".into(),
        nonce: None,
    });
    assert_eq!(r.unwrap_err(), Rejection::RedirectUri);
    w.code(0xc5, "openid");
    assert_eq!(
        w.redeem(0xc5, Some(VERIFIER), Some("https://evil.example/cb"), 1)
            .unwrap_err(),
        Rejection::RedirectUri
    );
    assert_eq!(
        w.redeem(0xc5, Some(VERIFIER), None, 1).unwrap_err(),
        Rejection::RedirectUri
    );
}

#[test]
fn authorization_code_reuse_is_refused_and_revokes_its_refresh_family() {
    let mut w = World::new();
    w.code(0xc6, "openid offline_access");
    w.redeem(0xc6, Some(VERIFIER), Some(REDIRECT), 8).unwrap();
    let fam = TokenFamilyId::from_bytes([8; 16]);
    assert_eq!(w.state.families[&fam].revoked, None);
    let d = w.redeem(0xc6, Some(VERIFIER), Some(REDIRECT), 9).unwrap();
    assert_eq!(
        d.refusal,
        Some(Rejection::Code {
            what: "authorization",
            why: "already used"
        })
    );
    assert!(d.grant.is_none());
    assert_eq!(
        w.state.families[&fam].revoked,
        Some(RevocationReason::ReuseDetected)
    );
}

#[test]
fn an_expired_code_is_refused() {
    let mut w = World::new();
    w.code(0xc7, "openid");
    w.advance(61);
    assert_eq!(
        w.redeem(0xc7, Some(VERIFIER), Some(REDIRECT), 1)
            .unwrap_err(),
        Rejection::Code {
            what: "authorization",
            why: "expired"
        }
    );
}

#[test]
fn refresh_rotation_and_reuse_detection_revoke_the_family() {
    let mut w = World::new();
    w.code(0xc8, "openid offline_access");
    w.redeem(0xc8, Some(VERIFIER), Some(REDIRECT), 0x21)
        .unwrap();
    let refresh = |w: &mut World, t: u8, next: u8| {
        w.run(Command::Refresh {
            token_hash: h(t),
            client_id: cid("photo"),
            next_hash: h(next),
        })
    };
    assert!(refresh(&mut w, 0x21, 0x22).unwrap().grant.is_some());
    assert!(refresh(&mut w, 0x22, 0x23).unwrap().grant.is_some());
    // The spent 0x21 comes back: theft assumed, the family dies, 0x23 too.
    let d = refresh(&mut w, 0x21, 0x24).unwrap();
    assert_eq!(d.refusal, Some(Rejection::RefreshReuse));
    assert_eq!(
        refresh(&mut w, 0x23, 0x25).unwrap_err(),
        Rejection::Refresh("revoked")
    );
    assert_eq!(
        refresh(&mut w, 0x99, 0x25).unwrap_err(),
        Rejection::Refresh("unknown")
    );
}

#[test]
fn device_flow_pending_then_approved_once() {
    let mut w = World::new();
    w.ok(Command::StartDevice {
        device_code_hash: h(0xd0),
        user_code_hash: h(0xd1),
        client_id: cid("picloud-cli"),
        scope: "openid offline_access".into(),
    });
    let redeem = |w: &mut World| {
        w.run(Command::RedeemDevice {
            device_code_hash: h(0xd0),
            client_id: cid("picloud-cli"),
            refresh: NewRefresh {
                family: TokenFamilyId::from_bytes([3; 16]),
                token_hash: h(0x33),
            },
        })
    };
    assert_eq!(redeem(&mut w).unwrap_err(), Rejection::AuthorizationPending);
    assert_eq!(
        Rejection::AuthorizationPending.oauth_error(),
        "authorization_pending"
    );
    assert_eq!(
        w.run(Command::ApproveDevice {
            user_code_hash: h(0xd9),
            identity: name("alice")
        })
        .unwrap_err(),
        Rejection::Code {
            what: "user",
            why: "unknown"
        }
    );
    w.ok(Command::ApproveDevice {
        user_code_hash: h(0xd1),
        identity: name("alice"),
    });
    assert!(w
        .run(Command::ApproveDevice {
            user_code_hash: h(0xd1),
            identity: name("alice")
        })
        .is_err());
    let g = redeem(&mut w).unwrap().grant.unwrap();
    assert_eq!(g.identity, name("alice"));
    assert_eq!(
        redeem(&mut w).unwrap_err(),
        Rejection::Code {
            what: "device",
            why: "already used"
        }
    );
    // The photo client may not use the device grant.
    assert!(matches!(
        w.run(Command::StartDevice {
            device_code_hash: h(0xd2),
            user_code_hash: h(0xd3),
            client_id: cid("photo"),
            scope: "openid".into(),
        }),
        Err(Rejection::UnauthorizedClient { .. })
    ));
}

#[test]
fn a_device_code_expires() {
    let mut w = World::new();
    w.ok(Command::StartDevice {
        device_code_hash: h(0xd0),
        user_code_hash: h(0xd1),
        client_id: cid("picloud-cli"),
        scope: "openid".into(),
    });
    w.advance(601);
    let e = w
        .run(Command::RedeemDevice {
            device_code_hash: h(0xd0),
            client_id: cid("picloud-cli"),
            refresh: NewRefresh {
                family: TokenFamilyId::from_bytes([3; 16]),
                token_hash: h(0x33),
            },
        })
        .unwrap_err();
    assert_eq!(e.oauth_error(), "expired_token");
}

#[test]
fn client_credentials_needs_the_right_secret_and_grant() {
    let w = World::new();
    let g = client_credentials(&w.state, &cid("photo"), &h(0x5e), "").unwrap();
    assert_eq!(g.identity, name("photo-app"));
    assert_eq!(w.state.role_claims(&g.identity), vec!["photo:app"]);
    assert_eq!(
        client_credentials(&w.state, &cid("photo"), &h(0x5f), "").unwrap_err(),
        Rejection::InvalidClient
    );
    assert_eq!(
        client_credentials(&w.state, &cid("nope"), &h(0x5e), "").unwrap_err(),
        Rejection::InvalidClient
    );
    assert_eq!(
        client_credentials(&w.state, &cid("picloud-cli"), &h(0x5e), "").unwrap_err(),
        Rejection::InvalidClient
    );
}

#[test]
fn a_sign_counter_regression_or_replayed_assertion_is_refused() {
    let mut w = World::new();
    let used = |n| Command::UsePasskey {
        identity: name("alice"),
        credential_id: vec![1; 16],
        sign_count: n,
    };
    w.ok(used(5));
    // The same counter again is a replayed assertion; a lower one a cloned authenticator.
    assert_eq!(
        w.run(used(5)).unwrap_err(),
        Rejection::CounterRegression {
            stored: 5,
            presented: 5
        }
    );
    assert_eq!(
        w.run(used(3)).unwrap_err(),
        Rejection::CounterRegression {
            stored: 5,
            presented: 3
        }
    );
    w.ok(used(6));
    assert_eq!(
        w.run(Command::UsePasskey {
            identity: name("alice"),
            credential_id: vec![7; 16],
            sign_count: 1
        })
        .unwrap_err(),
        Rejection::UnknownPasskey
    );
}

#[test]
fn key_rotation_keeps_the_old_key_published_until_its_tokens_expire() {
    let mut w = World::new();
    assert!(!rotation_due(
        &w.state,
        Timestamp::from_unix_millis(w.now).unwrap()
    ));
    w.advance(KEY_ROTATION_SECS);
    assert!(rotation_due(
        &w.state,
        Timestamp::from_unix_millis(w.now).unwrap()
    ));
    w.ok(Command::RotateSigningKey {
        key: key("k2"),
        only_if_due: true,
    });
    // A second node racing on the same schedule finds nothing due.
    assert!(w
        .ok(Command::RotateSigningKey {
            key: key("k3"),
            only_if_due: true,
        })
        .events
        .is_empty());
    let now = Timestamp::from_unix_millis(w.now).unwrap();
    assert_eq!(w.state.active_key().unwrap().0.as_str(), "k2");
    assert!(w.state.published_key("k1", now).is_some());
    let later = Timestamp::from_unix_millis(w.now + KEY_OVERLAP_SECS * 1000).unwrap();
    assert!(w.state.published_key("k1", later).is_none());
    assert!(w.state.published_key("k2", later).is_some());
}

#[test]
fn re_enrolment_revokes_old_passkeys_and_logins_and_is_single_use() {
    let mut w = World::new();
    w.code(0xc9, "openid offline_access");
    w.redeem(0xc9, Some(VERIFIER), Some(REDIRECT), 0x41)
        .unwrap();
    w.ok(Command::IssueReEnrolmentCode {
        identity: name("alice"),
        code_hash: h(0xe1),
    });
    let d = w.ok(Command::ReEnrol {
        code_hash: h(0xe1),
        passkey: passkey(2),
    });
    let kinds: Vec<_> = d.events.iter().map(|e| e.event_type.as_str()).collect();
    assert!(kinds.contains(&"PasskeyRevoked"), "{kinds:?}");
    let alice = &w.state.identities[&name("alice")];
    assert_eq!(
        alice.passkeys.keys().collect::<Vec<_>>(),
        vec![&vec![2u8; 16]]
    );
    assert_eq!(
        w.state.families[&TokenFamilyId::from_bytes([0x41; 16])].revoked,
        Some(RevocationReason::IdentityReset)
    );
    assert!(w
        .run(Command::ReEnrol {
            code_hash: h(0xe1),
            passkey: passkey(3)
        })
        .is_err());
}

#[test]
fn console_recovery_records_an_audit_event() {
    let mut w = World::new();
    assert!(w
        .run(Command::Recover {
            node: name("pi-1"),
            identity: name("alice"),
            audit_note: " ".into(),
            code_hash: h(1)
        })
        .is_err());
    let d = w.ok(Command::Recover {
        node: name("pi-1"),
        identity: name("alice"),
        audit_note: "lost both keys".into(),
        code_hash: h(0xe2),
    });
    assert!(matches!(
        d.events[0].payload,
        EventPayload::RecoveryPerformedV1(_)
    ));
    assert_eq!(w.state.recoveries, vec![(name("pi-1"), name("alice"))]);
}

#[test]
fn replaying_the_log_rebuilds_the_same_state() {
    let mut w = World::new();
    w.code(0xca, "openid offline_access");
    w.redeem(0xca, Some(VERIFIER), Some(REDIRECT), 0x51)
        .unwrap();
    w.run(Command::Refresh {
        token_hash: h(0x51),
        client_id: cid("photo"),
        next_hash: h(0x52),
    })
    .unwrap();
    w.ok(Command::RotateSigningKey {
        key: key("k2"),
        only_if_due: false,
    });
    w.assert_replays();
}

// ---- every product is an app registration; access-token revocation ----

impl World {
    /// Commits a product-slice event (the identity core only folds it).
    fn product_event(&mut self, payload: EventPayload) {
        self.n = self.n.wrapping_add(1);
        let e = picloud_events::Envelope::new(
            &self.iri,
            picloud_events::EventId::derive(CorrelationId::from_bytes([self.n; 16]), 0),
            Timestamp::from_unix_millis(self.now).unwrap(),
            Iri::parse("https://picloud.local/").unwrap(),
            CorrelationId::from_bytes([self.n; 16]),
            payload,
        )
        .unwrap();
        assert!(picloud_iam::is_iam_event(&e.payload));
        apply(&mut self.state, &e);
        self.log.push(e);
    }

    fn declare_product(&mut self, p: &str) {
        use picloud_domain::resource::{ProductSpec, SemVer};
        let spec = picloud_domain::ResourceSpec::Product(ProductSpec {
            version: SemVer::parse("1.0.0").unwrap(),
            description: None,
        });
        self.product_event(
            picloud_events::payload::ResourceDeclaredV1 {
                resource: picloud_domain::Resource::new(name(p), name(p), spec),
                generation: 1,
            }
            .into(),
        );
    }

    fn delete_product(&mut self, p: &str) {
        self.product_event(picloud_events::payload::ProductDeletedV1 { product: name(p) }.into());
    }
}

/// Revokes the access token `jti` of the `photo` client, which expires at `expires`.
fn revoke_photo(jti: &str, expires: Timestamp) -> Command {
    Command::RevokeAccessToken {
        jti: jti.into(),
        client_id: cid("photo"),
        expires,
    }
}

fn claims_for(w: &World, grant: &picloud_iam::Grant, jti: &str) -> picloud_iam::jwt::Claims {
    picloud_iam::tokens::access_claims(&w.state, &w.iri, grant, w.now / 1000, jti.into())
}

#[test]
fn a_declared_product_is_a_client_with_a_secret_set_by_an_admin_and_deletion_disables_it() {
    let mut w = World::new();
    // Unknown before the product exists.
    assert_eq!(
        w.run(Command::RotateClientSecret {
            client_id: cid("shop"),
            secret_hash: h(0x71),
        })
        .unwrap_err(),
        Rejection::UnknownProductClient("shop".into())
    );
    w.declare_product("shop");
    let c = w.state.clients.get(&cid("shop")).unwrap();
    assert_eq!(c.is_product_client(), Some(&name("shop")));
    assert!(c.secret_hash.is_none());
    // No secret yet: it cannot authenticate, not even as a public client.
    assert_eq!(
        picloud_iam::decide::authenticate_client(&w.state, &cid("shop"), None).unwrap_err(),
        Rejection::InvalidClient
    );
    let d = w.ok(Command::RotateClientSecret {
        client_id: cid("shop"),
        secret_hash: h(0x71),
    });
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.events[0].payload.type_name(), "ClientSecretRotated");
    let grant = client_credentials(&w.state, &cid("shop"), &h(0x71), "").unwrap();
    let claims = claims_for(&w, &grant, "j1");
    assert_eq!(claims.sub, "https://picloud.local/products/shop");
    assert_eq!(claims.aud, "https://picloud.local/products/shop");
    assert_eq!(claims.roles, vec!["shop:app".to_owned()]);
    assert_eq!(claims.preferred_username, None);
    assert!(picloud_iam::tokens::check_live(&w.state, &claims).is_ok());
    assert!(picloud_iam::tokens::audience_is_ours(
        &w.state,
        &w.iri,
        "https://picloud.local/products/shop"
    ));
    assert!(!picloud_iam::tokens::audience_is_ours(
        &w.state,
        &w.iri,
        "https://picloud.local/products/nope"
    ));
    // Rotation: the old secret stops working.
    w.ok(Command::RotateClientSecret {
        client_id: cid("shop"),
        secret_hash: h(0x72),
    });
    assert_eq!(
        client_credentials(&w.state, &cid("shop"), &h(0x71), "").unwrap_err(),
        Rejection::InvalidClient
    );
    assert!(client_credentials(&w.state, &cid("shop"), &h(0x72), "").is_ok());
    // Platform clients are not product clients: their secrets are not rotated here.
    assert!(matches!(
        w.run(Command::RotateClientSecret {
            client_id: cid("picloud-cli"),
            secret_hash: h(0x73),
        }),
        Err(Rejection::UnknownProductClient(_))
    ));
    // Deleting the product disables the client: grants and its tokens are refused.
    w.delete_product("shop");
    assert_eq!(
        client_credentials(&w.state, &cid("shop"), &h(0x72), "").unwrap_err(),
        Rejection::InvalidClient
    );
    assert!(matches!(
        picloud_iam::tokens::check_live(&w.state, &claims),
        Err(picloud_iam::jwt::TokenRefusal::Revoked(_))
    ));
    assert!(w
        .run(Command::RotateClientSecret {
            client_id: cid("shop"),
            secret_hash: h(0x74),
        })
        .is_err());
    // Declared again: enabled, but the old secret is forgotten.
    w.declare_product("shop");
    assert_eq!(
        client_credentials(&w.state, &cid("shop"), &h(0x72), "").unwrap_err(),
        Rejection::InvalidClient
    );
    w.ok(Command::RotateClientSecret {
        client_id: cid("shop"),
        secret_hash: h(0x75),
    });
    assert!(client_credentials(&w.state, &cid("shop"), &h(0x75), "").is_ok());
    // A product named like an existing platform client leaves that client alone.
    w.declare_product("picloud-cli");
    let cli = w.state.clients.get(&cid("picloud-cli")).unwrap();
    assert_eq!(cli.product, None);
    assert!(cli.is_product_client().is_none());
    // The fold is the same through the log encoding.
    w.assert_replays();
}

#[test]
fn a_registered_product_client_is_disabled_with_its_product() {
    let mut w = World::new();
    // `photo` was registered with a workload identity (RegisterClient); its product's
    // deletion disables it too.
    assert!(client_credentials(&w.state, &cid("photo"), &h(0x5e), "").is_ok());
    w.declare_product("photo");
    assert!(client_credentials(&w.state, &cid("photo"), &h(0x5e), "").is_ok());
    w.delete_product("photo");
    assert_eq!(
        client_credentials(&w.state, &cid("photo"), &h(0x5e), "").unwrap_err(),
        Rejection::InvalidClient
    );
    // Nor can it start a login any more.
    assert_eq!(
        w.run(Command::IssueAuthorizationCode {
            code_hash: h(0xc1),
            client_id: cid("photo"),
            identity: name("alice"),
            redirect_uri: REDIRECT.into(),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            scope: "openid".into(),
            nonce: None,
        })
        .unwrap_err(),
        Rejection::InvalidClient
    );
}

#[test]
fn a_revoked_access_token_is_refused_until_it_expires_then_pruned() {
    let mut w = World::new();
    let grant = client_credentials(&w.state, &cid("photo"), &h(0x5e), "").unwrap();
    let claims = claims_for(&w, &grant, "jti-1");
    let other = claims_for(&w, &grant, "jti-2");
    let exp = Timestamp::from_unix_millis(claims.exp * 1000).unwrap();
    let d = w.ok(revoke_photo("jti-1", exp));
    assert_eq!(d.events[0].payload.type_name(), "AccessTokenRevoked");
    assert!(matches!(
        picloud_iam::tokens::check_live(&w.state, &claims),
        Err(picloud_iam::jwt::TokenRefusal::Revoked(_))
    ));
    // Another token of the same client is unaffected.
    assert!(picloud_iam::tokens::check_live(&w.state, &other).is_ok());
    // Revoking twice commits nothing.
    let d = w.ok(revoke_photo("jti-1", exp));
    assert!(d.events.is_empty());
    // An expiry beyond one token lifetime is refused (the deny-list stays bounded).
    assert!(matches!(
        w.run(revoke_photo(
            "jti-9",
            Timestamp::from_unix_millis(w.now + 3_600_000).unwrap()
        )),
        Err(Rejection::Invalid(_))
    ));
    // An already expired token needs nothing.
    let d = w.ok(revoke_photo(
        "jti-old",
        Timestamp::from_unix_millis(w.now - 1000).unwrap(),
    ));
    assert!(d.events.is_empty());
    assert_eq!(w.state.revoked_access.len(), 1);
    // Past the expiry, the next revocation prunes the entry.
    w.advance(601);
    let later = claims_for(&w, &grant, "jti-3");
    w.ok(revoke_photo(
        "jti-3",
        Timestamp::from_unix_millis(later.exp * 1000).unwrap(),
    ));
    assert_eq!(
        w.state.revoked_access.keys().collect::<Vec<_>>(),
        vec!["jti-3"]
    );
    w.assert_replays();
}

#[test]
fn a_finished_ceremony_cannot_finish_again_and_its_record_is_pruned() {
    let mut w = World::new();
    let at = |w: &World, secs: i64| Timestamp::from_unix_millis(w.now + secs * 1000).unwrap();
    let login = |challenge: u8, expires: Timestamp, count: u32| Command::FinishCeremony {
        challenge_hash: h(challenge),
        expires,
        then: Box::new(Command::UsePasskey {
            identity: name("alice"),
            credential_id: vec![1; 16],
            sign_count: count,
        }),
    };
    let exp = at(&w, CEREMONY_TTL_SECS);
    let d = w.ok(login(0xc1, exp, 1));
    let types: Vec<_> = d.events.iter().map(|e| e.payload.type_name()).collect();
    assert_eq!(types, ["PasskeyUsed", "WebAuthnCeremonyFinished"]);
    // The same ceremony again, even with a counter that would pass: refused.
    assert_eq!(
        w.run(login(0xc1, exp, 2)).unwrap_err(),
        Rejection::Ceremony("was finished already (a replayed response?)")
    );
    // An expired ceremony, and one claiming to live longer than a ceremony may.
    assert_eq!(
        w.run(login(0xc2, at(&w, 0), 2)).unwrap_err(),
        Rejection::Ceremony("expired")
    );
    assert!(matches!(
        w.run(login(0xc3, at(&w, 3600), 2)),
        Err(Rejection::Invalid(_))
    ));
    // Only a passkey enrolment or login finishes a ceremony.
    assert!(matches!(
        w.run(Command::FinishCeremony {
            challenge_hash: h(0xc4),
            expires: exp,
            then: Box::new(Command::IssueBootstrapCode { code_hash: h(0xb9) }),
        }),
        Err(Rejection::Invalid(_))
    ));
    // A refused inner command records nothing: the counter regression is refused as before.
    assert!(matches!(
        w.run(login(0xc5, exp, 1)),
        Err(Rejection::CounterRegression { .. })
    ));
    assert!(!w.state.finished_ceremonies.contains_key(&h(0xc5)));
    // An enrolment finishes a ceremony the same way.
    let d = w.ok(Command::FinishCeremony {
        challenge_hash: h(0xc6),
        expires: exp,
        then: Box::new(Command::AddPasskey {
            identity: name("alice"),
            passkey: passkey(2),
        }),
    });
    assert_eq!(d.events.len(), 2);
    assert_eq!(w.state.finished_ceremonies.len(), 2);
    // Past their expiry, the next finished ceremony prunes the old records.
    w.advance(CEREMONY_TTL_SECS + 1);
    let later = at(&w, CEREMONY_TTL_SECS);
    w.ok(login(0xc7, later, 3));
    assert_eq!(
        w.state.finished_ceremonies.keys().collect::<Vec<_>>(),
        vec![&h(0xc7)]
    );
    w.assert_replays();
}
