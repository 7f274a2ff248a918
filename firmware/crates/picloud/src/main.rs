//! `picloud`: PiCloud's one multi-call binary.
//!
//! Today it is the CLI (`picloud resource validate|plan`). The node process, `picloud dev`
//! and PID 1 (`picloud init`) join it as they are built; `picloud --help` lists only what
//! works.
//!
//! This crate is the composition root: the only place that reads the clock, the
//! environment and the file system on behalf of the pure crates.
//!
//! Exit codes: 0 success, 1 invalid input (diagnostics were printed), 2 usage error
//! (bad arguments, unreadable paths).

#[cfg(unix)]
mod auth;
#[cfg(unix)]
mod backend;
mod cli;
#[cfg(unix)]
mod cli_ext;
mod commands;
#[cfg(unix)]
mod graph_snapshot;
#[cfg(unix)]
mod http_client;
mod input;
mod style;

use std::process::ExitCode;

use clap::Parser;

/// What a command concluded, mapped onto exit codes.
#[derive(Debug)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the input was read and found invalid; diagnostics were printed.
    Invalid,
}

/// A failure that is the caller's fault (bad path, bad flag combination): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn main() -> ExitCode {
    // Multi-call: as /init, /sbin/init, or PID 1 without a subcommand, this is the init.
    #[cfg(target_os = "linux")]
    if commands::init::is_init_invocation() {
        commands::init::run_pid1();
    }
    let cli = cli::Cli::parse();
    #[cfg(unix)]
    if !matches!(cli.command, cli::Command::Dev(_) | cli::Command::Node(_)) {
        default_sigpipe();
    }
    let style = style::Style::detect(cli.color);
    match commands::run(&cli, &style) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Err(err) => {
            eprintln!("{} {err:#}", style.error_label());
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// CLI commands end quietly when their output pipe closes (`picloud … | head`), like other
/// Unix tools, instead of panicking in `println!`. The long-running `node` and `dev` processes
/// keep Rust's default (SIGPIPE ignored), so a peer closing a socket is an error to handle,
/// never a signal that kills the node.
#[cfg(unix)]
#[allow(
    unsafe_code,
    reason = "one libc call to restore SIGPIPE's default disposition"
)]
fn default_sigpipe() {
    // SAFETY: runs once at start-up, before any thread is spawned; `signal` with `SIG_DFL`
    // only changes the process's disposition for SIGPIPE and touches no Rust-managed memory.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
