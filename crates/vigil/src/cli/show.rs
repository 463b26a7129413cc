//! `vigil vscan show`: each SVM's Vscan configuration, as ONTAP's `vserver vscan show`.

use serde_json::Value;

use super::client::{Client, Outcome};
use super::table;

pub async fn show(client: &Client, svm: Option<String>) -> Outcome {
    let mut query = vec![(
        "fields",
        "svm,enabled,scanner_pools.name,on_access_policies.name,on_demand_policies.name",
    )];
    let uuid;
    if let Some(svm) = &svm {
        uuid = client.svm_uuid(svm).await?;
        query.push(("svm.uuid", uuid.as_str()));
    }
    let Some(records) = client
        .list_for_table(&["api", "protocols", "vscan"], &query)
        .await?
    else {
        return Ok(());
    };
    let count = |v: &Value| v.as_array().map_or(0, Vec::len).to_string();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let pools: Vec<Value> = r["scanner_pools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["name"].clone())
                .collect();
            vec![
                table::cell(&r["svm"]["name"]),
                match r["enabled"].as_bool() {
                    Some(true) => "on".to_string(),
                    Some(false) => "off".to_string(),
                    None => "-".to_string(),
                },
                table::cell(&Value::Array(pools)),
                count(&r["on_access_policies"]),
                count(&r["on_demand_policies"]),
            ]
        })
        .collect();
    table::print(
        &[
            "Vserver",
            "Vscan",
            "Scanner pools",
            "On-access policies",
            "On-demand policies",
        ],
        &rows,
        "No Vscan configurations.",
    );
    Ok(())
}
