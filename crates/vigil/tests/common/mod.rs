//! Starts the real `vigil` binary and talks to it over real HTTP(S).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub mod pipeline;

/// The EICAR test string, assembled at run time so this source file is not itself
/// flagged by a scanner.
pub fn eicar() -> Vec<u8> {
    let reversed = [
        "*H+H$!ELIF-TSET-SURIVITNA-",
        "DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X",
    ];
    reversed
        .concat()
        .chars()
        .rev()
        .collect::<String>()
        .into_bytes()
}

pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    client: reqwest::Client,
}

impl Server {
    /// Starts `vigil serve` on an ephemeral port; `https` picks TLS.
    pub fn start(data_dir: &Path, https: bool) -> Server {
        Self::start_with(data_dir, https, &[])
    }

    pub fn start_with(data_dir: &Path, https: bool, extra: &[&str]) -> Server {
        Self::start_wrapped(data_dir, https, &[], extra)
    }

    /// Like [`Server::start_with`], run through `wrapper` (a program and its
    /// arguments, such as `setpriv` dropping a capability) when it is not empty.
    pub fn start_wrapped(data_dir: &Path, https: bool, wrapper: &[&str], extra: &[&str]) -> Server {
        let scheme = if https { "https" } else { "http" };
        // A test that picks the scanner's TCP address itself passes --scanner-listen.
        let scanner_listen: &[&str] = if extra.contains(&"--scanner-listen") {
            &[]
        } else {
            &["--scanner-listen", "127.0.0.1:0"]
        };
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_vigil"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_vigil")),
        };
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("{scheme}://127.0.0.1:0"))
            .args(scanner_listen)
            .args(extra)
            .env("VIGIL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("VIGIL_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start vigil");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("vigil exited before listening")
                .expect("read stderr");
            if let Some(url) = line.strip_prefix("vigil: listening on ") {
                break url.trim().to_string();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Server {
            child,
            base,
            data_dir: data_dir.to_path_buf(),
            client,
        }
    }

    /// SIGTERM, then wait: the graceful path a restart takes.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        user: (&str, &str),
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .basic_auth(user.0, Some(user.1));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, json)
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let h = resp.headers().clone();
        (status, h, resp.text().await.expect("body"))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, None, admin()).await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::POST, path, Some(body), admin()).await;
        (s, v)
    }

    pub async fn patch(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::PATCH, path, Some(body), admin()).await;
        (s, v)
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::DELETE, path, None, admin()).await;
        (s, v)
    }

    /// Creates an SVM and waits for its job.
    pub async fn create_svm(&self, name: &str) -> String {
        let (s, v) = self
            .post(
                "/api/svm/svms?return_timeout=30",
                &format!(r#"{{"name":"{name}"}}"#),
            )
            .await;
        assert!(s == StatusCode::CREATED, "create svm {name}: {s} {v}");
        let (_, v) = self.get(&format!("/api/svm/svms?name={name}")).await;
        v["records"][0]["uuid"]
            .as_str()
            .expect("svm uuid")
            .to_string()
    }

    pub fn data(&self) -> &Path {
        &self.data_dir
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (not exited, not killed by a signal).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn admin() -> (&'static str, &'static str) {
    ("admin", ADMIN_PASSWORD)
}

/// The ONTAP error code of an error body.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<no code>")
}
