//! The console status screen: what a person at the HDMI or serial console needs to reach the
//! node. Pure rendering; PID 1 prints it whenever its content changes.

use std::time::Duration;

use crate::net::Address;

/// The node process, as the supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeView {
    /// Not started, and why.
    NotStarted(String),
    /// Running.
    Running {
        /// Its pid.
        pid: i32,
    },
    /// Died; restarting after a backoff.
    Restarting {
        /// How it ended last.
        last_exit: String,
        /// Restart delay.
        delay: Duration,
    },
    /// Stopping for a shutdown.
    Stopping,
}

/// The data partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataView {
    /// Mounted.
    Mounted {
        /// The device.
        device: String,
        /// Its size in bytes.
        bytes: u64,
    },
    /// Not mounted, and why.
    Unavailable(String),
}

/// Everything the screen shows. Each optional field is shown as "not available yet" (with the
/// reason) when absent, never invented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// `picloud` version.
    pub version: String,
    /// `/etc/picloud/release` build id and board, when present.
    pub build: Option<String>,
    /// The booted slot (`a`/`b`), or why it is unknown.
    pub slot: Result<String, String>,
    /// The network interface, when one was found.
    pub interface: Option<String>,
    /// The address, when there is one.
    pub address: Option<Address>,
    /// Port of the HTTPS API.
    pub api_port: u16,
    /// The cluster CA fingerprint (SHA-256), or why it is unavailable.
    pub ca_fingerprint: Result<String, String>,
    /// The bootstrap code with its expiry, or why there is none
    /// ([`crate::bootstrap::screen_text`]).
    pub bootstrap_code: Result<String, String>,
    /// The node process.
    pub node: NodeView,
    /// The data partition.
    pub data: DataView,
    /// `picloud.console=` text from the kernel command line.
    pub console_text: Option<String>,
}

/// `VmRSS` in KiB from a `/proc/<pid>/status` text.
pub fn vm_rss_kb(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The `PICLOUD-MEM` measurement line (`picloud.test.mem`).
pub fn mem_line(pid1_kb: u64, node_kb: Option<u64>) -> String {
    let node = node_kb.unwrap_or(0);
    format!(
        "PICLOUD-MEM pid1_rss_kb={pid1_kb} node_rss_kb={node} total_kb={}",
        pid1_kb + node
    )
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS.get(u).copied().unwrap_or("B"))
}

/// Renders the screen as plain lines (works on a serial console and a framebuffer alike).
pub fn render(v: &StatusView) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let version = match &v.build {
        Some(b) => format!("{} ({b})", v.version),
        None => v.version.clone(),
    };
    rows.push(("version", version));
    rows.push((
        "slot",
        match &v.slot {
            Ok(s) => s.clone(),
            Err(e) => format!("unknown ({e})"),
        },
    ));
    let url = match &v.address {
        Some(a) => {
            let via = v.interface.as_deref().unwrap_or("?");
            rows.push((
                "address",
                format!("{}/{} ({} on {via})", a.ip, a.prefix_len, a.source.as_str()),
            ));
            Some(format!("https://{}:{}/", a.ip, v.api_port))
        }
        None => {
            let why = match &v.interface {
                Some(i) => format!("none yet (asking DHCP on {i})"),
                None => "none (no network interface found)".to_owned(),
            };
            rows.push(("address", why));
            None
        }
    };
    rows.push((
        "URL",
        url.unwrap_or_else(|| "not available yet (no address)".to_owned()),
    ));
    rows.push((
        "CA sha256",
        match &v.ca_fingerprint {
            Ok(f) => f.clone(),
            Err(e) => format!("not available yet ({e})"),
        },
    ));
    rows.push((
        "bootstrap",
        match &v.bootstrap_code {
            Ok(c) => c.clone(),
            Err(e) => format!("none ({e})"),
        },
    ));
    rows.push((
        "node",
        match &v.node {
            NodeView::NotStarted(why) => format!("not started ({why})"),
            NodeView::Running { pid } => format!("running (pid {pid})"),
            NodeView::Restarting { last_exit, delay } => {
                format!("{last_exit}; restarting in {:.1} s", delay.as_secs_f64())
            }
            NodeView::Stopping => "stopping".to_owned(),
        },
    ));
    rows.push((
        "data",
        match &v.data {
            DataView::Mounted { device, bytes } => {
                format!("{device} on /data ({})", human_bytes(*bytes))
            }
            DataView::Unavailable(why) => format!("not mounted ({why})"),
        },
    ));
    if let Some(t) = &v.console_text {
        rows.push(("note", t.clone()));
    }
    let mut out = String::new();
    let rule = "=".repeat(64);
    out.push_str(&format!("{rule}\n PiCloud\n{rule}\n"));
    for (k, val) in rows {
        out.push_str(&format!(" {k:<10} {val}\n"));
    }
    out.push_str(&rule);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::AddressSource;
    use std::net::Ipv4Addr;

    fn view() -> StatusView {
        StatusView {
            version: "0.1.0".into(),
            build: Some("build 1234, board qemu-aarch64".into()),
            slot: Ok("a".into()),
            interface: Some("eth0".into()),
            address: Some(Address {
                ip: Ipv4Addr::new(10, 0, 2, 15),
                prefix_len: 24,
                source: AddressSource::Dhcp,
                router: None,
                dns: vec![],
            }),
            api_port: 8443,
            ca_fingerprint: Ok("AB:CD".into()),
            bootstrap_code: Ok(
                "ABCD-EFGH (single use; expires 2026-11-27 22:15 UTC, in 15 min)".into(),
            ),
            node: NodeView::Running { pid: 42 },
            data: DataView::Mounted {
                device: "/dev/vda7".into(),
                bytes: 3 << 30,
            },
            console_text: None,
        }
    }

    #[test]
    fn renders_everything_known() {
        let s = render(&view());
        assert!(
            s.contains(" version    0.1.0 (build 1234, board qemu-aarch64)\n"),
            "{s}"
        );
        assert!(s.contains(" slot       a\n"));
        assert!(s.contains(" address    10.0.2.15/24 (dhcp on eth0)\n"));
        assert!(s.contains(" URL        https://10.0.2.15:8443/\n"));
        assert!(s.contains(" CA sha256  AB:CD\n"));
        assert!(s.contains(
            " bootstrap  ABCD-EFGH (single use; expires 2026-11-27 22:15 UTC, in 15 min)\n"
        ));
        assert!(s.contains(" node       running (pid 42)\n"));
        assert!(s.contains(" data       /dev/vda7 on /data (3.0 GiB)\n"));
    }

    #[test]
    fn memory_line() {
        let st = "Name:\tpicloud\nVmPeak:\t  9000 kB\nVmRSS:\t    4321 kB\nThreads: 2\n";
        assert_eq!(vm_rss_kb(st), Some(4321));
        assert_eq!(vm_rss_kb("Name: x\n"), None);
        assert_eq!(
            mem_line(4321, Some(30000)),
            "PICLOUD-MEM pid1_rss_kb=4321 node_rss_kb=30000 total_kb=34321"
        );
        assert_eq!(
            mem_line(10, None),
            "PICLOUD-MEM pid1_rss_kb=10 node_rss_kb=0 total_kb=10"
        );
    }

    #[test]
    fn says_honestly_what_is_missing() {
        let mut v = view();
        v.address = None;
        v.ca_fingerprint = Err("the node has not created the cluster CA yet".into());
        v.slot = Err("no picloud.slot=".into());
        v.node = NodeView::Restarting {
            last_exit: "exited with status 1".into(),
            delay: Duration::from_millis(2000),
        };
        v.data = DataView::Unavailable("no disk".into());
        v.bootstrap_code = crate::bootstrap::screen_text(Ok(None), 0);
        let s = render(&v);
        assert!(
            s.contains(" bootstrap  none (not issued on this node yet: the node issues one"),
            "{s}"
        );
        assert!(s.contains("none yet (asking DHCP on eth0)"));
        assert!(s.contains("URL        not available yet (no address)"));
        assert!(s.contains("not available yet (the node has not created"));
        assert!(s.contains("unknown (no picloud.slot=)"));
        assert!(s.contains("exited with status 1; restarting in 2.0 s"));
        assert!(s.contains("not mounted (no disk)"));
        v.interface = None;
        assert!(render(&v).contains("no network interface found"));
    }
}
