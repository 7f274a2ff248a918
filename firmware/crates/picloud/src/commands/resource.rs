//! `picloud resource validate` and `picloud resource plan`.

use anyhow::Result;
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

fn plan(cli: &Cli, args: &PlanArgs, style: &Style) -> Result<Outcome> {
    let domain = ClusterDomain::parse(&args.domain)
        .map_err(|e| UsageError(format!("--domain {}: {e}", args.domain)))?;
    let iri = IriBuilder::new(domain);
    let files = read_apply_set(&args.paths)?;
    let Some(set) = check(&files, args.format, style, false) else {
        return Ok(Outcome::Invalid);
    };
    if cli.cluster.is_some() {
        eprintln!(
            "note: plans are computed offline; --cluster is ignored and the plan is computed against an empty cluster"
        );
    }
    // Offline: the state is an empty cluster. Nothing is committed, so the correlation id
    // and the clock only label the would-be events.
    let state = ProductState::default();
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
            serde_json::to_string_pretty(&PlanJson::new(&plan, &iri))?
        ),
        OutputFormat::Text => print_plan(&plan, &iri, style),
    }
    Ok(Outcome::Success)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanJson {
    offline: bool,
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
    fn new(plan: &Plan, iri: &IriBuilder) -> Self {
        let entry = |id: &picloud_domain::resource::ResourceId, fields: Vec<String>| PlanEntry {
            kind: id.kind.keyword().to_owned(),
            product: id.product.to_string(),
            name: id.name.to_string(),
            iri: iri.resource(&id.product, id.kind, &id.name).to_string(),
            fields,
        };
        Self {
            offline: true,
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

fn print_plan(plan: &Plan, iri: &IriBuilder, style: &Style) {
    let json = PlanJson::new(plan, iri);
    println!("Plan (offline, against an empty cluster):");
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
