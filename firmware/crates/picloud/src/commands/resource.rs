//! `picloud resource validate` and `picloud resource plan`.
//!
//! A plan is computed against the cluster's current state when there is a cluster to ask
//! (`--cluster https://…` / `PICLOUD_CLUSTER`, or the client profile `picloud dev` writes):
//! the CLI reads `GET /api/cluster` and folds the event stream (`GET /api/events`) up to
//! the committed offset it reported, exactly as a node folds its log, then plans locally.
//! Otherwise, or when that cluster cannot be reached, it plans offline against an empty
//! cluster and says so. Secret values never leave the cluster (the stream redacts them),
//! so a live plan cannot see a change of a secret's value alone, and says that too.

use anyhow::{Context, Result};
use picloud_domain::{ClusterDomain, IriBuilder};
use picloud_events::{CorrelationId, Timestamp};
use picloud_lang::{ApplySet, Diagnostic, SourceFile};
use picloud_product_core::{Command, Plan, ProductState};
use serde::Serialize;

use crate::cli::{Cli, DiagnosticFormat, OutputFormat, PlanArgs, ResourceCommand, ValidateArgs};
use crate::input::read_apply_set;
use crate::style::{paint, Style};
use crate::{Outcome, UsageError};

pub fn run(cli: &Cli, cmd: &ResourceCommand, style: &Style) -> Result<Outcome> {
    match cmd {
        ResourceCommand::Validate(args) => validate(args, style),
        ResourceCommand::Plan(args) => plan(cli, args, style),
        // Dispatched to `remote` before reaching here.
        #[cfg(unix)]
        ResourceCommand::Apply(_) | ResourceCommand::Delete(_) | ResourceCommand::Status(_) => Err(
            anyhow::anyhow!("internal: remote command dispatched offline"),
        ),
    }
}

/// Reads and checks the apply set, printing diagnostics. `None` means invalid.
pub(crate) fn check(
    files: &[SourceFile],
    format: DiagnosticFormat,
    style: &Style,
    json_on_success: bool,
) -> Option<ApplySet> {
    match picloud_lang::check(files) {
        Ok(set) => {
            if format == DiagnosticFormat::Json && json_on_success {
                println!("[]");
            }
            Some(set)
        }
        Err(diags) => {
            report(&diags, files, format, style);
            None
        }
    }
}

fn report(diags: &[Diagnostic], files: &[SourceFile], format: DiagnosticFormat, style: &Style) {
    match format {
        DiagnosticFormat::Json => println!("{}", picloud_lang::render_json(diags, files)),
        DiagnosticFormat::Human => {
            eprint!("{}", picloud_lang::render_human(diags, files, style.stderr));
            let errors = diags.len();
            let with_errors = {
                let mut f: Vec<usize> = diags.iter().map(|d| d.primary.span.file).collect();
                f.sort_unstable();
                f.dedup();
                f.len()
            };
            eprintln!(
                "{} found {errors} {} in {with_errors} {}; nothing was applied",
                style.error_label(),
                plural(errors, "error", "errors"),
                plural(with_errors, "file", "files"),
            );
        }
    }
}

fn validate(args: &ValidateArgs, style: &Style) -> Result<Outcome> {
    let files = read_apply_set(&args.paths)?;
    let Some(set) = check(&files, args.format, style, true) else {
        return Ok(Outcome::Invalid);
    };
    if args.format == DiagnosticFormat::Human {
        let products = set
            .resources
            .iter()
            .filter(|r| r.kind == picloud_domain::ResourceKind::Product)
            .count();
        println!(
            "{} {} {} in {} {} ({} {}) valid",
            paint(style.stdout, "1;32", "ok:"),
            set.resources.len(),
            plural(set.resources.len(), "resource", "resources"),
            products,
            plural(products, "product", "products"),
            files.len(),
            plural(files.len(), "file", "files"),
        );
    }
    Ok(Outcome::Success)
}

/// What a plan was computed against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Basis {
    /// An empty cluster.
    Offline,
    /// The state of the cluster at `url` after its events up to `offset` (none: empty log).
    Live { url: String, offset: Option<u64> },
}

/// The cluster's state, folded from its event stream, with its URL, last committed offset
/// and domain. `Ok(None)`: no cluster to ask (no `--cluster`, no client profile).
#[cfg(unix)]
fn live_state(cli: &Cli) -> Result<Option<(ProductState, Basis, String)>> {
    use crate::http_client::{is_https, runtime, Target};
    if let Some(c) = cli.cluster.as_deref() {
        if !c.starts_with("https://") {
            anyhow::bail!("--cluster {c} is not an https:// API URL");
        }
    } else if !is_https(None) {
        return Ok(None);
    }
    let target = Target::resolve(cli.cluster.as_deref(), cli.ca.as_deref())?;
    let fetch = async {
        let status: picloud_api::ClusterStatus = target.get_json("/api/cluster").await?;
        let mut state = ProductState::default();
        if let Some(last) = status.committed_offset {
            let mut reached = false;
            target
                .sse("/api/events?from=0", |ev| {
                    let envelope = picloud_events::decode_json(&ev.data)
                        .map_err(|e| anyhow::anyhow!("an event the CLI cannot read: {e}"))?;
                    picloud_product_core::apply(&mut state, &envelope);
                    let offset: u64 =
                        ev.id.as_deref().unwrap_or("").parse().map_err(|_| {
                            anyhow::anyhow!("an event without a numeric id (offset)")
                        })?;
                    reached = offset >= last;
                    Ok(!reached)
                })
                .await?;
            if !reached {
                anyhow::bail!("the event stream ended before offset {last}");
            }
        }
        Ok::<_, anyhow::Error>((state, status))
    };
    let (state, status) = runtime()?
        .block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(60), fetch)
                .await
                .map_err(|_| anyhow::anyhow!("reading the cluster's events took over 60 s"))?
        })
        .with_context(|| target.url().to_owned())?;
    Ok(Some((
        state,
        Basis::Live {
            url: target.url().to_owned(),
            offset: status.committed_offset,
        },
        status.domain,
    )))
}

#[cfg(not(unix))]
fn live_state(_cli: &Cli) -> Result<Option<(ProductState, Basis, String)>> {
    Ok(None)
}

fn plan(cli: &Cli, args: &PlanArgs, style: &Style) -> Result<Outcome> {
    let files = read_apply_set(&args.paths)?;
    let Some(mut set) = check(&files, args.format, style, false) else {
        return Ok(Outcome::Invalid);
    };
    let (state, basis, domain) = match live_state(cli) {
        Ok(Some(live)) => live,
        Ok(None) => (ProductState::default(), Basis::Offline, args.domain.clone()),
        Err(e) => {
            eprintln!(
                "note: plans are computed offline when the cluster cannot be used ({e:#}); \
                 this plan is against an empty cluster"
            );
            (ProductState::default(), Basis::Offline, args.domain.clone())
        }
    };
    let domain =
        ClusterDomain::parse(&domain).map_err(|e| UsageError(format!("--domain {domain}: {e}")))?;
    let iri = IriBuilder::new(domain);
    if basis != Basis::Offline {
        // The cluster never shows secret values: compare everything but the value.
        let mut secrets = 0;
        for r in &mut set.resources {
            if let picloud_domain::ResourceSpec::Secret(spec) = &mut r.spec {
                spec.value = picloud_domain::resource::SecretValue::new(
                    picloud_domain::resource::SecretValue::REDACTED,
                );
                secrets += 1;
            }
        }
        if secrets > 0 {
            eprintln!(
                "note: secret values are not compared ({secrets} {}): the cluster never returns \
                 them, so a changed value alone does not show here",
                plural(secrets, "secret", "secrets")
            );
        }
    }
    // Nothing is committed, so the correlation id and the clock only label the would-be
    // events.
    let command = Command::ApplySet {
        resources: set.resources,
        idempotency_key: None,
        correlation_id: CorrelationId::from_bytes([0; 16]),
        source: iri.cluster(),
    };
    let now = Timestamp::UNIX_EPOCH;
    let plan = match picloud_product_core::plan(&state, &command, now, &iri) {
        Ok(plan) => plan,
        Err(rejection) => {
            eprintln!(
                "{} the cluster would refuse this apply set: {rejection}",
                style.error_label()
            );
            return Ok(Outcome::Invalid);
        }
    };
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&PlanJson::new(&plan, &iri, &basis))?
        ),
        OutputFormat::Text => print_plan(&plan, &iri, &basis, style),
    }
    Ok(Outcome::Success)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanJson {
    offline: bool,
    /// The cluster planned against (live plans).
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    /// Its last committed offset when read (live plans; absent for an empty log).
    #[serde(skip_serializing_if = "Option::is_none")]
    at_offset: Option<u64>,
    create: Vec<PlanEntry>,
    change: Vec<PlanEntry>,
    delete: Vec<PlanEntry>,
    unchanged: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanEntry {
    kind: String,
    product: String,
    name: String,
    iri: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<String>,
}

impl PlanJson {
    fn new(plan: &Plan, iri: &IriBuilder, basis: &Basis) -> Self {
        let entry = |id: &picloud_domain::resource::ResourceId, fields: Vec<String>| PlanEntry {
            kind: id.kind.keyword().to_owned(),
            product: id.product.to_string(),
            name: id.name.to_string(),
            iri: iri.resource(&id.product, id.kind, &id.name).to_string(),
            fields,
        };
        let (cluster, at_offset) = match basis {
            Basis::Offline => (None, None),
            Basis::Live { url, offset } => (Some(url.clone()), *offset),
        };
        Self {
            offline: *basis == Basis::Offline,
            cluster,
            at_offset,
            create: plan.create.iter().map(|p| entry(&p.id, vec![])).collect(),
            change: plan
                .change
                .iter()
                .map(|c| entry(&c.id, c.fields.clone()))
                .collect(),
            delete: plan.delete.iter().map(|p| entry(&p.id, vec![])).collect(),
            unchanged: plan.unchanged,
        }
    }
}

fn print_plan(plan: &Plan, iri: &IriBuilder, basis: &Basis, style: &Style) {
    let json = PlanJson::new(plan, iri, basis);
    match basis {
        Basis::Offline => println!("Plan (offline, against an empty cluster):"),
        Basis::Live {
            url,
            offset: Some(o),
        } => println!("Plan (against {url} at offset {o}):"),
        Basis::Live { url, offset: None } => {
            println!("Plan (against {url}, whose log is empty):")
        }
    }
    println!();
    let rows = json
        .create
        .iter()
        .map(|e| ("+", "32", e))
        .chain(json.change.iter().map(|e| ("~", "33", e)))
        .chain(json.delete.iter().map(|e| ("-", "31", e)));
    for (sign, sgr, e) in rows {
        let what = if e.kind == "product" {
            e.name.clone()
        } else {
            format!("{}/{}", e.product, e.name)
        };
        let fields = if e.fields.is_empty() {
            String::new()
        } else {
            format!("  ({})", e.fields.join(", "))
        };
        println!(
            "  {} {:<19} {:<32} {}{}",
            paint(style.stdout, sgr, sign),
            e.kind,
            what,
            e.iri,
            fields
        );
    }
    if json.create.is_empty() && json.change.is_empty() && json.delete.is_empty() {
        println!("  No changes.");
    }
    println!();
    println!(
        "Plan: {} to create, {} to change, {} to delete; {} unchanged.",
        json.create.len(),
        json.change.len(),
        json.delete.len(),
        json.unchanged
    );
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}
