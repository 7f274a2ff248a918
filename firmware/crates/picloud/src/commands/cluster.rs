//! `picloud cluster …` and the hidden `picloud log …`: clients of a node's client protocol.

use std::time::Duration;

use anyhow::{Context, Result};
use picloud::api::{ApiRequest, Status};
use picloud::client::{client_tls_from_dir, Client, ClientTls, RequestError, Session};
use serde::Serialize;

use crate::cli::{CertsCommand, Cli, ClusterCommand, LogCommand, OutputFormat};
use crate::{Outcome, UsageError};

fn cluster_addr(cli: &Cli) -> Result<String> {
    let Some(c) = cli.cluster.as_deref() else {
        return Err(UsageError(
            "no cluster given: pass --cluster HOST:PORT (any node) or set PICLOUD_CLUSTER".into(),
        )
        .into());
    };
    let addr = c
        .strip_prefix("picloud://")
        .unwrap_or(c)
        .trim_end_matches('/');
    if addr.contains("://") || !addr.contains(':') {
        return Err(UsageError(format!(
            "--cluster {c}: expected a node address HOST:PORT, such as 127.0.0.1:7000"
        ))
        .into());
    }
    Ok(addr.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")
}

/// A cluster refusal is exit 1; so is an unreachable node (printed by `main`).
fn cluster_err(e: RequestError) -> anyhow::Error {
    anyhow::Error::new(e)
}

/// `picloud cluster …`
pub fn run(cli: &Cli, cmd: &ClusterCommand) -> Result<Outcome> {
    if let ClusterCommand::Certs(c) = cmd {
        return certs(c);
    }
    let addr = cluster_addr(cli)?;
    let mut tls = None;
    if let ClusterCommand::Init { conn, .. }
    | ClusterCommand::Add { conn, .. }
    | ClusterCommand::Remove { conn, .. }
    | ClusterCommand::Status { conn, .. } = cmd
    {
        if conn.ca_fingerprint.is_some() {
            return Err(UsageError(format!(
                "--ca-fingerprint is for an https:// cluster; {addr} is a node-protocol address"
            ))
            .into());
        }
        tls = client_tls(conn.tls_dir.as_deref())?;
    }
    runtime()?.block_on(async move {
        let client =
            Client::with_timeout(vec![addr.clone()], Duration::from_secs(60)).with_tls(tls.clone());
        match cmd {
            // Local-socket commands are dispatched in `commands::run`.
            ClusterCommand::BootstrapCode { .. } | ClusterCommand::Recover { .. } => {
                anyhow::bail!("this command talks to the node's local socket, not to --cluster")
            }
            ClusterCommand::Init { output, .. } => {
                let msg = client.admin(ApiRequest::Init).await.map_err(cluster_err)?;
                print_admin(&msg, *output)?;
            }
            ClusterCommand::Add { addr, output, .. } => {
                let msg = client
                    .admin(ApiRequest::Add { addr: addr.clone() })
                    .await
                    .map_err(cluster_err)?;
                print_admin(&msg, *output)?;
            }
            ClusterCommand::Remove { node, output, .. } => {
                let msg = client
                    .admin(ApiRequest::Remove { id: *node })
                    .await
                    .map_err(cluster_err)?;
                print_admin(&msg, *output)?;
            }
            ClusterCommand::Status { output, .. } => status(&client, tls, *output).await?,
            ClusterCommand::Certs(_) => {}
        }
        Ok(Outcome::Success)
    })
}

/// A membership change's summary: its lines, or `{"summary": [lines]}`.
fn print_admin(msg: &str, output: OutputFormat) -> Result<()> {
    match output {
        OutputFormat::Text => println!("{msg}"),
        OutputFormat::Json => {
            let lines: Vec<&str> = msg.lines().collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "summary": lines }))?
            );
        }
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusJson {
    /// The node asked.
    node: u64,
    leader: Option<u64>,
    term: u64,
    members: Vec<MemberJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberJson {
    id: u64,
    addr: String,
    role: &'static str,
    reachable: bool,
    state: Option<String>,
    term: Option<u64>,
    last_log_index: Option<u64>,
    applied: Option<u64>,
    events: Option<u64>,
}

/// The client TLS material in `--tls-dir DIR`, if given.
fn client_tls(dir: Option<&std::path::Path>) -> Result<Option<ClientTls>> {
    dir.map(|d| client_tls_from_dir(d).map_err(|e| UsageError(format!("--tls-dir: {e}")).into()))
        .transpose()
}

async fn status(client: &Client, tls: Option<ClientTls>, output: OutputFormat) -> Result<()> {
    let s: Status = client.status().await.map_err(cluster_err)?;
    let mut members = Vec::new();
    for m in &s.members {
        let own = if m.id == s.id {
            Some(s.clone())
        } else {
            Client::with_timeout(vec![m.addr.clone()], Duration::from_secs(2))
                .with_tls(tls.clone())
                .status()
                .await
                .ok()
        };
        members.push(MemberJson {
            id: m.id,
            addr: m.addr.clone(),
            role: if m.voter { "voter" } else { "learner" },
            reachable: own.is_some(),
            state: own.as_ref().map(|o| o.state.to_lowercase()),
            term: own.as_ref().map(|o| o.term),
            last_log_index: own.as_ref().and_then(|o| o.last_log_index),
            applied: own.as_ref().and_then(|o| o.applied),
            events: own.as_ref().map(|o| o.events),
        });
    }
    let json = StatusJson {
        node: s.id,
        leader: s.leader,
        term: s.term,
        members,
    };
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        OutputFormat::Text => {
            if json.members.is_empty() {
                println!(
                    "node {} ({}) is not in a cluster yet: run `picloud cluster init` on one node",
                    s.id, s.addr
                );
                return Ok(());
            }
            let leader = json.leader.map_or("none".to_string(), |l| l.to_string());
            println!(
                "leader {leader}, term {} (as seen by node {})",
                json.term, json.node
            );
            println!();
            println!(
                "{:<18} {:<22} {:<8} {:<10} {:>6} {:>9} {:>9} {:>9}",
                "NODE", "ADDRESS", "ROLE", "STATE", "TERM", "LAST LOG", "APPLIED", "EVENTS"
            );
            let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            for m in &json.members {
                println!(
                    "{:<18} {:<22} {:<8} {:<10} {:>6} {:>9} {:>9} {:>9}",
                    m.id,
                    m.addr,
                    m.role,
                    m.state.as_deref().unwrap_or("unreachable"),
                    opt(m.term),
                    opt(m.last_log_index),
                    opt(m.applied),
                    opt(m.events),
                );
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct EventJson {
    offset: u64,
    value: String,
}

/// `picloud log …` (a debugging and scripting tool; hidden from `--help`).
pub fn run_log(cli: &Cli, cmd: &LogCommand) -> Result<Outcome> {
    let addr = cluster_addr(cli)?;
    let (LogCommand::Append { conn, .. } | LogCommand::Read { conn, .. }) = cmd;
    let tls = client_tls(conn.tls_dir.as_deref())?;
    runtime()?.block_on(async move {
        let client = Client::with_timeout(vec![addr], Duration::from_secs(10)).with_tls(tls);
        match cmd {
            LogCommand::Append { values, .. } => {
                let mut session = Session::new()?;
                for v in values {
                    let r = session
                        .append(&client, vec![v.as_bytes().to_vec()])
                        .await
                        .map_err(cluster_err)?;
                    println!("{}", r.first_offset);
                }
            }
            LogCommand::Read {
                from,
                limit,
                linearizable,
                output,
                ..
            } => {
                let mut next = *from;
                let mut left = *limit;
                let mut all = Vec::new();
                while left > 0 {
                    let want = u32::try_from(left.min(10_000)).unwrap_or(10_000);
                    let batch = client
                        .read(next, want, *linearizable)
                        .await
                        .map_err(cluster_err)?;
                    let Some((last, _)) = batch.last() else { break };
                    next = last + 1;
                    left = left.saturating_sub(batch.len() as u64);
                    all.extend(batch);
                }
                let events: Vec<EventJson> = all
                    .into_iter()
                    .map(|(offset, v)| EventJson {
                        offset,
                        value: String::from_utf8_lossy(&v).into_owned(),
                    })
                    .collect();
                match output {
                    OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&events)?),
                    OutputFormat::Text => {
                        for e in events {
                            println!("{}\t{}", e.offset, e.value);
                        }
                    }
                }
            }
        }
        Ok(Outcome::Success)
    })
}

// ---------------------------------------------------------------------------------------
// `picloud cluster certs`: the operator path to node-to-node mTLS certificates.

const CA_CN: &str = "PiCloud node-to-node CA";

fn ca_params() -> Result<rcgen::CertificateParams> {
    use rcgen::{BasicConstraints, DnType, IsCa, KeyUsagePurpose};
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, CA_CN);
    p.distinguished_name
        .push(DnType::OrganizationName, "PiCloud");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

/// Writes `text` to a new file `path` with `mode`; refuses to overwrite.
fn write_new(path: &std::path::Path, text: &str, mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::Error::new(UsageError(format!(
                    "{} exists: refusing to overwrite it",
                    path.display()
                )))
            } else {
                anyhow::Error::new(e).context(format!("create {}", path.display()))
            }
        })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("write {}", path.display()))
}

fn mkdir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())).into())
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())).into())
}

fn certs(cmd: &CertsCommand) -> Result<Outcome> {
    use rcgen::{ExtendedKeyUsagePurpose, KeyPair, SanType};
    match cmd {
        CertsCommand::Ca { out } => {
            mkdir(out)?;
            let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
            let mut p = ca_params()?;
            let (from, to) = validity(3650);
            p.not_before = from.into();
            p.not_after = to.into();
            let cert = p.self_signed(&key)?;
            write_new(&out.join("ca.key"), &key.serialize_pem(), 0o600)?;
            write_new(&out.join("ca.pem"), &cert.pem(), 0o644)?;
            println!(
                "cluster CA written: {} (certificate), {} (private key, 0600; keep it off the nodes)",
                out.join("ca.pem").display(),
                out.join("ca.key").display()
            );
        }
        CertsCommand::Node {
            ca,
            name,
            addrs,
            out,
            days,
        } => {
            let ca = load_ca(ca)?;
            let dns = |s: &str| -> Result<SanType> {
                Ok(SanType::DnsName(s.to_string().try_into().map_err(|e| {
                    UsageError(format!("{s:?} is not a valid DNS name: {e}"))
                })?))
            };
            let mut sans = vec![dns(name)?];
            for a in addrs {
                let san = match a.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => dns(a)?,
                };
                if !sans.contains(&san) {
                    sans.push(san);
                }
            }
            let leaf = Leaf {
                name,
                sans,
                usages: vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ],
                days: *days,
            };
            issue_leaf(ca, &leaf, out, "node")?;
            println!(
                "node certificate for {name} ({}) written to {}: node.pem, node.key (0600), ca.pem; start the node with --tls-dir {}",
                addrs.join(", "),
                out.display(),
                out.display()
            );
        }
        CertsCommand::Client {
            ca,
            name,
            out,
            days,
        } => {
            let leaf = Leaf {
                name,
                sans: Vec::new(),
                usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
                days: *days,
            };
            issue_leaf(load_ca(ca)?, &leaf, out, "client")?;
            println!(
                "client certificate for {name} written to {}: client.pem, client.key (0600), ca.pem; pass --tls-dir {} to `picloud cluster …` and `picloud log …`",
                out.display(),
                out.display()
            );
        }
    }
    Ok(Outcome::Success)
}

/// A leaf certificate to issue: node (server and client auth, with SANs) or client.
struct Leaf<'a> {
    /// The subject's common name.
    name: &'a str,
    /// Subject alternative names.
    sans: Vec<rcgen::SanType>,
    /// Extended key usages.
    usages: Vec<rcgen::ExtendedKeyUsagePurpose>,
    /// Validity in days from now.
    days: u32,
}

/// Issues `leaf` with a fresh P-256 key, signed by `ca` (from [`load_ca`]), and writes
/// `<stem>.key` (0600), `<stem>.pem` and a copy of `ca.pem` into `out`, never overwriting.
fn issue_leaf(
    (ca_pem, issuer): (String, rcgen::Issuer<'static, rcgen::KeyPair>),
    leaf: &Leaf<'_>,
    out: &std::path::Path,
    stem: &str,
) -> Result<()> {
    use rcgen::{DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, leaf.name);
    p.subject_alt_names.clone_from(&leaf.sans);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages.clone_from(&leaf.usages);
    p.use_authority_key_identifier_extension = true;
    let (from, to) = validity(leaf.days);
    p.not_before = from.into();
    p.not_after = to.into();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = p.signed_by(&key, &issuer)?;
    mkdir(out)?;
    write_new(
        &out.join(format!("{stem}.key")),
        &key.serialize_pem(),
        0o600,
    )?;
    write_new(&out.join(format!("{stem}.pem")), &cert.pem(), 0o644)?;
    write_new(&out.join("ca.pem"), &ca_pem, 0o644)
}

/// The CA certificate's PEM and an issuer from `ca/ca.pem` and `ca/ca.key`.
fn load_ca(ca: &std::path::Path) -> Result<(String, rcgen::Issuer<'static, rcgen::KeyPair>)> {
    let ca_pem = read(&ca.join("ca.pem"))?;
    let ca_key = rcgen::KeyPair::from_pem(&read(&ca.join("ca.key"))?).map_err(|e| {
        UsageError(format!(
            "{}: not a private key: {e}",
            ca.join("ca.key").display()
        ))
    })?;
    if !ca_pem.contains("BEGIN CERTIFICATE") {
        return Err(UsageError(format!(
            "{}: not a PEM certificate",
            ca.join("ca.pem").display()
        ))
        .into());
    }
    // Certificates name the CA by its subject and are signed by its key, so an issuer
    // rebuilt from the same subject and the saved key chains to ca.pem.
    Ok((ca_pem, rcgen::Issuer::new(ca_params()?, ca_key)))
}

/// From one hour ago (clock skew between nodes) to `days` from now.
fn validity(days: u32) -> (std::time::SystemTime, std::time::SystemTime) {
    #[allow(clippy::disallowed_methods)] // composition root: certificate validity starts now
    let now = std::time::SystemTime::now();
    let from = now - Duration::from_secs(3600);
    let to = now + Duration::from_secs(86_400 * u64::from(days));
    (from, to)
}
