//! Role enforcement for admin, readonly and vsadmin accounts.

mod common;

use common::{Server, code};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn admin_readonly_and_vsadmin() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), false);
    let a = s.create_svm("svma").await;
    let b = s.create_svm("svmb").await;
    let (st, v) = s
        .post(
            "/api/security/accounts",
            r#"{"name":"auditor","password":"readonly-pw","role":{"name":"readonly"}}"#,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = s
        .post("/api/security/accounts", &json!({"name": "svmadmin", "password": "vsadmin-pw", "owner": {"name": "svma"}, "role": {"name": "vsadmin"}}).to_string())
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = s
        .post(
            "/api/security/accounts",
            r#"{"name":"bad","password":"whatever-pw","role":{"name":"vsadmin"}}"#,
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::BAD_REQUEST, "5636129"),
        "vsadmin needs an SVM owner"
    );
    let (st, v) = s
        .post(
            "/api/security/accounts",
            r#"{"name":"short","password":"x"}"#,
        )
        .await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "7077906"));
    let (_, v) = s.get("/api/security/accounts?name=svmadmin&fields=*").await;
    assert_eq!(v["records"][0]["scope"], "svm");
    assert!(
        v["records"][0].get("password").is_none() && v["records"][0].get("password_hash").is_none()
    );

    // readonly: every GET, no writes.
    let ro = ("auditor", "readonly-pw");
    for path in [
        "/api/cluster",
        "/api/cluster/nodes",
        "/api/svm/svms",
        "/api/cluster/schedules",
        "/api/cluster/jobs",
    ] {
        let (st, _, _) = s.call(Method::GET, path, None, ro).await;
        assert_eq!(st, StatusCode::OK, "{path}");
    }
    for (m, path, body) in [
        (
            Method::POST,
            "/api/svm/svms".to_string(),
            Some(r#"{"name":"nope"}"#),
        ),
        (
            Method::PATCH,
            format!("/api/svm/svms/{a}"),
            Some(r#"{"comment":"x"}"#),
        ),
        (Method::DELETE, format!("/api/svm/svms/{a}"), None),
        (
            Method::PATCH,
            "/api/cluster".to_string(),
            Some(r#"{"location":"x"}"#),
        ),
        (
            Method::POST,
            "/api/cluster/schedules".to_string(),
            Some(r#"{"name":"x","interval":"PT1H"}"#),
        ),
    ] {
        let (st, _, v) = s.call(m.clone(), &path, body, ro).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::FORBIDDEN, "6"),
            "readonly {m} {path}"
        );
    }

    // vsadmin: only its own SVM, and no cluster-level endpoints.
    let va = ("svmadmin", "vsadmin-pw");
    let (st, _, v) = s.call(Method::GET, "/api/svm/svms", None, va).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["num_records"], 1);
    assert_eq!(v["records"][0]["uuid"], a.as_str());
    let (st, _, _) = s
        .call(Method::GET, &format!("/api/svm/svms/{a}"), None, va)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, v) = s
        .call(Method::GET, &format!("/api/svm/svms/{b}"), None, va)
        .await;
    assert_eq!((st, code(&v)), (StatusCode::FORBIDDEN, "6"));
    let (st, _, v) = s
        .call(
            Method::PATCH,
            &format!("/api/svm/svms/{a}"),
            Some(r#"{"comment":"x"}"#),
            va,
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::FORBIDDEN, "6"),
        "vsadmin cannot modify SVMs"
    );
    for path in [
        "/api/cluster/nodes",
        "/api/cluster",
        "/api/security/accounts",
        "/api/cluster/schedules",
    ] {
        let (st, _, v) = s.call(Method::GET, path, None, va).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::FORBIDDEN, "6"),
            "vsadmin GET {path}"
        );
    }

    // admin cannot delete itself; deleting an SVM removes its accounts.
    let (_, v) = s.get("/api/security/accounts?name=admin").await;
    let href = v["records"][0]["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, v) = s.delete(&href).await;
    assert_eq!((st, code(&v)), (StatusCode::BAD_REQUEST, "5636198"));
    let (st, _) = s
        .delete(&format!("/api/svm/svms/{a}?return_timeout=30"))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, _) = s.call(Method::GET, "/api/svm/svms", None, va).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // Locking an account stops its logins.
    let (_, v) = s.get("/api/security/accounts?name=auditor").await;
    let href = v["records"][0]["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = s.patch(&href, r#"{"locked":true}"#).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, _) = s.call(Method::GET, "/api/cluster", None, ro).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}
