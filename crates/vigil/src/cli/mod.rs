//! Client commands: act on a running `vigil serve` through its REST API, as ONTAP's CLI
//! commands do for the actions its REST API offers.
//!
//! Exit status: 0 done, 1 refused by the server (or the command could not go on),
//! 2 the server could not be reached.

mod client;
pub mod db;
mod mav_keys;
mod on_demand;
mod quarantine;
mod table;

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use client::ClientArgs;
use client::{Client, Outcome};

#[derive(Args, Debug)]
pub struct VscanArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: VscanCommand,
}

#[derive(Subcommand, Debug)]
enum VscanCommand {
    /// On-demand policies: run one now, list the runs.
    #[command(subcommand)]
    OnDemand(on_demand::Command),
    /// Files on-demand runs quarantined: list, restore, delete.
    #[command(subcommand)]
    Quarantine(quarantine::Command),
}

#[derive(Args, Debug)]
pub struct MavKeyArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: mav_keys::Command,
}

/// The SVM a Vscan command acts on.
#[derive(Args, Debug)]
struct SvmArg {
    /// The SVM, by name or uuid.
    #[arg(long, value_name = "NAME|UUID")]
    svm: String,
}

pub async fn vscan(args: VscanArgs) -> ExitCode {
    finish(
        async {
            let client = Client::new(args.client)?;
            match args.command {
                VscanCommand::OnDemand(c) => on_demand::execute(&client, c).await,
                VscanCommand::Quarantine(c) => quarantine::execute(&client, c).await,
            }
        }
        .await,
    )
}

pub async fn mav_key(args: MavKeyArgs) -> ExitCode {
    finish(
        async {
            let client = Client::new(args.client)?;
            mav_keys::execute(&client, args.command).await
        }
        .await,
    )
}

fn finish(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.exit_status())
        }
    }
}
