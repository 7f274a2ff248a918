//! The command-line grammar of the commands that talk to a cluster over HTTPS and of
//! `picloud dev` (kept apart from `cli.rs`, which only names them).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::{DiagnosticFormat, OutputFormat};

/// Arguments of `picloud dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Data directory (default: $XDG_DATA_HOME/picloud/dev, or ~/.local/share/picloud/dev).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Address of the HTTPS API.
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub listen: String,

    /// Do not write the client profile (~/.config/picloud/profile.json).
    #[arg(long)]
    pub no_profile: bool,

    /// Take a Raft snapshot (and a graph snapshot) every N log entries instead of every
    /// 10 000 (for tests and experiments).
    #[arg(long, value_name = "N", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_every: Option<u64>,
}

/// Arguments of `resource apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The directory (or files) of the apply set.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Diagnostic format if the files are invalid.
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Human)]
    pub format: DiagnosticFormat,

    /// Output format of the result.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// Arguments of `resource delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The directory (or files) whose products to delete.
    #[arg(
        value_name = "PATH",
        required_unless_present = "product",
        conflicts_with = "product"
    )]
    pub paths: Vec<PathBuf>,

    /// Delete this product (every resource, then the product).
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<String>,
}

/// Arguments of `resource status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The product.
    #[arg(value_name = "PRODUCT")]
    pub product: String,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `picloud events …`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print committed events as they happen (the backlog first, from --from).
    Stream(StreamArgs),
}

/// Arguments of `events stream`.
#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Only this product's events.
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<String>,

    /// Only the events of one command (the id `resource apply` prints).
    #[arg(long, value_name = "ID")]
    pub correlation_id: Option<String>,

    /// First log offset (default: 0, the whole history).
    #[arg(long, value_name = "N")]
    pub from: Option<u64>,

    /// Stop after this many events (default: follow until interrupted).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// Output format: a line per event, or one JSON object per line.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `picloud graph …`
#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// Run a SPARQL query on the cluster graph (or one product's graph).
    Query(QueryArgs),
}

/// Arguments of `graph query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SPARQL query (SELECT, ASK, CONSTRUCT or DESCRIBE).
    #[arg(value_name = "SPARQL")]
    pub query: String,

    /// Query this product's graph instead of the cluster graph.
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<String>,

    /// Output: a table (Turtle for CONSTRUCT/DESCRIBE), or SPARQL JSON results.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// How `picloud cluster init|add|remove|status` reach the cluster, beside `--cluster` and
/// `--ca`.
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterConnArgs {
    /// First contact with an https:// node whose CA is not trusted yet: the SHA-256
    /// fingerprint of its CA certificate (`AB:CD:…` as the node's console shows it). The CA
    /// is fetched from /ca.pem and trusted (and saved in the client profile) only if it
    /// matches. Without it, a terminal asks.
    #[arg(long, value_name = "SHA256")]
    pub ca_fingerprint: Option<String>,

    /// Node protocol (`--cluster HOST:PORT`) with a node started with --tls-dir: DIR holds
    /// ca.pem and a certificate from the cluster CA (client.pem + client.key from `picloud
    /// cluster certs client`, or a node's node.pem + node.key).
    #[arg(long, value_name = "DIR", env = "PICLOUD_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,
}

/// How `picloud log …` reaches a node.
#[derive(Debug, Clone, Default, Args)]
pub struct NodeClientArgs {
    /// With a node started with --tls-dir: DIR holds ca.pem and a certificate from the
    /// cluster CA (client.pem + client.key, or node.pem + node.key).
    #[arg(long, value_name = "DIR", env = "PICLOUD_TLS_DIR")]
    pub tls_dir: Option<PathBuf>,
}
