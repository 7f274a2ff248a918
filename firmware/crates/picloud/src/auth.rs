//! The CLI's side of identity: which bearer token a command sends, and `picloud login`,
//! `logout`, `whoami`, `auth token`.
//!
//! A command that talks to a cluster sends, in this order of preference:
//! 1. `PICLOUD_TOKEN` (an access token, for scripts);
//! 2. the login stored by `picloud login` for that cluster URL (`tokens.json`), refreshed
//!    silently with its refresh token when the access token is about to expire;
//! 3. the client credential `picloud dev` wrote for that URL (`credentials.json`),
//!    exchanged for an access token (`client_credentials`);
//! 4. nothing: the cluster answers 401 and the command says to run `picloud login`.
//!
//! Both files live in the config directory with mode 0600.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::http_client::{config_dir, encode_query, write_private, Target};
use crate::UsageError;

/// Stored logins (`picloud login`), by cluster URL.
pub const TOKENS_FILE: &str = "tokens.json";
/// Client credentials (`picloud dev`'s administrator), by cluster URL.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// The CLI's OAuth client id.
pub const CLI_CLIENT: &str = "picloud-cli";
/// Refresh this many seconds before the access token expires.
const REFRESH_MARGIN_SECS: i64 = 30;

/// A client credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

/// A stored login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    /// The access token.
    pub access_token: String,
    /// When it expires (seconds since the epoch).
    pub expires_at: i64,
    /// The refresh token.
    pub refresh_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: i64,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

fn now_secs() -> i64 {
    // The CLI is an adapter: it reads the clock to judge token expiry.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn read_map<T: serde::de::DeserializeOwned>(file: &str) -> Result<BTreeMap<String, T>> {
    let Some(dir) = config_dir() else {
        return Ok(BTreeMap::new());
    };
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not valid (delete it and log in again)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

fn write_map<T: Serialize>(file: &str, map: &BTreeMap<String, T>) -> Result<()> {
    let dir =
        config_dir().ok_or_else(|| UsageError("no home directory to store tokens in".into()))?;
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("create {}", dir.display()))?;
    }
    write_private(&dir.join(file), &serde_json::to_vec_pretty(map)?)
}

/// The credential `picloud dev` stored for `cluster`.
pub fn load_credentials(cluster: &str) -> Result<Option<Credential>> {
    Ok(read_map::<Credential>(CREDENTIALS_FILE)?.remove(cluster))
}

/// Stores a client credential for `cluster` (mode 0600).
pub fn save_credentials(cluster: &str, client_id: &str, secret: &str) -> Result<()> {
    let mut map = read_map::<Credential>(CREDENTIALS_FILE)?;
    map.insert(
        cluster.to_owned(),
        Credential {
            client_id: client_id.to_owned(),
            client_secret: secret.to_owned(),
        },
    );
    write_map(CREDENTIALS_FILE, &map)
}

fn load_login(cluster: &str) -> Result<Option<Login>> {
    Ok(read_map::<Login>(TOKENS_FILE)?.remove(cluster))
}

fn save_login(cluster: &str, login: Option<Login>) -> Result<()> {
    let mut map = read_map::<Login>(TOKENS_FILE)?;
    match login {
        Some(l) => map.insert(cluster.to_owned(), l),
        None => map.remove(cluster),
    };
    write_map(TOKENS_FILE, &map)
}

async fn post_form(
    target: &Target,
    path: &str,
    fields: &[(&str, &str)],
) -> Result<crate::http_client::Reply> {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_query(v)))
        .collect::<Vec<_>>()
        .join("&");
    target
        .call_unauthenticated(
            Method::POST,
            path,
            "application/json",
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
        .await
}

fn oauth_failure(reply: &crate::http_client::Reply) -> String {
    match serde_json::from_slice::<OAuthError>(&reply.body) {
        Ok(e) => format!("{}: {}", e.error, e.error_description.unwrap_or_default()),
        Err(_) => reply.error_message(),
    }
}

fn login_of(t: TokenReply, previous_refresh: Option<String>) -> Login {
    Login {
        access_token: t.access_token,
        expires_at: now_secs().saturating_add(t.expires_in),
        refresh_token: t.refresh_token.or(previous_refresh),
    }
}

/// Where a command's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `PICLOUD_TOKEN`.
    Env,
    /// `picloud login`.
    Login,
    /// A client credential (`picloud dev`'s, or PICLOUD_CREDENTIAL).
    DevCredential,
}

/// The bearer token for `target`, and where it came from (see the module docs).
pub async fn bearer(target: &Target) -> Result<Option<(String, Source)>> {
    if let Some(t) = std::env::var("PICLOUD_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        return Ok(Some((t, Source::Env)));
    }
    let url = target.url().to_owned();
    if let Some(file) = std::env::var_os("PICLOUD_CREDENTIAL").filter(|f| !f.is_empty()) {
        let path = std::path::PathBuf::from(file);
        let bytes = std::fs::read(&path)
            .map_err(|e| UsageError(format!("PICLOUD_CREDENTIAL {}: {e}", path.display())))?;
        let c: Credential = serde_json::from_slice(&bytes)
            .map_err(|e| UsageError(format!("PICLOUD_CREDENTIAL {}: {e}", path.display())))?;
        return client_credentials(target, &c)
            .await
            .map(|t| Some((t, Source::DevCredential)));
    }
    if let Some(login) = load_login(&url)? {
        if login.expires_at > now_secs() + REFRESH_MARGIN_SECS {
            return Ok(Some((login.access_token, Source::Login)));
        }
        let Some(refresh) = login.refresh_token.clone() else {
            bail!("your login to {url} expired: run `picloud login`");
        };
        let reply = post_form(
            target,
            "/oauth2/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLI_CLIENT),
                ("refresh_token", &refresh),
            ],
        )
        .await?;
        if !reply.status.is_success() {
            save_login(&url, None)?;
            bail!(
                "your login to {url} could not be refreshed ({}): run `picloud login`",
                oauth_failure(&reply)
            );
        }
        let t: TokenReply =
            serde_json::from_slice(&reply.body).context("the token endpoint's answer")?;
        let login = login_of(t, Some(refresh));
        let token = login.access_token.clone();
        save_login(&url, Some(login))?;
        return Ok(Some((token, Source::Login)));
    }
    if let Some(c) = load_credentials(&url)? {
        return client_credentials(target, &c)
            .await
            .map(|t| Some((t, Source::DevCredential)));
    }
    Ok(None)
}

async fn client_credentials(target: &Target, c: &Credential) -> Result<String> {
    let url = target.url();
    {
        let reply = post_form(
            target,
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
            ],
        )
        .await?;
        if !reply.status.is_success() {
            bail!(
                "the administrator credential for {url} was refused ({}); restart `picloud dev` \
                 to renew it, or run `picloud login`",
                oauth_failure(&reply)
            );
        }
        let t: TokenReply =
            serde_json::from_slice(&reply.body).context("the token endpoint's answer")?;
        Ok(t.access_token)
    }
}

#[derive(Debug, Deserialize)]
struct DeviceReply {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: i64,
    interval: Option<u64>,
}

/// `picloud login`: the device authorization grant (RFC 8628).
pub async fn login(target: &Target) -> Result<()> {
    let reply = post_form(
        target,
        "/oauth2/device_authorization",
        &[
            ("client_id", CLI_CLIENT),
            ("scope", "openid offline_access"),
        ],
    )
    .await?;
    if !reply.status.is_success() {
        bail!("the cluster refused the login: {}", oauth_failure(&reply));
    }
    let d: DeviceReply =
        serde_json::from_slice(&reply.body).context("the device authorization answer")?;
    println!("To log in, open this page in a browser where you can use your passkey:");
    println!();
    println!(
        "  {}",
        d.verification_uri_complete
            .as_deref()
            .unwrap_or(&d.verification_uri)
    );
    println!();
    println!("and check that it shows the code  {}", d.user_code);
    println!(
        "Waiting for the approval (the code is valid {} minutes) …",
        d.expires_in / 60
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut interval = d.interval.unwrap_or(5).max(1);
    let deadline = now_secs().saturating_add(d.expires_in);
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let reply = post_form(
            target,
            "/oauth2/token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", CLI_CLIENT),
                ("device_code", &d.device_code),
            ],
        )
        .await?;
        if reply.status.is_success() {
            let t: TokenReply = serde_json::from_slice(&reply.body).context("the token answer")?;
            save_login(target.url(), Some(login_of(t, None)))?;
            break;
        }
        let e: OAuthError = serde_json::from_slice(&reply.body)
            .map_err(|_| anyhow!("{}", reply.error_message()))?;
        match e.error.as_str() {
            "authorization_pending" => {}
            "slow_down" => interval += 5,
            _ => bail!("the login failed: {}", oauth_failure(&reply)),
        }
        if now_secs() > deadline {
            bail!("the code expired before it was approved: run `picloud login` again");
        }
    }
    let me = whoami_json(target).await?;
    println!(
        "Logged in to {} as {}.",
        target.url(),
        me.preferred_username.as_deref().unwrap_or("?")
    );
    Ok(())
}

/// `picloud logout`: revokes the stored login at the cluster (its refresh token, which ends
/// the login, and its access token, which every node then refuses) and forgets it.
pub async fn logout(target: &Target) -> Result<bool> {
    let Some(login) = load_login(target.url())? else {
        return Ok(false);
    };
    let tokens = login
        .refresh_token
        .iter()
        .chain(std::iter::once(&login.access_token));
    for token in tokens {
        // Best effort: the login is forgotten locally either way.
        let _ = post_form(
            target,
            "/oauth2/revoke",
            &[("client_id", CLI_CLIENT), ("token", token)],
        )
        .await;
    }
    save_login(target.url(), None)?;
    Ok(true)
}

/// What `/oauth2/userinfo` says about the current token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInfo {
    /// The identity IRI.
    pub sub: String,
    /// The identity's name.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Its roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The client the token was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
    /// When the access token expires.
    #[serde(default)]
    pub exp: Option<i64>,
}

/// The userinfo of the current token.
pub async fn whoami_json(target: &Target) -> Result<UserInfo> {
    target.get_json("/oauth2/userinfo").await
}
