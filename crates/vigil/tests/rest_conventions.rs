//! ONTAP REST conventions, exercised over real HTTP against the real binary.

mod common;

use common::{Server, code};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn names(v: &Value) -> Vec<String> {
    v["records"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn schedule(s: &Server, body: Value) {
    let (st, v) = s.post("/api/cluster/schedules", &body.to_string()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn filter_operators() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    schedule(
        &s,
        json!({"name": "t-a", "cron": {"minutes": [1], "hours": [3]}}),
    )
    .await;
    schedule(&s, json!({"name": "t-b", "cron": {"minutes": [2, 30]}})).await;
    schedule(
        &s,
        json!({"name": "t-c", "cron": {"minutes": [40], "hours": [5, 6]}}),
    )
    .await;
    schedule(&s, json!({"name": "t-d|x", "interval": "PT5M"})).await;
    let q = |query: &'static str| {
        let s = &s;
        async move {
            let (st, v) = s.get(&format!("/api/cluster/schedules?{query}")).await;
            assert_eq!(st, StatusCode::OK, "{query}: {v}");
            let mut n = names(&v);
            n.retain(|x| x.starts_with("t-"));
            n.sort();
            n
        }
    };
    assert_eq!(q("name=t-a").await, ["t-a"]);
    assert_eq!(
        q("name=T-A").await,
        ["t-a"],
        "names match case-insensitively"
    );
    assert_eq!(q("name=t-*").await, ["t-a", "t-b", "t-c", "t-d|x"]);
    assert_eq!(q("name=*-c").await, ["t-c"]);
    assert_eq!(q("name=t*c").await, ["t-c"]);
    assert_eq!(
        q("name=%21t-a&name=t-*").await,
        ["t-b", "t-c", "t-d|x"],
        "repeated filters are ANDed"
    );
    assert_eq!(q("name=t-*&type=!cron").await, ["t-d|x"]);
    assert_eq!(
        q("name=t-a%7Ct-b").await,
        ["t-a", "t-b"],
        "percent-encoded |"
    );
    assert_eq!(q("name=t-a|t-c").await, ["t-a", "t-c"]);
    assert_eq!(
        q("name=\"t-d|x\"").await,
        ["t-d|x"],
        "quoted value is literal"
    );
    assert_eq!(
        q("name={t-d|x}").await,
        ["t-d|x"],
        "braced value is literal"
    );
    assert_eq!(q("name=t-b..t-c").await, ["t-b", "t-c"]);
    assert_eq!(q("name=t-*&cron.minutes=>30").await, ["t-c"]);
    assert_eq!(q("name=t-*&cron.minutes=<2").await, ["t-a"]);
    assert_eq!(q("name=t-*&cron.minutes=<=2").await, ["t-a", "t-b"]);
    assert_eq!(q("name=t-*&cron.minutes=%3E%3D30").await, ["t-b", "t-c"]);
    assert_eq!(
        q("name=t-*&cron.minutes=30").await,
        ["t-b"],
        "arrays match when any element matches"
    );
    assert_eq!(
        q("name=t-*&cron.minutes=!30").await,
        ["t-a", "t-c", "t-d|x"]
    );
    assert_eq!(q("name=t-*&cron.hours=null").await, ["t-b", "t-d|x"]);
    assert_eq!(q("name=t-*&cron.hours=!null").await, ["t-a", "t-c"]);
    assert_eq!(q("name=t-*&cron.hours=5..6").await, ["t-c"]);
    assert_eq!(q("name=t-*&cron.hours=3|>5").await, ["t-a", "t-c"]);
    assert_eq!(q("name=t-*&interval=PT5*").await, ["t-d|x"]);
    assert_eq!(
        q("name=t-*&cluster.name=vig*").await,
        ["t-a", "t-b", "t-c", "t-d|x"],
        "nested reference field"
    );
    // Filtered fields are returned with the identity on collection GETs.
    let (_, v) = s.get("/api/cluster/schedules?name=t-a&type=cron").await;
    let rec = &v["records"][0];
    assert_eq!(rec["type"], "cron");
    assert!(
        rec.get("cron").is_none(),
        "unfiltered fields stay out: {rec}"
    );
    // Bad operands for typed fields are invalid values.
    let (st, v) = s.get("/api/cluster/schedules?cron.minutes=>abc").await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "262197"));
    let (st, v) = s.get("/api/cluster/schedules?name=").await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "262194"));
}

#[tokio::test]
async fn paging_through_a_thousand_records() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    for i in 0..1000 {
        schedule(&s, json!({"name": format!("p{i:04}"), "interval": "PT1H"})).await;
    }
    let mut seen = Vec::new();
    let mut path = "/api/cluster/schedules?name=p*&max_records=7&fields=interval".to_string();
    let mut pages = 0;
    loop {
        let (st, v) = s.get(&path).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert!(v["num_records"].as_u64().unwrap() <= 7);
        for r in v["records"].as_array().unwrap() {
            assert_eq!(r["interval"], "PT1H", "fields carried to every page");
            seen.push(r["name"].as_str().unwrap().to_string());
        }
        pages += 1;
        match v["_links"]["next"]["href"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("max_records=7") && next.contains("fields="),
                    "next keeps the query: {next}"
                );
                path = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 143);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 1000, "every record exactly once");
    // With order_by, paging continues by offset in that order.
    let (_, v) = s
        .get("/api/cluster/schedules?name=p*&order_by=name%20desc&max_records=3")
        .await;
    assert_eq!(names(&v), ["p0999", "p0998", "p0997"]);
    let next = v["_links"]["next"]["href"].as_str().unwrap().to_string();
    let (_, v) = s.get(&next).await;
    assert_eq!(names(&v), ["p0996", "p0995", "p0994"]);
    // return_records=false counts.
    let (_, v) = s
        .get("/api/cluster/schedules?name=p*&return_records=false")
        .await;
    assert_eq!(v["num_records"], 1000);
    assert!(v.get("records").is_none());
}

#[tokio::test]
async fn fields_defaults_and_selection() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), true);
    let uuid = s.create_svm("vs1").await;
    let (_, v) = s.get("/api/svm/svms").await;
    let rec = &v["records"][0];
    let keys: Vec<&String> = rec.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["uuid", "name", "_links"],
        "collection default is the identity"
    );
    assert_eq!(
        rec["_links"]["self"]["href"],
        format!("/api/svm/svms/{uuid}")
    );
    let (_, inst) = s.get(&format!("/api/svm/svms/{uuid}")).await;
    assert_eq!(inst["state"], "running");
    assert!(
        inst.get("snapmirror").is_none(),
        "expensive fields need ** or a name"
    );
    let (_, star) = s.get(&format!("/api/svm/svms/{uuid}?fields=*")).await;
    assert_eq!(star, inst, "instance default equals fields=*");
    let (_, all) = s.get(&format!("/api/svm/svms/{uuid}?fields=**")).await;
    assert_eq!(all["snapmirror"]["is_protected"], false);
    let (_, named) = s
        .get(&format!(
            "/api/svm/svms/{uuid}?fields=snapmirror.is_protected,ipspace.name"
        ))
        .await;
    assert_eq!(named["snapmirror"], json!({"is_protected": false}));
    assert_eq!(named["ipspace"], json!({"name": "Default"}));
    assert!(named.get("state").is_none());
    assert_eq!(named["uuid"], uuid.as_str(), "identity always present");
    let (_, neg) = s
        .get(&format!(
            "/api/svm/svms/{uuid}?fields=ipspace,!ipspace.uuid"
        ))
        .await;
    assert_eq!(neg["ipspace"], json!({"name": "Default"}));
    let (_, braces) = s
        .get(&format!(
            "/api/svm/svms/{uuid}?fields=ipspace.{{name,uuid}}"
        ))
        .await;
    assert!(braces["ipspace"]["uuid"].is_string());
    let (st, v) = s.get("/api/svm/svms?fields=nope").await;
    assert_eq!(
        (st, code(&v), v["error"]["target"].as_str()),
        (StatusCode::BAD_REQUEST, "262197", Some("fields"))
    );
    let (st, _) = s
        .get("/api/svm/svms?fields=nope&ignore_unknown_fields=true")
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = s.get("/api/svm/svms?fields=ipspace.{name").await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "262286"));
    // Accept: application/json drops _links (but keeps next).
    let (_, h, body) = s
        .raw(
            Method::GET,
            "/api/svm/svms?max_records=1",
            &[("accept", "application/json")],
            vec![],
        )
        .await;
    assert!(!body.contains("\"self\""), "{body}");
    assert_eq!(h["content-type"], "application/json");
    let (_, h, body) = s
        .raw(Method::GET, "/api/svm/svms", &[("accept", "*/*")], vec![])
        .await;
    assert!(body.contains("\"self\""));
    assert_eq!(h["content-type"], "application/hal+json");
}

#[tokio::test]
async fn error_classes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let uuid = s.create_svm("vs1").await;
    type Case = (Method, String, Option<Vec<u8>>, StatusCode, &'static str);
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/api/svm/svms?bogus=1".into(),
            None,
            StatusCode::BAD_REQUEST,
            "262179",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(br#"{"name":"x1","bogus":1}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262179",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(br#"{"name":"x1","uuid":"u"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262196",
        ),
        (
            Method::PATCH,
            format!("/api/svm/svms/{uuid}"),
            Some(br#"{"subtype":"default"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262196",
        ),
        // An SVM is created running: `state` is set by PATCH only.
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(br#"{"name":"x1","state":"stopped"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262196",
        ),
        (
            Method::PATCH,
            format!("/api/svm/svms/{uuid}"),
            Some(br#"{"state":"weird"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262197",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(br#"{"name":5}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262197",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(br#"{"name": "x1","#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262199",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(b"[1,2]".to_vec()),
            StatusCode::BAD_REQUEST,
            "262199",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(b"{\"name\":\"\xff\xfe\"}".to_vec()),
            StatusCode::BAD_REQUEST,
            "262199",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(format!(r#"{{"comment":"{}"}}"#, "a".repeat(2 << 20)).into_bytes()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "262201",
        ),
        (
            Method::POST,
            "/api/svm/svms?name=x".into(),
            Some(br#"{"name":"x1"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262211",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(br#"{"name":"vs1"}"#.to_vec()),
            StatusCode::CONFLICT,
            "13434908",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(format!(r#"{{"name":"{}"}}"#, "a".repeat(48)).into_bytes()),
            StatusCode::BAD_REQUEST,
            "13434911",
        ),
        (
            Method::POST,
            "/api/svm/svms".into(),
            Some(br#"{"name":"../etc"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262197",
        ),
        (
            Method::PATCH,
            format!("/api/svm/svms/{uuid}"),
            Some(b"{}".to_vec()),
            StatusCode::BAD_REQUEST,
            "262190",
        ),
        (
            Method::GET,
            "/api/svm/svms/00000000-0000-0000-0000-000000000000".into(),
            None,
            StatusCode::NOT_FOUND,
            "4",
        ),
        (
            Method::DELETE,
            "/api/svm/svms/00000000-0000-0000-0000-000000000000".into(),
            None,
            StatusCode::NOT_FOUND,
            "4",
        ),
        (
            Method::PUT,
            "/api/svm/svms".into(),
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "3",
        ),
        (
            Method::POST,
            format!("/api/svm/svms/{uuid}"),
            Some(b"{}".to_vec()),
            StatusCode::METHOD_NOT_ALLOWED,
            "3",
        ),
        (
            Method::GET,
            "/api/no/such/thing".into(),
            None,
            StatusCode::NOT_FOUND,
            "3",
        ),
        (
            Method::GET,
            "/api/svm/svms?max_records=0".into(),
            None,
            StatusCode::BAD_REQUEST,
            "262197",
        ),
        (
            Method::GET,
            "/api/svm/svms?return_timeout=121".into(),
            None,
            StatusCode::BAD_REQUEST,
            "262197",
        ),
        (
            Method::GET,
            "/api/svm/svms?order_by=nope".into(),
            None,
            StatusCode::BAD_REQUEST,
            "262268",
        ),
        (
            Method::GET,
            "/api/svm/svms".into(),
            Some(b"{\"a\":1}".to_vec()),
            StatusCode::BAD_REQUEST,
            "262198",
        ),
        (
            Method::POST,
            "/api/cluster/schedules".into(),
            Some(br#"{"name":"s","cron":{"minutes":[60]}}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "458788",
        ),
        (
            Method::POST,
            "/api/cluster/schedules".into(),
            Some(br#"{"name":"s","cron":{"minutes":[1]},"interval":"PT1M"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "262186",
        ),
        (
            Method::POST,
            "/api/cluster/schedules".into(),
            Some(br#"{"name":"s","interval":"P1X"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
            "458788",
        ),
        (
            Method::POST,
            "/api/cluster/schedules".into(),
            Some(br#"{"name":"weekly","interval":"P1D"}"#.to_vec()),
            StatusCode::CONFLICT,
            "1",
        ),
    ];
    for (method, path, body, status, expected) in cases {
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        let (st, _, text) = s
            .raw(method.clone(), &path, headers, body.unwrap_or_default())
            .await;
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert_eq!((st, code(&v)), (status, expected), "{method} {path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let (st, h, _) = s.raw(Method::PUT, "/api/svm/svms", &[], vec![]).await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(h["allow"], "GET, HEAD, OPTIONS, POST, PATCH, DELETE");
    // Wrong credentials.
    let (st, h, v) = s
        .call(Method::GET, "/api/cluster", None, ("admin", "wrong"))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert!(h.contains_key("www-authenticate"));
    let (st, _, _) = s
        .call(Method::GET, "/api/cluster", None, ("nobody", "x"))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn methods_links_jobs_and_bulk_operations() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    // Async POST: 202 + job + Location, then the job succeeds.
    let (st, h, v) = s
        .call(
            Method::POST,
            "/api/svm/svms",
            Some(r#"{"name":"vs9"}"#),
            common::admin(),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let location = h["location"].to_str().unwrap().to_string();
    let job = v["job"]["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let mut state = String::new();
    for _ in 0..50 {
        let (_, j) = s.get(&format!("{job}?fields=message,state")).await;
        state = j["state"].as_str().unwrap().to_string();
        if state == "success" {
            assert_eq!(j["message"], "success");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "success");
    let (st, v) = s.get(&location).await;
    assert_eq!((st, v["name"].as_str()), (StatusCode::OK, Some("vs9")));
    let (_, j) = s.get(&job).await;
    assert_eq!(j["description"], "POST /api/svm/svms");
    assert!(j["start_time"].as_str().unwrap().contains('T') && j["end_time"].is_string());
    // return_timeout waits for the job: final status instead of 202.
    let (st, v) = s
        .patch(
            &format!("{location}?return_timeout=10"),
            r#"{"comment":"hi"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["job"]["uuid"].is_string());
    // A failing job inside return_timeout returns its error.
    let uuid2 = s.create_svm("vs10").await;
    let _ = uuid2;
    // Trailing slash, HEAD, OPTIONS.
    let (st, _) = s.get("/api/svm/svms/").await;
    assert_eq!(st, StatusCode::OK);
    let (st, h, body) = s.raw(Method::HEAD, "/api/svm/svms", &[], vec![]).await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, ""));
    assert_eq!(h["content-type"], "application/hal+json");
    let (st, h, _) = s.raw(Method::OPTIONS, &location, &[], vec![]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["allow"], "GET, HEAD, OPTIONS, PATCH, DELETE");
    // Percent-encoded path keys and dot segments.
    let (st, _) = s
        .get(&format!(
            "/api/svm/svms/x/..{}",
            &location["/api/svm/svms".len()..]
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    // Bulk PATCH and DELETE with a query.
    for n in ["bulk1", "bulk2", "bulk3"] {
        s.post(
            "/api/cluster/schedules",
            &json!({"name": n, "interval": "PT1H"}).to_string(),
        )
        .await;
    }
    let (st, v) = s
        .patch(
            "/api/cluster/schedules?name=bulk*",
            r#"{"interval":"PT2H"}"#,
        )
        .await;
    assert_eq!(
        (st, v["num_records"].as_u64()),
        (StatusCode::OK, Some(3)),
        "{v}"
    );
    let (_, v) = s
        .get("/api/cluster/schedules?name=bulk*&interval=PT2H")
        .await;
    assert_eq!(v["num_records"], 3);
    let (st, v) = s
        .patch("/api/cluster/schedules", r#"{"interval":"PT2H"}"#)
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::BAD_REQUEST, "2"),
        "a collection PATCH needs a filter"
    );
    let (st, v) = s.delete("/api/cluster/schedules?name=bulk1|bulk2").await;
    assert_eq!((st, v["num_records"].as_u64()), (StatusCode::OK, Some(2)));
    let (_, v) = s.get("/api/cluster/schedules?name=bulk*").await;
    assert_eq!(names(&v), ["bulk3"]);
    // Bulk PATCH of asynchronous objects lists their jobs.
    let (st, v) = s
        .patch("/api/svm/svms?name=vs*", r#"{"comment":"bulk"}"#)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["jobs"].as_array().map(Vec::len), Some(2));
    let (_, v) = s.get("/api/svm/svms?comment=bulk").await;
    assert_eq!(v["num_records"], 2);
    // Job actions.
    let (st, v) = s.patch(&format!("{job}?action=cancel"), "{}").await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "458762"));
    // The OpenAPI description lists what the router serves.
    let (st, v) = s.get("/api/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["paths"]["/api/svm/svms/{uuid}"]["patch"].is_object());
    assert!(v["paths"]["/api/cluster/schedules"]["post"].is_object());
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), true);
    let uuid = s.create_svm("keep").await;
    s.post(
        "/api/cluster/schedules",
        r#"{"name":"nightly","cron":{"minutes":[0],"hours":[2]}}"#,
    )
    .await;
    let (st, _) = s
        .post(
            "/api/security/accounts",
            r#"{"name":"auditor","password":"auditor-pw-1","role":{"name":"readonly"}}"#,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, node1) = s.get("/api/cluster/nodes?fields=*").await;
    let (_, jobs_before) = s.get("/api/cluster/jobs?return_records=false").await;
    s.stop();
    let s = Server::start(dir.path(), true);
    let (st, v) = s.get(&format!("/api/svm/svms/{uuid}")).await;
    assert_eq!((st, v["name"].as_str()), (StatusCode::OK, Some("keep")));
    let (_, v) = s
        .get("/api/cluster/schedules?name=nightly&fields=cron")
        .await;
    assert_eq!(
        v["records"][0]["cron"],
        json!({"minutes": [0], "hours": [2]})
    );
    let (st, _, _) = s
        .call(
            Method::GET,
            "/api/cluster",
            None,
            ("auditor", "auditor-pw-1"),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, node2) = s.get("/api/cluster/nodes?fields=*").await;
    assert_eq!(
        node1["records"][0]["uuid"], node2["records"][0]["uuid"],
        "node uuid is stable"
    );
    let (_, jobs_after) = s.get("/api/cluster/jobs?return_records=false").await;
    assert_eq!(
        jobs_before["num_records"], jobs_after["num_records"],
        "finished jobs stay readable"
    );
    assert!(s.data().join("tls-cert.pem").exists());
}
