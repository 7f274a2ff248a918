//! Command dispatch.

#[cfg(unix)]
mod client_secret;
#[cfg(unix)]
mod cluster;
#[cfg(unix)]
mod cluster_https;
#[cfg(unix)]
mod dev;
#[cfg(unix)]
pub(crate) mod identity;
#[cfg(target_os = "linux")]
pub mod init;
#[cfg(unix)]
mod local_admin;
#[cfg(unix)]
mod login;
#[cfg(unix)]
mod node;
#[cfg(unix)]
mod node_api;
#[cfg(unix)]
mod people;
#[cfg(unix)]
mod remote;
mod resource;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::style::Style;
use crate::Outcome;

/// Runs the parsed command line.
pub fn run(cli: &Cli, style: &Style) -> Result<Outcome> {
    match &cli.command {
        #[cfg(unix)]
        Command::Resource(crate::cli::ResourceCommand::Apply(a)) => {
            remote::resource(cli, &remote::ResourceRemote::Apply(a), style)
        }
        #[cfg(unix)]
        Command::Resource(crate::cli::ResourceCommand::Delete(a)) => {
            remote::resource(cli, &remote::ResourceRemote::Delete(a), style)
        }
        #[cfg(unix)]
        Command::Resource(crate::cli::ResourceCommand::Status(a)) => {
            remote::resource(cli, &remote::ResourceRemote::Status(a), style)
        }
        Command::Resource(cmd) => resource::run(cli, cmd, style),
        #[cfg(unix)]
        Command::Dev(args) => dev::run(args),
        #[cfg(unix)]
        Command::Events(cmd) => remote::events(cli, cmd),
        #[cfg(unix)]
        Command::Graph(cmd) => remote::graph(cli, cmd),
        // An https:// cluster (or the dev profile) answers `cluster status` over the HTTPS
        // API; a HOST:PORT goes to the node's client protocol.
        #[cfg(unix)]
        Command::Cluster(
            cmd @ (crate::cli::ClusterCommand::Init { .. }
            | crate::cli::ClusterCommand::Add { .. }
            | crate::cli::ClusterCommand::Remove { .. }
            | crate::cli::ClusterCommand::Status { .. }),
        ) if crate::http_client::is_https(cli.cluster.as_deref()) => cluster_https::run(cli, cmd),
        #[cfg(unix)]
        Command::Node(args) => node::run(args),
        #[cfg(unix)]
        Command::Cluster(crate::cli::ClusterCommand::BootstrapCode { data }) => {
            let r = local_admin::call(data, "/bootstrap-code", serde_json::json!({}))?;
            println!("bootstrap code  {} (single use, valid 15 minutes)", r.code);
            println!("open the setup portal: https://<cluster domain>:<port>/portal/setup");
            Ok(crate::Outcome::Success)
        }
        #[cfg(unix)]
        Command::Cluster(crate::cli::ClusterCommand::Recover {
            data,
            identity,
            note,
        }) => {
            let r = local_admin::call(
                data,
                "/recover",
                serde_json::json!({ "identity": identity, "note": note }),
            )?;
            println!("recovery recorded in the cluster's audit log (RecoveryPerformed)");
            println!(
                "re-enrolment code for {identity}  {} (single use, valid 24 hours)",
                r.code
            );
            println!("enrol a new passkey at https://<cluster domain>:<port>/portal/reenrol");
            Ok(crate::Outcome::Success)
        }
        #[cfg(unix)]
        Command::Cluster(cmd) => cluster::run(cli, cmd),
        #[cfg(unix)]
        Command::Log(cmd) => cluster::run_log(cli, cmd),
        #[cfg(unix)]
        Command::Login => login::login(cli),
        #[cfg(unix)]
        Command::Logout => login::logout(cli),
        #[cfg(unix)]
        Command::Whoami { output } => login::whoami(cli, *output),
        #[cfg(unix)]
        Command::Auth(crate::cli::AuthCommand::Token) => login::token(cli),
        #[cfg(unix)]
        Command::Identity(cmd) => people::run(cli, cmd),
        #[cfg(target_os = "linux")]
        Command::Init(args) => init::run(args),
    }
}
