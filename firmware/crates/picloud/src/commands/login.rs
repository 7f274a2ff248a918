//! `picloud login`, `logout`, `whoami`, `auth token` (see `crate::auth`).

use anyhow::{bail, Result};

use crate::cli::{Cli, OutputFormat};
use crate::http_client::{runtime, Target};
use crate::Outcome;

fn target(cli: &Cli) -> Result<Target> {
    Target::resolve(cli.cluster.as_deref(), cli.ca.as_deref())
}

pub fn login(cli: &Cli) -> Result<Outcome> {
    let t = target(cli)?;
    runtime()?.block_on(crate::auth::login(&t))?;
    Ok(Outcome::Success)
}

pub fn logout(cli: &Cli) -> Result<Outcome> {
    let t = target(cli)?;
    if runtime()?.block_on(crate::auth::logout(&t))? {
        println!("Logged out of {} (the login is revoked).", t.url());
    } else {
        println!("Not logged in to {}.", t.url());
    }
    Ok(Outcome::Success)
}

pub fn whoami(cli: &Cli, output: OutputFormat) -> Result<Outcome> {
    let t = target(cli)?;
    let rt = runtime()?;
    let source = rt.block_on(crate::auth::bearer(&t))?.map(|(_, s)| s);
    let Some(source) = source else {
        bail!(
            "not logged in to {}: run `picloud login` (or start `picloud dev`, or set PICLOUD_TOKEN)",
            t.url()
        );
    };
    let me = rt.block_on(crate::auth::whoami_json(&t))?;
    let via = match source {
        crate::auth::Source::Env => "PICLOUD_TOKEN",
        crate::auth::Source::Login => "picloud login",
        crate::auth::Source::DevCredential => "the picloud dev administrator credential",
    };
    match output {
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&me)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("via".into(), serde_json::Value::String(via.to_owned()));
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        OutputFormat::Text => {
            let roles = &me.roles;
            println!("cluster   {}", t.url());
            println!(
                "identity  {}",
                me.preferred_username.as_deref().unwrap_or("?")
            );
            println!("subject   {}", me.sub);
            println!(
                "roles     {}",
                if roles.is_empty() {
                    "(none)".to_owned()
                } else {
                    roles.join(", ")
                }
            );
            println!("via       {via}");
        }
    }
    Ok(Outcome::Success)
}

pub fn token(cli: &Cli) -> Result<Outcome> {
    let t = target(cli)?;
    match runtime()?.block_on(t.bearer())? {
        Some(tok) => {
            println!("{tok}");
            Ok(Outcome::Success)
        }
        None => bail!("not logged in to {}: run `picloud login`", t.url()),
    }
}
