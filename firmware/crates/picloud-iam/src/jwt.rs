//! Compact JWS tokens signed with ES256, and the one strict way they are checked.
//!
//! The parser accepts exactly what PiCloud issues: a three-part compact JWS whose header is
//! `{"alg":"ES256","kid":…,"typ":…}` and nothing else (unknown header members such as
//! `jwk`, `jku`, `x5u` or `crit` are refused, so a token cannot bring its own key), a
//! 64-byte `r‖s` P-256 signature, and claims with `iss`, `sub`, `aud`, `exp`, `iat`. Every
//! failure is a typed [`TokenRefusal`]; nothing here panics on any input (fuzzed).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// The only algorithm accepted or produced.
pub const ALG: &str = "ES256";
/// `typ` of access tokens (RFC 9068).
pub const TYP_ACCESS: &str = "at+jwt";
/// `typ` of ID tokens.
pub const TYP_ID: &str = "JWT";
/// Longest token accepted (bytes).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Clock skew tolerated between nodes for `iat`/`nbf` in the future (seconds). Expiry has no
/// leeway.
pub const LEEWAY_SECS: i64 = 30;

/// Why a token was refused. The first group is "not a valid token" (HTTP 401); the last
/// two are "valid, but not for this API" (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRefusal {
    /// Not three base64url parts of JSON, or too long.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// `alg` is not ES256 (`none`, HS256 algorithm confusion, RS256, …).
    #[error("the token's algorithm {0:?} is not accepted (only ES256)")]
    Algorithm(String),
    /// The header has members other than alg, kid and typ.
    #[error("the token header has a member that is not accepted: {0}")]
    HeaderMember(String),
    /// `typ` is not the kind of token expected here (an ID token used as an access token).
    #[error("the token's type {found:?} is not {expected:?}")]
    Type {
        /// What the header said.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// No published key has this `kid`.
    #[error("no published signing key has the kid {0:?}")]
    UnknownKey(String),
    /// The signature does not verify under the key.
    #[error("the token's signature does not verify")]
    Signature,
    /// `exp` is not after now.
    #[error("the token expired at {exp} (now {now})")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The time of the check.
        now: i64,
    },
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("the token is not valid yet (valid from {from}, now {now})")]
    NotYetValid {
        /// The later of `nbf` and `iat`.
        from: i64,
        /// The time of the check.
        now: i64,
    },
    /// Another issuer.
    #[error("the token was issued by {0:?}, not this cluster")]
    Issuer(String),
    /// Revoked (RFC 7009), or its client was disabled (its product deleted).
    #[error("the token was revoked: {0}")]
    Revoked(String),
    /// Valid, but for another audience (HTTP 403).
    #[error("the token is for the audience {found:?}, not {expected:?}")]
    Audience {
        /// The token's `aud`.
        found: String,
        /// This API's audience.
        expected: String,
    },
}

impl TokenRefusal {
    /// Whether the token itself is valid but not for this use (403 rather than 401).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::Audience { .. })
    }
}

/// The JOSE header PiCloud writes and accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always `ES256`.
    pub alg: String,
    /// The signing key's id.
    pub kid: String,
    /// `at+jwt` or `JWT`.
    pub typ: String,
}

/// The claims of PiCloud's access and ID tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The cluster IRI.
    pub iss: String,
    /// The identity IRI.
    pub sub: String,
    /// The audience: the cluster IRI for access tokens, the client id for ID tokens.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Unique token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    /// Roles: `admin`, `reader` (platform) and `<product>:<role>`.
    pub roles: Vec<String>,
    /// The identity's short name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The OIDC nonce (ID tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// A public signing key as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its `kid`.
    pub kid: String,
    /// Uncompressed SEC1 point, `04 ‖ x ‖ y` (65 bytes).
    pub point: Vec<u8>,
}

impl PublicKey {
    /// From the JWK coordinates.
    pub fn from_xy(kid: &str, x: &[u8], y: &[u8]) -> Self {
        let mut point = Vec::with_capacity(65);
        point.push(4);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Self {
            kid: kid.to_owned(),
            point,
        }
    }

    /// The JWK (`kty` EC, `crv` P-256, `use` sig, `alg` ES256).
    pub fn jwk(&self) -> serde_json::Value {
        let x = self.point.get(1..33).unwrap_or_default();
        let y = self.point.get(33..65).unwrap_or_default();
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "use": "sig",
            "alg": ALG,
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        })
    }
}

/// Why key material could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing key: {0}")]
pub struct KeyError(pub String);

/// A private ES256 key (PKCS#8) and its kid.
pub struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key: returns its PKCS#8 document (to seal into the log) and the key.
    pub fn generate(
        kid: &str,
        rng: &dyn ring::rand::SecureRandom,
    ) -> Result<(Vec<u8>, SigningKey), KeyError> {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let doc = EcdsaKeyPair::generate_pkcs8(alg, rng).map_err(|e| KeyError(e.to_string()))?;
        let pkcs8 = doc.as_ref().to_vec();
        let key = Self::from_pkcs8(kid, &pkcs8, rng)?;
        Ok((pkcs8, key))
    }

    /// The key in a PKCS#8 document.
    pub fn from_pkcs8(
        kid: &str,
        pkcs8: &[u8],
        rng: &dyn ring::rand::SecureRandom,
    ) -> Result<SigningKey, KeyError> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, rng)
                .map_err(|e| KeyError(e.to_string()))?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            pair,
        })
    }

    /// Its kid.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            kid: self.kid.clone(),
            point: self.pair.public_key().as_ref().to_vec(),
        }
    }

    /// Signs `claims` as a compact JWS of type `typ`. ECDSA needs a random nonce: the
    /// caller passes the randomness.
    pub fn sign(
        &self,
        typ: &str,
        claims: &Claims,
        rng: &dyn ring::rand::SecureRandom,
    ) -> Result<String, KeyError> {
        let header = Header {
            alg: ALG.into(),
            kid: self.kid.clone(),
            typ: typ.into(),
        };
        let h = serde_json::to_vec(&header).map_err(|e| KeyError(e.to_string()))?;
        let c = serde_json::to_vec(claims).map_err(|e| KeyError(e.to_string()))?;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h),
            URL_SAFE_NO_PAD.encode(c)
        );
        let sig = self
            .pair
            .sign(rng, input.as_bytes())
            .map_err(|e| KeyError(e.to_string()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }
}

/// What a check expects of a token.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The issuer (the cluster IRI).
    pub issuer: &'a str,
    /// The audience.
    pub audience: &'a str,
    /// The `typ` ([`TYP_ACCESS`] for API calls).
    pub typ: &'static str,
    /// Now, seconds since the epoch.
    pub now: i64,
}

fn part(text: &str, what: &str) -> Result<Vec<u8>, TokenRefusal> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| TokenRefusal::Malformed(format!("{what} is not base64url: {e}")))
}

/// Splits and decodes the header without checking anything else.
pub fn peek_header(token: &str) -> Result<Header, TokenRefusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenRefusal::Malformed(format!(
            "longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    let head = token
        .split('.')
        .next()
        .ok_or_else(|| TokenRefusal::Malformed("empty".into()))?;
    let bytes = part(head, "the header")?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| TokenRefusal::Malformed(format!("the header is not JSON: {e}")))?;
    // The algorithm is judged first, so `alg: none` is reported as such.
    match value.get("alg").and_then(|a| a.as_str()) {
        Some(ALG) => {}
        Some(other) => return Err(TokenRefusal::Algorithm(other.chars().take(32).collect())),
        None => return Err(TokenRefusal::Algorithm(String::new())),
    }
    if let Some(obj) = value.as_object() {
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "alg" | "kid" | "typ"))
        {
            return Err(TokenRefusal::HeaderMember(k.chars().take(32).collect()));
        }
    }
    serde_json::from_value(value)
        .map_err(|e| TokenRefusal::Malformed(format!("the header is not accepted: {e}")))
}

/// The unverified `aud` claim (to pick the expected audience of an ID token hint before
/// [`verify`] checks everything, the audience included).
pub fn peek_claims_aud(token: &str) -> Option<String> {
    let p = token.split('.').nth(1)?;
    let v: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
    v.get("aud")?.as_str().map(str::to_owned)
}

/// Checks `token` completely: shape, header, signature under the key `keys` returns for
/// its kid, issuer, type, time and audience. Returns the claims.
pub fn verify<'k>(
    token: &str,
    keys: impl Fn(&str) -> Option<&'k PublicKey>,
    expect: Expect<'_>,
) -> Result<Claims, TokenRefusal> {
    let header = peek_header(token)?;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRefusal::Malformed(
            "not three dot-separated parts".into(),
        ));
    };
    let key = keys(&header.kid)
        .ok_or_else(|| TokenRefusal::UnknownKey(header.kid.chars().take(64).collect::<String>()))?;
    let sig = part(s, "the signature")?;
    let input_len = h.len() + 1 + p.len();
    let input = token
        .get(..input_len)
        .ok_or_else(|| TokenRefusal::Malformed("bad part lengths".into()))?;
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key.point)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| TokenRefusal::Signature)?;
    if header.typ != expect.typ {
        return Err(TokenRefusal::Type {
            found: header.typ.chars().take(32).collect(),
            expected: expect.typ,
        });
    }
    let claims: Claims = serde_json::from_slice(&part(p, "the claims")?)
        .map_err(|e| TokenRefusal::Malformed(format!("the claims are not accepted: {e}")))?;
    if claims.iss != expect.issuer {
        return Err(TokenRefusal::Issuer(claims.iss.chars().take(128).collect()));
    }
    if claims.exp <= expect.now {
        return Err(TokenRefusal::Expired {
            exp: claims.exp,
            now: expect.now,
        });
    }
    let from = claims.nbf.max(claims.iat);
    if from > expect.now.saturating_add(LEEWAY_SECS) {
        return Err(TokenRefusal::NotYetValid {
            from,
            now: expect.now,
        });
    }
    if claims.aud != expect.audience {
        return Err(TokenRefusal::Audience {
            found: claims.aud.chars().take(128).collect(),
            expected: expect.audience.to_owned(),
        });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    const ISS: &str = "https://picloud.local/";

    fn claims(now: i64) -> Claims {
        Claims {
            iss: ISS.into(),
            sub: "https://picloud.local/identities/alice".into(),
            aud: ISS.into(),
            exp: now + 600,
            iat: now,
            nbf: now,
            jti: "j1".into(),
            client_id: "picloud-cli".into(),
            scope: "openid".into(),
            roles: vec!["admin".into()],
            preferred_username: Some("alice".into()),
            nonce: None,
        }
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            issuer: ISS,
            audience: ISS,
            typ: TYP_ACCESS,
            now,
        }
    }

    fn setup() -> (SigningKey, PublicKey, SystemRandom) {
        let rng = SystemRandom::new();
        let (_, key) = SigningKey::generate("k1", &rng).unwrap();
        let public = key.public();
        (key, public, rng)
    }

    fn forge(header: &str, claims: &Claims, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    #[test]
    fn a_signed_token_verifies_and_the_jwk_has_the_coordinates() {
        let (key, public, rng) = setup();
        let t = key.sign(TYP_ACCESS, &claims(1000), &rng).unwrap();
        let got = verify(&t, |k| (k == "k1").then_some(&public), expect(1000)).unwrap();
        assert_eq!(got, claims(1000));
        let jwk = public.jwk();
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
        assert_eq!(PublicKey::from_xy("k1", &x, &y), public);
    }

    #[test]
    fn alg_none_is_refused() {
        let (_, public, _) = setup();
        let t = forge(
            r#"{"alg":"none","kid":"k1","typ":"at+jwt"}"#,
            &claims(1000),
            b"",
        );
        let e = verify(&t, |_| Some(&public), expect(1000)).unwrap_err();
        assert_eq!(e, TokenRefusal::Algorithm("none".into()));
        let t = format!("{}.", &t[..t.len() - 1]);
        assert!(matches!(
            verify(&t, |_| Some(&public), expect(1000)),
            Err(TokenRefusal::Algorithm(_))
        ));
    }

    #[test]
    fn algorithm_confusion_hs256_with_the_public_key_as_secret_is_refused() {
        let (_, public, _) = setup();
        let header = r#"{"alg":"HS256","kid":"k1","typ":"at+jwt"}"#;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(1000)).unwrap())
        );
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public.point),
            input.as_bytes(),
        );
        let t = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
        assert_eq!(
            verify(&t, |_| Some(&public), expect(1000)).unwrap_err(),
            TokenRefusal::Algorithm("HS256".into())
        );
    }

    #[test]
    fn an_embedded_jwk_header_is_refused() {
        let (key, public, rng) = setup();
        let t = key.sign(TYP_ACCESS, &claims(1000), &rng).unwrap();
        let sig = t.rsplit('.').next().unwrap();
        let header = r#"{"alg":"ES256","kid":"k1","typ":"at+jwt","jwk":{}}"#;
        let t2 = forge(header, &claims(1000), &URL_SAFE_NO_PAD.decode(sig).unwrap());
        assert_eq!(
            verify(&t2, |_| Some(&public), expect(1000)).unwrap_err(),
            TokenRefusal::HeaderMember("jwk".into())
        );
    }

    #[test]
    fn wrong_kid_is_refused_and_a_key_with_another_kid_does_not_verify() {
        let (key, _, rng) = setup();
        let t = key.sign(TYP_ACCESS, &claims(1000), &rng).unwrap();
        assert_eq!(
            verify(&t, |_| None, expect(1000)).unwrap_err(),
            TokenRefusal::UnknownKey("k1".into())
        );
        let (_, other, _) = setup();
        assert_eq!(
            verify(&t, |_| Some(&other), expect(1000)).unwrap_err(),
            TokenRefusal::Signature
        );
    }

    #[test]
    fn tampered_claims_are_refused() {
        let (key, public, rng) = setup();
        let t = key.sign(TYP_ACCESS, &claims(1000), &rng).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let mut evil = claims(1000);
        evil.roles = vec!["admin".into(), "root".into()];
        let t2 = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).unwrap()),
            parts[2]
        );
        assert_eq!(
            verify(&t2, |_| Some(&public), expect(1000)).unwrap_err(),
            TokenRefusal::Signature
        );
    }

    #[test]
    fn expired_and_not_yet_valid_are_refused() {
        let (key, public, rng) = setup();
        let t = key.sign(TYP_ACCESS, &claims(1000), &rng).unwrap();
        assert!(matches!(
            verify(&t, |_| Some(&public), expect(1600)),
            Err(TokenRefusal::Expired { exp: 1600, .. })
        ));
        assert!(matches!(
            verify(&t, |_| Some(&public), expect(1000 - LEEWAY_SECS - 1)),
            Err(TokenRefusal::NotYetValid { from: 1000, .. })
        ));
        // Within the leeway it is accepted.
        assert!(verify(&t, |_| Some(&public), expect(1000 - LEEWAY_SECS)).is_ok());
    }

    #[test]
    fn wrong_audience_issuer_and_type_are_refused() {
        let (key, public, rng) = setup();
        let mut c = claims(1000);
        c.aud = "photo-app".into();
        let t = key.sign(TYP_ACCESS, &c, &rng).unwrap();
        let e = verify(&t, |_| Some(&public), expect(1000)).unwrap_err();
        assert!(e.is_forbidden(), "{e}");
        let mut c = claims(1000);
        c.iss = "https://evil.example/".into();
        let t = key.sign(TYP_ACCESS, &c, &rng).unwrap();
        assert!(matches!(
            verify(&t, |_| Some(&public), expect(1000)),
            Err(TokenRefusal::Issuer(_))
        ));
        let t = key.sign(TYP_ID, &claims(1000), &rng).unwrap();
        assert!(matches!(
            verify(&t, |_| Some(&public), expect(1000)),
            Err(TokenRefusal::Type { .. })
        ));
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let (_, public, _) = setup();
        for t in [
            "",
            ".",
            "..",
            "a.b.c",
            "eyJhbGciOiJFUzI1NiJ9",
            "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.e30.AA.x",
            "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.%%%.AA",
        ] {
            assert!(verify(t, |_| Some(&public), expect(0)).is_err(), "{t}");
        }
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(
            verify(&long, |_| Some(&public), expect(0)),
            Err(TokenRefusal::Malformed(_))
        ));
    }
}
