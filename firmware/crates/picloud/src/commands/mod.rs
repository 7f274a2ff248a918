//! Command dispatch.

mod resource;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::style::Style;
use crate::Outcome;

/// Runs the parsed command line.
pub fn run(cli: &Cli, style: &Style) -> Result<Outcome> {
    match &cli.command {
        Command::Resource(cmd) => resource::run(cli, cmd, style),
    }
}
