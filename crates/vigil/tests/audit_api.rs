//! `/api/protocols/audit/{svm.uuid}/object-store` over real HTTP against the real
//! binary: defaults, shapes, every error code, jobs and `return_timeout`, PATCH
//! semantics, `rotation.now` on disk, persistence across a restart.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Server, code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn url(svm: &str) -> String {
    format!("/api/protocols/audit/{svm}/object-store")
}

/// The SVM's namespace root on the host.
async fn root(s: &Server, uuid: &str) -> PathBuf {
    let (_, v) = s
        .get(&format!("/api/svm/svms/{uuid}?fields=root_path"))
        .await;
    PathBuf::from(v["root_path"].as_str().unwrap())
}

async fn wait_job(s: &Server, reply: &Value) -> Value {
    let href = reply["job"]["_links"]["self"]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("no job link in {reply}"))
        .to_string();
    for _ in 0..300 {
        let (st, job) = s.get(&href).await;
        assert_eq!(st, StatusCode::OK);
        if job["state"] == "success" || job["state"] == "failure" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {href} did not end");
}

/// Asserts an ONTAP error: HTTP status, code and message.
#[track_caller]
fn expect_error(
    (status, body): (StatusCode, Value),
    want_status: u16,
    want_code: &str,
    message: &str,
) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(code(&body), want_code, "{body}");
    let got = body["error"]["message"].as_str().unwrap_or_default();
    assert!(got.contains(message), "message {got:?} lacks {message:?}");
}

async fn setup(s: &Server, name: &str) -> (String, PathBuf) {
    let uuid = s.create_svm(name).await;
    let root = root(s, &uuid).await;
    std::fs::create_dir_all(root.join("audit")).unwrap();
    (uuid, root)
}

#[tokio::test]
async fn post_defaults_shapes_and_collection() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let (u1, _) = setup(&s, "vs1").await;
    let (u3, _) = setup(&s, "vs3").await;

    // Default return_timeout is 0: 202 with a job, Location and (asked for) the record.
    let (st, headers, v) = s
        .call(
            Method::POST,
            &format!("{}?return_records=true", url(&u1)),
            Some(r#"{"log_path": "/"}"#),
            common::admin(),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(headers["location"], url(&u1).as_str());
    assert_eq!(v["num_records"], 1);
    let defaults = json!({
        "svm": {"uuid": u1, "name": "vs1", "_links": {"self": {"href": format!("/api/svm/svms/{u1}")}}},
        "enabled": true,
        "events": {"data": true, "management": false},
        "log": {"format": "json", "rotation": {"size": 104857600}, "retention": {"count": 0, "duration": "0s"}},
        "log_path": "/",
        "_links": {"self": {"href": url(&u1)}},
    });
    let mut echoed = v["records"][0].clone();
    echoed["_links"] = defaults["_links"].clone();
    assert_eq!(echoed, defaults);
    assert_eq!(wait_job(&s, &v).await["state"], "success");
    let (st, got) = s.get(&url(&u1)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(got, defaults, "instance GET returns every field");
    let (_, trailing) = s.get(&format!("{}/", url(&u1))).await;
    assert_eq!(trailing, defaults, "trailing slash");

    // The schedule + duration example of the seed (months [0] accepted, see docs).
    let (st, v) = s
        .post(
            &format!("{}?return_timeout=10", url(&u3)),
            r#"{"enabled": false, "events": {"data": true, "management": true},
                "log": {"format": "json", "retention": {"duration": "P4DT12H30M5S"},
                        "rotation": {"schedule": {"days": [1, 5, 10, 15], "hours": [0, 1, 6, 12, 18, 23],
                                                  "minutes": [10, 15, 30, 45, 59], "months": [0], "weekdays": [0, 2, 5]}}},
                "log_path": "/audit"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (_, got) = s.get(&url(&u3)).await;
    assert_eq!(got["enabled"], false, "stores what was sent");
    assert_eq!(
        got["log"],
        json!({"format": "json",
               "rotation": {"schedule": {"minutes": [10, 15, 30, 45, 59], "hours": [0, 1, 6, 12, 18, 23],
                                         "weekdays": [0, 2, 5], "days": [1, 5, 10, 15], "months": [0]}},
               "retention": {"count": 0, "duration": "P4DT12H30M5S"}})
    );

    // Collection over `*` (and its percent-encoded form, which the Python client sends).
    for star in ["*", "%2A"] {
        let (st, v) = s
            .get(&format!("{}?fields=*&return_timeout=15", url(star)))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["num_records"], 2);
        let names: Vec<&str> = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["svm"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"vs1") && names.contains(&"vs3"));
    }
    // Without `fields`: only the key plus the fields used as filters.
    let (_, v) = s
        .get(&format!(
            "{}?events.data=true&events.management=true",
            url("*")
        ))
        .await;
    assert_eq!(v["num_records"], 1);
    let r = &v["records"][0];
    assert_eq!(r["svm"]["uuid"], u3.as_str());
    assert_eq!(r["events"], json!({"data": true, "management": true}));
    assert!(r.get("log").is_none() && r.get("enabled").is_none(), "{r}");
    // Every listed filter works.
    for (filter, n) in [
        ("enabled=true", 1),
        ("enabled=false", 1),
        ("log_path=/audit", 1),
        ("log.format=json", 2),
        ("log.retention.count=0", 2),
        ("log.retention.duration=P4DT12H30M5S", 1),
        ("log.rotation.size=104857600", 1),
        ("log.rotation.size=>1MB", 1),
        ("log.rotation.schedule.hours=18", 1),
        ("log.rotation.schedule.days=10", 1),
        ("log.rotation.schedule.weekdays=5", 1),
        ("log.rotation.schedule.minutes=59", 1),
        ("log.rotation.schedule.months=0", 1),
        ("svm.name=vs1", 1),
        ("svm.name=vs*", 2),
        ("events.data=false", 0),
    ] {
        let (st, v) = s.get(&format!("{}?{filter}", url("*"))).await;
        assert_eq!(st, StatusCode::OK, "{filter}: {v}");
        assert_eq!(v["num_records"], n, "{filter}: {v}");
    }
    let (_, v) = s.get(&format!("{}?return_records=false", url("*"))).await;
    assert_eq!(v["num_records"], 2);
    assert!(v.get("records").is_none(), "{v}");
    // Query-based PATCH and DELETE over `*`: the matching records only, each a job.
    let (st, v) = s
        .patch(
            &format!("{}?svm.name=vs1&return_timeout=10", url("*")),
            r#"{"events": {"management": false}}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["num_records"], 1);
    let (_, got) = s.get(&url(&u1)).await;
    assert_eq!(got["events"], json!({"data": false, "management": false}));
    let (_, got) = s.get(&url(&u3)).await;
    assert_eq!(
        got["events"],
        json!({"data": true, "management": true}),
        "unchanged"
    );
    let (st, v) = s.patch(&url("*"), r#"{"enabled": false}"#).await;
    assert_eq!((st.as_u16(), code(&v)), (400, "2"), "a filter is required");
    let (st, v) = s
        .delete(&format!("{}?enabled=false&return_timeout=10", url("*")))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["num_records"], 1, "only the disabled vs3");
    let (st, _) = s.get(&url(&u3)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // The Allow header names POST on the keyed path.
    let (_, h, _) = s
        .call(Method::OPTIONS, &url(&u1), None, common::admin())
        .await;
    assert!(h["allow"].to_str().unwrap().contains("POST"));
}

#[tokio::test]
async fn every_error_code() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let (u, root) = setup(&s, "vserr").await;
    let (bare, _) = setup(&s, "vsbare").await;
    std::fs::write(root.join("file"), b"x").unwrap();
    std::os::unix::fs::symlink(root.join("audit"), root.join("link")).unwrap();
    std::fs::create_dir_all(root.join("audit/sub")).unwrap();
    let ghost = "00000000-0000-4000-8000-000000000000";
    let post = |path: String, body: Value| {
        let s = &s;
        async move { s.post(&path, &body.to_string()).await }
    };
    let lp = |p: &str| json!({ "log_path": p });

    // SVM lookup.
    let lookup = "SVM UUID lookup failed";
    expect_error(post(url(ghost), lp("/")).await, 404, "9699340", lookup);
    expect_error(post(url("*"), lp("/")).await, 404, "9699340", lookup);
    expect_error(
        s.patch(&url(ghost), r#"{"enabled": false}"#).await,
        404,
        "9699340",
        lookup,
    );
    expect_error(s.get(&url(ghost)).await, 404, "9699340", lookup);
    expect_error(s.delete(&url(ghost)).await, 404, "9699340", lookup);

    // log_path.
    expect_error(
        post(url(&u), json!({})).await,
        400,
        "262212",
        "\"log_path\" is a required field",
    );
    expect_error(
        post(url(&u), lp("")).await,
        400,
        "140902459",
        "The log_path cannot be empty.",
    );
    expect_error(
        post(url(&u), lp(&format!("/{}", "a".repeat(864)))).await,
        400,
        "140902470",
        "maximum supported length of 864 characters",
    );
    for bad in [
        "audit",
        "/audit/",
        "//audit",
        "/audit/../audit",
        "/./audit",
        "/audit/./sub",
    ] {
        expect_error(
            post(url(&u), lp(bad)).await,
            400,
            "140902458",
            "canonical path",
        );
    }
    expect_error(
        post(url(&u), lp("/nope")).await,
        400,
        "140902456",
        "The specified log_path does not exist.",
    );
    expect_error(
        post(url(&u), lp("/file")).await,
        400,
        "140902457",
        "The log_path must be a directory.",
    );
    expect_error(
        post(url(&u), lp("/link")).await,
        400,
        "140902461",
        "must not contain a symbolic link",
    );
    expect_error(
        post(url(&u), lp("/link/sub")).await,
        400,
        "140902461",
        "must not contain a symbolic link",
    );

    // Rotation and retention.
    let with_log = |log: Value| json!({"log_path": "/audit", "log": log});
    expect_error(
        post(url(&u), with_log(json!({"rotation": {"size": 1048575}}))).await,
        400,
        "140902460",
        "Rotate size must be greater than or equal to 1024 KB.",
    );
    for (field, bad) in [
        ("minutes", 60),
        ("hours", 24),
        ("days", 0),
        ("days", 32),
        ("weekdays", 7),
        ("months", 13),
    ] {
        let mut schedule = json!({"minutes": [0]});
        schedule[field] = json!([bad]);
        let (st, v) = post(
            url(&u),
            with_log(json!({"rotation": {"schedule": schedule}})),
        )
        .await;
        expect_error(
            (st, v.clone()),
            400,
            "262197",
            &format!("log.rotation.schedule.{field}"),
        );
        assert_eq!(
            v["error"]["target"],
            format!("log.rotation.schedule.{field}")
        );
    }
    expect_error(
        post(
            url(&u),
            with_log(json!({"rotation": {"schedule": {"hours": [1]}}})),
        )
        .await,
        400,
        "262212",
        "log.rotation.schedule.minutes",
    );
    expect_error(
        post(
            url(&u),
            with_log(json!({"retention": {"count": 3, "duration": "P1D"}})),
        )
        .await,
        400,
        "262186",
        "mutually exclusive",
    );
    expect_error(
        post(
            url(&u),
            with_log(json!({"retention": {"duration": "3 days"}})),
        )
        .await,
        400,
        "262197",
        "ISO-8601",
    );
    expect_error(
        post(url(&u), with_log(json!({"rotation": {"now": true}}))).await,
        400,
        "262196",
        "log.rotation.now",
    );
    expect_error(
        post(url(&u), with_log(json!({"format": "xml"}))).await,
        400,
        "262197",
        "xml",
    );
    expect_error(
        post(url(&u), json!({"log_path": "/audit", "colour": "red"})).await,
        400,
        "262179",
        "colour",
    );
    expect_error(
        post(
            url(&u),
            json!({"log_path": "/audit", "svm": {"uuid": bare}}),
        )
        .await,
        400,
        "262197",
        "svm.uuid",
    );
    expect_error(
        post(
            url(&u),
            json!({"log_path": "/audit", "svm": {"name": "vsbare"}}),
        )
        .await,
        400,
        "262197",
        "svm.name",
    );

    // Nothing so far created a configuration.
    let (_, v) = s.get(&url("*")).await;
    assert_eq!(v["num_records"], 0, "{v}");

    // Duplicate.
    let (st, v) = post(format!("{}?return_timeout=10", url(&u)), lp("/audit")).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    expect_error(
        post(url(&u), lp("/audit")).await,
        409,
        "140902402",
        "Audit configuration is already present.",
    );

    // PATCH rules.
    expect_error(
        s.patch(&url(&u), r#"{"enabled": false, "log_path": "/"}"#)
            .await,
        400,
        "140902479",
        "\"enabled\" field must be specified alone",
    );
    expect_error(
        s.patch(&url(&u), r#"{"enabled": true}"#).await,
        400,
        "140902431",
        "already enabled",
    );
    expect_error(
        s.patch(&url(&bare), r#"{"log_path": "/"}"#).await,
        404,
        "140902415",
        "no audit configuration exists for the SVM",
    );
    expect_error(
        s.patch(&url(&u), r#"{"log_path": "/nope"}"#).await,
        400,
        "140902456",
        "does not exist",
    );
    expect_error(
        s.patch(&url(&u), r#"{"log": {"rotation": {"size": 5}}}"#)
            .await,
        400,
        "140902460",
        "1024 KB",
    );
    expect_error(
        s.patch(&url(&u), r#"{"svm": {"name": "x"}}"#).await,
        400,
        "262196",
        "svm",
    );
    expect_error(s.patch(&url(&u), "{}").await, 400, "262190", "No values");
    let (st, v) = s
        .patch(
            &format!("{}?return_timeout=10", url(&u)),
            r#"{"enabled": false}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    expect_error(
        s.patch(&url(&u), r#"{"enabled": false}"#).await,
        400,
        "140902446",
        "already disabled",
    );
    expect_error(
        s.patch(&url(&u), r#"{"log": {"rotation": {"now": true}}}"#)
            .await,
        400,
        "140902492",
        "auditing is not enabled",
    );

    // A log directory removed behind Vigil's back: disabling still works, enabling
    // reports the missing path.
    std::fs::remove_dir_all(root.join("audit")).unwrap();
    expect_error(
        s.patch(&url(&u), r#"{"enabled": true}"#).await,
        400,
        "140902456",
        "does not exist",
    );
    let (st, v) = s
        .patch(
            &format!("{}?return_timeout=10", url(&u)),
            r#"{"events": {"data": true}}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "disabled: path not needed: {v}");
    std::fs::create_dir_all(root.join("audit")).unwrap();

    // DELETE: refused while enabled unless forced; absent configuration is 404/4.
    let (st, v) = s
        .patch(
            &format!("{}?return_timeout=10", url(&u)),
            r#"{"enabled": true}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    expect_error(
        s.delete(&url(&u)).await,
        400,
        "140902421",
        "because audit is enabled for the SVM",
    );
    expect_error(
        s.delete(&format!("{}?force=maybe", url(&u))).await,
        400,
        "262197",
        "force",
    );
    let (st, v) = s
        .delete(&format!("{}?force=true&return_timeout=10", url(&u)))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    expect_error(s.delete(&url(&u)).await, 404, "4", "entry doesn't exist");
    expect_error(s.get(&url(&u)).await, 404, "4", "entry doesn't exist");
    // Filters belong to the collection form only.
    expect_error(
        s.get(&format!("{}?enabled=true", url(&u))).await,
        400,
        "262179",
        "enabled",
    );
}

#[tokio::test]
async fn jobs_patch_semantics_rotation_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let (u, root) = setup(&s, "vsjob").await;
    std::fs::create_dir_all(root.join("audit2")).unwrap();

    // 202 + job at the default return_timeout=0, for PATCH and DELETE too.
    let (st, v) = s.post(&url(&u), r#"{"log_path": "/audit"}"#).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let job = wait_job(&s, &v).await;
    assert_eq!(job["state"], "success");
    assert_eq!(
        job["description"],
        format!("POST /api/protocols/audit/{u}/object-store")
    );
    assert!(
        root.join("audit/audit_last.json").exists(),
        "enabled: the active file is open"
    );

    let (st, v) = s
        .patch(&url(&u), r#"{"events": {"management": true}}"#)
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    wait_job(&s, &v).await;
    let (_, got) = s.get(&url(&u)).await;
    assert_eq!(
        got["events"],
        json!({"data": false, "management": true}),
        "events replaces both flags"
    );

    // rotation.now: an archive appears at once; never stored or returned.
    let (st, v) = s
        .patch(
            &format!("{}?return_timeout=10", url(&u)),
            r#"{"log": {"rotation": {"now": true}}}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["job"]["uuid"].is_string(), "200 still carries the job");
    let archives = audit::log::archives(&root.join("audit")).unwrap();
    assert_eq!(archives.len(), 1, "{archives:?}");
    let (_, got) = s.get(&url(&u)).await;
    assert!(got["log"]["rotation"].get("now").is_none());

    // Retention switch, schedule replacing, size removal falls back to schedule only.
    let (st, v) = s
        .patch(
            &format!("{}?return_timeout=10", url(&u)),
            r#"{"log": {"retention": {"count": 0, "duration": "P1W"},
                        "rotation": {"size": null, "schedule": {"minutes": [0], "hours": [3]}}},
                "log_path": "/audit2"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, got) = s.get(&url(&u)).await;
    assert_eq!(
        got["log"],
        json!({"format": "json", "rotation": {"schedule": {"minutes": [0], "hours": [3]}},
               "retention": {"count": 0, "duration": "P7D"}})
    );
    assert_eq!(got["log_path"], "/audit2");
    assert!(
        root.join("audit2/audit_last.json").exists(),
        "the log moved to the new path"
    );

    // Persistence: same object after a restart, and the live log is back (rotation.now
    // works at once on the restored configuration).
    let before = got;
    s.stop();
    let s = Server::start(dir.path(), false);
    let (st, after) = s.get(&url(&u)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(after, before);
    let (st, v) = s
        .patch(
            &format!("{}?return_timeout=10", url(&u)),
            r#"{"log": {"rotation": {"now": true}}}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(audit::log::archives(&root.join("audit2")).unwrap().len(), 1);

    // Deleting the SVM deletes its configuration; the files stay.
    let (st, v) = s
        .delete(&format!("/api/svm/svms/{u}?return_timeout=10"))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, v) = s.get(&url("*")).await;
    assert_eq!(v["num_records"], 0);
    assert!(root.join("audit2/audit_last.json").exists());
}

#[tokio::test]
async fn roles() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let (own, _) = setup(&s, "vsown").await;
    let (other, _) = setup(&s, "vsother").await;
    let (st, v) = s
        .post(
            "/api/security/accounts",
            &json!({"name": "ownadmin", "password": "vsadmin-pw-1", "owner": {"name": "vsown"},
                    "role": {"name": "vsadmin"}})
            .to_string(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = s
        .post(
            "/api/security/accounts",
            r#"{"name": "reader", "password": "reader-pw-1", "role": {"name": "readonly"}}"#,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let va = ("ownadmin", "vsadmin-pw-1");
    let ro = ("reader", "reader-pw-1");
    let body = r#"{"log_path": "/audit"}"#;
    let post = |path: String, user| {
        let s = &s;
        async move {
            let (st, _, v) = s
                .call(
                    Method::POST,
                    &format!("{path}?return_timeout=10"),
                    Some(body),
                    user,
                )
                .await;
            (st, v)
        }
    };

    // An SVM administrator manages its own SVM's configuration only.
    let (st, v) = post(url(&own), va).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    expect_error(post(url(&other), va).await, 403, "6", "not authorized");
    let (st, _, v) = s.call(Method::GET, &url(&own), None, va).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = post(url(&other), common::admin()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (_, _, v) = s.call(Method::GET, &url("*"), None, va).await;
    assert_eq!(v["num_records"], 1, "sees its own only: {v}");
    let (st, _, v) = s
        .call(
            Method::PATCH,
            &format!("{}?return_timeout=10", url(&own)),
            Some(r#"{"enabled": false}"#),
            va,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // readonly: reads everything, changes nothing.
    let (_, _, v) = s.call(Method::GET, &url("*"), None, ro).await;
    assert_eq!(v["num_records"], 2);
    let (st, _, v) = s
        .call(Method::PATCH, &url(&own), Some(r#"{"enabled": true}"#), ro)
        .await;
    expect_error((st, v), 403, "6", "not authorized");
    let (st, _, v) = s.call(Method::DELETE, &url(&own), None, ro).await;
    expect_error((st, v), 403, "6", "not authorized");
}
