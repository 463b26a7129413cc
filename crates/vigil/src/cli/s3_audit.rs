//! `vigil s3-audit show`: the S3 audit configurations, as ONTAP's
//! `vserver object-store-server audit show`.

use super::client::{Client, Outcome};
use super::table;

pub async fn show(client: &Client, svm: Option<String>) -> Outcome {
    let records = match &svm {
        Some(svm) => {
            let uuid = client.svm_uuid(svm).await?;
            let one = client
                .get(&["api", "protocols", "audit", &uuid, "object-store"], &[])
                .await?;
            if client.json {
                client.print_json(&one);
                return Ok(());
            }
            vec![one]
        }
        None => {
            let Some(all) = client
                .list_for_table(
                    &["api", "protocols", "audit", "*", "object-store"],
                    &[("fields", "*")],
                )
                .await?
            else {
                return Ok(());
            };
            all
        }
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                table::cell(&r["svm"]["name"]),
                table::cell(&r["enabled"]),
                table::cell(&r["events"]["data"]),
                table::cell(&r["events"]["management"]),
                table::cell(&r["log"]["rotation"]["size"]),
                table::cell(&r["log"]["retention"]["count"]),
                table::cell(&r["log_path"]),
            ]
        })
        .collect();
    table::print(
        &[
            "Vserver",
            "Enabled",
            "Data",
            "Management",
            "Rotation size",
            "Keep",
            "Log path",
        ],
        &rows,
        "No S3 audit configurations.",
    );
    Ok(())
}
