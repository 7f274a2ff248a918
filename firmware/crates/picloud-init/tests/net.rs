//! The DHCP client and the link-local fallback against real kernels and a real DHCP server:
//! each test builds private network namespaces joined by a veth pair (deleted afterwards) and
//! runs `sys::netif::run` in a thread that entered the client namespace.
//!
//! Needs root and `ip` (iproute2); the DHCP test also needs `dnsmasq`
//! (`apt-get install dnsmasq-base`). Without them the tests say why and pass without
//! checking anything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use picloud_init::dhcp::DhcpTiming;
use picloud_init::linklocal::{LinkLocal, LinkLocalTiming};
use picloud_init::net::AddressSource;
use picloud_init::sys::netif::{self, NetConfig, NetStatus};

fn skip(why: &str) -> bool {
    eprintln!("SKIPPED: {why}");
    true
}

fn cannot_run(need_dnsmasq: bool) -> bool {
    // SAFETY: geteuid has no preconditions.
    #[allow(unsafe_code)]
    let uid = unsafe { libc::geteuid() };
    if uid != 0 {
        return skip("network namespaces need root");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return skip("`ip` (iproute2) is not installed");
    }
    if need_dnsmasq && Command::new("dnsmasq").arg("--version").output().is_err() {
        return skip("dnsmasq is not installed (apt-get install dnsmasq-base)");
    }
    false
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_out(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair; removed on drop (with whatever runs in them).
struct Pair {
    server: String,
    client: String,
    server_if: String,
    client_if: String,
    children: Vec<Child>,
}

impl Pair {
    fn new(tag: &str, client_mac: &str) -> Pair {
        let id = std::process::id() % 100_000;
        let p = Pair {
            server: format!("pci-{tag}-s{id}"),
            client: format!("pci-{tag}-c{id}"),
            server_if: format!("s{tag}{id}"),
            client_if: format!("c{tag}{id}"),
            children: Vec::new(),
        };
        for ns in [&p.server, &p.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&[
            "link",
            "add",
            &p.server_if,
            "netns",
            &p.server,
            "type",
            "veth",
            "peer",
            "name",
            &p.client_if,
            "netns",
            &p.client,
            "address",
            client_mac,
        ]);
        ip(&["-n", &p.server, "link", "set", &p.server_if, "up"]);
        p
    }

    fn ns_path(&self) -> String {
        format!("/run/netns/{}", self.client)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs the network loop in a thread inside the client namespace until `stop`.
fn spawn_client(
    ns: String,
    cfg: NetConfig,
    status: Arc<Mutex<NetStatus>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<(), String>> {
    std::thread::spawn(move || {
        picloud_init::sys::enter_netns(Path::new(&ns)).map_err(|e| e.to_string())?;
        netif::run(&cfg, &status, &stop).map_err(|e| e.to_string())
    })
}

fn wait_for(
    status: &Arc<Mutex<NetStatus>>,
    timeout: Duration,
    pred: impl Fn(&NetStatus) -> bool,
) -> NetStatus {
    let start = Instant::now();
    loop {
        let s = status.lock().unwrap().clone();
        if pred(&s) || start.elapsed() > timeout {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dhcp_client_gets_a_lease_from_dnsmasq_and_configures_it() {
    if cannot_run(true) {
        return;
    }
    let mut pair = Pair::new("d", "02:00:00:5a:00:01");
    ip(&[
        "-n",
        &pair.server,
        "addr",
        "add",
        "10.231.0.1/24",
        "dev",
        &pair.server_if,
    ]);
    let dir = std::env::temp_dir().join(format!("pcinit-dnsmasq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let leases = dir.join("leases");
    let dnsmasq = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.server,
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
        ])
        .arg("--port=0")
        .arg(format!("--interface={}", pair.server_if))
        .arg("--bind-interfaces")
        .arg("--dhcp-range=10.231.0.50,10.231.0.60,255.255.255.0,2m")
        .arg("--dhcp-option=3,10.231.0.1")
        .arg("--dhcp-option=6,10.231.0.1")
        .arg("--dhcp-authoritative")
        .arg("--no-ping")
        .arg(format!("--dhcp-leasefile={}", leases.display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg("--user=root")
        .arg("--log-dhcp")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pair.children.push(dnsmasq);

    let status = Arc::new(Mutex::new(NetStatus::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let cfg = NetConfig {
        interface: pair.client_if.clone(),
        dhcp: DhcpTiming {
            retransmit_initial: Duration::from_millis(500),
            retransmit_max: Duration::from_secs(2),
            // Long enough that link-local never starts while dnsmasq comes up.
            fallback_after: Duration::from_secs(60),
            request_attempts: 4,
        },
        link_local: LinkLocalTiming::default(),
        seed: 7,
        resolv_conf: Some(
            std::env::temp_dir().join(format!("pcinit-resolv-{}", std::process::id())),
        ),
    };
    let started = Instant::now();
    let client = spawn_client(pair.ns_path(), cfg, Arc::clone(&status), Arc::clone(&stop));
    let s = wait_for(&status, Duration::from_secs(20), |s| s.address.is_some());
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let result = client.join().unwrap();

    let addr = s.address.clone().unwrap_or_else(|| {
        let mut err = String::new();
        if let Some(c) = pair.children.first_mut() {
            let _ = c.kill();
            if let Some(mut e) = c.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
        }
        panic!("no lease within 20 s: {s:?} {result:?}\ndnsmasq: {err}")
    });
    assert_eq!(addr.source, AddressSource::Dhcp);
    let o = addr.ip.octets();
    assert_eq!(&o[..3], &[10, 231, 0]);
    assert!((50..=60).contains(&o[3]), "{addr:?}");
    assert_eq!(addr.prefix_len, 24);
    assert_eq!(addr.router, Some(Ipv4Addr::new(10, 231, 0, 1)));
    assert_eq!(addr.dns, vec![Ipv4Addr::new(10, 231, 0, 1)]);
    assert_eq!(s.dhcp_state, "bound");
    assert_eq!(s.last_error, None);
    // The kernel has the address and the default route.
    let shown = ip_out(&[
        "-n",
        &pair.client,
        "-4",
        "addr",
        "show",
        "dev",
        &pair.client_if,
    ]);
    assert!(shown.contains(&format!("inet {}/24", addr.ip)), "{shown}");
    let routes = ip_out(&["-n", &pair.client, "-4", "route", "show"]);
    assert!(routes.contains("default via 10.231.0.1"), "{routes}");
    // And dnsmasq recorded the lease for our MAC.
    let l = std::fs::read_to_string(&leases).unwrap_or_default();
    assert!(
        l.contains("02:00:00:5a:00:01") && l.contains(&addr.ip.to_string()),
        "{l}"
    );
    assert!(result.is_ok(), "{result:?}");
    let resolv = std::env::temp_dir().join(format!("pcinit-resolv-{}", std::process::id()));
    assert_eq!(
        std::fs::read_to_string(&resolv).unwrap(),
        "nameserver 10.231.0.1\n"
    );
    let _ = std::fs::remove_file(&resolv);
    eprintln!("lease {} after {took:?}", addr.ip);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_dhcp_server_falls_back_to_link_local_and_avoids_a_taken_address() {
    if cannot_run(false) {
        return;
    }
    let mac = [0x02, 0, 0, 0x5a, 0, 0x02];
    let pair = Pair::new("l", "02:00:00:5a:00:02");
    // The peer already holds the first address our MAC would pick: the probe must see the
    // conflict (the peer's kernel answers the ARP probe) and move on to the second.
    let taken = LinkLocal::candidates(mac, 2);
    ip(&[
        "-n",
        &pair.server,
        "addr",
        "add",
        &format!("{}/16", taken[0]),
        "dev",
        &pair.server_if,
    ]);

    let status = Arc::new(Mutex::new(NetStatus::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let ms = Duration::from_millis;
    let cfg = NetConfig {
        interface: pair.client_if.clone(),
        dhcp: DhcpTiming {
            retransmit_initial: ms(300),
            retransmit_max: ms(600),
            fallback_after: ms(1000),
            request_attempts: 4,
        },
        link_local: LinkLocalTiming {
            probe_wait: ms(200),
            probe_num: 3,
            probe_min: ms(200),
            probe_max: ms(300),
            announce_wait: ms(400),
            announce_num: 2,
            announce_interval: ms(200),
            max_conflicts: 10,
            rate_limit_interval: Duration::from_secs(60),
            defend_interval: Duration::from_secs(10),
        },
        seed: 9,
        resolv_conf: None,
    };
    let started = Instant::now();
    let client = spawn_client(pair.ns_path(), cfg, Arc::clone(&status), Arc::clone(&stop));
    let s = wait_for(&status, Duration::from_secs(15), |s| {
        s.address.as_ref().is_some_and(|a| a.ip == taken[1])
    });
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let result = client.join().unwrap();
    assert!(result.is_ok(), "{result:?}");
    let addr = s
        .address
        .clone()
        .unwrap_or_else(|| panic!("no address: {s:?}"));
    assert_eq!(addr.source, AddressSource::LinkLocal);
    assert_eq!(
        addr.ip, taken[1],
        "the taken address {} was avoided",
        taken[0]
    );
    assert_eq!(addr.prefix_len, 16);
    assert_eq!(
        s.dhcp_state, "selecting",
        "DHCP keeps asking in the background"
    );
    let shown = ip_out(&[
        "-n",
        &pair.client,
        "-4",
        "addr",
        "show",
        "dev",
        &pair.client_if,
    ]);
    assert!(shown.contains(&format!("inet {}/16", taken[1])), "{shown}");
    assert!(shown.contains("scope link"), "{shown}");
    assert!(!shown.contains(&taken[0].to_string()), "{shown}");
    // The peer can reach us at the claimed address.
    let ping = Command::new("ip")
        .args(["netns", "exec", &pair.server, "ping", "-c", "1", "-W", "2"])
        .arg(taken[1].to_string())
        .output();
    if let Ok(p) = ping {
        if p.status.code() != Some(127)
            && !String::from_utf8_lossy(&p.stderr).contains("No such file")
        {
            assert!(
                p.status.success(),
                "ping: {}",
                String::from_utf8_lossy(&p.stdout)
            );
        }
    }
    eprintln!("link-local {} after {took:?}", taken[1]);
}
