//! `vigil vscan quarantine …`: the files on-demand runs moved into an SVM's quarantine.

use clap::{Args, Subcommand};
use reqwest::Method;

use super::client::{Client, Outcome};
use super::{SvmArg, table};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the quarantined files.
    List(ListArgs),
    /// Put a quarantined file back where it was, byte-identical.
    Restore(ItemArgs),
    /// Discard a quarantined file for good.
    Delete(ItemArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    svm: SvmArg,
}

#[derive(Args, Debug)]
pub struct ItemArgs {
    #[command(flatten)]
    svm: SvmArg,
    /// The quarantine item's id (see `quarantine list`).
    id: String,
}

pub async fn execute(client: &Client, command: Command) -> Outcome {
    match command {
        Command::List(args) => list(client, args).await,
        Command::Restore(args) => change(client, args, Method::PATCH).await,
        Command::Delete(args) => change(client, args, Method::DELETE).await,
    }
}

async fn list(client: &Client, args: ListArgs) -> Outcome {
    let svm = client.svm_uuid(&args.svm.svm).await?;
    let Some(records) = client
        .list_for_table(
            &["api", "protocols", "vscan", &svm, "quarantine"],
            &[("fields", "*")],
        )
        .await?
    else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            ["id", "quarantine_time", "threat", "size", "path"]
                .iter()
                .map(|f| table::cell(&r[*f]))
                .collect()
        })
        .collect();
    table::print(
        &["Id", "Quarantined", "Threat", "Size", "Original path"],
        &rows,
        "No quarantined files.",
    );
    Ok(())
}

/// Restore (PATCH `?action=restore`) or discard (DELETE) one item.
async fn change(client: &Client, args: ItemArgs, method: Method) -> Outcome {
    let svm = client.svm_uuid(&args.svm.svm).await?;
    let path = ["api", "protocols", "vscan", &svm, "quarantine", &args.id];
    // Read first, to name the file in what is printed: afterwards the item is gone.
    let item = client.get(&path, &[("fields", "path")]).await?;
    let restore = method == Method::PATCH;
    let query: &[(&str, &str)] = if restore {
        &[("action", "restore")]
    } else {
        &[]
    };
    let reply = client.send(method, client.url(&path, query), None).await?;
    let answer = client.complete(reply).await?;
    if client.json {
        client.print_json(&answer);
    } else {
        let original = table::cell(&item["path"]);
        if restore {
            println!("Restored {original} (quarantine item {}).", args.id);
        } else {
            println!("Deleted quarantine item {} (was {original}).", args.id);
        }
    }
    Ok(())
}
