//! The whole identity journey in a real browser: `picloud dev` → the setup portal in
//! Debian's headless Chromium (selenium, a CDP virtual authenticator, the cluster CA trusted
//! in the profile's NSS database) enrols alice's passkey with the bootstrap code → a second
//! virtual authenticator (the first removed) enrols her second passkey on the setup page →
//! she logs in with that second authenticator alone (recovery tier 2) → `picloud login`
//! prints a device code → she approves it in the portal → the CLI's
//! `picloud resource apply examples/photo-app` succeeds with *her* token.
//!
//! Needs `chromium`, `chromium-driver`, `libnss3-tools` (apt) and `selenium` (pip); skips,
//! saying which is missing, without them. `PICLOUD_SCREENSHOTS=DIR` keeps the portal
//! screenshots there (`docs/identity/` holds the committed ones).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // a test waits on real processes

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::*;

fn missing() -> Vec<String> {
    let mut m = Vec::new();
    for (bin, pkg) in [
        ("/usr/bin/chromium", "apt-get install chromium"),
        ("/usr/bin/chromedriver", "apt-get install chromium-driver"),
        ("/usr/bin/certutil", "apt-get install libnss3-tools"),
    ] {
        if !Path::new(bin).exists() {
            m.push(format!("{bin} ({pkg})"));
        }
    }
    let py = Command::new("python3")
        .args(["-c", "import selenium"])
        .output();
    if !py.is_ok_and(|o| o.status.success()) {
        m.push("python3 selenium (python3 -m pip install selenium)".into());
    }
    m
}

fn lines_of(r: impl std::io::Read + Send + 'static, tag: &'static str) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(format!("{tag}{l}")).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_line(
    rx: &mpsc::Receiver<String>,
    needle: &str,
    limit: Duration,
    seen: &mut Vec<String>,
) -> String {
    let end = Instant::now() + limit;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                seen.push(l.clone());
                if l.contains(needle) {
                    return l;
                }
            }
            Err(_) => panic!("no line with {needle:?}; seen:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn passkey_journey_in_a_real_browser() {
    let gaps = missing();
    if !gaps.is_empty() {
        eprintln!(
            "SKIPPED passkey_journey_in_a_real_browser: missing {}",
            gaps.join(", ")
        );
        return;
    }
    let home = TempDir::new("browser");
    let port = free_port("127.0.0.1");
    let listen = format!("127.0.0.1:{port}");
    let mut dev = picloud_command(&home.0)
        .args(["dev", "--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dev_out = lines_of(dev.stdout.take().unwrap(), "");
    let mut seen = Vec::new();
    let line = wait_line(
        &dev_out,
        "bootstrap code",
        Duration::from_secs(60),
        &mut seen,
    );
    let code = line.split_whitespace().nth(2).unwrap().to_owned();
    wait_line(
        &dev_out,
        "Stop with Ctrl-C",
        Duration::from_secs(30),
        &mut seen,
    );

    // The browser's profile trusts the cluster CA (NSS database under its HOME).
    let browser_home = home.0.join("browser");
    let nss = browser_home.join(".pki/nssdb");
    std::fs::create_dir_all(&nss).unwrap();
    let db = format!("sql:{}", nss.display());
    let ca = home.0.join("data/picloud/dev/ca.pem");
    for args in [
        vec!["-N", "-d", &db, "--empty-password"],
        vec![
            "-A",
            "-d",
            &db,
            "-t",
            "C,,",
            "-n",
            "picloud",
            "-i",
            ca.to_str().unwrap(),
        ],
    ] {
        let out = Command::new("certutil").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "certutil {args:?}: {}",
            text(&out.stderr)
        );
    }
    let shots = std::env::var_os("PICLOUD_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.0.join("shots"));
    std::fs::create_dir_all(&shots).unwrap();
    let script = repo_root().join("firmware/crates/picloud/tests/browser/journey.py");
    let mut py = Command::new("python3")
        .arg(&script)
        .arg(format!("https://picloud.local:{port}"))
        .arg(&code)
        .arg(&shots)
        .env("HOME", &browser_home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let py_out = lines_of(py.stdout.take().unwrap(), "");
    let py_err = lines_of(py.stderr.take().unwrap(), "python: ");
    let mut pyseen = Vec::new();
    let ready = py_out.recv_timeout(Duration::from_secs(120));
    if ready.as_deref() != Ok("READY") {
        let errs: Vec<String> = py_err.try_iter().collect();
        panic!(
            "the browser did not get through setup and login: {ready:?}\n{}",
            errs.join("\n")
        );
    }

    // The CLI asks for a device login; alice approves it in the browser.
    let mut login = picloud_command(&home.0)
        .arg("login")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let login_out = lines_of(login.stdout.take().unwrap(), "");
    let url = wait_line(
        &login_out,
        "/portal/device?user_code=",
        Duration::from_secs(30),
        &mut seen,
    );
    writeln!(py.stdin.as_mut().unwrap(), "{}", url.trim()).unwrap();
    let approved = py_out.recv_timeout(Duration::from_secs(60));
    if approved.as_deref() != Ok("APPROVED") {
        let errs: Vec<String> = py_err.try_iter().collect();
        panic!(
            "the browser did not approve: {approved:?}\n{}",
            errs.join("\n")
        );
    }
    pyseen.extend(py_err.try_iter());
    assert!(py.wait().unwrap().success(), "{}", pyseen.join("\n"));
    // Recovery tier 2: the second passkey came from a second authenticator, and a login
    // with that authenticator alone succeeded (journey.py checks both through CDP).
    for note in [
        "second passkey enrolled by the second authenticator",
        "logged in with the second passkey alone",
    ] {
        assert!(
            pyseen.iter().any(|l| l.contains(note)),
            "missing {note:?}:\n{}",
            pyseen.join("\n")
        );
    }
    let status = login.wait().unwrap();
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(login.stderr.as_mut().unwrap(), &mut err);
    assert!(status.success(), "picloud login failed: {err}");
    wait_line(&login_out, "Logged in", Duration::from_secs(5), &mut seen);

    // The CLI now acts as alice (her login wins over the dev credential) and can apply.
    let me = ok(&picloud(&home.0, &["whoami"]), "whoami");
    assert!(
        me.contains("identity  alice") && me.contains("via       picloud login"),
        "{me}"
    );
    let out = ok(
        &picloud(&home.0, &["resource", "apply", "examples/photo-app"]),
        "apply as alice",
    );
    assert!(out.contains("committed 9 events"), "{out}");

    let _ = Command::new("kill").arg(dev.id().to_string()).status();
    let _ = dev.wait();
}
