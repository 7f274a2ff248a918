//! Per-kind field schemas: AST object → typed `ResourceSpec`.

use std::collections::BTreeMap;

use picloud_domain::name::Name;
use picloud_domain::resource::{
    check_absolute_path, BinarySpec, ConfigKey, ConfigSpec, ConfigValue, ContainerSpec, Durability,
    EventSubscriptionSpec, EventTypeName, FeatureFlagSpec, GroupSpec, IdentitySpec, ImageRef,
    IngressSpec, Performance, Permission, ProductSpec, ResourceKind, ResourceSpec, RoleSpec,
    SecretSpec, SecretValue, SemVer, StorageIntent, SubscriptionSource, VersionExpr, VolumeSpec,
    VolumeType,
};
use picloud_domain::units::ByteSize;

use crate::ast::{Value, ValueKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::fields::{Cx, Fields, Target};

const WORKLOADS: &[ResourceKind] = &[ResourceKind::Container, ResourceKind::Binary];
const ROLE: &[ResourceKind] = &[ResourceKind::Role];

/// Builds the spec of one declaration. `f` is the declaration body (its `product` field already
/// taken); `product` is the owning product when known (for references).
pub(crate) fn build(
    cx: &mut Cx,
    kind: ResourceKind,
    f: &mut Fields<'_>,
    product: Option<&Name>,
) -> Option<ResourceSpec> {
    let p = product;
    match kind {
        ResourceKind::Product => {
            let version = f.req(cx, "version", "'1.0.0'");
            let description = opt_string(cx, f, "description");
            let version = version.and_then(|v| semver(cx, v));
            Some(ResourceSpec::Product(ProductSpec {
                version: version?,
                description: description?,
            }))
        }
        ResourceKind::Identity => Some(ResourceSpec::Identity(IdentitySpec {
            description: opt_string(cx, f, "description")?,
            roles: names(cx, f.opt("roles"), p, Target::Kinds(ROLE), "role")?,
        })),
        ResourceKind::Group => Some(ResourceSpec::Group(GroupSpec {
            description: opt_string(cx, f, "description")?,
            roles: names(cx, f.opt("roles"), p, Target::Kinds(ROLE), "role")?,
        })),
        ResourceKind::Role => {
            let description = opt_string(cx, f, "description");
            let permissions = list(cx, f.opt("permissions"), "permission strings", |cx, v| {
                cx.parsed(v, Code::InvalidValue, "permission", Permission::parse)
            });
            let inherits = names(cx, f.opt("inherits"), p, Target::Kinds(ROLE), "role");
            Some(ResourceSpec::Role(RoleSpec {
                description: description?,
                permissions: permissions?,
                inherits: inherits?,
            }))
        }
        ResourceKind::Secret => {
            let v = f.req(cx, "value", "'…'")?;
            match &v.kind {
                ValueKind::Str(s) => Some(ResourceSpec::Secret(SecretSpec {
                    value: SecretValue::new(s.clone()),
                })),
                other => {
                    // Never echo the value: no help that quotes it.
                    cx.push(Diagnostic::error(
                        Code::WrongType,
                        format!("expected a string, found {}", other.describe()),
                        v.span,
                        "secret values are strings",
                    ));
                    None
                }
            }
        }
        ResourceKind::Config => config(cx, f),
        ResourceKind::FeatureFlag => {
            let description = opt_string(cx, f, "description");
            let enabled = f.opt("enabled").map_or(Some(true), |v| cx.bool(v));
            let version = f.opt("version").map(|v| {
                cx.parsed(
                    v,
                    Code::InvalidValue,
                    "version expression",
                    VersionExpr::parse,
                )
            });
            Some(ResourceSpec::FeatureFlag(FeatureFlagSpec {
                description: description?,
                enabled: enabled?,
                version: version.map_or(Some(None), |v| v.map(Some))?,
            }))
        }
        ResourceKind::Volume => volume(cx, f),
        ResourceKind::Container => {
            let image = f
                .req(cx, "image", "'photo-api:1.0.0'")
                .and_then(|v| cx.parsed(v, Code::InvalidValue, "image", ImageRef::parse));
            let command = list(cx, f.opt("command"), "strings", |cx, v| cx.string(v));
            let w = crate::workload::workload(cx, f, p);
            let w = w?;
            Some(ResourceSpec::Container(ContainerSpec {
                image: image?,
                identity: w.identity,
                command: command?,
                args: w.args,
                env: w.env,
                mounts: w.mounts,
                ports: w.ports,
                resources: w.resources,
                health_check: w.health_check,
                restart_policy: w.restart_policy,
            }))
        }
        ResourceKind::Binary => {
            let executable = f
                .req(cx, "executable", "'/opt/app/bin/server'")
                .and_then(|v| {
                    cx.parsed(v, Code::InvalidValue, "executable path", |s| {
                        check_absolute_path(s).map(|()| s.to_owned())
                    })
                });
            let w = crate::workload::workload(cx, f, p)?;
            Some(ResourceSpec::Binary(BinarySpec {
                executable: executable?,
                args: w.args,
                identity: w.identity,
                env: w.env,
                mounts: w.mounts,
                ports: w.ports,
                resources: w.resources,
                health_check: w.health_check,
                restart_policy: w.restart_policy,
            }))
        }
        ResourceKind::Ingress => {
            let target = f
                .req(cx, "target", "'api-server'")
                .and_then(|v| workload_ref(cx, v, p, "target"));
            let port = f.req(cx, "port", "8080").and_then(|v| cx.port(v));
            let path = f.opt("path").map(|v| {
                cx.parsed(v, Code::InvalidValue, "path", |s| {
                    check_absolute_path(s).map(|()| s.to_owned())
                })
            });
            let host = opt_string(cx, f, "host");
            let tls = f.opt("tls").map_or(Some(true), |v| cx.bool(v));
            let internal = f.opt("internal").map_or(Some(false), |v| cx.bool(v));
            Some(ResourceSpec::Ingress(IngressSpec {
                target: target?,
                port: port?,
                path: path.map_or(Some(None), |v| v.map(Some))?,
                host: host?,
                tls: tls?,
                internal: internal?,
            }))
        }
        ResourceKind::EventSubscription => {
            let source = f.req(cx, "source", "'user-service@1.0.0'").and_then(|v| {
                cx.parsed(
                    v,
                    Code::InvalidValue,
                    "event source",
                    SubscriptionSource::parse,
                )
            });
            let event = f
                .req(cx, "event", "'UserCreated'")
                .and_then(|v| cx.parsed(v, Code::InvalidValue, "event type", EventTypeName::parse));
            let handler = f
                .req(cx, "handler", "'api-server'")
                .and_then(|v| workload_ref(cx, v, p, "handler"));
            Some(ResourceSpec::EventSubscription(EventSubscriptionSpec {
                source: source?,
                event: event?,
                handler: handler?,
            }))
        }
    }
}

fn semver(cx: &mut Cx, v: &Value) -> Option<SemVer> {
    cx.parsed(v, Code::InvalidQuantity, "version", SemVer::parse)
}

/// `Some(None)` when absent, `Some(Some(s))` when a string, `None` on error.
fn opt_string(cx: &mut Cx, f: &mut Fields<'_>, key: &'static str) -> Option<Option<String>> {
    match f.opt(key) {
        None => Some(None),
        Some(v) => cx.string(v).map(Some),
    }
}

/// An optional array, each element converted by `each` (all elements are checked).
pub(crate) fn list<T>(
    cx: &mut Cx,
    v: Option<&Value>,
    of: &str,
    mut each: impl FnMut(&mut Cx, &Value) -> Option<T>,
) -> Option<Vec<T>> {
    let Some(v) = v else { return Some(Vec::new()) };
    let items = cx.array(v, of)?;
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match each(cx, item) {
            Some(t) => out.push(t),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// An optional array of names, each recorded as a reference.
fn names(
    cx: &mut Cx,
    v: Option<&Value>,
    product: Option<&Name>,
    target: Target,
    what: &'static str,
) -> Option<Vec<Name>> {
    list(cx, v, "names", |cx, item| {
        let n = cx.name(item, what)?;
        cx.reference(product, target, n.as_str(), item.span, what);
        Some(n)
    })
}

fn workload_ref(cx: &mut Cx, v: &Value, p: Option<&Name>, what: &'static str) -> Option<Name> {
    let n = cx.name(v, what)?;
    cx.reference(p, Target::Kinds(WORKLOADS), n.as_str(), v.span, what);
    Some(n)
}

fn config(cx: &mut Cx, f: &mut Fields<'_>) -> Option<ResourceSpec> {
    let v = f.req(cx, "entries", "{ 'log-level': 'info' }")?;
    let obj = cx.object(v)?;
    let mut entries = BTreeMap::new();
    let mut ok = true;
    for m in &obj.members {
        let key = match ConfigKey::parse(&m.key) {
            Ok(k) => Some(k),
            Err(e) => {
                cx.push(Diagnostic::error(
                    Code::InvalidName,
                    format!("invalid config key `{}`", m.key.escape_debug()),
                    m.key_span,
                    e.to_string(),
                ));
                None
            }
        };
        let value = match &m.value.kind {
            ValueKind::Str(s) => Some(ConfigValue::String(s.clone())),
            ValueKind::Bool(b) => Some(ConfigValue::Bool(*b)),
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            ValueKind::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                Some(ConfigValue::Integer(*n as i64))
            }
            ValueKind::Number(n) => Some(ConfigValue::Decimal(n.to_string())),
            _ => {
                cx.wrong_type(&m.value, "a string, number or boolean");
                None
            }
        };
        match (key, value) {
            (Some(k), Some(v)) => {
                entries.insert(k, v);
            }
            _ => ok = false,
        }
    }
    ok.then_some(ResourceSpec::Config(ConfigSpec { entries }))
}

fn volume(cx: &mut Cx, f: &mut Fields<'_>) -> Option<ResourceSpec> {
    let size = f
        .req(cx, "size", "'10GB'")
        .and_then(|v| cx.parsed(v, Code::InvalidQuantity, "size", ByteSize::parse));
    let intent = match f.opt("storageIntent") {
        None => Some(StorageIntent {
            durability: Durability::FullReplication,
            performance: Performance::Standard,
        }),
        Some(v) => cx.object(v).and_then(|o| {
            let mut g = Fields::new(o, "`storageIntent`", v.span);
            let durability = g
                .opt("durability")
                .map_or(Some(Durability::FullReplication), |v| {
                    cx.choice(
                        v,
                        "durability",
                        &[
                            ("full-replication", Durability::FullReplication),
                            ("quorum", Durability::Quorum),
                            ("local", Durability::Local),
                            ("none", Durability::None),
                        ],
                    )
                });
            let performance = g
                .opt("performance")
                .map_or(Some(Performance::Standard), |v| {
                    cx.choice(
                        v,
                        "performance",
                        &[
                            ("standard", Performance::Standard),
                            ("fast", Performance::Fast),
                            ("archive", Performance::Archive),
                        ],
                    )
                });
            g.finish(cx);
            Some(StorageIntent {
                durability: durability?,
                performance: performance?,
            })
        }),
    };
    let volume_type = f.opt("volumeType").map_or(Some(VolumeType::Mounted), |v| {
        cx.choice(
            v,
            "volumeType",
            &[
                ("mounted", VolumeType::Mounted),
                ("raw-block", VolumeType::RawBlock),
            ],
        )
    });
    Some(ResourceSpec::Volume(VolumeSpec {
        size: size?,
        storage_intent: intent?,
        volume_type: volume_type?,
    }))
}

/// Span of a member's value (or of the object when absent).
pub(crate) fn f_span(o: &crate::ast::Object, key: &str) -> crate::diagnostic::Span {
    o.get(key).map_or(o.span, |m| m.value.span)
}

/// Reports a quantity outside `min..=max`; returns whether it is inside.
pub(crate) fn in_range(
    cx: &mut Cx,
    span: crate::diagnostic::Span,
    value: u64,
    min: u64,
    max: u64,
    what: &str,
    range: &str,
) -> bool {
    let ok = (min..=max).contains(&value);
    if !ok {
        cx.push(Diagnostic::error(
            Code::InvalidQuantity,
            format!("{what} limit out of range"),
            span,
            format!("must be {range}"),
        ));
    }
    ok
}
