//! `picloud init` outside PID 1: it must refuse without touching anything, and the shutdown
//! requests must refuse when PID 1 is not PiCloud's init (on a workstation PID 1 is systemd:
//! signalling it would reboot the machine).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_picloud")
}

#[test]
fn init_refuses_outside_pid_1() {
    let out = Command::new(bin()).arg("init").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("runs as PID 1"), "{err}");
}

#[test]
fn called_as_init_it_is_the_init_and_refuses_outside_pid_1() {
    // Multi-call by argv[0]: `/sbin/init` (here a symlink named `init`) never parses the CLI.
    let dir = std::env::temp_dir().join(format!("picloud-init-argv0-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("init");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(bin(), &link).unwrap();
    let out = Command::new(&link).arg("resource").output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs as PID 1"));
}

#[test]
fn shutdown_requests_refuse_when_pid_1_is_not_picloud() {
    if std::path::Path::new("/run/picloud-init").exists() {
        eprintln!("SKIPPED: this machine runs PiCloud's init");
        return;
    }
    for args in [
        &["init", "reboot"][..],
        &["init", "reboot", "--tryboot"],
        &["init", "poweroff"],
    ] {
        let out = Command::new(bin()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not PiCloud's init") && err.contains("nothing was signalled"),
            "{err}"
        );
    }
}
