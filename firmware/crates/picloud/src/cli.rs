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
    /// The cluster to talk to: its HTTPS API, such as https://127.0.0.1:8443/ (default: the
    /// profile `picloud dev` writes), or a node's HOST:PORT for `cluster` and `log` commands.
    #[arg(long, global = true, env = "PICLOUD_CLUSTER", value_name = "URL")]
    pub cluster: Option<String>,

    /// The cluster CA certificate (PEM) to trust over HTTPS (default: the profile's).
    #[arg(long, global = true, env = "PICLOUD_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,

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
    /// Run a complete single-node cluster on this machine (HTTPS API on 127.0.0.1:8443).
    #[cfg(unix)]
    Dev(crate::cli_ext::DevArgs),
    /// Watch the cluster's committed events.
    #[cfg(unix)]
    #[command(subcommand)]
    Events(crate::cli_ext::EventsCommand),
    /// Query the cluster's RDF graph with SPARQL.
    #[cfg(unix)]
    #[command(subcommand)]
    Graph(crate::cli_ext::GraphCommand),
    /// Run a cluster node: the replicated event log and its client API.
    #[cfg(unix)]
    Node(NodeArgs),
    /// Form and change the cluster: init, add, remove, status.
    #[cfg(unix)]
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// The appliance's PID 1 (also run as /init and /sbin/init); ask it to reboot or power off.
    #[cfg(target_os = "linux")]
    Init(InitArgs),
    /// Append to and read the event log directly (debugging and scripts).
    #[cfg(unix)]
    #[command(subcommand, hide = true)]
    Log(LogCommand),
    /// Log in to the cluster with your passkey (device flow: approve the code in a browser).
    #[cfg(unix)]
    Login,
    /// Forget (and revoke) the stored login for the cluster.
    #[cfg(unix)]
    Logout,
    /// Show who the CLI acts as on the cluster, and with which roles.
    #[cfg(unix)]
    Whoami {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Tokens for scripts.
    #[cfg(unix)]
    #[command(subcommand)]
    Auth(AuthCommand),
    /// People and their access (administrators): invite, re-enrolment codes, list.
    #[cfg(unix)]
    #[command(subcommand)]
    Identity(IdentityCommand),
}

/// `picloud identity …` (talks to the cluster's HTTPS API with your token).
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Invite a person (administrators): prints a single-use enrolment code, valid 24
    /// hours, and the portal page where they create their passkey with it.
    Invite {
        /// Their name: a DNS label (lower-case letters, digits and '-').
        #[arg(value_name = "NAME")]
        name: String,
        /// The name people see (default: NAME).
        #[arg(long, value_name = "TEXT")]
        display_name: Option<String>,
        /// A role: admin, reader (platform) or <product>:<role> (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Recovery tier 1 (administrators): a single-use re-enrolment code, valid 24 hours,
    /// for a person who lost their passkeys; enrolling with it revokes all their old
    /// passkeys and logins.
    Reenrol {
        /// The person's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// List the cluster's identities (people and workloads) with their roles (admin or
    /// reader).
    List {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
    /// Set or rotate the secret of a product's client (administrators): every product is
    /// an app registration with client id = its name; prints the new secret once, and the
    /// previous one stops working.
    ClientSecret {
        /// The product.
        #[arg(value_name = "PRODUCT")]
        product: String,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

/// `picloud auth …`
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Print a current access token for the cluster (refreshed if needed), for scripts:
    /// `curl -H "Authorization: Bearer $(picloud auth token)" …`.
    Token,
}

/// Arguments of `picloud node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Data directory (created if missing); holds the node id, the Raft log and the events.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,

    /// Address to listen on, for peers and clients alike (HOST:PORT; port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,

    /// Address other nodes and clients use to reach this node (default: the bound address).
    #[arg(long, value_name = "ADDR")]
    pub advertise: Option<String>,

    /// Another node's address; `picloud cluster init` admits these (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub peer: Vec<String>,

    /// Also serve the HTTPS API (IRIs, SPARQL, commands, events) on this address.
    #[arg(long, value_name = "ADDR")]
    pub api: Option<String>,

    /// With --api: the cluster CA (certificate and key PEM files) and the key-encryption
    /// key, shared by every node; created in the data directory if missing.
    #[arg(long, value_name = "DIR", requires = "api")]
    pub ca_dir: Option<PathBuf>,

    /// With --api: write a node-local administrator credential to FILE (mode 0600) once
    /// identity is initialised; the CLI on this node uses it with PICLOUD_CREDENTIAL=FILE.
    /// Whoever can read FILE is a cluster administrator: keep it to the node's operator.
    #[arg(long, value_name = "FILE", requires = "api")]
    pub admin_credential: Option<PathBuf>,
    /// Mutual TLS for node-to-node traffic and the client protocol alike: DIR holds ca.pem
    /// (the cluster CA certificate), node.pem and node.key (this node's certificate and key;
    /// see `picloud cluster certs`). Clients must present a certificate from that CA.
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,

    /// Plaintext node-to-node traffic and client protocol instead of --tls-dir; refused
    /// unless the listen, advertised and peer addresses are all loopback (tests, one-machine
    /// labs).
    #[arg(long, conflicts_with = "tls_dir")]
    pub insecure_loopback: bool,
}

/// Arguments of `picloud init`.
#[cfg(target_os = "linux")]
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Without an action: run as PID 1 (only valid as PID 1).
    #[command(subcommand)]
    pub action: Option<InitAction>,
}

/// `picloud init …` actions, sent to the running PiCloud PID 1 as signals.
#[cfg(target_os = "linux")]
#[derive(Debug, Subcommand)]
pub enum InitAction {
    /// Stop the node, sync, unmount the data partition and reboot.
    Reboot {
        /// Boot the other slot once (`reboot "0 tryboot"`); any reset returns to this one.
        #[arg(long)]
        tryboot: bool,
    },
    /// Stop the node, sync, unmount the data partition and power off.
    Poweroff,
}

/// `picloud cluster …` (talks to the node named by `--cluster`).
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Form a cluster on the `--cluster` node and admit the peers it was started with.
    ///
    /// The node becomes the only voter; each of its `--peer`s joins as a learner and is
    /// promoted while there are fewer than five voters. Over HTTPS (`--cluster
    /// https://HOST:PORT/`) no login is needed: a node takes `init` only while it is
    /// uninitialised, and the bootstrap code stays on its console.
    Init {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Trust on first contact.
        #[command(flatten)]
        conn: crate::cli_ext::ClusterConnArgs,
    },
    /// Admit the node listening at ADDR (a learner, promoted while there are fewer than five
    /// voters). Over HTTPS: needs the admin role.
    Add {
        /// The new node's address (its --listen or --advertise HOST:PORT).
        #[arg(value_name = "ADDR")]
        addr: String,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Trust on first contact.
        #[command(flatten)]
        conn: crate::cli_ext::ClusterConnArgs,
    },
    /// Remove node NODE; a removed voter is replaced by the longest-serving learner. Over
    /// HTTPS: needs the admin role.
    Remove {
        /// The node id, as `cluster status` shows it.
        #[arg(value_name = "NODE")]
        node: u64,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Trust on first contact.
        #[command(flatten)]
        conn: crate::cli_ext::ClusterConnArgs,
    },
    /// On a node's console: issue a new bootstrap code (only while no person is an
    /// administrator). Talks to the node's local socket in DIR, never over the network.
    BootstrapCode {
        /// The node's data directory (holds `admin.sock`).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// On a node's console (recovery tier 3): let IDENTITY enrol a new passkey; records a
    /// `RecoveryPerformed` audit event. Local only: talks to the node's socket in DIR.
    Recover {
        /// The node's data directory (holds `admin.sock`).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Who regains access (created as an administrator if unknown).
        #[arg(long, value_name = "NAME")]
        identity: String,
        /// Why: recorded in the audit event.
        #[arg(long, value_name = "TEXT")]
        note: String,
    },
    /// Show the members, their roles, the leader, terms and log positions.
    Status {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// Trust on first contact.
        #[command(flatten)]
        conn: crate::cli_ext::ClusterConnArgs,
    },
    /// Issue the certificates of node-to-node mTLS (offline; no --cluster needed).
    #[command(subcommand)]
    Certs(CertsCommand),
}

/// `picloud cluster certs …`
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Create a cluster CA: DIR/ca.pem (certificate) and DIR/ca.key (private key, mode 0600).
    Ca {
        /// Output directory (created if missing; existing files are not overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Issue a node certificate signed by the CA in --ca: DIR/node.pem, DIR/node.key (0600)
    /// and a copy of the CA certificate as DIR/ca.pem, ready for `picloud node --tls-dir DIR`.
    Node {
        /// Directory holding the CA's ca.pem and ca.key.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// The node's name (a DNS name in the certificate's subjectAltName).
        #[arg(long)]
        name: String,
        /// An address peers dial this node at (IP address or host name; repeatable).
        #[arg(long = "addr", value_name = "IP", required = true)]
        addrs: Vec<String>,
        /// Output directory (created if missing; existing files are not overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
    /// Issue a client certificate signed by the CA in --ca, for `picloud cluster …` and
    /// `picloud log …` with nodes that run --tls-dir: DIR/client.pem, DIR/client.key (0600)
    /// and DIR/ca.pem; pass `--tls-dir DIR`.
    Client {
        /// Directory holding the CA's ca.pem and ca.key.
        #[arg(long, value_name = "DIR")]
        ca: PathBuf,
        /// Who holds it (the certificate's common name).
        #[arg(long)]
        name: String,
        /// Output directory (created if missing; existing files are not overwritten).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
}

/// `picloud log …`
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Append each VALUE as one event (exactly once); prints the offsets.
    Append {
        /// The values.
        #[arg(required = true, value_name = "VALUE")]
        values: Vec<String>,
        /// TLS with the node.
        #[command(flatten)]
        conn: crate::cli_ext::NodeClientArgs,
    },
    /// Print events from offset FROM.
    Read {
        /// First offset.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most events printed.
        #[arg(long, default_value_t = u64::MAX, hide_default_value = true)]
        limit: u64,
        /// Read through the leader's read index (sees every acknowledged append).
        #[arg(long)]
        linearizable: bool,
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
        /// TLS with the node.
        #[command(flatten)]
        conn: crate::cli_ext::NodeClientArgs,
    },
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
    /// With --cluster (or a `picloud dev` credential) the plan is computed against the
    /// cluster's committed state; otherwise offline against an empty cluster, and it says
    /// which. (`resource apply` prints what the cluster actually changed.)
    Plan(PlanArgs),
    /// Validate, then apply a directory to the cluster; shows each committed event and the
    /// resources' statuses. Exits 0 when committed, 1 when refused or a resource failed.
    #[cfg(unix)]
    Apply(crate::cli_ext::ApplyArgs),
    /// Delete products (every resource, then the product), named by a directory or --product.
    #[cfg(unix)]
    Delete(crate::cli_ext::DeleteArgs),
    /// Show a product's resources and their statuses.
    #[cfg(unix)]
    Status(crate::cli_ext::StatusArgs),
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
