//! `vigil vscan on-demand …`: on-demand policies run on request, and their run records.

use clap::{Args, Subcommand};
use reqwest::Method;

use super::client::{Client, Failure, Outcome};
use super::{SvmArg, table};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a policy now (ONTAP: `vserver vscan on-demand-task run`) and wait for the run.
    Run(RunArgs),
    /// Stop the policy's running run; it is recorded CANCELED with what it scanned.
    Cancel(CancelArgs),
    /// List the run records, newest first.
    Runs(RunsArgs),
}

#[derive(Args, Debug)]
pub struct CancelArgs {
    #[command(flatten)]
    svm: SvmArg,
    /// The on-demand policy.
    policy: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    svm: SvmArg,
    /// The on-demand policy.
    policy: String,
    /// Print the job's uuid and return without waiting for the run.
    #[arg(long)]
    no_wait: bool,
    /// Scan only files changed since the policy's last complete run over the same paths
    /// and scope (a QUICK scan; without one, a full run);
    /// `--full` scans everything. Without either, the policy's `incremental` field decides.
    #[arg(long, conflicts_with = "full")]
    incremental: bool,
    #[arg(long)]
    full: bool,
}

#[derive(Args, Debug)]
pub struct RunsArgs {
    #[command(flatten)]
    svm: SvmArg,
    /// Only the runs of this policy.
    #[arg(long)]
    policy: Option<String>,
}

pub async fn execute(client: &Client, command: Command) -> Outcome {
    match command {
        Command::Run(args) => run(client, args).await,
        Command::Cancel(args) => cancel(client, args).await,
        Command::Runs(args) => runs(client, args).await,
    }
}

fn policy_path<'a>(svm: &'a str, policy: &'a str) -> [&'a str; 6] {
    [
        "api",
        "protocols",
        "vscan",
        svm,
        "on-demand-policies",
        policy,
    ]
}

async fn run(client: &Client, args: RunArgs) -> Outcome {
    let svm = client.svm_uuid(&args.svm.svm).await?;
    let mut query = vec![("action", "run")];
    if args.incremental {
        query.push(("incremental", "true"));
    } else if args.full {
        query.push(("incremental", "false"));
    }
    let url = client.url(&policy_path(&svm, &args.policy), &query);
    let started = client.send(Method::PATCH, url, None).await?.body;
    let uuid = started["job"]["uuid"]
        .as_str()
        .ok_or_else(|| Failure::other(format!("the server started no job: {started}")))?;
    if args.no_wait {
        if client.json {
            client.print_json(&started);
        } else {
            println!("{uuid}");
        }
        return Ok(());
    }
    let job = client.wait_job(uuid).await?;
    if client.json {
        client.print_json(&job);
    }
    if job["state"] != "success" {
        return Err(Failure::from_job(&job));
    }
    if !client.json {
        println!("{}", job["message"].as_str().unwrap_or("success"));
    }
    Ok(())
}

async fn cancel(client: &Client, args: CancelArgs) -> Outcome {
    let svm = client.svm_uuid(&args.svm.svm).await?;
    let url = client.url(&policy_path(&svm, &args.policy), &[("action", "cancel")]);
    client.send(Method::PATCH, url, None).await?;
    if !client.json {
        println!("cancel requested for on-demand policy {}", args.policy);
    }
    Ok(())
}

async fn runs(client: &Client, args: RunsArgs) -> Outcome {
    let svm = client.svm_uuid(&args.svm.svm).await?;
    let mut query = vec![("fields", "*")];
    if let Some(p) = &args.policy {
        query.push(("policy", p.as_str()));
    }
    let Some(records) = client
        .list_for_table(
            &["api", "protocols", "vscan", &svm, "on-demand-runs"],
            &query,
        )
        .await?
    else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            [
                "start_time",
                "policy",
                "trigger",
                "type",
                "status",
                "files_scanned",
                "infected_count",
                "error_count",
                "uuid",
            ]
            .iter()
            .map(|f| table::cell(&r[*f]))
            .collect()
        })
        .collect();
    table::print(
        &[
            "Start time",
            "Policy",
            "Trigger",
            "Type",
            "Status",
            "Scanned",
            "Infected",
            "Errors",
            "Run",
        ],
        &rows,
        "No on-demand runs.",
    );
    Ok(())
}
