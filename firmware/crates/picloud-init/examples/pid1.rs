//! A minimal stand-alone init for boot experiments without the full `picloud` binary (which
//! also links the node): stage 1 / stage 2 exactly as `picloud init` runs them, and a fake
//! `node` subcommand that only prints and sleeps. Build it static for a QEMU guest with
//! `cargo build -p picloud-init --example pid1 --release --target aarch64-unknown-linux-musl`.

#![allow(clippy::disallowed_methods)]

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("node") {
        println!("fake node: {}", args.join(" "));
        // Experiment hook: `pid1test.signal=<secs>:<signal number>` makes the fake node
        // signal PID 1 after that long (exercises the orderly shutdown paths).
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        if let Some((secs, sig)) = cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix("pid1test.signal="))
            .and_then(|v| v.split_once(':'))
        {
            std::thread::sleep(std::time::Duration::from_secs(secs.parse().unwrap_or(1)));
            let _ = std::fs::write("/data/picloud/marker", b"written before shutdown");
            let _ = picloud_init::sys::kill(1, sig.parse().unwrap_or(libc::SIGTERM));
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    if std::process::id() != 1 {
        eprintln!("pid1 example: run as PID 1 (/init or /sbin/init)");
        std::process::exit(2);
    }
    if std::path::Path::new(picloud_init::INITRAMFS_MARKER).exists() {
        picloud_init::stage1::run()
    } else {
        picloud_init::stage2::run()
    }
}
