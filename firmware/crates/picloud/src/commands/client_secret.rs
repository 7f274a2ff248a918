//! `picloud identity client-secret PRODUCT`: every product is an app registration; an
//! administrator sets or rotates the secret of a product's client through the HTTPS API
//! (`POST /api/identity/clients/<product>/secret`, admin only) and sees it once. The
//! previous secret stops working at once. The product's application then uses
//! `client_credentials` with client id = the product name.

use anyhow::{bail, Result};
use picloud_domain::Name;
use serde::{Deserialize, Serialize};

use crate::cli::{Cli, OutputFormat};
use crate::http_client::{runtime, Target};
use crate::{Outcome, UsageError};

/// What the API answers (and `-o json` prints).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretReply {
    client_id: String,
    client_secret: String,
    product: String,
    audience: String,
    token_endpoint: String,
}

/// Runs `picloud identity client-secret PRODUCT`.
pub fn run(cli: &Cli, product: &str, output: OutputFormat) -> Result<Outcome> {
    let product = Name::parse(product.trim()).map_err(|e| {
        UsageError(format!(
            "product name `{product}`: {e} (a DNS label: lower-case letters, digits and '-')"
        ))
    })?;
    let target = Target::resolve(cli.cluster.as_deref(), cli.ca.as_deref())?;
    let rt = runtime()?;
    let path = format!("/api/identity/clients/{product}/secret");
    let reply = rt.block_on(target.post_json(&path, &serde_json::json!({})))?;
    if !reply.status.is_success() {
        bail!(
            "rotating the client secret of {product}: {}",
            reply.error_message()
        );
    }
    let r: SecretReply = reply.json()?;
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&r)?),
        _ => {
            println!(
                "New client secret of product {} (shown once; the previous secret no longer \
                 works):",
                r.product
            );
            println!("  client id       {}", r.client_id);
            println!("  client secret   {}", r.client_secret);
            println!("  token endpoint  {}", r.token_endpoint);
            println!("  audience        {}", r.audience);
            println!(
                "Its client_credentials tokens carry the role {}:app and are accepted on \
                 /products/{}/… only.",
                r.product, r.product
            );
        }
    }
    Ok(Outcome::Success)
}
