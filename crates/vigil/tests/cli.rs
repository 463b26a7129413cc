//! The client commands (`vigil vscan …`, `vigil mav-key …`) as an administrator runs
//! them: the built binary as a subprocess against a real `vigil serve` over HTTPS.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_PASSWORD, Server, eicar};
use reqwest::StatusCode;
use serde_json::Value;

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

fn finished(out: Output) -> Run {
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `vigil` command with no connection settings from the test's own environment.
fn bare() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    for var in [
        "VIGIL_URL",
        "VIGIL_USER",
        "VIGIL_PASSWORD",
        "VIGIL_INSECURE",
        "VIGIL_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `vigil <args>` as the administrator against `server`, connection settings in
/// the environment as a script would set them.
fn vigil(server: &Server, args: &[&str]) -> Run {
    let out = bare()
        .args(args)
        .env("VIGIL_URL", &server.base)
        .env("VIGIL_PASSWORD", ADMIN_PASSWORD)
        .env("VIGIL_INSECURE", "1")
        .output()
        .expect("run vigil");
    finished(out)
}

fn ok(server: &Server, args: &[&str]) -> Run {
    let run = vigil(server, args);
    assert_eq!(run.status, 0, "vigil {args:?}: {run:?}");
    run
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:?}"))
}

/// An SVM rooted at `root`, Vscan enabled with a pool on the embedded scanner (seen
/// connected), and an on-demand policy `sweep` over the whole namespace that
/// quarantines what it finds. Returns the SVM's uuid.
async fn vscan_setup(server: &Server, root: &Path) -> String {
    let body = serde_json::json!({"name": "cli_svm", "root_path": root});
    let (s, v) = server
        .post("/api/svm/svms?return_timeout=30", &body.to_string())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, v) = server.get("/api/svm/svms?name=cli_svm").await;
    let svm = v["records"][0]["uuid"]
        .as_str()
        .expect("svm uuid")
        .to_string();
    let socket = server.data().join("scanner.sock");
    let body = serde_json::json!({
        "svm": {"uuid": svm},
        "enabled": true,
        "scanner_pools": [{
            "name": "embedded",
            "servers": [format!("unix://{}", socket.display())],
            "privileged_users": ["cli\\scanner"],
        }],
    });
    let (s, v) = server.post("/api/protocols/vscan", &body.to_string()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let body = r#"{"name":"sweep","scan_paths":["/"],"log_path":"/","remediation":"quarantine"}"#;
    let (s, v) = server
        .post(
            &format!("/api/protocols/vscan/{svm}/on-demand-policies"),
            body,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // A run needs a server seen connected, which the first health check decides.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = server
            .get("/api/protocols/vscan/server-status?fields=state")
            .await;
        let records = v["records"].as_array().cloned().unwrap_or_default();
        if records.iter().any(|r| r["state"] == "connected") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "embedded scanner never connected: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    svm
}

fn start(dir: &Path) -> Server {
    Server::start_with(
        &dir.join("data"),
        true,
        &["--vscan-check-interval-ms", "200"],
    )
}

#[tokio::test]
async fn on_demand_run_runs_and_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let root = dir.path().join("ns");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    let infected = root.join("docs").join("eicar.com");
    let clean = root.join("docs").join("notes.txt");
    std::fs::write(&infected, eicar()).unwrap();
    std::fs::write(&clean, b"nothing to see\n").unwrap();
    let svm = vscan_setup(&server, &root).await;

    // run: waits for the job and prints its summary
    let run = ok(
        &server,
        &["vscan", "on-demand", "run", "--svm", "cli_svm", "sweep"],
    );
    assert!(
        run.stdout.contains("2 files scanned, 1 infected, 0 errors"),
        "{run:?}"
    );
    let run_uuid = run
        .stdout
        .split_whitespace()
        .nth(2)
        .expect("run uuid in the message")
        .to_string();
    assert!(!infected.exists(), "the infected file was quarantined");
    assert_eq!(std::fs::read(&clean).unwrap(), b"nothing to see\n");

    // runs: the table, the policy filter, the JSON form
    let runs = ok(&server, &["vscan", "on-demand", "runs", "--svm", "cli_svm"]);
    let lines: Vec<&str> = runs.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{runs:?}");
    assert!(lines[0].starts_with("Start time") && lines[0].contains("Infected"));
    for expected in ["sweep", "request", "COMPLETED", run_uuid.as_str()] {
        assert!(lines[1].contains(expected), "{expected}: {runs:?}");
    }
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &cols[3..8],
        ["DEEP", "COMPLETED", "2", "1", "0"],
        "type, status, scanned, infected, errors: {runs:?}"
    );
    let none = ok(
        &server,
        &[
            "vscan",
            "on-demand",
            "runs",
            "--svm",
            "cli_svm",
            "--policy",
            "other",
        ],
    );
    assert_eq!(none.stdout.trim(), "No on-demand runs.");
    let v = json(&ok(
        &server,
        &["vscan", "on-demand", "runs", "--svm", &svm, "--json"],
    ));
    assert_eq!(v["num_records"], 1, "{v}");
    assert_eq!(v["records"][0]["uuid"], run_uuid.as_str());
    assert_eq!(
        v["records"][0]["infected"][0]["action"], "quarantine",
        "{v}"
    );

    // quarantine list, then restore by the SVM's uuid: the file is back, byte-identical
    let list = ok(
        &server,
        &["vscan", "quarantine", "list", "--svm", "cli_svm"],
    );
    assert!(list.stdout.contains("/docs/eicar.com"), "{list:?}");
    assert!(list.stdout.contains("Vigil.Test.EICAR"), "{list:?}");
    let v = json(&ok(
        &server,
        &["vscan", "quarantine", "list", "--svm", "cli_svm", "--json"],
    ));
    assert_eq!(v["num_records"], 1, "{v}");
    let id = v["records"][0]["id"].as_str().expect("id").to_string();
    assert!(list.stdout.contains(&id), "{list:?}");
    let restored = ok(
        &server,
        &["vscan", "quarantine", "restore", "--svm", &svm, &id],
    );
    assert!(
        restored.stdout.contains("Restored /docs/eicar.com"),
        "{restored:?}"
    );
    assert_eq!(std::fs::read(&infected).unwrap(), eicar());
    let empty = ok(
        &server,
        &["vscan", "quarantine", "list", "--svm", "cli_svm"],
    );
    assert_eq!(empty.stdout.trim(), "No quarantined files.");
    let again = vigil(
        &server,
        &["vscan", "quarantine", "restore", "--svm", "cli_svm", &id],
    );
    assert_eq!(again.status, 1, "{again:?}");
    assert!(again.stderr.contains("(code 4)"), "{again:?}");

    // run again, then delete the item for good
    let run = ok(
        &server,
        &["vscan", "on-demand", "run", "--svm", "cli_svm", "sweep"],
    );
    assert!(run.stdout.contains(" 1 infected"), "{run:?}");
    let v = json(&ok(
        &server,
        &["vscan", "quarantine", "list", "--svm", "cli_svm", "--json"],
    ));
    let id = v["records"][0]["id"].as_str().expect("id").to_string();
    let deleted = ok(
        &server,
        &["vscan", "quarantine", "delete", "--svm", "cli_svm", &id],
    );
    assert!(deleted.stdout.contains(&id), "{deleted:?}");
    let empty = ok(
        &server,
        &["vscan", "quarantine", "list", "--svm", "cli_svm"],
    );
    assert_eq!(empty.stdout.trim(), "No quarantined files.");
    assert!(!infected.exists());
    let qdir = server.data().join("quarantine").join(&svm);
    assert_eq!(
        std::fs::read_dir(&qdir).map(|d| d.count()).unwrap_or(0),
        0,
        "nothing left in {}",
        qdir.display()
    );

    // --no-wait: the job's uuid, and the job ends on its own
    let started = ok(
        &server,
        &[
            "vscan",
            "on-demand",
            "run",
            "--svm",
            "cli_svm",
            "sweep",
            "--no-wait",
        ],
    );
    let job = started.stdout.trim().to_string();
    assert_eq!(job.len(), 36, "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = server.get(&format!("/api/cluster/jobs/{job}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["state"] == "success" {
            assert!(
                v["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(" 0 infected"),
                "{v}"
            );
            break;
        }
        assert_ne!(v["state"], "failure", "{v}");
        assert!(Instant::now() < deadline, "job never ended: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = json(&ok(
        &server,
        &["vscan", "on-demand", "runs", "--svm", "cli_svm", "--json"],
    ));
    assert_eq!(v["num_records"], 3, "{v}");
}

/// The managed-antivirus service, asked as an RMM tool does: by key alone.
async fn mav_service(server: &Server, key: &str) -> String {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/api/", server.base))
        .query(&[("apikey", key), ("service", "list_clients")])
        .send()
        .await
        .expect("mav service");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.expect("body")
}

#[tokio::test]
async fn mav_keys_create_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());

    let created = ok(&server, &["mav-key", "create", "--name", "rmm"]);
    assert!(created.stdout.contains("\"rmm\""), "{created:?}");
    assert!(created.stdout.contains("every SVM"), "{created:?}");
    let keys: Vec<&str> = created
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "the secret on a line of its own: {created:?}"
    );
    let key = keys[0].to_string();
    let xml = mav_service(&server, &key).await;
    assert!(xml.contains("status=\"OK\""), "{xml}");

    let list = ok(&server, &["mav-key", "list"]);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{list:?}");
    assert!(
        lines[1].starts_with("rmm ") && lines[1].ends_with("all"),
        "{list:?}"
    );
    assert!(!list.stdout.contains(&key), "the secret is never listed");

    // scoped to one SVM, the secret given on standard input, the JSON form
    let svm = server.create_svm("mav_svm").await;
    let mut child = bare()
        .args(["mav-key", "create", "--name", "scoped", "--svm", "mav_svm"])
        .args(["--key-stdin", "--json", "-k", "--url", &server.base])
        .env("VIGIL_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vigil");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"scoped-key-0123456789abcdef\n")
            .expect("write key");
    }
    let scoped = finished(child.wait_with_output().expect("wait"));
    assert_eq!(scoped.status, 0, "{scoped:?}");
    let v = json(&scoped);
    assert_eq!(v["name"], "scoped", "{v}");
    assert_eq!(v["key"], "scoped-key-0123456789abcdef", "{v}");
    assert_eq!(v["svms"][0]["uuid"], svm.as_str(), "{v}");
    let list = ok(&server, &["mav-key", "list"]);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("scoped ") && l.ends_with("mav_svm")),
        "{list:?}"
    );

    // a key the server refuses: its message, exit 1
    let mut child = bare()
        .args([
            "mav-key",
            "create",
            "--key-stdin",
            "-k",
            "--url",
            &server.base,
        ])
        .env("VIGIL_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vigil");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"short\n").expect("write key");
    }
    let refused = finished(child.wait_with_output().expect("wait"));
    assert_eq!(refused.status, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("at least 24 characters") && refused.stderr.contains("(code "),
        "{refused:?}"
    );

    // delete by name revokes at once; by uuid too
    let deleted = ok(&server, &["mav-key", "delete", "rmm"]);
    assert!(deleted.stdout.contains("rmm"), "{deleted:?}");
    let xml = mav_service(&server, &key).await;
    assert!(
        xml.contains("status=\"FAIL\"") && xml.contains("<errorcode>3</errorcode>"),
        "{xml}"
    );
    let v = json(&ok(&server, &["mav-key", "list", "--json"]));
    assert_eq!(v["num_records"], 1, "{v}");
    let uuid = v["records"][0]["uuid"].as_str().expect("uuid").to_string();
    ok(&server, &["mav-key", "delete", &uuid]);
    let empty = ok(&server, &["mav-key", "list"]);
    assert_eq!(empty.stdout.trim(), "No MAV keys.");
    let gone = vigil(&server, &["mav-key", "delete", "rmm"]);
    assert_eq!(gone.status, 1, "{gone:?}");
    assert!(
        gone.stderr.contains("MAV key \"rmm\" not found"),
        "{gone:?}"
    );
}

#[tokio::test]
async fn errors_and_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let root = dir.path().join("ns");
    std::fs::create_dir_all(&root).unwrap();
    vscan_setup(&server, &root).await;

    // wrong password: the server's message and code, exit 1
    let out = bare()
        .args(["vscan", "on-demand", "runs", "--svm", "cli_svm", "-k"])
        .args(["--url", &server.base, "--password", "not-the-password"])
        .output()
        .expect("run vigil");
    let run = finished(out);
    assert_eq!(run.status, 1, "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "error: Authentication failed: a valid user name and password are required. (code 6)",
        "{run:?}"
    );

    // no password, and no terminal to ask on
    let out = bare()
        .args(["mav-key", "list", "-k", "--url", &server.base])
        .output()
        .expect("run vigil");
    let run = finished(out);
    assert_eq!(run.status, 1, "{run:?}");
    assert!(run.stderr.contains("no password"), "{run:?}");

    // unknown SVM
    let run = vigil(
        &server,
        &["vscan", "on-demand", "run", "--svm", "nope", "sweep"],
    );
    assert_eq!(run.status, 1, "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "error: SVM \"nope\" not found",
        "{run:?}"
    );
    let run = vigil(
        &server,
        &[
            "vscan",
            "quarantine",
            "list",
            "--svm",
            "00000000-0000-4000-8000-000000000000",
        ],
    );
    assert_eq!(run.status, 1, "{run:?}");
    assert!(run.stderr.contains("not found"), "{run:?}");

    // unknown policy: the server's message
    let run = vigil(
        &server,
        &["vscan", "on-demand", "run", "--svm", "cli_svm", "nightly"],
    );
    assert_eq!(run.status, 1, "{run:?}");
    assert_eq!(
        run.stderr.trim(),
        "error: entry doesn't exist (code 4)",
        "{run:?}"
    );

    // the self-signed certificate is refused unless accepted
    let out = bare()
        .args(["mav-key", "list", "--url", &server.base])
        .env("VIGIL_PASSWORD", ADMIN_PASSWORD)
        .output()
        .expect("run vigil");
    let run = finished(out);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("--insecure"), "{run:?}");

    // nothing listening: exit 2
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let out = bare()
        .args([
            "vscan",
            "on-demand",
            "runs",
            "--svm",
            "cli_svm",
            "--url",
            &url,
        ])
        .env("VIGIL_PASSWORD", ADMIN_PASSWORD)
        .output()
        .expect("run vigil");
    let run = finished(out);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot reach the Vigil server at {url}")),
        "{run:?}"
    );
}

#[tokio::test]
async fn show_events_wait_and_follow() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let root = dir.path().join("ns");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("eicar.com"), eicar()).unwrap();
    let svm = vscan_setup(&server, &root).await;

    let v = json(&ok(&server, &["vscan", "show", "--output", "json"]));
    assert_eq!(v["records"][0]["svm"]["uuid"], svm.as_str(), "{v}");
    assert_eq!(v["records"][0]["enabled"], true, "{v}");
    let table = ok(&server, &["vscan", "show", "--svm", "cli_svm"]);
    assert!(
        table.stdout.contains("cli_svm") && table.stdout.contains("embedded"),
        "{table:?}"
    );

    // a follower started before the run sees the run's quarantine event
    let mut child = bare()
        .args(["vscan", "events", "--follow", "--svm", "cli_svm", "--json"])
        .env("VIGIL_URL", &server.base)
        .env("VIGIL_PASSWORD", ADMIN_PASSWORD)
        .env("VIGIL_INSECURE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn follower");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("Following"), "{line}");

    let run = vigil(
        &server,
        &[
            "vscan",
            "on-demand",
            "run",
            "--svm",
            "cli_svm",
            "--policy",
            "sweep",
            "--wait",
        ],
    );
    assert_eq!(run.status, 3, "threats found: {run:?}");
    assert!(
        run.stdout.contains("COMPLETED") && run.stdout.contains("1 infected"),
        "{run:?}"
    );
    assert!(run.stderr.contains("progress:"), "{run:?}");

    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(event["type"], "file_infected", "{event}");
    assert_eq!(event["file_path"], "/eicar.com", "{event}");

    let v = json(&ok(
        &server,
        &["vscan", "events", "--svm", "cli_svm", "--json"],
    ));
    assert!(
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "file_infected"),
        "{v}"
    );

    // a clean run now: exit 0
    let clean = vigil(
        &server,
        &[
            "vscan",
            "on-demand",
            "run",
            "--svm",
            "cli_svm",
            "sweep",
            "--wait",
            "--json",
        ],
    );
    assert_eq!(clean.status, 0, "{clean:?}");
    assert_eq!(json(&clean)["status"], "COMPLETED");

    let audit = ok(&server, &["s3-audit", "show"]);
    assert!(
        audit.stdout.contains("No S3 audit configurations."),
        "{audit:?}"
    );
    let usage = vigil(&server, &["vscan", "show", "--bogus"]);
    assert_eq!(usage.status, 64, "{usage:?}");
}
