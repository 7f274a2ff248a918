//! Command dispatch.

#[cfg(unix)]
mod cluster;
#[cfg(unix)]
mod node;
mod resource;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::style::Style;
use crate::Outcome;

/// Runs the parsed command line.
pub fn run(cli: &Cli, style: &Style) -> Result<Outcome> {
    match &cli.command {
        Command::Resource(cmd) => resource::run(cli, cmd, style),
        #[cfg(unix)]
        Command::Node(args) => node::run(args),
        #[cfg(unix)]
        Command::Cluster(cmd) => cluster::run(cli, cmd),
        #[cfg(unix)]
        Command::Log(cmd) => cluster::run_log(cli, cmd),
    }
}
