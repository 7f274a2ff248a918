//! `picloud identity invite|reenrol|list`: an administrator invites a person and issues a
//! re-enrolment code (recovery tier 1) through the HTTPS API
//! (`POST /api/identity/people`, `POST /api/identity/reenrolment`, both admin only), and
//! lists the cluster's identities from its graph (`/sparql`, admin or reader). The token
//! is sent as by every other cluster command (`crate::auth::bearer`).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use hyper::Method;
use picloud_api::ClusterStatus;
use picloud_domain::Name;
use picloud_events::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cli::{Cli, IdentityCommand, OutputFormat};
use crate::http_client::{encode_query, runtime, Target};
use crate::{Outcome, UsageError};

/// What the API answers for an invitation or a re-enrolment code.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CodeReply {
    code: String,
    expires_in: i64,
    portal: String,
}

/// What the command prints with `--output json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    identity: String,
    code: String,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    portal: String,
}

/// One identity as `identity list` shows it.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct Listed {
    name: String,
    display_name: String,
    kind: String,
    roles: Vec<String>,
}

fn target(cli: &Cli) -> Result<Target> {
    Target::resolve(cli.cluster.as_deref(), cli.ca.as_deref())
}

fn person(text: &str) -> Result<Name> {
    Name::parse(text.trim()).map_err(|e| {
        UsageError(format!(
            "identity name `{text}`: {e} (a DNS label: lower-case letters, digits and '-')"
        ))
        .into()
    })
}

/// `admin`, `reader`, or `<product>:<role>` (the server checks the same).
fn role(text: &str) -> Result<String> {
    let ok = match text.split_once(':') {
        Some((p, r)) => Name::parse(p).is_ok() && Name::parse(r).is_ok(),
        None => matches!(text, "admin" | "reader"),
    };
    if !ok {
        return Err(UsageError(format!(
            "role `{text}`: platform roles are admin and reader; product roles are \
             <product>:<role>"
        ))
        .into());
    }
    Ok(text.to_owned())
}

/// Now, milliseconds since the epoch. The CLI is an adapter: it reads the clock to show
/// when a code expires.
fn now_millis() -> i64 {
    #[allow(
        clippy::disallowed_methods,
        reason = "adapter: the expiry time printed for people"
    )]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether the host of `url` is an IP address (WebAuthn refuses IP origins).
fn host_is_ip(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.starts_with('[') {
        return true;
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    host.parse::<std::net::IpAddr>().is_ok()
}

/// The portal URL with the host replaced by `domain` (keeping the port).
fn by_name(url: &str, domain: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let port = if authority.starts_with('[') {
        authority.rsplit_once("]:").map(|(_, p)| p)
    } else {
        authority.rsplit_once(':').map(|(_, p)| p)
    };
    Some(match port {
        Some(p) => format!("{scheme}://{domain}:{p}/{path}"),
        None => format!("{scheme}://{domain}/{path}"),
    })
}

/// Runs `picloud identity …`.
pub fn run(cli: &Cli, cmd: &IdentityCommand) -> Result<Outcome> {
    match cmd {
        IdentityCommand::Invite {
            name,
            display_name,
            roles,
            output,
        } => {
            let identity = person(name)?;
            let roles = roles.iter().map(|r| role(r)).collect::<Result<Vec<_>>>()?;
            let body = serde_json::json!({
                "name": identity.as_str(),
                "displayName": display_name,
                "roles": roles,
            });
            let what = format!(
                "invited {identity}{} with {}",
                display_name
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                if roles.is_empty() {
                    "no roles".to_owned()
                } else {
                    format!("roles {}", roles.join(", "))
                }
            );
            issue(
                cli,
                "/api/identity/people",
                &body,
                &identity,
                &what,
                "enrolment code",
                *output,
            )
        }
        IdentityCommand::Reenrol { name, output } => {
            let identity = person(name)?;
            let body = serde_json::json!({ "name": identity.as_str() });
            let what = format!(
                "re-enrolment code issued for {identity}: enrolling with it revokes all of \
                 their passkeys and logins"
            );
            issue(
                cli,
                "/api/identity/reenrolment",
                &body,
                &identity,
                &what,
                "re-enrolment code",
                *output,
            )
        }
        IdentityCommand::List { output } => list(cli, *output),
        IdentityCommand::ClientSecret { product, output } => {
            super::client_secret::run(cli, product, *output)
        }
    }
}

fn issue(
    cli: &Cli,
    path: &str,
    body: &Value,
    identity: &Name,
    what: &str,
    code_word: &str,
    output: OutputFormat,
) -> Result<Outcome> {
    let target = target(cli)?;
    let rt = runtime()?;
    let reply = rt.block_on(target.post_json(path, body))?;
    if !reply.status.is_success() {
        bail!("{}", reply.error_message());
    }
    let r: CodeReply = reply.json()?;
    let expires_at =
        Timestamp::from_unix_millis(now_millis().saturating_add(r.expires_in.saturating_mul(1000)))
            .ok()
            .map(|t| t.to_string());
    // WebAuthn refuses IP origins: name the cluster domain if the API was reached by IP.
    let portal = if host_is_ip(&r.portal) {
        rt.block_on(target.get_json::<ClusterStatus>("/api/cluster"))
            .ok()
            .and_then(|s| by_name(&r.portal, &s.domain))
            .unwrap_or_else(|| r.portal.clone())
    } else {
        r.portal.clone()
    };
    let issued = Issued {
        identity: identity.to_string(),
        code: r.code,
        expires_in: r.expires_in,
        expires_at,
        portal,
    };
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&issued)?),
        OutputFormat::Text => {
            let hours = issued.expires_in / 3600;
            println!("{what}");
            println!(
                "{code_word:<18} {}  (single use, valid {}{})",
                issued.code,
                if hours >= 1 && issued.expires_in % 3600 == 0 {
                    format!("{hours} hours")
                } else {
                    format!("{} seconds", issued.expires_in)
                },
                issued
                    .expires_at
                    .as_deref()
                    .map(|t| format!(", until {t}"))
                    .unwrap_or_default()
            );
            println!("{:<18} {}", "open", issued.portal);
            if issued.portal != r.portal {
                println!(
                    "{:<18} (by the cluster's name: WebAuthn refuses IP addresses; map the \
                     name to the node in /etc/hosts or through mDNS)",
                    ""
                );
            }
        }
    }
    Ok(Outcome::Success)
}

fn term(row: &Value, var: &str) -> Option<String> {
    row.get(var)
        .and_then(|v| v.get("value"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A role IRI as people write the role: `admin`, or `<product>:<role>`.
fn role_label(iri: &str, cluster: &str) -> String {
    let rel = iri
        .strip_prefix(cluster)
        .unwrap_or(iri)
        .trim_start_matches('/');
    if let Some(r) = rel.strip_prefix("platform/roles/") {
        return r.to_owned();
    }
    let parts: Vec<&str> = rel.split('/').collect();
    match parts.as_slice() {
        ["products", product, _kind, role] => format!("{product}:{role}"),
        _ => iri.to_owned(),
    }
}

fn list(cli: &Cli, output: OutputFormat) -> Result<Outcome> {
    let target = target(cli)?;
    let rt = runtime()?;
    let status: ClusterStatus = rt.block_on(target.get_json("/api/cluster"))?;
    let query = format!(
        "PREFIX pc: <https://{}/ontology#>\n\
         SELECT ?name ?display ?kind ?role WHERE {{ GRAPH ?g {{\n\
           ?id a pc:Identity ; pc:name ?name .\n\
           OPTIONAL {{ ?id pc:displayName ?display }}\n\
           OPTIONAL {{ ?id pc:identityKind ?kind }}\n\
           OPTIONAL {{ ?id pc:hasRole ?role }}\n\
         }} }} ORDER BY ?name ?role",
        status.domain
    );
    let body = format!("query={}", encode_query(&query)).into_bytes();
    let reply = rt.block_on(target.call(
        Method::POST,
        "/sparql",
        "application/sparql-results+json",
        Some(("application/x-www-form-urlencoded", body)),
    ))?;
    let json: Value = reply.json()?;
    let mut people: BTreeMap<String, Listed> = BTreeMap::new();
    for row in json
        .pointer("/results/bindings")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(name) = term(row, "name") else {
            continue;
        };
        let entry = people.entry(name.clone()).or_insert_with(|| Listed {
            name,
            ..Listed::default()
        });
        if let Some(d) = term(row, "display") {
            entry.display_name = d;
        }
        if let Some(k) = term(row, "kind") {
            entry.kind = k;
        }
        if let Some(r) = term(row, "role") {
            let label = role_label(&r, &status.iri);
            if !entry.roles.contains(&label) {
                entry.roles.push(label);
            }
        }
    }
    let people: Vec<Listed> = people.into_values().collect();
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&people)?),
        OutputFormat::Text => {
            if people.is_empty() {
                println!("no identities");
            } else {
                println!("{:<24} {:<9} {:<24} ROLES", "NAME", "KIND", "DISPLAY NAME");
                for p in &people {
                    println!(
                        "{:<24} {:<9} {:<24} {}",
                        p.name,
                        p.kind,
                        p.display_name,
                        p.roles.join(", ")
                    );
                }
            }
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ip_hosts_are_recognised_and_renamed() {
        assert!(host_is_ip("https://127.0.0.1:8443/portal/reenrol"));
        assert!(host_is_ip("https://[::1]:8443/portal/reenrol"));
        assert!(!host_is_ip("https://picloud.local:8443/portal/reenrol"));
        assert_eq!(
            by_name("https://127.0.0.1:8443/portal/reenrol", "picloud.local").unwrap(),
            "https://picloud.local:8443/portal/reenrol"
        );
        assert_eq!(
            by_name("https://[::1]:8443/portal/reenrol", "picloud.local").unwrap(),
            "https://picloud.local:8443/portal/reenrol"
        );
    }

    #[test]
    fn roles_are_checked_and_labelled() {
        assert!(role("admin").is_ok());
        assert!(role("photos:viewer").is_ok());
        assert!(role("root").is_err());
        assert!(role("Photos:x").is_err());
        let c = "https://picloud.local/";
        assert_eq!(
            role_label("https://picloud.local/platform/roles/admin", c),
            "admin"
        );
        assert_eq!(
            role_label("https://picloud.local/products/photos/roles/viewer", c),
            "photos:viewer"
        );
    }
}
