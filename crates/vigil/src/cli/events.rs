//! `vigil vscan events`: the Vscan events of one SVM or all, and with `--follow` the new
//! ones as the streaming endpoint sends them, until interrupted.

use serde_json::Value;

use super::client::{Client, Outcome};
use super::table;

const HEADERS: &[&str] = &["Time", "Vserver", "Type", "Server", "File path"];
const FIELDS: &str = "svm,event_time,type,server,file_path";

/// The table row of one event; `names` gives SVM names by uuid (events carry the uuid).
fn row(event: &Value, names: &[(String, String)]) -> Vec<String> {
    let uuid = event["svm"]["uuid"].as_str().unwrap_or_default();
    let svm = match names.iter().find(|(u, _)| u == uuid) {
        Some((_, name)) => name.clone(),
        None => table::cell(&event["svm"]["name"]),
    };
    vec![
        table::cell(&event["event_time"]),
        svm,
        table::cell(&event["type"]),
        table::cell(&event["server"]),
        table::cell(&event["file_path"]),
    ]
}

/// (uuid, name) of the SVMs asked for: the one given, or all with a Vscan configuration.
async fn svms(client: &Client, svm: Option<&str>) -> Outcome<Vec<(String, String)>> {
    let mut query = vec![("fields", "svm")];
    let uuid;
    if let Some(svm) = svm {
        uuid = client.svm_uuid(svm).await?;
        query.push(("svm.uuid", uuid.as_str()));
    }
    let all = client.list(&["api", "protocols", "vscan"], &query).await?;
    Ok(all["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["svm"]["uuid"].as_str()?.to_string(),
                r["svm"]["name"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

pub async fn events(client: &Client, svm: Option<String>, follow: bool) -> Outcome {
    if follow {
        return follow_events(client, svm).await;
    }
    let names = svms(client, svm.as_deref()).await?;
    let mut records = Vec::new();
    for (uuid, _) in &names {
        let page = client
            .list(
                &["api", "protocols", "vscan", uuid, "events"],
                &[("fields", FIELDS)],
            )
            .await?;
        if let Value::Array(r) = &page["records"] {
            records.extend(r.iter().cloned());
        }
    }
    if client.json {
        let n = records.len();
        client.print_json(&serde_json::json!({"records": records, "num_records": n}));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records.iter().map(|e| row(e, &names)).collect();
    table::print(HEADERS, &rows, "No Vscan events.");
    Ok(())
}

/// Prints each new event as it comes (a table row, or one JSON object a line) until
/// Ctrl-C, which ends the command successfully.
async fn follow_events(client: &Client, svm: Option<String>) -> Outcome {
    let names = svms(client, None).await?;
    let only = match &svm {
        Some(s) => Some(client.svm_uuid(s).await?),
        None => None,
    };
    let mut stream = client.stream("events").await?;
    // On stderr, so a script reading stdout gets events only, yet knows it may go on.
    eprintln!("Following Vscan events (Ctrl-C stops).");
    if !client.json {
        println!("{}", HEADERS.join("  "));
    }
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let event = tokio::select! {
            _ = &mut interrupted => return Ok(()),
            e = stream.next() => e?,
        };
        let Some(event) = event else {
            return Err(super::client::Failure::Connection(
                "the server closed the stream".to_string(),
            ));
        };
        let data = &event.data;
        if event.name == "lagged" {
            eprintln!("warning: missed {} events (too slow)", data["missed"]);
            continue;
        }
        if event.name != "events" || only.as_deref().is_some_and(|u| data["svm"]["uuid"] != u) {
            continue;
        }
        if client.json {
            println!("{data}");
        } else {
            println!("{}", row(data, &names).join("  "));
        }
    }
}
