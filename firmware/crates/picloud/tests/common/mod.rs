//! Helpers shared by the binary's end-to-end tests: the
//! repository root, temporary directories, free ports, the CLI run with its config and
//! data under a temporary home, curl, background processes ([`Proc`], [`Dev`]) and the
//! arguments of a `picloud node --api` on loopback.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // each test binary uses a subset
#![allow(clippy::disallowed_methods)] // `Dev` waits on a real process with deadlines

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("picloud-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The binary with its config and data under `home` (`HOME`, `XDG_*`), run from the
/// repository root, no colour, and no cluster or CA from the environment.
pub fn picloud_command(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_picloud"));
    c.current_dir(repo_root())
        .env_remove("PICLOUD_CLUSTER")
        .env_remove("PICLOUD_CA")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("NO_COLOR", "1");
    c
}

/// The CLI with its config and data under `home`.
pub fn picloud(home: &Path, args: &[&str]) -> Output {
    picloud_command(home).args(args).output().unwrap()
}

/// The CLI as a user without a token or credential in the environment runs it, with
/// `env` set on top (stdin is not a terminal).
pub fn picloud_env(home: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Output {
    let mut c = picloud_command(home);
    c.args(args)
        .env_remove("PICLOUD_TOKEN")
        .env_remove("PICLOUD_CREDENTIAL");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// curl over HTTPS trusting `ca`, with `args` before `url`: (body, HTTP status code as
/// text; empty when curl got no answer).
pub fn curl_with(ca: &Path, args: &[&str], url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(args)
        .args(["-w", "\n%{http_code}", url])
        .output()
        .expect("curl is installed");
    let all = text(&out.stdout);
    let (body, code) = all.rsplit_once('\n').unwrap_or((&all, ""));
    (body.to_owned(), code.to_owned())
}

/// The arguments of `picloud node --api` on loopback (plaintext node-to-node traffic
/// allowed): data in `data`, Raft on `listen`, HTTPS on `api`, the shared CA in `ca_dir`,
/// and the dev administrator's credential written to `admin` if given.
pub fn node_args(
    data: &Path,
    listen: &str,
    api: &str,
    ca_dir: &Path,
    admin: Option<&Path>,
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "node".into(),
        "--data".into(),
        data.display().to_string(),
        "--listen".into(),
        listen.to_owned(),
        "--api".into(),
        api.to_owned(),
        "--ca-dir".into(),
        ca_dir.display().to_string(),
        // Every address is loopback: plaintext node-to-node traffic is allowed.
        "--insecure-loopback".into(),
    ];
    if let Some(a) = admin {
        args.push("--admin-credential".into());
        args.push(a.display().to_string());
    }
    args
}

pub fn ok(out: &Output, what: &str) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// A background process whose stdout and stderr lines (the latter prefixed `stderr: `)
/// arrive on a channel, read as they come so it never blocks on a full pipe; SIGTERM on
/// drop if it still runs.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line received so far.
    pub seen: Vec<String>,
}

impl Proc {
    /// Starts `command` with its stdout and stderr piped to the channel.
    pub fn spawn(mut command: Command) -> Proc {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        for (stream, prefix) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
                "",
            ),
            (Box::new(child.stderr.take().unwrap()), "stderr: "),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(format!("{prefix}{line}")).is_err() {
                        break;
                    }
                }
            });
        }
        Proc {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first line containing `needle` (without a `stderr: ` prefix), waiting up to
    /// `limit` for it; panics with everything printed so far if none comes.
    pub fn wait_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
                return l.strip_prefix("stderr: ").unwrap_or(l).to_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(e) => {
                    std::thread::sleep(Duration::from_millis(200));
                    panic!(
                        "no line with `{needle}` within {limit:?} ({e:?}, exit {:?}); got:\n{}",
                        self.child.try_wait(),
                        self.seen.join("\n")
                    )
                }
            }
        }
    }

    /// Waits for a line containing `needle`; returns everything printed so far.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        self.wait_line(needle, limit);
        self.seen.join("\n")
    }

    /// Takes in the lines printed since the last look.
    pub fn drain(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }

    /// Takes in the remaining lines until the pipes close (after the exit), waiting up to
    /// `limit` for each.
    pub fn drain_until_closed(&mut self, limit: Duration) {
        while let Ok(l) = self.lines.recv_timeout(limit) {
            self.seen.push(l);
        }
    }

    /// Everything printed so far.
    pub fn log(&mut self) -> String {
        self.drain();
        self.seen.join("\n")
    }

    /// SIGTERM, then SIGKILL if it has not exited within `limit`; the exit code (`None`
    /// when killed).
    pub fn terminate_within(&mut self, limit: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// SIGTERM with 10 s to exit; the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.terminate_within(Duration::from_secs(10))
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// `picloud dev` in the background, started (its banner printed); SIGTERM on drop.
pub struct Dev {
    proc: Proc,
}

impl Dev {
    pub fn start(home: &Path, listen: &str) -> Dev {
        let mut command = picloud_command(home);
        command.args(["dev", "--listen", listen]);
        let mut proc = Proc::spawn(command);
        proc.wait_for("Stop with Ctrl-C", Duration::from_secs(60));
        Dev { proc }
    }
}
