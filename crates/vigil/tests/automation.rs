//! What ONTAP's automation sends (Ansible's netapp.ontap, curl): dotted keys in bodies,
//! query terms on instance URLs, raw bytes in request lines, the SVM fields it reads,
//! accounts it manages. Real binary, real HTTP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use common::{ADMIN_PASSWORD, Server, code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn svm_comment(s: &Server, uuid: &str) -> Value {
    let (st, v) = s.get(&format!("/api/svm/svms/{uuid}?fields=comment")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v["comment"].clone()
}

fn policy_url(svm: &str, name: &str) -> String {
    format!("/api/protocols/vscan/{svm}/on-access-policies/{name}")
}

#[tokio::test]
async fn dotted_keys_in_post_and_patch_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let svm = s.create_svm("dots1").await;
    // nested and dotted, mixed, in a POST
    let (st, v) = s
        .post(
            &format!("/api/protocols/vscan/{svm}/on-access-policies"),
            &json!({
                "name": "p1",
                "enabled": false,
                "scope.max_file_size": 2048,
                "scope": {"scan_readonly_volumes": true},
                "scope.exclude_extensions": ["tmp"],
            })
            .to_string(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (_, p) = s
        .get(&format!("{}?fields=scope", policy_url(&svm, "p1")))
        .await;
    assert_eq!(p["scope"]["max_file_size"], 2048, "{p}");
    assert_eq!(p["scope"]["scan_readonly_volumes"], true, "{p}");
    assert_eq!(p["scope"]["exclude_extensions"], json!(["tmp"]), "{p}");
    // a PATCH of one member by its dotted name keeps the others
    let (st, v) = s
        .patch(
            &policy_url(&svm, "p1"),
            r#"{"scope.max_file_size": 4096, "mandatory": false}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, p) = s
        .get(&format!(
            "{}?fields=scope,mandatory",
            policy_url(&svm, "p1")
        ))
        .await;
    assert_eq!(p["scope"]["max_file_size"], 4096, "{p}");
    assert_eq!(p["scope"]["scan_readonly_volumes"], true, "{p}");
    assert_eq!(p["mandatory"], false, "{p}");
    // the same value both ways is one field
    let (st, v) = s
        .patch(
            &policy_url(&svm, "p1"),
            r#"{"scope": {"max_file_size": 8192}, "scope.max_file_size": 8192}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // Bad input: ONTAP error bodies naming the dotted key; nothing written.
    let bad: &[(&str, &str, &str)] = &[
        (
            r#"{"scope": {"max_file_size": 1024}, "scope.max_file_size": 4096}"#,
            "262188",
            "scope.max_file_size",
        ),
        (r#"{"scope.bogus": 1}"#, "262179", "scope.bogus"),
        (r#"{"name.first": "x"}"#, "262179", "name.first"),
        (
            r#"{"scope..max_file_size": 1}"#,
            "262179",
            "scope..max_file_size",
        ),
        (
            r#"{"scope.max_file_size": "big"}"#,
            "262197",
            "scope.max_file_size",
        ),
        (r#"{"svm.name": "other"}"#, "262196", "svm.name"),
    ];
    for (body, want, target) in bad {
        let (st, v) = s.patch(&policy_url(&svm, "p1"), body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(code(&v), *want, "{body}: {v}");
        assert_eq!(v["error"]["target"], *target, "{body}: {v}");
    }
    let (_, p) = s
        .get(&format!("{}?fields=scope", policy_url(&svm, "p1")))
        .await;
    assert_eq!(p["scope"]["max_file_size"], 8192, "{p}");

    // POST bodies of other resources: accounts with role.name and owner.name
    let (st, v) = s
        .post(
            "/api/security/accounts",
            &json!({"name": "dotted1", "owner.name": "dots1", "role.name": "vsadmin",
                    "password": "Dotted-Pass-1"})
            .to_string(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (_, v) = s
        .get("/api/security/accounts?name=dotted1&fields=owner,role,scope")
        .await;
    assert_eq!(v["records"][0]["owner"]["uuid"], svm.as_str(), "{v}");
    assert_eq!(v["records"][0]["role"]["name"], "vsadmin", "{v}");
    // a dotted key cannot address the members of an array
    let (st, v) = s
        .post(
            "/api/security/accounts",
            r#"{"name": "dotted2", "password": "Dotted-Pass-1", "applications.application": "http"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        (code(&v), v["error"]["target"].as_str()),
        ("262179", Some("applications.application")),
        "{v}"
    );
    // a conflict in a POST creates nothing
    let (st, v) = s
        .post(
            "/api/security/accounts",
            r#"{"name": "dotted3", "password": "Dotted-Pass-1", "role": {"name": "admin"}, "role.name": "readonly"}"#,
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "262188"), "{v}");
    let (_, v) = s.get("/api/security/accounts?name=dotted3").await;
    assert_eq!(v["num_records"], 0, "{v}");
    s.stop();
}

#[tokio::test]
async fn query_terms_on_instance_patch_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let svm = s.create_svm("terms1").await;
    let url = format!("/api/svm/svms/{svm}");
    // terms that restate the instance: applied
    let (st, v) = s
        .patch(
            &format!("{url}?name=terms1&uuid={svm}&return_timeout=30"),
            r#"{"comment": "first"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(svm_comment(&s, &svm).await, "first");
    // the full query syntax works
    let (st, v) = s
        .patch(
            &format!("{url}?name=TERMS*&state=!stopped&return_timeout=30"),
            r#"{"comment": "second"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(svm_comment(&s, &svm).await, "second");
    // a term the instance does not meet: not found, nothing changed
    let (st, v) = s
        .patch(
            &format!("{url}?name=someone_else&return_timeout=30"),
            r#"{"comment": "third"}"#,
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::NOT_FOUND, "4"), "{v}");
    assert_eq!(v["error"]["target"], "uuid", "{v}");
    assert_eq!(svm_comment(&s, &svm).await, "second");
    let (st, v) = s
        .delete(&format!("{url}?comment=other&return_timeout=30"))
        .await;
    assert_eq!((st, code(&v)), (StatusCode::NOT_FOUND, "4"), "{v}");
    assert_eq!(svm_comment(&s, &svm).await, "second");
    // unknown and secret terms keep their own codes
    let (st, v) = s
        .patch(&format!("{url}?colour=blue"), r#"{"comment": "x"}"#)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "262179"), "{v}");

    // accounts, the way na_ontap_user sends them
    let (st, v) = s
        .post(
            "/api/security/accounts",
            r#"{"name": "termuser", "password": "Term-Pass-1", "role": {"name": "readonly"}}"#,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (_, v) = s
        .get("/api/security/accounts?name=termuser&fields=owner")
        .await;
    let owner = v["records"][0]["owner"]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let acct = format!("/api/security/accounts/{owner}/termuser");
    let (st, v) = s
        .patch(
            &format!("{acct}?name=termuser&owner.uuid={owner}"),
            r#"{"comment": "hi"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = s
        .patch(&format!("{acct}?password=x"), r#"{"comment": "hi"}"#)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "262202"), "{v}");
    let (st, v) = s
        .patch(
            &format!("{acct}?name=admin&owner.uuid={owner}"),
            r#"{"comment": "no"}"#,
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::NOT_FOUND, "4"), "{v}");
    let (st, v) = s.delete(&format!("{acct}?name=termuser")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, v) = s.get("/api/security/accounts?name=termuser").await;
    assert_eq!(v["num_records"], 0, "{v}");
    s.stop();
}

/// Sends raw HTTP/1.1 bytes (plain HTTP) on one connection; returns what came back
/// once the server closed it.
fn raw_exchange(base: &str, bytes: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn auth() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"));
    format!("Authorization: Basic {token}\r\n")
}

/// The JSON bodies of the responses in `text`, in order.
fn bodies(text: &str) -> Vec<Value> {
    text.split("HTTP/1.1 ")
        .filter(|r| !r.is_empty())
        .map(|r| {
            let body = r.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            serde_json::from_str(body.trim()).unwrap_or(Value::Null)
        })
        .collect()
}

fn names(v: &Value) -> Vec<&str> {
    let mut n: Vec<&str> = v["records"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    n.sort();
    n
}

#[tokio::test]
async fn raw_bytes_in_request_lines_are_read_leniently() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let svm = s.create_svm("lenient1").await;
    let (st, v) = s
        .patch(
            &format!("/api/svm/svms/{svm}?return_timeout=30"),
            r#"{"comment": "a b"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let auth = auth();
    // Four requests on one keep-alive connection: raw `>`, a POST with a body,
    // a chunked PATCH, raw `<`, `|`, `"` and a raw space, then Connection: close.
    let post_body = r#"{"name": "lenient-s", "interval": "PT5M"}"#;
    let chunked = r#"{"comment": "c d"}"#;
    let request = format!(
        "GET /api/cluster/schedules?name=>w&fields=name HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
         POST /api/cluster/schedules?return_timeout=10 HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{post_body}\
         PATCH /api/svm/svms/{svm}?name=lenient1&comment=a b&return_timeout=30 HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunked}\r\n0\r\n\r\n\
         GET /api/cluster/schedules?name=<6|lenient-s&fields=name HTTP/1.1\r\nHost: x\r\n{auth}\r\n\
         GET /api/svm/svms?comment=\"c d\"&fields=comment HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n",
        post_body.len(),
        chunked.len(),
    );
    let text = raw_exchange(&s.base, request.as_bytes());
    let statuses: Vec<&str> = text.split("HTTP/1.1 ").skip(1).map(|r| &r[..3]).collect();
    assert_eq!(statuses, ["200", "201", "200", "200", "200"], "{text}");
    let b = bodies(&text);
    assert_eq!(names(&b[0]), ["weekly"], "{text}");
    assert_eq!(names(&b[3]), ["5min", "lenient-s"], "{text}");
    assert_eq!(b[4]["num_records"], 1, "{text}");
    assert_eq!(b[4]["records"][0]["comment"], "c d", "{text}");
    // A filter that is wrong after decoding gets an ONTAP error body, not a bare 400.
    let request = format!(
        "GET /api/svm/svms?colour=<red> HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    );
    let text = raw_exchange(&s.base, request.as_bytes());
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(code(&bodies(&text)[0]), "262179", "{text}");
    s.stop();
}

#[tokio::test]
async fn svm_fields_automation_reads() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let svm = s.create_svm("fields1").await;
    std::fs::write(dir.path().join("svms/fields1/file.bin"), vec![7u8; 5000]).unwrap();
    let fields = "subtype,aggregates,language,snapshot_policy,ipspace,comment,nfs,cifs,fcp,\
                  iscsi,nvme,state,s3,max_volumes,ndmp,auto_enable_analytics,\
                  auto_enable_activity_tracking,storage";
    let (st, v) = s
        .get(&format!("/api/svm/svms?name=fields1&fields={fields}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let r = &v["records"][0];
    assert_eq!(r["uuid"], svm.as_str());
    assert_eq!(r["aggregates"], json!([]));
    assert_eq!(r["subtype"], "default");
    assert_eq!(r["language"], "c.utf_8");
    assert_eq!(r["snapshot_policy"]["name"], "default");
    assert_eq!(r["ipspace"]["name"], "Default");
    assert_eq!(r["max_volumes"], "unlimited");
    for p in ["nfs", "cifs", "fcp", "iscsi", "nvme", "s3"] {
        assert_eq!(
            r[p],
            json!({"enabled": false, "allowed": false}),
            "{p}: {r}"
        );
    }
    assert_eq!(r["ndmp"], json!({"allowed": false}));
    assert_eq!(r["auto_enable_analytics"], false);
    assert_eq!(r["storage"]["used"], 5000, "{r}");
    assert!(r["storage"]["limit"].as_u64().unwrap() > 5000, "{r}");
    // Without asking, the expensive storage block is not there.
    let (_, v) = s.get("/api/svm/svms?name=fields1&fields=*").await;
    assert!(v["records"][0].get("storage").is_none(), "{v}");
    assert_eq!(v["records"][0]["nfs"]["enabled"], false, "{v}");
    // Every field of the client's Svm resource is accepted in fields= ...
    let all = "aggregates,aggregates_delegated,anti_ransomware,\
        anti_ransomware_auto_switch_duration_without_new_file_extension,\
        anti_ransomware_auto_switch_from_learning_to_enabled,\
        anti_ransomware_auto_switch_minimum_file_count,\
        anti_ransomware_auto_switch_minimum_file_extension,\
        anti_ransomware_auto_switch_minimum_incoming_data,\
        anti_ransomware_auto_switch_minimum_learning_period,\
        anti_ransomware_default_volume_state,anti_ransomware_incoming_write_threshold,\
        anti_ransomware_incoming_write_threshold_percent,auto_enable_activity_tracking,\
        auto_enable_analytics,certificate,cifs,comment,dns,fc_interfaces,fcp,ip_interfaces,\
        ipspace,is_space_enforcement_logical,is_space_reporting_logical,iscsi,language,ldap,\
        max_volumes,name,ndmp,nfs,nis,nsswitch,number_of_volumes_in_recovery_queue,nvme,\
        qos_adaptive_policy_group_template,qos_policy,qos_policy_group_template,routes,s3,\
        san_multipathing,snapmirror,snapshot_autodelete_enabled,snapshot_policy,\
        snapshot_reserve_percent,state,storage,subtype,total_volume_size_in_recovery_queue,uuid";
    let (st, v) = s.get(&format!("/api/svm/svms/{svm}?fields={all}")).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // ... and in filters
    for (q, n) in [
        ("cifs.enabled=false", 1),
        ("nfs.allowed=true", 0),
        ("max_volumes=unlimited", 1),
        ("aggregates.name=aggr1", 0),
        ("snapshot_policy.name=default", 1),
        ("storage.used=>4999", 1),
        ("storage.used=<4999", 0),
    ] {
        let (st, v) = s.get(&format!("/api/svm/svms?name=fields1&{q}")).await;
        assert_eq!(st, StatusCode::OK, "{q}: {v}");
        assert_eq!(v["num_records"], n, "{q}: {v}");
    }
    // read-only: not settable
    let (st, v) = s
        .patch(&format!("/api/svm/svms/{svm}"), r#"{"nfs.enabled": true}"#)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "262196"), "{v}");
    s.stop();
}

#[tokio::test]
async fn accounts_applications_and_password_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let apps = json!([
        {"application": "http", "authentication_methods": ["password"]},
        {"application": "ontapi", "authentication_methods": ["password"]},
        {"application": "ssh", "authentication_methods": ["password"]},
    ]);
    let (st, v) = s
        .post(
            "/api/security/accounts",
            &json!({"name": "auto1", "password": "Auto-Pass-1", "role": {"name": "readonly"},
                    "applications": apps})
            .to_string(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (_, v) = s
        .get("/api/security/accounts?name=auto1&fields=applications,owner")
        .await;
    let listed: Vec<&str> = v["records"][0]["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["application"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["http", "ontapi", "ssh"], "{v}");
    let owner = v["records"][0]["owner"]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("/api/security/accounts/{owner}/auto1");
    // the current password again: refused as reuse
    let (st, v) = s.patch(&url, r#"{"password": "Auto-Pass-1"}"#).await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "7077918"), "{v}");
    assert_eq!(
        v["error"]["message"],
        "New password must be different than the old password."
    );
    assert_eq!(v["error"]["target"], "password");
    // the user changes its own password (a readonly account)...
    let me = ("auto1", "Auto-Pass-1");
    let (st, _, v) = s
        .call(
            Method::PATCH,
            &url,
            Some(r#"{"password": "Auto-Pass-2"}"#),
            me,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _, _) = s.call(Method::GET, "/api/cluster", None, me).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let me = ("auto1", "Auto-Pass-2");
    let (st, _, _) = s.call(Method::GET, "/api/cluster", None, me).await;
    assert_eq!(st, StatusCode::OK);
    // ... but nothing else of it, nor anyone else's password
    let (st, _, v) = s
        .call(
            Method::PATCH,
            &url,
            Some(r#"{"role": {"name": "admin"}}"#),
            me,
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "6"), "{v}");
    let (st, _, v) = s
        .call(
            Method::PATCH,
            &format!("/api/security/accounts/{owner}/admin"),
            Some(r#"{"password": "Stolen-Pass-1"}"#),
            me,
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "6"), "{v}");
    // an admin sets it
    let (st, v) = s.patch(&url, r#"{"password": "Auto-Pass-3"}"#).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // without the http application the account has no access to this API
    let (st, v) = s
        .patch(
            &url,
            r#"{"applications": [{"application": "ontapi", "authentication_methods": ["password"]}]}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _, _) = s
        .call(Method::GET, "/api/cluster", None, ("auto1", "Auto-Pass-3"))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, v) = s
        .patch(
            &url,
            r#"{"applications": [{"application": "telnet", "authentication_methods": ["password"]}]}"#,
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "262197"), "{v}");
    s.stop();
}
