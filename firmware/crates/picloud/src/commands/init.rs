//! `picloud init`: PID 1 (stage 1 in the initramfs, stage 2 on the root; both in
//! `picloud-init`), and `picloud init reboot [--tryboot] | poweroff`, which ask the running
//! PiCloud PID 1 for an orderly shutdown.

use anyhow::Result;
use clap::CommandFactory;
use picloud_init::stage2::{self, Shutdown};

use crate::cli::{Cli, InitAction, InitArgs};
use crate::{Outcome, UsageError};

/// Whether this process should be the init rather than the CLI: it was started as `init`
/// (`/init` in the initramfs, `/sbin/init` on the root), or it is PID 1 and its first
/// argument is not a `picloud` subcommand (the kernel may pass stray words to init; a
/// container running `picloud node` as its PID 1 stays the CLI).
pub fn is_init_invocation() -> bool {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "init" {
        return true;
    }
    if std::process::id() != 1 {
        return false;
    }
    match args.next() {
        None => true,
        Some(first) => {
            let first = first.to_string_lossy();
            !first.starts_with('-')
                && !Cli::command()
                    .get_subcommands()
                    .any(|c| c.get_name() == first)
        }
    }
}

/// Runs PID 1: stage 1 when the initramfs marker exists, stage 2 otherwise. Never returns
/// as PID 1; refuses (exit 2) in any other process, so running it by hand cannot mount or
/// reboot anything.
pub fn run_pid1() -> ! {
    if std::process::id() != 1 {
        eprintln!(
            "error: picloud init runs as PID 1 (the appliance's init); to ask it for a \
             shutdown use `picloud init reboot [--tryboot]` or `picloud init poweroff`"
        );
        std::process::exit(2);
    }
    if std::path::Path::new(picloud_init::INITRAMFS_MARKER).exists() {
        picloud_init::stage1::run()
    } else {
        stage2::run()
    }
}

/// `picloud init [reboot|poweroff]`.
pub fn run(args: &InitArgs) -> Result<Outcome> {
    let kind = match &args.action {
        None => run_pid1(),
        Some(InitAction::Reboot { tryboot: false }) => Shutdown::Reboot,
        Some(InitAction::Reboot { tryboot: true }) => Shutdown::TryBoot,
        Some(InitAction::Poweroff) => Shutdown::PowerOff,
    };
    stage2::request_shutdown(kind).map_err(UsageError)?;
    println!(
        "asked PID 1 to {}",
        match kind {
            Shutdown::Reboot => "reboot",
            Shutdown::TryBoot => "reboot into the other slot once (tryboot)",
            Shutdown::PowerOff => "power off",
        }
    );
    Ok(Outcome::Success)
}
