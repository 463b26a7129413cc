//! `vigil vscan on-demand …`: on-demand policies run on request, and their run records.
//!
//! `run` without `--wait` waits for the run's job and exits 0 whatever the run found;
//! `run --wait` follows the run on the streaming endpoint instead (a progress bar, no
//! polling) and its exit status says how the run ended: 0 clean, 3 threats found,
//! 4 failed or ended with errors, 5 canceled (see the `cli` module doc).

use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use super::client::{Client, Failure, Outcome};
use super::progress::Display;
use super::{SvmArg, exit, table};

/// With no word of the run on the stream for this long, the job is asked once whether it
/// failed before the run started (such a job publishes nothing).
const QUIET: Duration = Duration::from_secs(5);

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
    #[arg(
        required_unless_present = "policy_flag",
        conflicts_with = "policy_flag"
    )]
    policy: Option<String>,
    /// The on-demand policy (ONTAP's `-task-name`), instead of the positional argument.
    #[arg(long = "policy", id = "policy_flag", value_name = "POLICY")]
    policy_flag: Option<String>,
    /// Print the job's uuid and return without waiting for the run.
    #[arg(long, conflicts_with = "wait")]
    no_wait: bool,
    /// Follow the run live with a progress bar; the exit status says how it ended.
    #[arg(long)]
    wait: bool,
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
    let policy = args
        .policy
        .or(args.policy_flag)
        .ok_or_else(|| Failure::other("no policy given"))?;
    let svm = client.svm_uuid(&args.svm.svm).await?;
    // Subscribed before the run starts, so even its first message is seen.
    let stream = match args.wait {
        true => Some(client.stream("runs").await?),
        false => None,
    };
    let mut query = vec![("action", "run")];
    if args.incremental {
        query.push(("incremental", "true"));
    } else if args.full {
        query.push(("incremental", "false"));
    }
    let url = client.url(&policy_path(&svm, &policy), &query);
    let started = client.send(Method::PATCH, url, None).await?.body;
    let uuid = started["job"]["uuid"]
        .as_str()
        .ok_or_else(|| Failure::other(format!("the server started no job: {started}")))?;
    if let Some(stream) = stream {
        let record = follow(client, stream, &svm, &policy, uuid).await?;
        return ended(client, &record);
    }
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

/// Follows the policy's run on the stream until its final message; answers that record.
async fn follow(
    client: &Client,
    mut stream: super::sse::EventStream,
    svm: &str,
    policy: &str,
    job: &str,
) -> Outcome<Value> {
    let mut display = Display::new();
    let mut run: Option<String> = None;
    loop {
        let event = match tokio::time::timeout(QUIET, stream.next()).await {
            Ok(event) => event?,
            Err(_) => {
                if let Some(record) = ended_without_word(client, svm, policy, job).await? {
                    display.finish();
                    return Ok(record);
                }
                continue;
            }
        };
        let Some(event) = event else {
            display.finish();
            return Err(Failure::Connection(
                "the server closed the stream before the run ended".to_string(),
            ));
        };
        let data = &event.data;
        let ours = event.name == "runs"
            && data["svm"]["uuid"] == svm
            && data["policy"] == policy
            && run.as_deref().is_none_or(|r| data["uuid"] == r);
        if !ours {
            continue;
        }
        run = data["uuid"].as_str().map(str::to_string);
        display.show(data);
        if data["status"] != "RUNNING" {
            display.finish();
            return Ok(data.clone());
        }
    }
}

/// The run's record when its job ended without the stream saying so (it failed before
/// the run started, or this follower lagged past the final message).
async fn ended_without_word(
    client: &Client,
    svm: &str,
    policy: &str,
    job: &str,
) -> Outcome<Option<Value>> {
    let job = client
        .get(&["api", "cluster", "jobs", job], &[("fields", "*")])
        .await?;
    match job["state"].as_str() {
        Some("failure") => Err(Failure::Run {
            status: exit::RUN_FAILED,
            message: match Failure::from_job(&job) {
                Failure::Api { message, code } => {
                    format!("the run failed: {message} (code {code})")
                }
                _ => "the run failed".to_string(),
            },
        }),
        Some("success") => {
            let runs = client
                .get(
                    &["api", "protocols", "vscan", svm, "on-demand-runs"],
                    &[("policy", policy), ("fields", "*")],
                )
                .await?;
            Ok(Some(runs["records"][0].clone()))
        }
        _ => Ok(None),
    }
}

/// Prints a finished run and turns how it ended into the exit status.
fn ended(client: &Client, record: &Value) -> Outcome {
    let status = record["status"].as_str().unwrap_or("unknown");
    let infected = record["infected_count"].as_u64().unwrap_or(0);
    let errors = record["error_count"].as_u64().unwrap_or(0);
    let uuid = table::cell(&record["uuid"]);
    if client.json {
        client.print_json(record);
    } else {
        println!(
            "Run {uuid} {status}: {} files scanned, {infected} infected, {errors} errors",
            table::cell(&record["files_scanned"])
        );
    }
    let (code, why) = match status {
        "COMPLETED" if infected == 0 => return Ok(()),
        "CANCELED" => (exit::RUN_CANCELED, "was canceled".to_string()),
        "FAILED" => (exit::RUN_FAILED, "failed".to_string()),
        _ if infected > 0 => (exit::THREATS, format!("found {infected} infected file(s)")),
        _ => (
            exit::RUN_FAILED,
            format!("ended {status} ({errors} errors)"),
        ),
    };
    Err(Failure::Run {
        status: code,
        message: format!("run {uuid} {why}"),
    })
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
