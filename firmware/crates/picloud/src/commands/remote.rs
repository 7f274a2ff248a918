//! The commands that talk to a cluster's HTTPS API: `resource apply|delete|status`,
//! `events stream`, `graph query` and `cluster status` (for an `https://` cluster).

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{bail, Context, Result};
use hyper::Method;
use picloud_api::{ApplyRequest, ApplyResponse, ClusterStatus, DeleteRequest, ProductStatus};
use picloud_domain::{Name, ResourceKind};
use picloud_events::{decode_json, Envelope, EventPayload, IdempotencyKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cli::{Cli, OutputFormat};
use crate::cli_ext::{
    ApplyArgs, DeleteArgs, EventsCommand, GraphCommand, QueryArgs, StatusArgs, StreamArgs,
};
use crate::commands::resource::check;
use crate::http_client::{encode_query, runtime, Target};
use crate::input::read_apply_set;
use crate::style::{paint, Style};
use crate::{Outcome, UsageError};

fn target(cli: &Cli) -> Result<Target> {
    Target::resolve(cli.cluster.as_deref(), cli.ca.as_deref())
}

fn name(text: &str, what: &str) -> Result<Name> {
    Name::parse(text).map_err(|e| UsageError(format!("{what} `{text}`: {e}")).into())
}

/// A one-line description of an event for people.
pub fn describe(e: &Envelope) -> String {
    let rid = |kind: ResourceKind, product: &Name, name: &Name| {
        if kind == ResourceKind::Product {
            format!("product {name}")
        } else {
            format!("{} {product}/{name}", kind.keyword())
        }
    };
    match &e.payload {
        EventPayload::ResourceDeclaredV1(p) => format!(
            "declared {} (generation {})",
            rid(p.resource.kind, &p.resource.product, &p.resource.name),
            p.generation
        ),
        EventPayload::ResourceUpdatedV1(p) => format!(
            "updated  {} (generation {})",
            rid(p.resource.kind, &p.resource.product, &p.resource.name),
            p.generation
        ),
        EventPayload::ResourceDeletedV1(p) => {
            format!("deleted  {}", rid(p.kind, &p.product, &p.name))
        }
        EventPayload::ProductDeletedV1(p) => format!("deleted  product {} (all of it)", p.product),
        EventPayload::ResourceStatusChangedV1(p) => format!(
            "status   {} -> {:?}{}",
            rid(p.kind, &p.product, &p.name),
            p.status,
            p.reason
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        _ => e.event_type.clone(),
    }
}

/// `resource apply|delete|status`.
pub fn resource(cli: &Cli, cmd: &ResourceRemote<'_>, style: &Style) -> Result<Outcome> {
    match cmd {
        ResourceRemote::Apply(a) => apply(cli, a, style),
        ResourceRemote::Delete(a) => delete(cli, a, style),
        ResourceRemote::Status(a) => status(cli, a, style),
    }
}

/// The remote `resource` subcommands.
#[derive(Debug)]
pub enum ResourceRemote<'a> {
    /// `apply`.
    Apply(&'a ApplyArgs),
    /// `delete`.
    Delete(&'a DeleteArgs),
    /// `status`.
    Status(&'a StatusArgs),
}

fn content_hash(files: &[picloud_lang::SourceFile]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update((f.path.len() as u64).to_le_bytes());
        h.update(f.path.as_bytes());
        h.update((f.text.len() as u64).to_le_bytes());
        h.update(f.text.as_bytes());
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn status_word(status: &str, style: &Style) -> String {
    let sgr = match status {
        "Ready" => "1;32",
        "Failed" => "1;31",
        "Declared" | "Pending" => "33",
        _ => "0",
    };
    paint(style.stdout, sgr, status)
}

fn print_status(s: &ProductStatus, style: &Style) {
    println!("{}  {}", s.product, s.iri);
    for r in &s.resources {
        println!(
            "  {:<18} {:<24} {:<10} {}",
            r.kind,
            r.name,
            status_word(&r.status, style),
            r.reason
                .as_deref()
                .map(|r| format!("— {r}"))
                .unwrap_or_default()
        );
    }
}

fn apply(cli: &Cli, args: &ApplyArgs, style: &Style) -> Result<Outcome> {
    let files = read_apply_set(&args.paths)?;
    let Some(set) = check(&files, args.format, style, false) else {
        return Ok(Outcome::Invalid);
    };
    let products: BTreeSet<String> = set
        .resources
        .iter()
        .map(|r| r.product.to_string())
        .collect();
    let target = target(cli)?;
    let rt = runtime()?;
    rt.block_on(async {
        // The key names this content applied on top of this log position: a retry of this
        // run is idempotent, while applying the same files after other changes (say, after
        // a delete) is a new command.
        let cluster: ClusterStatus = target.get_json("/api/cluster").await?;
        let position = cluster.committed_offset.map_or(0, |o| o + 1);
        let key = format!("apply-{}-{position}", content_hash(&files));
        let request = ApplyRequest {
            resources: set.resources,
            idempotency_key: Some(IdempotencyKey::new(key).context("idempotency key")?),
        };
        let reply = target.post_json("/api/apply", &request).await?;
        if !reply.status.is_success() {
            eprintln!(
                "{} the cluster refused the apply set: {}",
                style.error_label(),
                reply.error_message()
            );
            eprintln!("nothing was applied");
            return Ok(Outcome::Invalid);
        }
        let response: ApplyResponse = reply.json()?;
        if args.output == OutputFormat::Text {
            println!("correlation id {}", response.correlation_id);
        }
        let mut events = Vec::new();
        if let (Some(first), true) = (response.first_offset, response.events > 0) {
            let path = format!(
                "/api/events?correlationId={}&from={first}&limit={}",
                response.correlation_id, response.events
            );
            let mut seen = 0;
            target
                .sse(&path, |ev| {
                    let envelope = decode_json(&ev.data).context("an event the CLI cannot read")?;
                    if args.output == OutputFormat::Text {
                        println!(
                            "  {:>6}  {}",
                            ev.id.as_deref().unwrap_or("?"),
                            describe(&envelope)
                        );
                    }
                    events.push(envelope);
                    seen += 1;
                    Ok(seen < response.events)
                })
                .await?;
        }
        let mut statuses = Vec::new();
        for p in &products {
            let s: ProductStatus = target
                .get_json(&format!("/api/status/{}", encode_query(p)))
                .await?;
            statuses.push(s);
        }
        let failed = statuses
            .iter()
            .flat_map(|s| &s.resources)
            .filter(|r| r.status == "Failed")
            .count();
        match args.output {
            OutputFormat::Json => {
                let json = serde_json::json!({
                    "correlationId": response.correlation_id.to_string(),
                    "events": response.events,
                    "firstOffset": response.first_offset,
                    "lastOffset": response.last_offset,
                    "projected": response.projected,
                    "products": statuses,
                });
                println!("{}", serde_json::to_string_pretty(&json)?);
            }
            OutputFormat::Text => {
                if response.events == 0 {
                    println!("no changes: the cluster already holds this apply set");
                } else {
                    println!(
                        "committed {} {} (log offsets {}..={}){}",
                        response.events,
                        if response.events == 1 {
                            "event"
                        } else {
                            "events"
                        },
                        response.first_offset.unwrap_or(0),
                        response.last_offset.unwrap_or(0),
                        if response.projected {
                            ""
                        } else {
                            "; the graph has not caught up yet"
                        }
                    );
                }
                println!();
                for s in &statuses {
                    print_status(s, style);
                }
            }
        }
        if failed > 0 {
            eprintln!("{} {failed} resource(s) failed", style.error_label());
            return Ok(Outcome::Invalid);
        }
        Ok(Outcome::Success)
    })
}

fn delete(cli: &Cli, args: &DeleteArgs, style: &Style) -> Result<Outcome> {
    let products: Vec<Name> = match &args.product {
        Some(p) => vec![name(p, "product")?],
        None => {
            let files = read_apply_set(&args.paths)?;
            let Some(set) = check(&files, crate::cli::DiagnosticFormat::Human, style, false) else {
                return Ok(Outcome::Invalid);
            };
            let declared: BTreeSet<Name> = set
                .resources
                .iter()
                .filter(|r| r.kind == ResourceKind::Product)
                .map(|r| r.name.clone())
                .collect();
            if declared.is_empty() {
                return Err(UsageError(
                    "these files declare no product; name one with --product".into(),
                )
                .into());
            }
            declared.into_iter().collect()
        }
    };
    let target = target(cli)?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut refused = false;
        for product in products {
            let request = DeleteRequest {
                product: product.clone(),
                kind: None,
                name: None,
                idempotency_key: None,
            };
            let reply = target.post_json("/api/delete", &request).await?;
            if !reply.status.is_success() {
                eprintln!(
                    "{} cannot delete {product}: {}",
                    style.error_label(),
                    reply.error_message()
                );
                refused = true;
                continue;
            }
            let r: ApplyResponse = reply.json()?;
            println!(
                "deleted {product}: {} {} committed (correlation id {})",
                r.events,
                if r.events == 1 { "event" } else { "events" },
                r.correlation_id
            );
        }
        Ok(if refused {
            Outcome::Invalid
        } else {
            Outcome::Success
        })
    })
}

fn status(cli: &Cli, args: &StatusArgs, style: &Style) -> Result<Outcome> {
    let product = name(&args.product, "product")?;
    let target = target(cli)?;
    runtime()?.block_on(async {
        let reply = target
            .call(
                Method::GET,
                &format!("/api/status/{product}"),
                "application/json",
                None,
            )
            .await?;
        if !reply.status.is_success() {
            bail!("{}", reply.error_message());
        }
        let s: ProductStatus = reply.json()?;
        match args.output {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&s)?),
            OutputFormat::Text => print_status(&s, style),
        }
        Ok(if s.resources.iter().any(|r| r.status == "Failed") {
            Outcome::Invalid
        } else {
            Outcome::Success
        })
    })
}

/// `events …`.
pub fn events(cli: &Cli, cmd: &EventsCommand) -> Result<Outcome> {
    match cmd {
        EventsCommand::Stream(a) => stream(cli, a),
    }
}

fn stream(cli: &Cli, args: &StreamArgs) -> Result<Outcome> {
    let mut query = vec![format!("from={}", args.from.unwrap_or(0))];
    if let Some(p) = &args.product {
        query.push(format!(
            "product={}",
            encode_query(name(p, "product")?.as_ref())
        ));
    }
    if let Some(c) = &args.correlation_id {
        query.push(format!("correlationId={}", encode_query(c)));
    }
    if let Some(l) = args.limit {
        if l == 0 {
            return Ok(Outcome::Success);
        }
        query.push(format!("limit={l}"));
    }
    let path = format!("/api/events?{}", query.join("&"));
    let target = target(cli)?;
    let limit = args.limit.unwrap_or(u64::MAX);
    runtime()?.block_on(async {
        let mut seen = 0u64;
        let mut stdout = std::io::stdout();
        target
            .sse(&path, |ev| {
                let envelope = decode_json(&ev.data).context("an event the CLI cannot read")?;
                let offset = ev.id.as_deref().unwrap_or("?");
                let line = match args.output {
                    OutputFormat::Json => {
                        let mut v: Value = serde_json::from_str(&ev.data)?;
                        if let Value::Object(m) = &mut v {
                            m.insert(
                                "offset".into(),
                                offset
                                    .parse::<u64>()
                                    .map(Value::from)
                                    .unwrap_or(Value::Null),
                            );
                        }
                        v.to_string()
                    }
                    OutputFormat::Text => format!(
                        "{offset:>6}  {}  {:<24} {}  correlation {}",
                        envelope.time,
                        envelope.event_type,
                        describe(&envelope),
                        envelope.correlation_id
                    ),
                };
                // A closed pipe (`| head`) ends the stream quietly.
                if writeln!(stdout, "{line}")
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return Ok(false);
                }
                seen += 1;
                Ok(seen < limit)
            })
            .await?;
        Ok(Outcome::Success)
    })
}

/// `graph …`.
pub fn graph(cli: &Cli, cmd: &GraphCommand) -> Result<Outcome> {
    match cmd {
        GraphCommand::Query(a) => query(cli, a),
    }
}

fn term_text(v: &Value) -> String {
    let value = v.get("value").and_then(Value::as_str).unwrap_or("");
    match v.get("type").and_then(Value::as_str) {
        Some("uri") => format!("<{value}>"),
        Some("bnode") => format!("_:{value}"),
        _ => value.to_owned(),
    }
}

fn query(cli: &Cli, args: &QueryArgs) -> Result<Outcome> {
    let path = match &args.product {
        Some(p) => format!("/products/{}/sparql", name(p, "product")?),
        None => "/sparql".to_owned(),
    };
    let target = target(cli)?;
    let accept = "application/sparql-results+json, text/turtle;q=0.9";
    let body = format!("query={}", encode_query(&args.query)).into_bytes();
    let reply = runtime()?.block_on(target.call(
        Method::POST,
        &path,
        accept,
        Some(("application/x-www-form-urlencoded", body)),
    ))?;
    if !reply.status.is_success() {
        bail!("{}", reply.error_message());
    }
    let Ok(json) = serde_json::from_slice::<Value>(&reply.body) else {
        // CONSTRUCT / DESCRIBE: Turtle.
        print!("{}", String::from_utf8_lossy(&reply.body));
        return Ok(Outcome::Success);
    };
    if args.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(Outcome::Success);
    }
    if let Some(b) = json.get("boolean").and_then(Value::as_bool) {
        println!("{b}");
        return Ok(Outcome::Success);
    }
    let vars: Vec<String> = json
        .pointer("/head/vars")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = json
        .pointer("/results/bindings")
        .and_then(Value::as_array)
        .map(|b| {
            b.iter()
                .map(|row| {
                    vars.iter()
                        .map(|v| row.get(v).map(term_text).unwrap_or_default())
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut widths: Vec<usize> = vars.iter().map(|v| v.len() + 1).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!("{}", line(vars.iter().map(|v| format!("?{v}")).collect()));
    println!(
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    );
    for row in &rows {
        println!("{}", line(row.clone()));
    }
    println!(
        "({} {})",
        rows.len(),
        if rows.len() == 1 { "row" } else { "rows" }
    );
    Ok(Outcome::Success)
}

/// `cluster status` against an `https://` cluster (`/api/cluster`).
pub fn cluster_status(cli: &Cli, output: OutputFormat) -> Result<Outcome> {
    let target = target(cli)?;
    let s: ClusterStatus = runtime()?.block_on(target.get_json("/api/cluster"))?;
    match output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        OutputFormat::Text => {
            println!("cluster   {}  ({})", s.iri, target.url());
            println!(
                "leader    {}",
                s.leader.as_deref().unwrap_or("none (no quorum?)")
            );
            if let Some(n) = &s.this_node {
                println!("answered  {n}");
            }
            println!(
                "log       committed offset {}, projected offset {}",
                s.committed_offset
                    .map_or("none".to_owned(), |o| o.to_string()),
                s.projected_offset
                    .map_or("none".to_owned(), |o| o.to_string())
            );
            if let Some(f) = &s.ca_fingerprint {
                println!("CA        {f}");
            }
            println!();
            println!(
                "  {:<24} {:<8} {:<7} {:<10} ADDRESS",
                "NODE", "ROLE", "LEADER", "REACHABLE"
            );
            for n in &s.nodes {
                println!(
                    "  {:<24} {:<8} {:<7} {:<10} {}",
                    n.name,
                    n.role,
                    if n.leader { "yes" } else { "" },
                    if n.reachable { "yes" } else { "no" },
                    n.address.as_deref().unwrap_or("")
                );
            }
            println!();
            if s.products.is_empty() {
                println!("no products");
            } else {
                println!("products: {}", s.products.join(", "));
            }
        }
    }
    Ok(Outcome::Success)
}
