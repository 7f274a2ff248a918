//! Fields shared by containers and binaries: env, mounts, ports, resources, health checks and
//! restart policies.

use std::collections::BTreeMap;

use picloud_domain::name::Name;
use picloud_domain::resource::{
    check_absolute_path, ConfigKey, EnvName, EnvValue, HealthCheck, Mount, Port, Probe, Protocol,
    ResourceKind, ResourceLimits, RestartPolicy, DEFAULT_FAILURE_THRESHOLD, DEFAULT_PROBE_INTERVAL,
    DEFAULT_PROBE_TIMEOUT,
};
use picloud_domain::units::{ByteSize, DurationMs, MilliCpu};

use crate::ast::{Value, ValueKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::fields::{name_at, Cx, Fields, Target};
use crate::kinds::{f_span, in_range, list};
use crate::suggest::did_you_mean;

/// Fields shared by containers and binaries.
pub(crate) struct Workload {
    pub identity: Option<Name>,
    pub args: Vec<String>,
    pub env: BTreeMap<EnvName, EnvValue>,
    pub mounts: Vec<Mount>,
    pub ports: Vec<Port>,
    pub resources: Option<ResourceLimits>,
    pub health_check: Option<HealthCheck>,
    pub restart_policy: RestartPolicy,
}

pub(crate) fn workload(cx: &mut Cx, f: &mut Fields<'_>, p: Option<&Name>) -> Option<Workload> {
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
