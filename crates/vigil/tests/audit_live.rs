//! Live reconfiguration end to end, in one process: configuration changes go through
//! the real REST dispatcher (`api::build`, the same object `vigil serve` serves) and
//! events go through `State::audit.record`, the interface the S3 endpoint will call.
//! There is no S3 endpoint yet and no test hook in the binary, so this is how a PATCH
//! is shown to govern the very next event. Persistence is shown by reopening the state
//! on the same data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit::log::{ACTIVE_NAME, archives};
use audit::{AuditEvent, S3Event};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use base64::Engine;
use serde_json::Value;
use vigil::config::ServeArgs;
use vigil::state::State;

const PASSWORD: &str = "live-admin-password-1";

struct Node {
    state: Arc<State>,
    api: rest::Api,
}

impl Node {
    async fn open(data: &Path) -> Node {
        let config = ServeArgs {
            data_dir: Some(data.to_path_buf()),
            listen: Some("http://127.0.0.1:0".into()),
            scanner_listen: Some("off".into()),
            scanner_socket: Some("off".into()),
            node_name: Some("live-node".into()),
            ..ServeArgs::default()
        }
        .resolve()
        .unwrap();
        // SAFETY: the only test of this binary, and it sets the variable before the
        // state (and any thread that could read the environment) exists.
        unsafe { std::env::set_var("VIGIL_ADMIN_PASSWORD", PASSWORD) };
        let state = vigil::server::open_state(config).await.unwrap();
        let api = vigil::api::build(&state);
        Node { state, api }
    }

    async fn call(&self, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let mut headers = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        let uri: Uri = path.parse().unwrap();
        let response = self
            .api
            .handle(
                method,
                &uri,
                &headers,
                Ok(Bytes::from(body.to_string())),
                "live",
            )
            .await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, v)
    }

    async fn ok(&self, method: Method, path: &str, body: &str) -> Value {
        let (st, v) = self.call(method, path, body).await;
        assert!(st.is_success(), "{path} {body}: {st} {v}");
        v
    }

    async fn record(&self, svm: &str, event: S3Event, id: &str) {
        let e = AuditEvent::new(event, "203.0.113.9:5555".parse().unwrap(), id);
        self.state.audit.record(svm, e).await.unwrap();
    }
}

fn ids(dir: &Path) -> Vec<String> {
    let mut names = archives(dir).unwrap_or_default();
    names.push(ACTIVE_NAME.to_string());
    names
        .iter()
        .flat_map(|n| {
            std::fs::read_to_string(dir.join(n))
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    v["request_id"].as_str().unwrap().to_string()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn rest_changes_govern_the_next_event_and_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let node = Node::open(&data).await;
    node.ok(
        Method::POST,
        "/api/svm/svms?return_timeout=10",
        r#"{"name": "vslive"}"#,
    )
    .await;
    let svm = node.state.svm_by_name("vslive").unwrap();
    let uuid = svm["uuid"].as_str().unwrap().to_string();
    let root = PathBuf::from(svm["root_path"].as_str().unwrap());
    let (a, b) = (root.join("a"), root.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let path = format!("/api/protocols/audit/{uuid}/object-store?return_timeout=10");

    node.record(&uuid, S3Event::GetObject, "before-config")
        .await;
    node.ok(Method::POST, &path, r#"{"log_path": "/a"}"#).await;
    node.record(&uuid, S3Event::GetObject, "d1").await;
    node.record(&uuid, S3Event::PutBucket, "m-unselected").await;
    assert_eq!(ids(&a), ["d1"], "defaults: data only");

    node.ok(Method::PATCH, &path, r#"{"events": {"management": true}}"#)
        .await;
    node.record(&uuid, S3Event::GetObject, "d-unselected").await;
    node.record(&uuid, S3Event::DeleteBucket, "m1").await;
    assert_eq!(ids(&a), ["d1", "m1"]);

    node.ok(Method::PATCH, &path, r#"{"enabled": false}"#).await;
    node.record(&uuid, S3Event::DeleteBucket, "m-disabled")
        .await;
    node.ok(Method::PATCH, &path, r#"{"enabled": true}"#).await;
    node.record(&uuid, S3Event::PutBucket, "m2").await;
    assert_eq!(ids(&a), ["d1", "m1", "m2"]);

    node.ok(
        Method::PATCH,
        &path,
        r#"{"log": {"rotation": {"now": true}}}"#,
    )
    .await;
    assert_eq!(archives(&a).unwrap().len(), 1);
    node.ok(
        Method::PATCH,
        &path,
        r#"{"log_path": "/b", "events": {"data": true, "management": true}}"#,
    )
    .await;
    node.record(&uuid, S3Event::PutObject, "d2").await;
    assert_eq!(ids(&b), ["d2"], "the next event goes to the new path");
    assert_eq!(ids(&a), ["d1", "m1", "m2"]);

    // Restart on the same data directory: the stored configuration is live again.
    drop(node);
    let node = Node::open(&data).await;
    node.record(&uuid, S3Event::MPComplete, "after-restart")
        .await;
    assert_eq!(ids(&b), ["d2", "after-restart"]);
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(b.join(ACTIVE_NAME))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["svm"]["name"], "vslive");
    assert_eq!(line["node"], "live-node");
    assert_eq!(line["event"], "MPComplete");

    // An SVM rename shows in the next record; a forced DELETE stops recording.
    node.ok(
        Method::PATCH,
        &format!("/api/svm/svms/{uuid}?return_timeout=10"),
        r#"{"name": "vsrenamed"}"#,
    )
    .await;
    node.record(&uuid, S3Event::GetObject, "renamed").await;
    let last: Value = serde_json::from_str(
        std::fs::read_to_string(b.join(ACTIVE_NAME))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["svm"]["name"], "vsrenamed");
    node.ok(Method::DELETE, &format!("{path}&force=true"), "")
        .await;
    node.record(&uuid, S3Event::GetObject, "deleted").await;
    assert_eq!(ids(&b), ["d2", "after-restart", "renamed"]);
}
