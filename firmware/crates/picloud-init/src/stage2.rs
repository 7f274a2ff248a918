//! Stage 2, `/sbin/init` on the read-only root (PID 1): mounts, the data partition, the
//! network, the watchdog, the node process under supervision, zombie reaping, orderly
//! shutdown on signals, and the console status screen.
//!
//! Nothing here returns an error to a caller that could exit: each step that fails is
//! reported on the console and the status screen, and PID 1 carries on with what works (a
//! node without a data partition is not started; the watchdog, reaping and the shutdown
//! signals keep working).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cmdline::BootParams;
use crate::dhcp::DhcpTiming;
use crate::linklocal::LinkLocalTiming;
use crate::status::{DataView, NodeView, StatusView};
use crate::supervise::{Backoff, ChildState, ExitStatus, Supervisor};
use crate::sys::netif::{NetConfig, NetStatus};
use crate::sys::watchdog::Watchdog;
use crate::sys::{self, Reaped, RebootKind};
use crate::{disk, mbr};

/// Where the data partition is mounted.
pub const DATA_MOUNT: &str = "/data";
/// The node's data directory.
pub const NODE_DATA: &str = "/data/picloud";
/// The watchdog device.
pub const WATCHDOG: &str = "/dev/watchdog0";
/// Timeout asked of the watchdog (the BCM2712's hardware maximum is about 15 s).
pub const WATCHDOG_TIMEOUT: Duration = Duration::from_secs(15);
/// The main loop pets the watchdog at least this often while it runs.
pub const PET_INTERVAL: Duration = Duration::from_millis(500);
/// How long the node gets to stop on SIGTERM before everything is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
const MKFS: &str = "/usr/sbin/mkfs.ext4";
/// How long PID 1 waits for the data partition setup (format, mount, grow) to finish.
const DATA_SETUP_LIMIT: Duration = Duration::from_secs(600);
const DATA_LABEL: &str = "picloud-data";

/// Prints one console line; write errors are ignored (there is nowhere else to report them).
pub fn say(msg: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "[init {:7.3}] {msg}", sys::uptime());
    let _ = out.flush();
}

fn print_raw(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A supervised child process: the restart policy ([`Supervisor`]) plus spawning.
#[derive(Debug)]
pub struct Supervised {
    /// The policy state.
    pub sup: Supervisor,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// What happened to a supervised child during one [`Supervised::tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildEvent {
    /// Started as this pid.
    Started(i32),
    /// Could not be started; retried after the delay.
    StartFailed(String, Duration),
    /// Exited; restarted after the delay.
    Exited(i32, ExitStatus, Duration),
}

impl Supervised {
    /// `program args…` under `policy`.
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>, policy: Backoff) -> Supervised {
        Supervised {
            sup: Supervisor::new(policy),
            program: program.into(),
            args,
            env: Vec::new(),
        }
    }

    /// Adds an environment variable for the child.
    pub fn env(mut self, k: &str, v: &str) -> Supervised {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Feeds reaped children, then starts the child if it is due.
    pub fn tick(&mut self, now: Duration, reaped: &[Reaped]) -> Vec<ChildEvent> {
        let mut out = Vec::new();
        for r in reaped {
            if let Some(delay) = self.sup.exited(r.pid, r.status, now) {
                out.push(ChildEvent::Exited(r.pid, r.status, delay));
            }
        }
        if self.sup.due(now) {
            let mut cmd = std::process::Command::new(&self.program);
            cmd.args(&self.args)
                .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdin(std::process::Stdio::null());
            sys::clear_signal_mask_on_exec(&mut cmd);
            let spawned = cmd.spawn();
            match spawned {
                Ok(child) => {
                    let pid = child.id() as i32;
                    // The Child handle is dropped without waiting: PID 1's reaper collects it.
                    drop(child);
                    self.sup.started(pid, now);
                    out.push(ChildEvent::Started(pid));
                }
                Err(e) => {
                    let delay = self.sup.start_failed(now);
                    out.push(ChildEvent::StartFailed(
                        format!("start {}: {e}", self.program.display()),
                        delay,
                    ));
                }
            }
        }
        out
    }
}

/// Mounts the API file systems that are not mounted yet; returns the failures.
pub fn mount_api_filesystems() -> Vec<String> {
    let nosuid = libc::MS_NOSUID;
    let table: [(&str, &str, &str, libc::c_ulong, Option<&str>); 7] = [
        (
            "proc",
            "/proc",
            "proc",
            nosuid | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        ),
        (
            "sysfs",
            "/sys",
            "sysfs",
            nosuid | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        ),
        ("devtmpfs", "/dev", "devtmpfs", nosuid, Some("mode=0755")),
        (
            "devpts",
            "/dev/pts",
            "devpts",
            nosuid | libc::MS_NOEXEC,
            Some("gid=5,mode=620,ptmxmode=000"),
        ),
        (
            "tmpfs",
            "/run",
            "tmpfs",
            nosuid | libc::MS_NODEV,
            Some("mode=0755"),
        ),
        (
            "tmpfs",
            "/tmp",
            "tmpfs",
            nosuid | libc::MS_NODEV,
            Some("mode=1777"),
        ),
        (
            "cgroup2",
            "/sys/fs/cgroup",
            "cgroup2",
            nosuid | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        ),
    ];
    let mut errors = Vec::new();
    for (src, dir, fs, flags, data) in table {
        let p = Path::new(dir);
        if dir == "/dev/pts" {
            let _ = std::fs::create_dir_all(p); // on devtmpfs, writable
        }
        if sys::is_mount_point(p) {
            continue;
        }
        if let Err(e) = sys::mount(src, p, fs, flags, data) {
            errors.push(e.to_string());
        }
    }
    errors
}

/// Finds, formats if blank, mounts and grows the data partition. Returns the device and
/// its size, or why it is not available.
pub fn setup_data(data_part: u32) -> Result<(String, u64), String> {
    let clock = sys::Clock::start();
    let disk = loop {
        if let Some(d) = disk::find_disk(data_part, |p| Path::new(p).exists()) {
            break d;
        }
        if clock.now() > Duration::from_secs(10) {
            return Err(format!("no disk with partition {data_part}"));
        }
        sys::sleep(Duration::from_millis(50));
    };
    let dev = disk::partition_path(disk, data_part);
    let part = std::fs::File::open(&dev).map_err(|e| format!("open {dev}: {e}"))?;
    let sb = sys::block::read_at(&part, 1024, 1024, &dev).map_err(|e| e.to_string())?;
    drop(part);
    if mbr::ext4_superblock(&sb).is_none() {
        // Blank: grow the partition first so that mkfs sizes the file system for the disk.
        if let Err(e) = grow_partition(disk, data_part) {
            say(&format!("data partition not grown before formatting: {e}"));
        }
        format_data(&dev)?;
    }
    let mnt = Path::new(DATA_MOUNT);
    if !sys::is_mount_point(mnt) {
        sys::mount(
            &dev,
            mnt,
            "ext4",
            libc::MS_NOATIME | libc::MS_NODEV | libc::MS_NOSUID,
            None,
        )
        .map_err(|e| e.to_string())?;
    }
    say(&format!("data partition {dev} mounted on {DATA_MOUNT}"));
    if let Err(e) = grow_data(disk, &dev, data_part, mnt) {
        say(&format!("data partition not grown: {e}"));
    }
    std::fs::create_dir_all(NODE_DATA).map_err(|e| format!("create {NODE_DATA}: {e}"))?;
    let part = std::fs::File::open(&dev).map_err(|e| format!("open {dev}: {e}"))?;
    let bytes = sys::block::size_bytes(&part, &dev).unwrap_or(0);
    Ok((dev, bytes))
}

fn format_data(dev: &str) -> Result<(), String> {
    if !Path::new(MKFS).exists() {
        return Err(format!(
            "{dev} holds no ext4 file system and this image has no {MKFS} to create one"
        ));
    }
    say(&format!(
        "{dev} is blank: creating an ext4 file system ({DATA_LABEL})"
    ));
    let mut cmd = std::process::Command::new(MKFS);
    cmd.args(["-q", "-F", "-b", "4096", "-L", DATA_LABEL, dev])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    sys::clear_signal_mask_on_exec(&mut cmd);
    let out = cmd.output().map_err(|e| format!("run {MKFS}: {e}"))?;
    if out.status.success() {
        say(&format!(
            "{dev} formatted: ext4 file system {DATA_LABEL} created by {MKFS}"
        ));
        Ok(())
    } else {
        Err(format!(
            "{MKFS} {dev} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Grows partition `number` of `disk` to the end of the disk (MBR/EBR + BLKPG). Idempotent.
pub fn grow_partition(disk: &str, number: u32) -> Result<(), String> {
    let d = sys::block::open_rw(disk).map_err(|e| e.to_string())?;
    let disk_bytes = sys::block::size_bytes(&d, disk).map_err(|e| e.to_string())?;
    let mut read = |lba: u64| sys::block::read_at(&d, lba * mbr::SECTOR, 512, disk).ok();
    let plan =
        mbr::plan_grow(disk_bytes / mbr::SECTOR, number, &mut read).map_err(|e| e.to_string())?;
    if let Some(plan) = &plan {
        sys::block::write_plan(&d, plan, disk).map_err(|e| e.to_string())?;
        sys::block::kernel_resize_partition(&d, plan.number, plan.start, plan.new_sectors)
            .map_err(|e| e.to_string())?;
        say(&format!(
            "partition {number} grown from {} to {} sectors",
            plan.old_sectors, plan.new_sectors
        ));
    }
    Ok(())
}

/// Grows partition `number` of `disk` to the end of the disk (MBR + BLKPG) and the ext4 on
/// it, mounted at `mount_point`, to the partition's size. Idempotent.
pub fn grow_data(disk: &str, dev: &str, number: u32, mount_point: &Path) -> Result<(), String> {
    grow_partition(disk, number)?;
    let part = std::fs::File::open(dev).map_err(|e| format!("open {dev}: {e}"))?;
    let part_bytes = sys::block::size_bytes(&part, dev).map_err(|e| e.to_string())?;
    let sb = sys::block::read_at(&part, 1024, 1024, dev).map_err(|e| e.to_string())?;
    let Some(fs) = mbr::ext4_superblock(&sb) else {
        return Err(format!("{dev} has no ext4 superblock"));
    };
    let target = part_bytes / fs.block_size;
    if target > fs.blocks {
        sys::block::resize_ext4(mount_point, target).map_err(|e| e.to_string())?;
        say(&format!(
            "ext4 on {dev} grown from {} to {target} blocks",
            fs.blocks
        ));
    }
    Ok(())
}

/// The cluster CA's SHA-256 fingerprint (as the node prints it), from its PEM file.
pub fn ca_fingerprint(pem_path: &Path) -> Result<String, String> {
    let pem = match std::fs::read_to_string(pem_path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("the node has not created the cluster CA yet".into())
        }
        Err(e) => return Err(format!("read {}: {e}", pem_path.display())),
    };
    let der = crate::encoding::pem_certificate_der(&pem)
        .map_err(|e| format!("{}: {e}", pem_path.display()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    Ok(digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// The status screen's bootstrap row, from the node's `bootstrap-code` file.
fn bootstrap_code(data: &DataView) -> Result<String, String> {
    if let DataView::Unavailable(_) = data {
        return Err("no data partition, so no node".into());
    }
    let path = Path::new(NODE_DATA).join(crate::bootstrap::FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("read {}: {e}", path.display())),
    };
    // The node computes the expiry from the same clock (adapter: reading the wall clock).
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    crate::bootstrap::screen_text(
        text.as_ref().map(|t| t.as_deref()).map_err(Clone::clone),
        now,
    )
}

/// What a shutdown request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Reboot into the committed slot.
    Reboot,
    /// Reboot once into the other slot (`"0 tryboot"`).
    TryBoot,
    /// Power off.
    PowerOff,
}

/// Node-to-node TLS material (`ca.pem`, `node.pem`, `node.key`): passed as `--tls-dir` when
/// all three exist.
pub const NODE_TLS: &str = "/data/picloud/tls";

/// Whether this `picloud node` has the transport flags `--tls-dir` / `--insecure-loopback`
/// (the node-to-node mTLS work adds them; older builds reject unknown flags). Asked once, from
/// `picloud node --help`, so PID 1 works with either.
fn node_transport_flags(exe: &Path) -> bool {
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["node", "--help"]);
    sys::clear_signal_mask_on_exec(&mut cmd);
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--insecure-loopback"))
        .unwrap_or(false)
}

/// The node's command line. With the transport flags: `--tls-dir` when the TLS material
/// exists, else `--insecure-loopback` when `listen` is a loopback address (the node refuses
/// plaintext anywhere else, and says so).
pub fn node_args(listen: &str, api: &str, has_tls: bool, transport_flags: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "node", "--data", NODE_DATA, "--listen", listen, "--api", api,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if transport_flags {
        let loopback = listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        if has_tls {
            args.extend(["--tls-dir".to_owned(), NODE_TLS.to_owned()]);
        } else if loopback {
            args.push("--insecure-loopback".to_owned());
        }
    }
    args
}

/// The file stage 2 writes once it runs: proof for `picloud init reboot|poweroff` that PID 1
/// is PiCloud's init (so the CLI never signals another init, such as systemd on a laptop).
pub const RUNNING_MARKER: &str = "/run/picloud-init";

/// Asks the running PiCloud PID 1 for a shutdown (what `picloud init reboot [--tryboot]`
/// and `picloud init poweroff` do, and what the OTA work calls to trial-boot the other
/// slot). Refuses when PID 1 is not PiCloud's init.
pub fn request_shutdown(kind: Shutdown) -> Result<(), String> {
    if !Path::new(RUNNING_MARKER).exists() {
        return Err(format!(
            "PID 1 is not PiCloud's init ({RUNNING_MARKER} is missing); nothing was signalled"
        ));
    }
    let sig = match kind {
        Shutdown::Reboot => libc::SIGTERM,
        Shutdown::TryBoot => sys::SIG_TRYBOOT,
        Shutdown::PowerOff => libc::SIGUSR2,
    };
    sys::kill(1, sig).map_err(|e| e.to_string())
}

/// Maps a signal to the shutdown it asks for (SIGTERM/SIGINT reboot, SIGUSR1/SIGUSR2/SIGPWR
/// power off, signal 40 reboots into the other slot once).
pub fn shutdown_for(sig: libc::c_int) -> Option<Shutdown> {
    match sig {
        libc::SIGTERM | libc::SIGINT => Some(Shutdown::Reboot),
        libc::SIGUSR1 | libc::SIGUSR2 | libc::SIGPWR => Some(Shutdown::PowerOff),
        sys::SIG_TRYBOOT => Some(Shutdown::TryBoot),
        _ => None,
    }
}

struct Pid1 {
    params: BootParams,
    clock: sys::Clock,
    watchdog: Option<Watchdog>,
    last_pet: Duration,
    node: Option<Supervised>,
    node_view: NodeView,
    data: DataView,
    net: Arc<Mutex<NetStatus>>,
    net_stop: Arc<AtomicBool>,
    last_screen: String,
    last_view_at: Option<Duration>,
    last_mem_at: Option<Duration>,
    release: Option<String>,
    api_port: u16,
}

/// Runs stage 2. Never returns.
pub fn run() -> ! {
    let mount_errors = mount_api_filesystems();
    sys::ensure_console();
    say(&format!(
        "picloud {} PID 1 starting",
        env!("CARGO_PKG_VERSION")
    ));
    for e in mount_errors {
        say(&e);
    }
    if let Err(e) = sys::block_signals(&sys::handled_signals()) {
        say(&format!("{e} (signals may be lost)"));
    }
    let _ = sys::set_hostname("picloud");
    if let Err(e) = sys::ctrl_alt_del_to_sigint() {
        say(&e.to_string());
    }
    if let Err(e) = std::fs::write(RUNNING_MARKER, format!("{}\n", env!("CARGO_PKG_VERSION"))) {
        say(&format!(
            "write {RUNNING_MARKER}: {e} (`picloud init reboot` will refuse)"
        ));
    }
    if let Err(e) = sys::netif::loopback_up() {
        say(&e.to_string());
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let params = BootParams::parse(&cmdline);
    let timeout = params
        .watchdog_secs
        .map_or(WATCHDOG_TIMEOUT, Duration::from_secs);
    let watchdog = match Watchdog::open(WATCHDOG, timeout) {
        Ok(w) => {
            say(&format!(
                "watchdog {WATCHDOG} armed ({} s)",
                w.timeout().as_secs()
            ));
            Some(w)
        }
        Err(e) => {
            say(&format!("no watchdog: {e}"));
            None
        }
    };
    let release = std::fs::read_to_string("/etc/picloud/release")
        .ok()
        .and_then(|t| crate::release::build_line(&crate::release::parse_release(&t)));
    let mut pid1 = Pid1 {
        api_port: params
            .node_api
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8443),
        params,
        clock: sys::Clock::start(),
        watchdog,
        last_pet: Duration::ZERO,
        node: None,
        node_view: NodeView::NotStarted("starting".into()),
        data: DataView::Unavailable("not set up yet".into()),
        net: Arc::new(Mutex::new(NetStatus::default())),
        net_stop: Arc::new(AtomicBool::new(false)),
        last_screen: String::new(),
        last_view_at: None,
        last_mem_at: None,
        release,
    };
    pid1.pet();
    pid1.setup_data();
    pid1.pet();
    pid1.start_network();
    pid1.prepare_node();
    print_raw(&format!("{}\n", crate::MARKER_INIT_READY));
    if let Some(secs) = pid1.params.test_hang {
        // Boot-test hook: a hung supervisor loop. Nothing pets the watchdog meanwhile, so an
        // armed watchdog resets the machine.
        say(&format!(
            "test hook picloud.test.hang: hanging {secs} s without petting the watchdog"
        ));
        sys::sleep(Duration::from_secs(secs));
        say("test hook: hang over");
    }
    pid1.main_loop()
}

impl Pid1 {
    fn pet(&mut self) {
        if let Some(w) = &self.watchdog {
            if let Err(e) = w.pet() {
                say(&e.to_string());
            }
        }
        self.last_pet = self.clock.now();
    }

    fn setup_data(&mut self) {
        let part = match &self.params.data_part {
            Ok(p) => *p,
            Err(e) => {
                self.data = DataView::Unavailable(e.to_string());
                return;
            }
        };
        // Formatting a blank partition or growing a small ext4 to a large disk can take
        // longer than the watchdog timeout: it runs in a worker while this loop keeps petting.
        // A worker stuck for DATA_SETUP_LIMIT (dead disk) is given up on, not waited for.
        let worker = std::thread::Builder::new()
            .name("data".into())
            .spawn(move || setup_data(part));
        let result = match worker {
            Err(e) => Err(format!("cannot start the data setup thread: {e}")),
            Ok(handle) => {
                let start = self.clock.now();
                loop {
                    if handle.is_finished() {
                        break handle
                            .join()
                            .unwrap_or_else(|_| Err("the data setup thread failed".into()));
                    }
                    if self.clock.now().saturating_sub(start) > DATA_SETUP_LIMIT {
                        break Err(format!(
                            "setting up the data partition did not finish within {} s",
                            DATA_SETUP_LIMIT.as_secs()
                        ));
                    }
                    self.pet();
                    sys::sleep(Duration::from_millis(100));
                }
            }
        };
        self.data = match result {
            Ok((device, bytes)) => DataView::Mounted { device, bytes },
            Err(e) => {
                say(&format!("data partition unavailable: {e}"));
                DataView::Unavailable(e)
            }
        };
    }

    fn start_network(&mut self) {
        let status = Arc::clone(&self.net);
        let stop = Arc::clone(&self.net_stop);
        let spawned = std::thread::Builder::new()
            .name("net".into())
            .spawn(move || network_thread(&status, &stop));
        if let Err(e) = spawned {
            say(&format!("cannot start the network thread: {e}"));
        }
    }

    fn prepare_node(&mut self) {
        if !matches!(self.data, DataView::Mounted { .. }) {
            self.node_view = NodeView::NotStarted(
                "no data partition: the node's log would not survive a reboot".into(),
            );
            say("the node is not started: no data partition");
            return;
        }
        let exe = if Path::new("/usr/bin/picloud").exists() {
            PathBuf::from("/usr/bin/picloud")
        } else {
            PathBuf::from("/proc/self/exe")
        };
        let tls = Path::new(NODE_TLS);
        let has_tls = ["ca.pem", "node.pem", "node.key"]
            .iter()
            .all(|f| tls.join(f).exists());
        let transport = node_transport_flags(&exe);
        let args = node_args(
            &self.params.node_listen,
            &self.params.node_api,
            has_tls,
            transport,
        );
        say(&format!(
            "node command: {} {}",
            exe.display(),
            args.join(" ")
        ));
        self.node = Some(
            Supervised::new(exe, args, Backoff::default())
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .env("HOME", NODE_DATA),
        );
    }

    fn main_loop(mut self) -> ! {
        let signals = sys::handled_signals();
        loop {
            let sig = sys::wait_signal(&signals, Duration::from_millis(250));
            if let Some(kind) = sig.and_then(shutdown_for) {
                self.shutdown(kind);
            }
            if sig == Some(libc::SIGHUP) {
                self.last_screen.clear();
            }
            let reaped = sys::reap_all();
            self.tick_node(&reaped);
            if self.clock.now().saturating_sub(self.last_pet) >= PET_INTERVAL {
                self.pet();
            }
            self.refresh_screen();
            self.report_memory();
        }
    }

    /// `picloud.test.mem`: the resident memory of PID 1 and of the node.
    fn report_memory(&mut self) {
        let Some(every) = self.params.test_mem_secs.map(Duration::from_secs) else {
            return;
        };
        let now = self.clock.now();
        if self
            .last_mem_at
            .is_some_and(|t| now.saturating_sub(t) < every)
        {
            return;
        }
        self.last_mem_at = Some(now);
        let rss = |path: String| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| crate::status::vm_rss_kb(&s))
        };
        let node = self
            .node
            .as_ref()
            .and_then(running_pid)
            .and_then(|pid| rss(format!("/proc/{pid}/status")));
        let me = rss("/proc/self/status".to_owned()).unwrap_or(0);
        print_raw(&format!("{}\n", crate::status::mem_line(me, node)));
    }

    fn tick_node(&mut self, reaped: &[Reaped]) {
        let now = self.clock.now();
        let Some(node) = self.node.as_mut() else {
            return;
        };
        for ev in node.tick(now, reaped) {
            match ev {
                ChildEvent::Started(pid) => {
                    print_raw(&format!("{} pid={pid}\n", crate::MARKER_NODE_STARTED));
                    self.node_view = NodeView::Running { pid };
                }
                ChildEvent::StartFailed(e, delay) => {
                    say(&format!("{e}; retrying in {:.1} s", delay.as_secs_f64()));
                    self.node_view = NodeView::Restarting {
                        last_exit: e,
                        delay,
                    };
                }
                ChildEvent::Exited(pid, status, delay) => {
                    say(&format!(
                        "node (pid {pid}) {status}; restarting in {:.1} s",
                        delay.as_secs_f64()
                    ));
                    self.node_view = NodeView::Restarting {
                        last_exit: status.to_string(),
                        delay,
                    };
                }
            }
        }
    }

    fn view(&self) -> StatusView {
        let net = self.net.lock().map(|n| n.clone()).unwrap_or_default();
        let ca = match &self.data {
            DataView::Mounted { .. } => ca_fingerprint(&Path::new(NODE_DATA).join("ca.pem")),
            DataView::Unavailable(_) => Err("no data partition".into()),
        };
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            build: self.release.clone(),
            slot: self
                .params
                .slot
                .as_ref()
                .map(|s| match trial_boot(&self.params) {
                    Some(true) => {
                        format!("{s} (trial boot: any reset returns to the committed slot)")
                    }
                    _ => s.as_str().to_owned(),
                })
                .map_err(|e| e.to_string()),
            interface: net.interface,
            address: net.address,
            api_port: self.api_port,
            ca_fingerprint: ca,
            bootstrap_code: bootstrap_code(&self.data),
            node: self.node_view.clone(),
            data: self.data.clone(),
            console_text: self.params.console_text.clone(),
        }
    }

    fn refresh_screen(&mut self) {
        let now = self.clock.now();
        if self
            .last_view_at
            .is_some_and(|t| now.saturating_sub(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_view_at = Some(now);
        let screen = crate::status::render(&self.view());
        if screen != self.last_screen {
            print_raw(&screen);
            self.last_screen = screen;
        }
    }

    fn shutdown(&mut self, kind: Shutdown) -> ! {
        say(&format!("shutdown requested: {kind:?}"));
        self.node_view = NodeView::Stopping;
        let node_pid = self.node.as_mut().and_then(|n| n.sup.stop());
        if let Some(pid) = node_pid {
            let _ = sys::kill(pid, libc::SIGTERM);
            let start = self.clock.now();
            let mut gone = false;
            while !gone && self.clock.now().saturating_sub(start) < STOP_GRACE {
                let _ = sys::wait_signal(&[libc::SIGCHLD], Duration::from_millis(100));
                gone = sys::reap_all().iter().any(|r| r.pid == pid);
                self.pet();
            }
            if gone {
                say("node stopped");
            } else {
                say(&format!(
                    "node did not stop within {} s; killing it",
                    STOP_GRACE.as_secs()
                ));
            }
        }
        // Everything else (and a node that would not stop).
        let _ = sys::kill(-1, libc::SIGTERM);
        sys::sleep(Duration::from_millis(200));
        let _ = sys::kill(-1, libc::SIGKILL);
        let _ = sys::reap_all();
        self.net_stop.store(true, Ordering::Relaxed);
        sys::sync();
        if sys::is_mount_point(Path::new(DATA_MOUNT)) {
            match sys::umount(Path::new(DATA_MOUNT), 0) {
                Ok(()) => say("data partition unmounted"),
                Err(e) => {
                    say(&format!("{e}; remounting read-only"));
                    let _ = sys::mount(
                        "none",
                        Path::new(DATA_MOUNT),
                        "",
                        libc::MS_REMOUNT | libc::MS_RDONLY,
                        None,
                    );
                }
            }
        }
        sys::sync();
        let rk = match kind {
            Shutdown::Reboot => RebootKind::Reset,
            Shutdown::TryBoot => RebootKind::TryBoot,
            Shutdown::PowerOff => RebootKind::PowerOff,
        };
        let e = sys::reboot(rk);
        say(&format!(
            "{e}; staying up (the watchdog will reset if armed)"
        ));
        loop {
            let _ = sys::wait_signal(&sys::handled_signals(), Duration::from_secs(1));
            let _ = sys::reap_all();
        }
    }
}

/// Whether this boot is a one-shot trial boot: the Pi firmware says so in the device tree
/// (`chosen/bootloader/tryboot`, a big-endian u32), the QEMU stand-in on the command line.
fn trial_boot(params: &BootParams) -> Option<bool> {
    match std::fs::read("/proc/device-tree/chosen/bootloader/tryboot") {
        Ok(b) if b.len() == 4 => Some(b != [0, 0, 0, 0]),
        _ => params.tryboot,
    }
}

fn network_thread(status: &Arc<Mutex<NetStatus>>, stop: &AtomicBool) {
    let mut announced_missing = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Some(iface) = sys::netif::first_ethernet() else {
            if !announced_missing {
                say("no Ethernet interface yet; waiting for one");
                announced_missing = true;
            }
            sys::sleep(Duration::from_secs(1));
            continue;
        };
        say(&format!("network: DHCP on {iface}"));
        let cfg = NetConfig {
            interface: iface.clone(),
            dhcp: DhcpTiming::default(),
            link_local: LinkLocalTiming::default(),
            seed: sys::random_u64(),
            resolv_conf: Some(PathBuf::from("/run/resolv.conf")),
        };
        if let Err(e) = sys::netif::run(&cfg, status, stop) {
            say(&format!("network on {iface}: {e}; retrying in 5 s"));
            if let Ok(mut s) = status.lock() {
                s.last_error = Some(e.to_string());
            }
            sys::sleep(Duration::from_secs(5));
        }
    }
}

/// Whether a pid is the supervised node (for tests and the status screen).
pub fn running_pid(s: &Supervised) -> Option<i32> {
    match s.sup.state() {
        ChildState::Running { pid, .. } => Some(pid),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_command_line() {
        let base = "node --data /data/picloud --listen 127.0.0.1:7070 --api 0.0.0.0:8443";
        assert_eq!(
            node_args("127.0.0.1:7070", "0.0.0.0:8443", false, false).join(" "),
            base
        );
        assert_eq!(
            node_args("127.0.0.1:7070", "0.0.0.0:8443", false, true).join(" "),
            format!("{base} --insecure-loopback")
        );
        assert_eq!(
            node_args("127.0.0.1:7070", "0.0.0.0:8443", true, true).join(" "),
            format!("{base} --tls-dir /data/picloud/tls")
        );
        // Not loopback and no TLS material: no flag; the node refuses and says why.
        let a = node_args("0.0.0.0:7070", "0.0.0.0:8443", false, true);
        assert!(!a
            .iter()
            .any(|x| x.starts_with("--insecure") || x == "--tls-dir"));
    }

    #[test]
    fn signals_map_to_shutdowns() {
        assert_eq!(shutdown_for(libc::SIGTERM), Some(Shutdown::Reboot));
        assert_eq!(shutdown_for(libc::SIGINT), Some(Shutdown::Reboot));
        assert_eq!(shutdown_for(libc::SIGUSR1), Some(Shutdown::PowerOff));
        assert_eq!(shutdown_for(libc::SIGUSR2), Some(Shutdown::PowerOff));
        assert_eq!(shutdown_for(libc::SIGPWR), Some(Shutdown::PowerOff));
        assert_eq!(shutdown_for(40), Some(Shutdown::TryBoot));
        assert_eq!(shutdown_for(libc::SIGCHLD), None);
        assert_eq!(shutdown_for(libc::SIGHUP), None);
    }
}
