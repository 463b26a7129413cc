//! The members of an SVM record that ONTAP has and Vigil has no meaning for (or only
//! a fixed one): every field of the netapp-ontap `Svm` resource is declared, so that a
//! reader never fails because of what it asked to see (`fields=nfs,cifs,storage`,
//! `aggregates.name=…`), and each is listed with ONTAP's neutral value. docs/rest.md
//! lists the values.

use std::path::Path;
use std::sync::Arc;

use rest::Record;
use rest::schema::{Field, Ty, array, array_of, boolean, integer, object, string};
use serde_json::{Value, json};

/// Protocols whose block is `{enabled, allowed}` and that Vigil does not serve.
const UNSERVED: &[&str] = &["nfs", "fcp", "iscsi", "nvme"];

fn protocol(name: &'static str, extra: Vec<Field>) -> Field {
    let mut fields = vec![boolean("enabled"), boolean("allowed")];
    fields.extend(extra);
    object(name, fields).read_only()
}

fn qos(name: &'static str) -> Field {
    object(
        name,
        vec![string("name"), string("uuid"), string("policy_class")],
    )
    .read_only()
}

/// The declarations, appended to the SVM schema (all read-only).
pub fn schema() -> Vec<Field> {
    let mut fields = vec![
        array_of(
            "aggregates",
            vec![
                string("name"),
                string("uuid"),
                integer("available_size"),
                string("snaplock_type"),
                string("state"),
                string("type"),
            ],
        )
        .read_only(),
        boolean("aggregates_delegated").read_only(),
        object("anti_ransomware", vec![object("event_log", vec![])]).read_only(),
        string("anti_ransomware_default_volume_state").read_only(),
        boolean("anti_ransomware_auto_switch_from_learning_to_enabled").read_only(),
        integer("anti_ransomware_auto_switch_duration_without_new_file_extension").read_only(),
        integer("anti_ransomware_auto_switch_minimum_file_count").read_only(),
        integer("anti_ransomware_auto_switch_minimum_file_extension").read_only(),
        string("anti_ransomware_auto_switch_minimum_incoming_data").read_only(),
        integer("anti_ransomware_auto_switch_minimum_learning_period").read_only(),
        string("anti_ransomware_incoming_write_threshold").read_only(),
        string("anti_ransomware_incoming_write_threshold_percent").read_only(),
        boolean("auto_enable_activity_tracking").read_only(),
        boolean("auto_enable_analytics").read_only(),
        object("certificate", vec![string("name"), string("uuid")]).read_only(),
        protocol(
            "cifs",
            vec![
                string("name"),
                string("domain_workgroup"),
                string("workgroup"),
                string("auth_style"),
            ],
        ),
        object(
            "dns",
            vec![array("domains", Ty::String), array("servers", Ty::String)],
        )
        .read_only(),
        array_of("fc_interfaces", vec![string("name"), string("uuid")]).read_only(),
        array_of("ip_interfaces", vec![string("name"), string("uuid")]).read_only(),
        boolean("is_space_enforcement_logical").read_only(),
        boolean("is_space_reporting_logical").read_only(),
        object(
            "ldap",
            vec![
                boolean("enabled"),
                string("ad_domain"),
                string("base_dn"),
                string("bind_dn"),
                array("servers", Ty::String),
            ],
        )
        .read_only(),
        string("max_volumes").read_only(),
        object("ndmp", vec![boolean("allowed")]).read_only(),
        object(
            "nis",
            vec![
                boolean("enabled"),
                string("domain"),
                array("servers", Ty::String),
            ],
        )
        .read_only(),
        object(
            "nsswitch",
            ["group", "hosts", "namemap", "netgroup", "passwd"]
                .into_iter()
                .map(|n| array(n, Ty::String))
                .collect(),
        )
        .read_only(),
        integer("number_of_volumes_in_recovery_queue").read_only(),
        qos("qos_adaptive_policy_group_template"),
        qos("qos_policy"),
        qos("qos_policy_group_template"),
        array_of("routes", vec![string("gateway")]).read_only(),
        protocol(
            "s3",
            vec![
                string("name"),
                boolean("is_http_enabled"),
                boolean("is_https_enabled"),
                integer("port"),
                integer("secure_port"),
            ],
        ),
        string("san_multipathing").read_only(),
        boolean("snapshot_autodelete_enabled").read_only(),
        object(
            "snapshot_policy",
            vec![string("name"), string("uuid"), boolean("enabled")],
        )
        .read_only(),
        integer("snapshot_reserve_percent").read_only(),
        object(
            "storage",
            vec![
                integer("allocated"),
                integer("available"),
                integer("limit"),
                integer("limit_threshold_alert"),
                boolean("limit_threshold_exceeded"),
                integer("used"),
                integer("used_percentage"),
            ],
        )
        .read_only()
        .expensive()
        .doc("Measured on the SVM's namespace root: used is the bytes of the files under it, limit the size of its file system."),
        integer("total_volume_size_in_recovery_queue").read_only(),
    ];
    fields.extend(UNSERVED.iter().map(|p| protocol(p, vec![])));
    fields
}

/// The members every SVM shows alike, built once per listing and shared by all its
/// records. Objects Vigil has nothing for (certificate, qos policies) stay absent, as
/// ONTAP leaves out what is not set.
pub fn neutral() -> Vec<(&'static str, Arc<Value>)> {
    let off = json!({"enabled": false, "allowed": false});
    let mut members: Vec<(&'static str, Value)> = vec![
        ("aggregates", json!([])),
        ("aggregates_delegated", json!(false)),
        ("anti_ransomware_default_volume_state", json!("disabled")),
        ("auto_enable_activity_tracking", json!(false)),
        ("auto_enable_analytics", json!(false)),
        // No Samba front door serves an SVM in this release; `s3` is replaced for an
        // SVM that has an S3 server.
        ("cifs", off.clone()),
        ("s3", off.clone()),
        ("dns", json!({"domains": [], "servers": []})),
        ("fc_interfaces", json!([])),
        ("ip_interfaces", json!([])),
        ("is_space_enforcement_logical", json!(false)),
        ("is_space_reporting_logical", json!(false)),
        ("ldap", json!({"enabled": false})),
        ("max_volumes", json!("unlimited")),
        ("ndmp", json!({"allowed": false})),
        ("nis", json!({"enabled": false})),
        ("number_of_volumes_in_recovery_queue", json!(0)),
        ("routes", json!([])),
        ("snapshot_autodelete_enabled", json!(false)),
        ("snapshot_policy", json!({"name": "default"})),
        ("snapshot_reserve_percent", json!(0)),
        ("total_volume_size_in_recovery_queue", json!(0)),
    ];
    members.extend(UNSERVED.iter().map(|p| (*p, off.clone())));
    members
        .into_iter()
        .map(|(name, value)| (name, Arc::new(value)))
        .collect()
}

/// An SVM's `s3` member when it has an S3 server.
pub fn s3_member(service: &s3model::model::Service) -> Value {
    json!({
        "enabled": service.enabled,
        "allowed": true,
        "name": service.name,
        "is_http_enabled": service.is_http_enabled,
        "is_https_enabled": service.is_https_enabled,
        "port": service.port,
        "secure_port": service.secure_port,
    })
}

/// Lays the neutral members the request reads over a record.
pub fn overlay(
    mut record: Record,
    neutral: &[(&'static str, Arc<Value>)],
    wants: impl Fn(&str) -> bool,
) -> Record {
    for (name, value) in neutral {
        if wants(name) {
            record = record.with_shared(name, Arc::clone(value));
        }
    }
    record
}

/// `storage` of an SVM whose namespace root is `root`: a walk of the tree (hence an
/// expensive field) and the file system's figures.
pub fn storage(root: &Path) -> Value {
    let used = bytes_under(root);
    let (limit, available) = match rustix::fs::statvfs(root) {
        Ok(s) => (
            s.f_blocks.saturating_mul(s.f_frsize),
            s.f_bavail.saturating_mul(s.f_frsize),
        ),
        Err(_) => (0, 0),
    };
    let percent = used.saturating_mul(100).checked_div(limit).unwrap_or(0);
    json!({
        "allocated": used,
        "used": used,
        "available": available,
        "limit": limit,
        "limit_threshold_alert": 0,
        "limit_threshold_exceeded": false,
        "used_percentage": percent,
    })
}

/// Bytes of the regular files below `root`, without following symbolic links;
/// what cannot be read counts as nothing.
fn bytes_under(root: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
            }
        }
    }
    total
}
