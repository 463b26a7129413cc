//! `vigil mav-key …`: the API keys of the managed-antivirus reporting service.

use clap::{Args, Subcommand};
use rand::TryRngCore;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Failure, Outcome};
use super::table;

const COLLECTION: [&str; 3] = ["api", "security", "mav-keys"];

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a key; the secret is printed once and never again.
    Create(CreateArgs),
    /// List the keys (never their secrets).
    List,
    /// Revoke a key at once.
    Delete(DeleteArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Name of the key (default: `mav-` and 8 random hex digits).
    #[arg(long)]
    name: Option<String>,
    /// Limit the key to this SVM (name or uuid); repeat for more. Default: every SVM.
    #[arg(long = "svm", value_name = "NAME|UUID")]
    svms: Vec<String>,
    /// Read the secret from the first line of standard input instead of generating one
    /// (at least 24 characters without spaces).
    #[arg(long)]
    key_stdin: bool,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// The key's name or uuid.
    key: String,
}

pub async fn execute(client: &Client, command: Command) -> Outcome {
    match command {
        Command::Create(args) => create(client, args).await,
        Command::List => list(client).await,
        Command::Delete(args) => delete(client, args).await,
    }
}

/// 32 bytes from the operating system's generator, in hex: well past the server's
/// 24-character minimum, and safe in a URL query without escaping.
fn generate_key() -> Outcome<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Failure::other(format!("generating a key: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn key_from_stdin() -> Outcome<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::other(format!("reading the key from standard input: {e}")))?;
    let key = line.trim_end_matches(['\r', '\n']).to_string();
    if key.is_empty() {
        return Err(Failure::other("no key on standard input"));
    }
    Ok(key)
}

async fn create(client: &Client, args: CreateArgs) -> Outcome {
    let (key, generated) = if args.key_stdin {
        (key_from_stdin()?, false)
    } else {
        (generate_key()?, true)
    };
    let name = match args.name {
        Some(n) => n,
        None => format!("mav-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
    };
    let mut svms = Vec::new();
    for svm in &args.svms {
        svms.push(json!({"uuid": client.svm_uuid(svm).await?}));
    }
    let mut body = json!({"name": name, "key": key});
    if !svms.is_empty() {
        body["svms"] = Value::Array(svms);
    }
    let url = client.url(&COLLECTION, &[("return_records", "true")]);
    let reply = client.send(Method::POST, url, Some(&body)).await?;
    let answer = client.complete(reply).await?;
    let mut record = answer["records"][0].clone();
    if client.json {
        // The server never returns the secret; a script needs it in the same answer.
        if let Some(r) = record.as_object_mut() {
            r.insert("key".to_string(), json!(key));
        }
        client.print_json(&record);
        return Ok(());
    }
    let reach = match record["svms"].as_array() {
        Some(s) if !s.is_empty() => format!("SVMs {}", svm_names(&record)),
        _ => "every SVM".to_string(),
    };
    println!(
        "Created MAV key \"{name}\" (uuid {}), reaching {reach}.",
        table::cell(&record["uuid"])
    );
    if generated {
        println!("Its secret is shown only this once; store it now:");
        println!();
        println!("    {key}");
        println!();
    }
    Ok(())
}

fn svm_names(key: &Value) -> String {
    let names: Vec<String> = key["svms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            table::cell(if s["name"].is_null() {
                &s["uuid"]
            } else {
                &s["name"]
            })
        })
        .collect();
    if names.is_empty() {
        "all".to_string()
    } else {
        names.join(",")
    }
}

async fn list(client: &Client) -> Outcome {
    let Some(records) = client
        .list_for_table(&COLLECTION, &[("fields", "*")])
        .await?
    else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|k| {
            vec![
                table::cell(&k["name"]),
                table::cell(&k["uuid"]),
                table::cell(&k["create_time"]),
                svm_names(k),
            ]
        })
        .collect();
    table::print(&["Name", "Uuid", "Created", "SVMs"], &rows, "No MAV keys.");
    Ok(())
}

async fn delete(client: &Client, args: DeleteArgs) -> Outcome {
    let uuid = client
        .resolve(&COLLECTION, "uuid", &args.key, "MAV key")
        .await?;
    let mut path = COLLECTION.to_vec();
    path.push(&uuid);
    let reply = client
        .send(Method::DELETE, client.url(&path, &[]), None)
        .await?;
    let answer = client.complete(reply).await?;
    if client.json {
        client.print_json(&answer);
    } else {
        println!("Deleted MAV key {} ({uuid}).", args.key);
    }
    Ok(())
}
