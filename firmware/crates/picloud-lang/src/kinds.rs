//! Per-kind field schemas: AST object → typed `ResourceSpec`.

use std::collections::BTreeMap;

use picloud_domain::name::Name;
use picloud_domain::resource::{
    check_absolute_path, BinarySpec, ConfigKey, ConfigSpec, ConfigValue, ContainerSpec, Durability,
    EnvName, EnvValue, EventSubscriptionSpec, EventTypeName, FeatureFlagSpec, GroupSpec,
    HealthCheck, IdentitySpec, ImageRef, IngressSpec, Mount, Performance, Permission, Port, Probe,
    ProductSpec, Protocol, ResourceKind, ResourceLimits, ResourceSpec, RestartPolicy, RoleSpec,
    SecretSpec, SecretValue, SemVer, StorageIntent, SubscriptionSource, VersionExpr, VolumeSpec,
    VolumeType, DEFAULT_FAILURE_THRESHOLD, DEFAULT_PROBE_INTERVAL, DEFAULT_PROBE_TIMEOUT,
};
use picloud_domain::units::{ByteSize, DurationMs, MilliCpu};

use crate::ast::{Value, ValueKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::fields::{name_at, Cx, Fields, Target};
use crate::suggest::did_you_mean;

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
            let w = workload(cx, f, p);
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
            let w = workload(cx, f, p)?;
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
fn list<T>(
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

/// Fields shared by containers and binaries.
struct Workload {
    identity: Option<Name>,
    args: Vec<String>,
    env: BTreeMap<EnvName, EnvValue>,
    mounts: Vec<Mount>,
    ports: Vec<Port>,
    resources: Option<ResourceLimits>,
    health_check: Option<HealthCheck>,
    restart_policy: RestartPolicy,
}

fn workload(cx: &mut Cx, f: &mut Fields<'_>, p: Option<&Name>) -> Option<Workload> {
    let identity = f.opt("identity").map(|v| {
        let n = cx.name(v, "identity")?;
        cx.reference(
            p,
            Target::Kinds(&[ResourceKind::Identity]),
            n.as_str(),
            v.span,
            "identity",
        );
        Some(n)
    });
    let args = list(cx, f.opt("args"), "strings", |cx, v| cx.string(v));
    let env = f.opt("env").map(|v| env(cx, v, p));
    let mounts = list(cx, f.opt("mounts"), "mounts", |cx, v| mount(cx, v, p));
    let ports = list(cx, f.opt("ports"), "ports", port);
    let resources = f.opt("resources").map(|v| limits(cx, v));
    let health_check = f.opt("healthCheck").map(|v| health(cx, v));
    let restart_policy = f
        .opt("restartPolicy")
        .map_or(Some(RestartPolicy::Always), |v| restart(cx, v));
    Some(Workload {
        identity: identity.map_or(Some(None), |v| v.map(Some))?,
        args: args?,
        env: env.map_or(Some(BTreeMap::new()), |v| v)?,
        mounts: mounts?,
        ports: ports?,
        resources: resources.map_or(Some(None), |v| v.map(Some))?,
        health_check: health_check.map_or(Some(None), |v| v.map(Some))?,
        restart_policy: restart_policy?,
    })
}

fn env(cx: &mut Cx, v: &Value, p: Option<&Name>) -> Option<BTreeMap<EnvName, EnvValue>> {
    let obj = cx.object(v)?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for m in &obj.members {
        let key = match EnvName::parse(&m.key) {
            Ok(k) => Some(k),
            Err(e) => {
                cx.push(Diagnostic::error(
                    Code::InvalidName,
                    format!(
                        "invalid environment variable name `{}`",
                        m.key.escape_debug()
                    ),
                    m.key_span,
                    e.to_string(),
                ));
                None
            }
        };
        let value = env_value(cx, &m.value, p);
        match (key, value) {
            (Some(k), Some(v)) => {
                out.insert(k, v);
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn env_value(cx: &mut Cx, v: &Value, p: Option<&Name>) -> Option<EnvValue> {
    match &v.kind {
        ValueKind::Str(s) => Some(EnvValue::Literal(s.clone())),
        ValueKind::Call {
            name,
            name_span,
            args,
        } => {
            let arg = match (args.as_slice(), name.as_str()) {
                (_, "secret" | "config") if args.len() != 1 => {
                    cx.push(
                        Diagnostic::error(
                            Code::InvalidCall,
                            format!(
                                "`{name}()` takes exactly one argument, found {}",
                                args.len()
                            ),
                            v.span,
                            "wrong number of arguments",
                        )
                        .with_help(format!("write `{name}('my-{name}')`")),
                    );
                    return None;
                }
                ([a], "secret" | "config") => a,
                _ => {
                    let mut d = Diagnostic::error(
                        Code::InvalidCall,
                        format!("unknown function `{name}`"),
                        *name_span,
                        "unknown function",
                    );
                    d = match did_you_mean(name, ["secret", "config"]) {
                        Some(b) => d.with_help(format!("did you mean `{b}`?")),
                        None => {
                            d.with_note("the functions are `secret('name')` and `config('key')`")
                        }
                    };
                    cx.push(d);
                    return None;
                }
            };
            let s = cx.str(arg)?;
            if name == "secret" {
                let n = name_at(cx, s, arg.span, "secret")?;
                cx.reference(
                    p,
                    Target::Kinds(&[ResourceKind::Secret]),
                    n.as_str(),
                    arg.span,
                    "secret",
                );
                Some(EnvValue::Secret(n))
            } else {
                let k = cx.parsed(arg, Code::InvalidName, "config key", ConfigKey::parse)?;
                cx.reference(p, Target::ConfigEntry, k.as_str(), arg.span, "config entry");
                Some(EnvValue::Config(k))
            }
        }
        _ => {
            cx.wrong_type(v, "a string, secret('…') or config('…')");
            None
        }
    }
}

fn mount(cx: &mut Cx, v: &Value, p: Option<&Name>) -> Option<Mount> {
    let o = cx.object(v)?;
    let mut f = Fields::new(o, "mount", v.span);
    let volume = f.req(cx, "volume", "'media-store'").and_then(|v| {
        let n = cx.name(v, "volume")?;
        cx.reference(
            p,
            Target::Kinds(&[ResourceKind::Volume]),
            n.as_str(),
            v.span,
            "volume",
        );
        Some(n)
    });
    let path = f.req(cx, "path", "'/data'").and_then(|v| {
        cx.parsed(v, Code::InvalidValue, "mount path", |s| {
            check_absolute_path(s).map(|()| s.to_owned())
        })
    });
    let read_only = f.opt("readOnly").map_or(Some(false), |v| cx.bool(v));
    f.finish(cx);
    Some(Mount {
        volume: volume?,
        path: path?,
        read_only: read_only?,
    })
}

fn port(cx: &mut Cx, v: &Value) -> Option<Port> {
    if let ValueKind::Number(_) = v.kind {
        return Some(Port {
            name: None,
            port: cx.port(v)?,
            protocol: Protocol::Tcp,
        });
    }
    let ValueKind::Object(o) = &v.kind else {
        cx.wrong_type(v, "a port number or an object");
        return None;
    };
    let mut f = Fields::new(o, "port", v.span);
    let name = f.opt("name").map(|v| cx.name(v, "port"));
    let number = f.req(cx, "port", "8080").and_then(|v| cx.port(v));
    let protocol = f.opt("protocol").map_or(Some(Protocol::Tcp), |v| {
        cx.choice(
            v,
            "protocol",
            &[("tcp", Protocol::Tcp), ("udp", Protocol::Udp)],
        )
    });
    f.finish(cx);
    Some(Port {
        name: name.map_or(Some(None), |v| v.map(Some))?,
        port: number?,
        protocol: protocol?,
    })
}

fn limits(cx: &mut Cx, v: &Value) -> Option<ResourceLimits> {
    let o = cx.object(v)?;
    let mut f = Fields::new(o, "`resources`", v.span);
    let cpu = f
        .opt("cpu")
        .map(|v| cx.parsed(v, Code::InvalidQuantity, "cpu", MilliCpu::parse));
    let memory = f
        .opt("memory")
        .map(|v| cx.parsed(v, Code::InvalidQuantity, "memory", ByteSize::parse));
    f.finish(cx);
    let cpu = cpu.map(|c| {
        c.filter(|c| {
            in_range(
                cx,
                f_span(o, "cpu"),
                c.millicores().into(),
                1,
                128_000,
                "cpu",
                "from '1m' to '128' cores",
            )
        })
    });
    let memory = memory.map(|m| {
        m.filter(|m| {
            in_range(
                cx,
                f_span(o, "memory"),
                m.bytes(),
                4 << 20,
                1 << 40,
                "memory",
                "from '4MiB' to '1TiB'",
            )
        })
    });
    Some(ResourceLimits {
        cpu: cpu.map_or(Some(None), |v| v.map(Some))?,
        memory: memory.map_or(Some(None), |v| v.map(Some))?,
    })
}

fn duration(
    cx: &mut Cx,
    f: &mut Fields<'_>,
    key: &'static str,
    default: DurationMs,
) -> Option<DurationMs> {
    f.opt(key).map_or(Some(default), |v| {
        cx.parsed(v, Code::InvalidQuantity, "duration", DurationMs::parse)
    })
}

fn health(cx: &mut Cx, v: &Value) -> Option<HealthCheck> {
    let o = cx.object(v)?;
    let mut f = Fields::new(o, "`healthCheck`", v.span);
    let mut probes: Vec<(&Value, Option<Probe>)> = Vec::new();
    if let Some(h) = f.opt("http") {
        let p = cx.object(h).and_then(|o| {
            let mut g = Fields::new(o, "`http` probe", h.span);
            let path = g.req(cx, "path", "'/healthz'").and_then(|v| {
                cx.parsed(v, Code::InvalidValue, "path", |s| {
                    check_absolute_path(s).map(|()| s.to_owned())
                })
            });
            let port = g.req(cx, "port", "8080").and_then(|v| cx.port(v));
            g.finish(cx);
            Some(Probe::Http {
                path: path?,
                port: port?,
            })
        });
        probes.push((h, p));
    }
    if let Some(t) = f.opt("tcp") {
        let p = cx.object(t).and_then(|o| {
            let mut g = Fields::new(o, "`tcp` probe", t.span);
            let port = g.req(cx, "port", "5432").and_then(|v| cx.port(v));
            g.finish(cx);
            Some(Probe::Tcp { port: port? })
        });
        probes.push((t, p));
    }
    if let Some(e) = f.opt("exec") {
        let p = cx.object(e).and_then(|o| {
            let mut g = Fields::new(o, "`exec` probe", e.span);
            let command = g
                .req(cx, "command", "['/bin/check']")
                .and_then(|v| list(cx, Some(v), "strings", |cx, v| cx.string(v)));
            g.finish(cx);
            Some(Probe::Exec { command: command? })
        });
        probes.push((e, p));
    }
    let interval = duration(cx, &mut f, "interval", DEFAULT_PROBE_INTERVAL);
    let timeout = duration(cx, &mut f, "timeout", DEFAULT_PROBE_TIMEOUT);
    let threshold = f
        .opt("failureThreshold")
        .map_or(Some(DEFAULT_FAILURE_THRESHOLD), |v| cx.u32(v, 1, 100));
    f.finish(cx);
    let probe = match probes.as_slice() {
        [] => {
            cx.push(
                Diagnostic::error(
                    Code::MissingField,
                    "a health check needs a probe",
                    v.span,
                    "no `http`, `tcp` or `exec` probe",
                )
                .with_help("add `http: { path: '/healthz', port: 8080 }`"),
            );
            None
        }
        [(_, p)] => p.clone(),
        [_, (second, _), ..] => {
            cx.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    "a health check has exactly one probe",
                    second.span,
                    "second probe",
                )
                .with_help("keep one of `http`, `tcp` and `exec`"),
            );
            None
        }
    };
    Some(HealthCheck {
        probe: probe?,
        interval: interval?,
        timeout: timeout?,
        failure_threshold: threshold?,
    })
}

fn restart(cx: &mut Cx, v: &Value) -> Option<RestartPolicy> {
    #[derive(Clone, Copy)]
    enum P {
        Always,
        OnFailure,
        Never,
    }
    const OPTIONS: &[(&str, P)] = &[
        ("always", P::Always),
        ("on-failure", P::OnFailure),
        ("never", P::Never),
    ];
    let (policy, retries) = match &v.kind {
        ValueKind::Object(o) => {
            let mut f = Fields::new(o, "`restartPolicy`", v.span);
            let policy = f
                .req(cx, "policy", "'on-failure'")
                .and_then(|p| cx.choice(p, "restart policy", OPTIONS));
            let retries = f.opt("maxRetries").map(|r| (r, cx.u32(r, 0, 1_000_000)));
            f.finish(cx);
            (policy?, retries)
        }
        ValueKind::Str(_) => (cx.choice(v, "restart policy", OPTIONS)?, None),
        _ => {
            cx.wrong_type(v, "a string such as 'always', or an object");
            return None;
        }
    };
    match (policy, retries) {
        (P::OnFailure, r) => Some(RestartPolicy::OnFailure {
            max_retries: r.map_or(Some(None), |(_, v)| v.map(Some))?,
        }),
        (_, Some((r, _))) => {
            cx.push(Diagnostic::error(
                Code::InvalidValue,
                "`maxRetries` only applies to the 'on-failure' policy",
                r.span,
                "not used by this policy",
            ));
            None
        }
        (P::Always, None) => Some(RestartPolicy::Always),
        (P::Never, None) => Some(RestartPolicy::Never),
    }
}

/// Span of a member's value (or of the object when absent).
fn f_span(o: &crate::ast::Object, key: &str) -> crate::diagnostic::Span {
    o.get(key).map_or(o.span, |m| m.value.span)
}

/// Reports a quantity outside `min..=max`; returns whether it is inside.
fn in_range(
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
