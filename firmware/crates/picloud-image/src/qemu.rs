//! The QEMU runner and the stand-in for the Raspberry Pi firmware's A/B boot.
//!
//! Before each boot the stand-in does what the Pi 5 EEPROM firmware does: it reads
//! `autoboot.txt` from partition 1 of the disk image (mtools, no loop mount), picks
//! `boot_partition` from `[all]` or, when the one-shot tryboot flag is set, from `[tryboot]`,
//! clears the flag, and loads the kernel, initramfs and `cmdline.txt` from that FAT partition.
//! QEMU runs with `-no-reboot`, so every guest reboot ends the QEMU process; the stand-in
//! reads the kernel's `reboot: Restarting system with command '0 tryboot'` line from the
//! console to set the flag for the next boot, exactly once. A watchdog reset (QMP `WATCHDOG`
//! event), a panic or any other reset boots the default partition again, as on the Pi.
//!
//! `-M virt` has no `/proc/device-tree/chosen/bootloader`, so the stand-in appends
//! `picloud.bootpart=<n> picloud.tryboot=<0|1>` to the command line instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::board::Board;
use crate::{mbr, tools};

/// The kernel's line for a tryboot request.
pub const TRYBOOT_LINE: &str = "reboot: Restarting system with command '0 tryboot'";

#[allow(clippy::disallowed_methods)] // adapter: the runner measures wall-clock boot times
fn now() -> Instant {
    Instant::now()
}

#[allow(clippy::disallowed_methods)] // adapter: polling QEMU's QMP socket and the console
fn sleep(d: Duration) {
    std::thread::sleep(d);
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// What `autoboot.txt` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Autoboot {
    /// `boot_partition` in effect without tryboot.
    pub default_partition: u32,
    /// `boot_partition` in effect with tryboot.
    pub tryboot_partition: u32,
    /// `tryboot_a_b=1`.
    pub tryboot_a_b: bool,
}

/// Parses `autoboot.txt` the way the Pi 5 firmware does for the filters it supports here:
/// `[all]` always applies, `[pi5]` applies (the stand-in is a Pi 5), `[tryboot]` applies only
/// on a tryboot, `[none]` and any other filter never apply. `boot_partition=0` means 1.
pub fn parse_autoboot(text: &str) -> Result<Autoboot> {
    let mut section = "all".to_string();
    let mut normal: Option<u32> = None;
    let mut tryb: Option<u32> = None;
    let mut ab = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_ascii_lowercase();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            bail!(
                "autoboot.txt line {}: expected key=value, got {raw:?}",
                i + 1
            );
        };
        let (k, v) = (k.trim(), v.trim());
        let applies_normal = matches!(section.as_str(), "all" | "pi5");
        let is_try = section == "tryboot";
        if !applies_normal && !is_try {
            continue;
        }
        match k {
            "boot_partition" => {
                let n: u32 = v.parse().with_context(|| {
                    format!(
                        "autoboot.txt line {}: boot_partition={v:?} is not a number",
                        i + 1
                    )
                })?;
                let n = if n == 0 { 1 } else { n };
                if applies_normal {
                    normal = Some(n);
                } else {
                    tryb = Some(n);
                }
            }
            "tryboot_a_b" if applies_normal => ab = v == "1",
            _ => {}
        }
    }
    let default_partition = normal.unwrap_or(1);
    Ok(Autoboot {
        default_partition,
        tryboot_partition: tryb.unwrap_or(default_partition),
        tryboot_a_b: ab,
    })
}

/// How a boot ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootEnd {
    /// The guest powered off (`reboot: Power down`).
    PowerOff,
    /// The guest asked for a tryboot (`reboot(RESTART2, "0 tryboot")`).
    TrybootRequested,
    /// The guest rebooted normally (`reboot: Restarting system`).
    Reboot,
    /// The emulated watchdog reset the machine (QMP `WATCHDOG` event).
    WatchdogReset,
    /// A reset requested from the host (`system_reset` over QMP: a power cut for the guest).
    HostReset,
    /// QEMU ended without any of the above (kernel panic with `panic=-1`, ...).
    OtherReset,
    /// The runner killed QEMU (timeout or on request).
    Killed,
}

/// One boot, as recorded by the stand-in.
#[derive(Debug, Clone)]
pub struct BootRecord {
    /// 1-based boot number.
    pub number: usize,
    /// The boot partition the stand-in picked.
    pub partition: u32,
    /// Whether this was a tryboot.
    pub tryboot: bool,
    /// How it ended.
    pub end: BootEnd,
    /// Wall-clock from QEMU start to exit.
    pub duration: Duration,
    /// The console lines of this boot.
    pub console: Vec<String>,
}

/// Runner settings.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The board (needs a `[qemu]` table).
    pub board: Board,
    /// The disk image QEMU writes to (use a copy to keep the built image pristine).
    pub image: PathBuf,
    /// Extracted boot files, console log and QMP sockets go here.
    pub work_dir: PathBuf,
    /// Host port forwarded to the guest's API port (0: pick a free one).
    pub api_host_port: u16,
    /// Host port forwarded to the guest's node port (0: pick a free one).
    pub node_host_port: u16,
    /// Echo the console to stderr while capturing it.
    pub stream_console: bool,
    /// Appended to the command line of the first boot only (test hooks).
    pub first_boot_append: String,
    /// Appended to every boot's command line.
    pub append: String,
}

#[derive(Debug, Default)]
struct ConsoleState {
    lines: Vec<(Duration, String)>,
    closed: bool,
}

/// A boot's console: lines with their time since QEMU started.
#[derive(Debug, Default)]
struct Console {
    state: Mutex<ConsoleState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct QmpEvents {
    names: Mutex<Vec<String>>,
}

#[derive(Debug)]
struct Qmp {
    stream: UnixStream,
    replies: mpsc::Receiver<serde_json::Value>,
    events: Arc<QmpEvents>,
}

impl Qmp {
    fn connect(path: &Path, child: &mut Child) -> Result<Qmp> {
        let t0 = now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) => {
                    if let Ok(Some(st)) = child.try_wait() {
                        bail!("QEMU exited ({st}) before its QMP socket came up");
                    }
                    if now() - t0 > Duration::from_secs(20) {
                        bail!("QEMU's QMP socket {} did not come up: {e}", path.display());
                    }
                    sleep(Duration::from_millis(20));
                }
            }
        };
        let events = Arc::new(QmpEvents::default());
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(stream.try_clone()?);
        let ev = events.clone();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if let Some(name) = v.get("event").and_then(|e| e.as_str()) {
                    if let Ok(mut g) = ev.names.lock() {
                        g.push(name.to_string());
                    }
                } else if v.get("return").is_some() || v.get("error").is_some() {
                    let _ = tx.send(v);
                }
            }
        });
        let mut q = Qmp {
            stream,
            replies: rx,
            events,
        };
        q.execute("qmp_capabilities")?;
        Ok(q)
    }

    fn execute(&mut self, cmd: &str) -> Result<serde_json::Value> {
        writeln!(self.stream, "{{\"execute\":\"{cmd}\"}}").context("write to QMP")?;
        let v = self
            .replies
            .recv_timeout(Duration::from_secs(10))
            .with_context(|| format!("no QMP reply to {cmd}"))?;
        if let Some(e) = v.get("error") {
            bail!("QMP {cmd}: {e}");
        }
        Ok(v)
    }

    fn saw(&self, event: &str) -> bool {
        self.events
            .names
            .lock()
            .map(|g| g.iter().any(|n| n == event))
            .unwrap_or(false)
    }
}

/// A QEMU process running one boot.
#[derive(Debug)]
pub struct Running {
    child: Child,
    qmp: Qmp,
    console: Arc<Console>,
    started: Instant,
    /// The partition booted.
    pub partition: u32,
    /// Whether this is a tryboot.
    pub tryboot: bool,
    /// Boot number.
    pub number: usize,
    reader: Option<std::thread::JoinHandle<()>>,
    host_reset: bool,
}

impl Running {
    /// Waits until a console line contains `needle`; returns the line. Fails on timeout or
    /// when QEMU ends first (the error quotes the last console lines).
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Result<String> {
        self.wait_for_any(&[needle], timeout).map(|(_, l)| l)
    }

    /// Like [`Running::wait_for`] for several needles: the index of the first that appeared.
    pub fn wait_for_any(&self, needles: &[&str], timeout: Duration) -> Result<(usize, String)> {
        let deadline = now() + timeout;
        let mut g = self
            .console
            .state
            .lock()
            .map_err(|_| anyhow::anyhow!("console lock poisoned"))?;
        let mut seen = 0;
        loop {
            for (_, l) in g.lines.iter().skip(seen) {
                if let Some(i) = needles.iter().position(|n| l.contains(n)) {
                    return Ok((i, l.clone()));
                }
            }
            seen = g.lines.len();
            if g.closed {
                bail!(
                    "QEMU ended before the console showed {needles:?}; last lines:\n{}",
                    tail(&g.lines, 25)
                );
            }
            let left = deadline.saturating_duration_since(now());
            if left.is_zero() {
                bail!(
                    "timed out after {timeout:?} waiting for {needles:?} on the console; last lines:\n{}",
                    tail(&g.lines, 25)
                );
            }
            g = self
                .console
                .cond
                .wait_timeout(g, left.min(Duration::from_millis(500)))
                .map_err(|_| anyhow::anyhow!("console lock poisoned"))?
                .0;
        }
    }

    /// When `needle` first appeared, measured from QEMU's start.
    pub fn time_of(&self, needle: &str) -> Option<Duration> {
        let g = self.console.state.lock().ok()?;
        g.lines
            .iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(t, _)| *t)
    }

    /// Time since QEMU started.
    pub fn elapsed(&self) -> Duration {
        now() - self.started
    }

    /// Resets the machine from the host (QMP `system_reset`): for the guest this is a power
    /// cut. With `-no-reboot` QEMU then exits; [`Firmware::finish`] records `HostReset`.
    pub fn host_reset(&mut self) -> Result<()> {
        self.host_reset = true;
        self.qmp.execute("system_reset").map(|_| ())
    }

    /// The console lines so far.
    pub fn console_lines(&self) -> Vec<String> {
        self.console
            .state
            .lock()
            .map(|g| g.lines.iter().map(|(_, l)| l.clone()).collect())
            .unwrap_or_default()
    }
}

fn tail(lines: &[(Duration, String)], n: usize) -> String {
    lines
        .iter()
        .skip(lines.len().saturating_sub(n))
        .map(|(t, l)| format!("  [{:7.3}] {l}", t.as_secs_f64()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Pi firmware stand-in plus the QEMU runner.
#[derive(Debug)]
pub struct Firmware {
    opts: RunOptions,
    tryboot_flag: bool,
    boots: usize,
    /// Host port forwarded to the API.
    pub api_port: u16,
    /// Host port forwarded to the node port.
    pub node_port: u16,
    /// Console log of all boots.
    pub console_log: PathBuf,
}

impl Firmware {
    /// Checks the tools and prepares the work folder.
    pub fn new(opts: RunOptions) -> Result<Firmware> {
        let q = opts.board.qemu()?;
        let mut need: Vec<(&str, &str)> = tools::RUN_TOOLS.to_vec();
        let pkg = if q.binary.contains("x86") {
            "qemu-system-x86 (bookworm-backports)"
        } else {
            "qemu-system-arm (bookworm-backports)"
        };
        need.push((q.binary.as_str(), pkg));
        tools::require(&need)?;
        if !opts.image.is_file() {
            bail!(
                "disk image {} does not exist (cargo xtask image --board {})",
                opts.image.display(),
                opts.board.name
            );
        }
        std::fs::create_dir_all(&opts.work_dir)
            .with_context(|| format!("create {}", opts.work_dir.display()))?;
        let api_port = if opts.api_host_port == 0 {
            free_port()?
        } else {
            opts.api_host_port
        };
        let mut node_port = if opts.node_host_port == 0 {
            free_port()?
        } else {
            opts.node_host_port
        };
        while node_port == api_port {
            node_port = free_port()?;
        }
        let console_log = opts.work_dir.join("console.log");
        std::fs::write(&console_log, b"").context("create console.log")?;
        Ok(Firmware {
            opts,
            tryboot_flag: false,
            boots: 0,
            api_port,
            node_port,
            console_log,
        })
    }

    /// Sets the one-shot tryboot flag, as if the previous boot had asked for a tryboot.
    pub fn set_tryboot(&mut self) {
        self.tryboot_flag = true;
    }

    /// Whether the flag is set for the next boot.
    pub fn tryboot_pending(&self) -> bool {
        self.tryboot_flag
    }

    fn mtools(&self, tool: &str) -> Command {
        let mut c = tools::cmd(tool);
        c.env("MTOOLS_SKIP_CHECK", "1");
        c
    }

    /// Reads `autoboot.txt` from partition 1 of the image.
    pub fn read_autoboot(&self) -> Result<Autoboot> {
        let p1 = mbr::find(&self.opts.image, 1)?;
        let out = tools::run(
            self.mtools("mtype")
                .arg("-i")
                .arg(format!("{}@@{}", self.opts.image.display(), p1.offset))
                .arg("::autoboot.txt"),
        )
        .context("read autoboot.txt from partition 1")?;
        parse_autoboot(&String::from_utf8_lossy(&out.stdout))
    }

    /// Starts the next boot.
    pub fn start(&mut self) -> Result<Running> {
        let q = self.opts.board.qemu()?.clone();
        let ab = self.read_autoboot()?;
        let tryboot = std::mem::take(&mut self.tryboot_flag);
        if tryboot && !ab.tryboot_a_b {
            bail!("autoboot.txt has no tryboot_a_b=1; the stand-in only implements the A/B mode");
        }
        let partition = if tryboot {
            ab.tryboot_partition
        } else {
            ab.default_partition
        };
        self.boots += 1;
        let n = self.boots;
        let dir = self.opts.work_dir.join(format!("boot{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let part = mbr::find(&self.opts.image, partition)
            .with_context(|| format!("autoboot.txt selects partition {partition}"))?;
        let src = format!("{}@@{}", self.opts.image.display(), part.offset);
        let b = &self.opts.board;
        for f in [
            b.kernel_name.as_str(),
            b.initramfs_name.as_str(),
            "cmdline.txt",
        ] {
            tools::run(
                self.mtools("mcopy")
                    .args(["-n", "-o", "-i"])
                    .arg(&src)
                    .arg(format!("::{f}"))
                    .arg(dir.join(f)),
            )
            .with_context(|| format!("copy {f} out of partition {partition}"))?;
        }
        let cmdline = std::fs::read_to_string(dir.join("cmdline.txt"))?;
        let mut append = format!(
            "{} picloud.bootpart={partition} picloud.tryboot={}",
            cmdline.trim(),
            u8::from(tryboot)
        );
        if !self.opts.append.trim().is_empty() {
            append.push(' ');
            append.push_str(self.opts.append.trim());
        }
        if n == 1 && !self.opts.first_boot_append.trim().is_empty() {
            append.push(' ');
            append.push_str(self.opts.first_boot_append.trim());
        }
        let sock = self.opts.work_dir.join(format!("qmp{n}.sock"));
        let _ = std::fs::remove_file(&sock);
        let mut c = Command::new(&q.binary);
        c.args(&q.args)
            .args([
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-no-reboot",
            ])
            .arg("-kernel")
            .arg(dir.join(&b.kernel_name))
            .arg("-initrd")
            .arg(dir.join(&b.initramfs_name))
            .arg("-append")
            .arg(&append)
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=none,id=d0,cache=unsafe",
                self.opts.image.display()
            ))
            .arg("-device")
            .arg(format!("{},drive=d0", q.disk_device))
            .arg("-netdev")
            .arg(format!(
                "user,id=n0,hostfwd=tcp:127.0.0.1:{}-:{},hostfwd=tcp:127.0.0.1:{}-:{}",
                self.api_port, q.api_port, self.node_port, q.node_port
            ))
            .arg("-device")
            .arg(format!("{},netdev=n0", q.net_device))
            .arg("-device")
            .arg(&q.watchdog_device)
            .args(["-action", "watchdog=reset"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let header = format!(
            "=== picloud stand-in: boot {n}: autoboot.txt -> partition {partition}{} ({}) ===",
            if tryboot { " (tryboot)" } else { "" },
            append
        );
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.console_log)?;
        writeln!(log, "{header}")?;
        if self.opts.stream_console {
            eprintln!("{header}");
        }
        let started = now();
        let mut child = c
            .spawn()
            .with_context(|| format!("could not start {}", q.binary))?;
        let console = Arc::new(Console::default());
        let stdout = child.stdout.take().context("QEMU stdout")?;
        let stderr = child.stderr.take().context("QEMU stderr")?;
        let stream = self.opts.stream_console;
        let cons = console.clone();
        let reader = std::thread::spawn(move || {
            pump(stdout, Some(stderr), log, stream, cons, started);
        });
        let qmp = match Qmp::connect(&sock, &mut child) {
            Ok(q) => q,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
                let lines = console
                    .state
                    .lock()
                    .map(|g| tail(&g.lines, 20))
                    .unwrap_or_default();
                return Err(e.context(format!("QEMU output:\n{lines}")));
            }
        };
        Ok(Running {
            child,
            qmp,
            console,
            started,
            partition,
            tryboot,
            number: n,
            reader: Some(reader),
            host_reset: false,
        })
    }

    /// Waits for QEMU to exit (killing it after `timeout`), classifies the end and, on a
    /// tryboot request, sets the one-shot flag for the next boot.
    pub fn finish(&mut self, mut r: Running, timeout: Duration) -> Result<BootRecord> {
        let deadline = now() + timeout;
        let mut killed = false;
        loop {
            if r.child.try_wait()?.is_some() {
                break;
            }
            if now() >= deadline {
                let _ = r.child.kill();
                let _ = r.child.wait();
                killed = true;
                break;
            }
            sleep(Duration::from_millis(50));
        }
        if let Some(h) = r.reader.take() {
            let _ = h.join();
        }
        let duration = now() - r.started;
        let lines = r.console_lines();
        let has = |s: &str| lines.iter().any(|l| l.contains(s));
        let end = if killed {
            BootEnd::Killed
        } else if has(TRYBOOT_LINE) {
            BootEnd::TrybootRequested
        } else if has("reboot: Power down") {
            BootEnd::PowerOff
        } else if has("reboot: Restarting system") {
            BootEnd::Reboot
        } else if r.qmp.saw("WATCHDOG") {
            BootEnd::WatchdogReset
        } else if r.host_reset {
            BootEnd::HostReset
        } else {
            BootEnd::OtherReset
        };
        if end == BootEnd::TrybootRequested {
            self.tryboot_flag = true;
        }
        let _ = std::fs::remove_file(self.opts.work_dir.join(format!("qmp{}.sock", r.number)));
        let note = format!(
            "=== picloud stand-in: boot {} ended: {end:?} after {:.1}s{} ===",
            r.number,
            duration.as_secs_f64(),
            if self.tryboot_flag {
                " (tryboot flag set for the next boot)"
            } else {
                ""
            }
        );
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.console_log)
        {
            let _ = writeln!(log, "{note}");
        }
        if self.opts.stream_console {
            eprintln!("{note}");
        }
        Ok(BootRecord {
            number: r.number,
            partition: r.partition,
            tryboot: r.tryboot,
            end,
            duration,
            console: lines,
        })
    }

    /// Kills a running boot now and records it.
    pub fn kill(&mut self, mut r: Running) -> Result<BootRecord> {
        let _ = r.child.kill();
        self.finish(r, Duration::from_secs(10))
    }

    /// Boots until the guest powers off, is killed, or `max_boots` boots have run
    /// (`cargo xtask qemu`). Reboots, tryboots and watchdog resets start the next boot.
    pub fn run(&mut self, max_boots: usize, per_boot: Duration) -> Result<Vec<BootRecord>> {
        let mut records = Vec::new();
        for _ in 0..max_boots {
            let r = self.start()?;
            let rec = self.finish(r, per_boot)?;
            let stop = matches!(rec.end, BootEnd::PowerOff | BootEnd::Killed);
            records.push(rec);
            if stop {
                break;
            }
        }
        Ok(records)
    }
}

fn pump(
    mut out: impl Read + Send + 'static,
    err: Option<impl Read + Send + 'static>,
    mut log: std::fs::File,
    stream: bool,
    console: Arc<Console>,
    started: Instant,
) {
    // QEMU's own stderr (errors, warnings) goes to the same console, prefixed.
    let err_thread = err.map(|mut e| {
        let c = console.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            for l in s.lines() {
                if let Ok(mut g) = c.state.lock() {
                    g.lines.push((now() - started, format!("qemu: {l}")));
                }
                if stream {
                    eprintln!("qemu: {l}");
                }
            }
            c.cond.notify_all();
        })
    });
    let mut buf = [0u8; 4096];
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let n = match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = buf.get(..n).unwrap_or_default();
        let _ = log.write_all(chunk);
        if stream {
            let _ = std::io::stderr().write_all(chunk);
        }
        partial.extend_from_slice(chunk);
        while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            if let Ok(mut g) = console.state.lock() {
                g.lines.push((now() - started, text));
            }
            console.cond.notify_all();
        }
    }
    if !partial.is_empty() {
        if let Ok(mut g) = console.state.lock() {
            g.lines.push((
                now() - started,
                String::from_utf8_lossy(&partial).to_string(),
            ));
        }
    }
    if let Some(t) = err_thread {
        let _ = t.join();
    }
    if let Ok(mut g) = console.state.lock() {
        g.closed = true;
    }
    console.cond.notify_all();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn autoboot_default_and_tryboot() {
        let a = parse_autoboot(&crate::build::autoboot_txt(2, 3)).unwrap();
        assert_eq!(
            a,
            Autoboot {
                default_partition: 2,
                tryboot_partition: 3,
                tryboot_a_b: true
            }
        );
        // After a commit to B the numbers are swapped.
        let b =
            parse_autoboot("[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n")
                .unwrap();
        assert_eq!((b.default_partition, b.tryboot_partition), (3, 2));
    }

    #[test]
    fn autoboot_filters_and_errors() {
        let a = parse_autoboot(
            "# c\n[none]\nboot_partition=4\n[pi4]\nboot_partition=4\n[pi5]\nboot_partition=3\n",
        )
        .unwrap();
        assert_eq!(
            (a.default_partition, a.tryboot_partition, a.tryboot_a_b),
            (3, 3, false)
        );
        assert!(parse_autoboot("[all]\nboot_partition=two\n").is_err());
        assert!(parse_autoboot("[all]\nnonsense\n").is_err());
        assert_eq!(parse_autoboot("").unwrap().default_partition, 1);
    }
}
