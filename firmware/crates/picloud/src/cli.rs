//! The command-line grammar (clap). Only commands that work are listed; later issues add
//! theirs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// PiCloud: a private cloud for Raspberry Pi 5 clusters, shipped as firmware.
///
/// Declare products in `.picloud` files, check them with `picloud resource validate`, and
/// see what applying them would do with `picloud resource plan`.
#[derive(Debug, Parser)]
#[command(
    name = "picloud",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The cluster to talk to, such as https://picloud.local:8443 (for commands that need one).
    #[arg(long, global = true, env = "PICLOUD_CLUSTER", value_name = "URL")]
    pub cluster: Option<String>,

    /// When to colour output; NO_COLOR in the environment also turns colour off.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with `.picloud` resource declarations.
    #[command(subcommand)]
    Resource(ResourceCommand),
}

/// `picloud resource …`
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Check `.picloud` files: syntax, types, units, names and references.
    ///
    /// A directory is one apply set: every `.picloud` file under it is read, and references
    /// are resolved across all of them. Exits 0 when valid, 1 when any error was found.
    Validate(ValidateArgs),
    /// Show what applying a directory would create, change or delete.
    ///
    /// No cluster can be reached by this build yet, so the plan is computed offline against
    /// an empty cluster: everything declared is a creation.
    Plan(PlanArgs),
}

/// Arguments of `resource validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files or directories to check; together they form one apply set.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Diagnostic format: `human` (rustc-like) or `json` (for editors).
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Human)]
    pub format: DiagnosticFormat,
}

/// Arguments of `resource plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The directory (or files) of the apply set.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Output format of the plan.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Diagnostic format if the files are invalid.
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Human)]
    pub format: DiagnosticFormat,

    /// The cluster domain the IRIs are built under.
    #[arg(long, default_value = "picloud.local", value_name = "DOMAIN")]
    pub domain: String,
}

/// `--format` of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    /// rustc-style, with the source line and the span underlined.
    Human,
    /// A JSON array, one object per diagnostic.
    Json,
}

/// `--output` of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    Text,
    /// JSON for scripts.
    Json,
}
