//! Apply-set validation: kinds, names, products, duplicates and references across files.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use picloud_domain::name::Name;
use picloud_domain::resource::{Resource, ResourceKind, ResourceSpec};

use crate::ast::{Decl, File};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::fields::{name_at, Cx, Fields, PendingRef, Target};
use crate::suggest::did_you_mean;

/// Validates parsed files; returns the resources (sorted) and the diagnostics.
pub(crate) fn validate(files: &[File]) -> (Vec<Resource>, Vec<Diagnostic>) {
    let mut cx = Cx::default();
    // Products first, so `product:` fields can be checked whatever the file order.
    let products: BTreeMap<String, Span> = files
        .iter()
        .flat_map(|f| &f.decls)
        .filter(|d| d.kind == "product")
        .fold(BTreeMap::new(), |mut m, d| {
            m.entry(d.name.clone()).or_insert(d.name_span);
            m
        });
    let mut declared: HashMap<(Name, ResourceKind, Name), Span> = HashMap::new();
    let mut config_failed: BTreeSet<Name> = BTreeSet::new();
    let mut resources = Vec::new();
    for decl in files.iter().flat_map(|f| &f.decls) {
        let Some((product, kind, name, spec)) = declaration(&mut cx, decl, &products) else {
            continue;
        };
        if let (Some(product), Some(name)) = (&product, &name) {
            let key = (product.clone(), kind, name.clone());
            if let Some(first) = declared.get(&key) {
                let within = if kind == ResourceKind::Product {
                    String::new()
                } else {
                    format!(" in product `{product}`")
                };
                cx.push(
                    Diagnostic::error(
                        Code::DuplicateResource,
                        format!("duplicate {kind} `{name}`{within}"),
                        decl.name_span,
                        "declared again here",
                    )
                    .with_label(*first, "first declared here")
                    .with_help(format!("rename one of them or remove the duplicate {kind}")),
                );
                continue;
            }
            declared.insert(key, decl.name_span);
            if kind == ResourceKind::Config && spec.is_none() {
                config_failed.insert(product.clone());
            }
        }
        if let (Some(product), Some(name), Some(spec)) = (product, name, spec) {
            resources.push(Resource::new(product, name, spec));
        }
    }
    check_refs(&mut cx, &declared, &resources, &config_failed);
    check_role_cycles(&mut cx, &declared, &resources);
    resources.sort_by(|a, b| (&a.product, a.kind, &a.name).cmp(&(&b.product, b.kind, &b.name)));
    (resources, cx.diags)
}

type Parts = (
    Option<Name>,
    ResourceKind,
    Option<Name>,
    Option<ResourceSpec>,
);

/// Checks one declaration. `None` when its kind is unknown.
fn declaration(cx: &mut Cx, decl: &Decl, products: &BTreeMap<String, Span>) -> Option<Parts> {
    let Some(kind) = ResourceKind::from_keyword(&decl.kind) else {
        let mut d = Diagnostic::error(
            Code::UnknownKind,
            format!("unknown resource kind `{}`", decl.kind),
            decl.kind_span,
            "not a resource kind",
        );
        let keywords = ResourceKind::ALL.map(ResourceKind::keyword);
        d = match did_you_mean(&decl.kind, keywords) {
            Some(best) => d.with_help(format!("did you mean `{best}`?")),
            None => d.with_note(format!(
                "the resource kinds are {}",
                crate::fields::fmt_list(&keywords)
            )),
        };
        cx.push(d);
        return None;
    };
    let name = name_at(cx, &decl.name, decl.name_span, kind.keyword());
    let mut f = Fields::new(&decl.body, kind.keyword(), decl.name_span)
        .with_owner(format!("{kind} `{}`", decl.name.escape_debug()));
    let product = if kind == ResourceKind::Product {
        name.clone()
    } else {
        let example = products
            .keys()
            .next()
            .map_or("'my-product'".to_owned(), |p| format!("'{p}'"));
        f.req(cx, "product", &example).and_then(|v| {
            let p = cx.name(v, "product")?;
            if !products.contains_key(p.as_str()) {
                let mut d = Diagnostic::error(
                    Code::UnknownProduct,
                    format!("undeclared product `{p}`"),
                    v.span,
                    "no product with this name in the apply set",
                );
                d = match did_you_mean(p.as_str(), products.keys().map(String::as_str)) {
                    Some(best) => d.with_help(format!("did you mean `'{best}'`?")),
                    None => d.with_help(format!(
                        "declare it in one of the files: `product '{p}' = {{ version: '1.0.0' }}`"
                    )),
                };
                cx.push(d);
            }
            Some(p)
        })
    };
    let spec = crate::kinds::build(cx, kind, &mut f, product.as_ref());
    f.finish(cx);
    Some((product, kind, name, spec))
}

fn check_refs(
    cx: &mut Cx,
    declared: &HashMap<(Name, ResourceKind, Name), Span>,
    resources: &[Resource],
    config_failed: &BTreeSet<Name>,
) {
    let mut config_keys: BTreeMap<&Name, BTreeSet<&str>> = BTreeMap::new();
    for r in resources {
        if let ResourceSpec::Config(c) = &r.spec {
            config_keys
                .entry(&r.product)
                .or_default()
                .extend(c.entries.keys().map(|k| k.as_str()));
        }
    }
    let refs = std::mem::take(&mut cx.refs);
    for PendingRef {
        product,
        target,
        name,
        span,
        what,
    } in refs
    {
        let candidates: Vec<&str> = match target {
            Target::Kinds(kinds) => {
                let found = Name::parse(&name).ok().is_some_and(|n| {
                    kinds
                        .iter()
                        .any(|k| declared.contains_key(&(product.clone(), *k, n.clone())))
                });
                if found {
                    continue;
                }
                declared
                    .keys()
                    .filter(|(p, k, _)| *p == product && kinds.contains(k))
                    .map(|(_, _, n)| n.as_str())
                    .collect()
            }
            Target::ConfigEntry => {
                if config_failed.contains(&product) {
                    continue;
                }
                let keys = config_keys.get(&product);
                if keys.is_some_and(|k| k.contains(name.as_str())) {
                    continue;
                }
                keys.map(|k| k.iter().copied().collect())
                    .unwrap_or_default()
            }
        };
        let mut candidates = candidates;
        candidates.sort_unstable();
        let mut d = Diagnostic::error(
            Code::UndeclaredReference,
            format!("undeclared {what} `{name}`"),
            span,
            format!("no {what} named `{name}` in product `{product}`"),
        );
        d = match (did_you_mean(&name, candidates.iter().copied()), target) {
            (Some(best), _) => d.with_help(format!("did you mean `'{best}'`?")),
            (None, Target::ConfigEntry) => d.with_help(format!(
                "add `'{name}': …` to the `entries` of a config in product `{product}`"
            )),
            (None, Target::Kinds(kinds)) => {
                let kind = kinds.first().map_or("resource", |k| k.keyword());
                d.with_help(format!(
                    "declare it: `{kind} '{name}' = {{ product: '{product}', … }}`"
                ))
            }
        };
        if let (Target::Kinds(kinds), Ok(n)) = (target, Name::parse(&name)) {
            if let Some(other) = ResourceKind::ALL
                .into_iter()
                .find(|k| declared.contains_key(&(product.clone(), *k, n.clone())))
            {
                let wanted: Vec<&str> = kinds.iter().map(|k| k.keyword()).collect();
                d = d.with_note(format!(
                    "`{name}` is a {other}, but {what} must name a {}",
                    wanted.join(" or ")
                ));
            }
        }
        cx.push(d);
    }
}

/// Reports each cycle in role inheritance once, at the first role of the cycle (by name).
fn check_role_cycles(
    cx: &mut Cx,
    declared: &HashMap<(Name, ResourceKind, Name), Span>,
    resources: &[Resource],
) {
    let mut graph: BTreeMap<(&Name, &Name), Vec<&Name>> = BTreeMap::new();
    for r in resources {
        if let ResourceSpec::Role(spec) = &r.spec {
            graph.insert((&r.product, &r.name), spec.inherits.iter().collect());
        }
    }
    let mut reported: BTreeSet<Vec<&Name>> = BTreeSet::new();
    for &(product, start) in graph.keys() {
        // Iterative DFS from `start` looking for a path back to it.
        let mut stack: Vec<(&Name, usize)> = vec![(start, 0)];
        let mut on_path: Vec<&Name> = vec![start];
        let mut seen: BTreeSet<&Name> = BTreeSet::new();
        while let Some((node, i)) = stack.pop() {
            let next = graph.get(&(product, node)).and_then(|n| n.get(i)).copied();
            let Some(next) = next else {
                on_path.pop();
                continue;
            };
            stack.push((node, i + 1));
            if next == start {
                let mut cycle = on_path.clone();
                cycle.sort();
                if reported.insert(cycle) {
                    let path: Vec<String> = on_path
                        .iter()
                        .chain(std::iter::once(&start))
                        .map(|n| format!("`{n}`"))
                        .collect();
                    let span = declared
                        .get(&(product.clone(), ResourceKind::Role, start.clone()))
                        .copied()
                        .unwrap_or(Span::new(0, 0, 0));
                    cx.push(
                        Diagnostic::error(
                            Code::InheritanceCycle,
                            format!("role `{start}` inherits from itself"),
                            span,
                            "part of an inheritance cycle",
                        )
                        .with_note(format!("the cycle is {}", path.join(" → ")))
                        .with_help("remove one of the `inherits` entries in the cycle"),
                    );
                }
            } else if seen.insert(next) && graph.contains_key(&(product, next)) {
                on_path.push(next);
                stack.push((next, 0));
            }
        }
    }
}
