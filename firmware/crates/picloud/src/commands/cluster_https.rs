//! `picloud cluster init|add|remove|status` against an `https://` cluster: the HTTPS API's
//! `POST /api/cluster/init|add|remove` and `GET /api/cluster`.
//!
//! **Trust on first contact.** When neither `--ca`, nor the client profile, nor a CA saved
//! earlier for this URL says which CA to trust, the CLI fetches the node's public `/ca.pem`
//! (over TLS without verifying the server, the only request made that way), shows its
//! SHA-256 fingerprint, and trusts it only if it equals `--ca-fingerprint` (or, on a
//! terminal, after an explicit `yes`). The CA is then saved under the config directory
//! (`cas/<host>_<port>.pem`, mode 0600) and, when there is no client profile yet, a profile
//! naming this cluster is written (as `picloud dev` does). Every request after that
//! verifies the server against that CA only.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail, Context, Result};
use hyper::Method;
use picloud_api::{AddNodeRequest, ClusterChangeResponse, RemoveNodeRequest};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::cli::{Cli, ClusterCommand, OutputFormat};
use crate::cli_ext::ClusterConnArgs;
use crate::http_client::{
    config_dir, load_profile, runtime, same_cluster, saved_ca_path, write_private, Profile, Target,
    PROFILE_FILE,
};
use crate::{Outcome, UsageError};

/// Runs an `https://` cluster command.
pub fn run(cli: &Cli, cmd: &ClusterCommand) -> Result<Outcome> {
    let (conn, output) = match cmd {
        ClusterCommand::Init { conn, output }
        | ClusterCommand::Add { conn, output, .. }
        | ClusterCommand::Remove { conn, output, .. }
        | ClusterCommand::Status { conn, output } => (conn, *output),
        _ => bail!("not an HTTPS cluster command"),
    };
    let url = match cli.cluster.as_deref() {
        Some(c) => c.to_owned(),
        None => load_profile()?.map(|p| p.cluster).ok_or_else(|| {
            UsageError("no cluster given: pass --cluster https://HOST:PORT/".into())
        })?,
    };
    let rt = runtime()?;
    rt.block_on(ensure_trust(cli, &url, conn))?;
    if let ClusterCommand::Status { .. } = cmd {
        return super::remote::cluster_status(cli, output);
    }
    let target = Target::resolve(Some(&url), cli.ca.as_deref())?;
    let reply = rt.block_on(async {
        match cmd {
            // Public while the node is uninitialised: no token is needed (or sent).
            ClusterCommand::Init { .. } => {
                target
                    .call_unauthenticated(
                        Method::POST,
                        "/api/cluster/init",
                        "application/json",
                        Some(("application/json", b"{}".to_vec())),
                    )
                    .await
            }
            ClusterCommand::Add { addr, .. } => {
                target
                    .post_json(
                        "/api/cluster/add",
                        &AddNodeRequest {
                            address: addr.clone(),
                        },
                    )
                    .await
            }
            ClusterCommand::Remove { node, .. } => {
                target
                    .post_json(
                        "/api/cluster/remove",
                        &RemoveNodeRequest {
                            node: node.to_string(),
                        },
                    )
                    .await
            }
            _ => Err(anyhow!("not a membership change")),
        }
    })?;
    let r: ClusterChangeResponse = reply.json()?;
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        OutputFormat::Text => {
            for line in &r.summary {
                println!("{line}");
            }
        }
    }
    Ok(Outcome::Success)
}

/// Normalises a fingerprint for comparison: hex digits only, lower case; `None` unless it
/// is 32 bytes of hex (an optional `sha256:`/`SHA256 ` prefix and `:` separators allowed).
pub fn normalise_fingerprint(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("sha256"))
        .map_or(t, |_| t.get(6..).unwrap_or_default());
    let hex: String = t
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '=' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Whether the CLI already knows which CA to trust for `url`.
fn trusted(cli: &Cli, url: &str) -> Result<bool> {
    if cli.ca.is_some() {
        return Ok(true);
    }
    if load_profile()?.is_some_and(|p| same_cluster(&p.cluster, url) && p.ca_file.is_file()) {
        return Ok(true);
    }
    Ok(saved_ca_path(url).is_some_and(|p| p.is_file()))
}

/// Makes sure a CA is trusted for `url`, establishing it at first contact.
async fn ensure_trust(cli: &Cli, url: &str, conn: &ClusterConnArgs) -> Result<()> {
    let expected = match &conn.ca_fingerprint {
        Some(f) => Some(normalise_fingerprint(f).ok_or_else(|| {
            UsageError(format!(
                "--ca-fingerprint {f:?}: expected a SHA-256 fingerprint (64 hex digits, `:` \
                 separators allowed), as the node's console shows it"
            ))
        })?),
        None => None,
    };
    if cli.ca.is_some() {
        // An explicit CA file: checked against the fingerprint when both are given.
        if let (Some(want), Some(file)) = (&expected, &cli.ca) {
            let pem = std::fs::read(file)
                .map_err(|e| UsageError(format!("cannot read the CA {}: {e}", file.display())))?;
            let (got, _) = first_certificate(&pem)?;
            if &got != want {
                bail!(
                    "the CA in {} has the fingerprint {} but --ca-fingerprint says {}",
                    file.display(),
                    colons(&got),
                    colons(want)
                );
            }
        }
        return Ok(());
    }
    if expected.is_none() && trusted(cli, url)? {
        return Ok(());
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    // First contact: fetch the public CA certificate without verifying the server.
    let fetched = async {
        let probe = Target::unverified_for_ca(url)?;
        let reply = probe
            .call_unauthenticated(Method::GET, "/ca.pem", "application/x-pem-file", None)
            .await?;
        if !reply.status.is_success() {
            bail!("GET /ca.pem at {url}: {}", reply.error_message());
        }
        let pem = reply.body.to_vec();
        let (got, _) = first_certificate(&pem)
            .with_context(|| format!("{url} did not serve a CA certificate at /ca.pem"))?;
        Ok((pem, got))
    }
    .await;
    let (pem, got) = match fetched {
        Ok(x) => x,
        // Nothing to trust and nobody to ask: the missing flag is the usage error.
        Err(e) if expected.is_none() && !interactive => {
            return Err(UsageError(format!(
                "{url} is not trusted yet: pass --ca-fingerprint SHA256 (from the node's \
                 console) or --ca FILE; fetching its CA to show the fingerprint failed: {e:#}"
            ))
            .into())
        }
        Err(e) => return Err(e),
    };
    match &expected {
        Some(want) if *want == got => {}
        Some(want) => bail!(
            "refusing to trust {url}: its CA's SHA-256 fingerprint is {} but --ca-fingerprint \
             says {}; nothing was sent to it",
            colons(&got),
            colons(want)
        ),
        None => {
            if !interactive {
                return Err(UsageError(format!(
                    "{url} is not trusted yet: its CA's SHA-256 fingerprint is {}. Compare it \
                     with the node's console and pass --ca-fingerprint {} (or --ca FILE)",
                    colons(&got),
                    colons(&got)
                ))
                .into());
            }
            eprintln!("The cluster at {url} presents a CA whose SHA-256 fingerprint is");
            eprintln!("  {}", colons(&got));
            eprint!("Compare it with the node's console. Trust this CA? [yes/no] ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut answer)
                .context("read the answer")?;
            if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                bail!("not trusted: nothing was sent to {url}");
            }
        }
    }
    let saved = save_ca(url, &pem, &colons(&got))?;
    eprintln!(
        "trusted the cluster CA {} for {url} (saved to {})",
        colons(&got),
        saved.display()
    );
    Ok(())
}

/// The SHA-256 (normalised hex) and DER of the first certificate in `pem`.
fn first_certificate(pem: &[u8]) -> Result<(String, Vec<u8>)> {
    use sha2::Digest;
    let cert = CertificateDer::pem_slice_iter(pem)
        .next()
        .ok_or_else(|| anyhow!("no PEM certificate"))?
        .map_err(|e| anyhow!("not a PEM certificate: {e}"))?;
    let hex: String = sha2::Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((hex, cert.as_ref().to_vec()))
}

/// `abcd…` → `AB:CD:…` (how consoles show fingerprints).
fn colons(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// Saves the trusted CA for `url`; writes a client profile naming the cluster when there is
/// none yet. Returns where the CA went.
fn save_ca(url: &str, pem: &[u8], fingerprint: &str) -> Result<std::path::PathBuf> {
    let (Some(dir), Some(path)) = (config_dir(), saved_ca_path(url)) else {
        bail!("no config directory (set HOME or XDG_CONFIG_HOME) to save the trusted CA in");
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        let cas = path.parent().unwrap_or(&dir);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(cas)
            .with_context(|| format!("create {}", cas.display()))?;
    }
    write_private(&path, pem)?;
    if load_profile()?.is_none() {
        let profile = Profile {
            cluster: url.to_owned(),
            ca_file: path.clone(),
            ca_fingerprint: Some(fingerprint.to_owned()),
        };
        write_private(
            &dir.join(PROFILE_FILE),
            &serde_json::to_vec_pretty(&profile)?,
        )?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_normalise() {
        let hex = "ab".repeat(32);
        let colon = vec!["AB"; 32].join(":");
        assert_eq!(normalise_fingerprint(&colon).as_deref(), Some(hex.as_str()));
        assert_eq!(
            normalise_fingerprint(&format!("SHA256:{colon}")).as_deref(),
            Some(hex.as_str())
        );
        assert_eq!(
            normalise_fingerprint(&format!("sha256 {hex}")).as_deref(),
            Some(hex.as_str())
        );
        assert_eq!(normalise_fingerprint("ab:cd"), None);
        assert_eq!(normalise_fingerprint(&"zz".repeat(32)), None);
        assert_eq!(colons("abcd"), "AB:CD");
    }

    #[test]
    fn cluster_urls_compare_by_host_and_port() {
        assert!(same_cluster(
            "https://127.0.0.1:8443/",
            "https://127.0.0.1:8443"
        ));
        assert!(same_cluster(
            "https://Node.local/",
            "https://node.local:443/x"
        ));
        assert!(!same_cluster(
            "https://127.0.0.1:8443/",
            "https://127.0.0.1:8444/"
        ));
        assert!(!same_cluster("127.0.0.1:7000", "127.0.0.1:7000"));
        assert!(same_cluster("https://[::1]:8443/", "https://[::1]:8443"));
    }
}
