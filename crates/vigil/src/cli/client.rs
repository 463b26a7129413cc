//! The REST client every command shares: connection options, Basic authentication,
//! ONTAP error bodies, paging and jobs.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use clap::builder::BoolishValueParser;
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use super::table;

/// Connection options of the client commands; global, so they may follow any subcommand.
#[derive(Args, Debug)]
#[group(id = "client")]
#[command(next_help_heading = "Client options")]
pub struct ClientArgs {
    /// Base URL of the Vigil server.
    #[arg(
        long,
        env = "VIGIL_URL",
        default_value = "https://127.0.0.1:8443",
        global = true
    )]
    url: String,
    /// User name (HTTP Basic).
    #[arg(long, env = "VIGIL_USER", default_value = "admin", global = true)]
    user: String,
    /// Password; prompted for when absent and standard input is a terminal.
    #[arg(long, env = "VIGIL_PASSWORD", hide_env_values = true, global = true)]
    password: Option<String>,
    /// Accept the server's certificate without verifying it (Vigil's own is self-signed).
    #[arg(
        short = 'k',
        long,
        env = "VIGIL_INSECURE",
        value_parser = BoolishValueParser::new(),
        global = true
    )]
    insecure: bool,
    /// How answers are printed: aligned tables, or the server's JSON.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    /// Short for `--output json`.
    #[arg(long, global = true)]
    json: bool,
}

/// The output form every command follows.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// Why a command failed; each kind has its exit status.
#[derive(Debug)]
pub enum Failure {
    /// The server refused the request (an ONTAP error body, or a failed job).
    Api { message: String, code: String },
    /// Anything else the command cannot go on with.
    Other(String),
    /// The server could not be reached or stopped answering.
    Connection(String),
    /// A waited-for run ended other than clean: the status says how (see the module doc
    /// of `cli`).
    Run { status: u8, message: String },
}

impl Failure {
    pub fn exit_status(&self) -> u8 {
        match self {
            Failure::Api { .. } | Failure::Other(_) => 1,
            Failure::Connection(_) => 2,
            Failure::Run { status, .. } => *status,
        }
    }

    pub fn print(&self) {
        match self {
            Failure::Api { message, code } => eprintln!("error: {message} (code {code})"),
            Failure::Other(m) | Failure::Connection(m) => eprintln!("error: {m}"),
            Failure::Run { message, .. } => eprintln!("{message}"),
        }
    }

    pub fn other(message: impl Into<String>) -> Failure {
        Failure::Other(message.into())
    }

    /// The failure a terminal job reports: its error object, else its message.
    pub fn from_job(job: &Value) -> Failure {
        let message = job["error"]["message"]
            .as_str()
            .or_else(|| job["message"].as_str())
            .unwrap_or("the job failed")
            .to_string();
        let code = match (&job["error"]["code"], &job["code"]) {
            (Value::String(c), _) => c.clone(),
            (_, Value::Number(n)) => n.to_string(),
            _ => "unknown".to_string(),
        };
        Failure::Api { message, code }
    }
}

pub type Outcome<T = ()> = Result<T, Failure>;

/// One answer of the server that was not an error.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

pub struct Client {
    http: reqwest::Client,
    /// For the streaming endpoint, whose answer lasts as long as the command follows it.
    streaming: reqwest::Client,
    base: Url,
    user: String,
    password: String,
    insecure: bool,
    pub json: bool,
}

impl Client {
    pub fn new(args: ClientArgs) -> Outcome<Client> {
        let mut base = Url::parse(&args.url)
            .map_err(|e| Failure::other(format!("--url {}: {e}", args.url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Failure::other(format!(
                "--url {}: the scheme must be http or https",
                args.url
            )));
        }
        // Segments are appended to the base path, so it must read as a directory.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let password = match args.password {
            Some(p) => p,
            None if std::io::stdin().is_terminal() => {
                rpassword::prompt_password(format!("Password for {}: ", args.user))
                    .map_err(|e| Failure::other(format!("reading the password: {e}")))?
            }
            None => {
                return Err(Failure::other(
                    "no password: give --password or set VIGIL_PASSWORD",
                ));
            }
        };
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(args.insecure)
            .connect_timeout(Duration::from_secs(10))
            // Every request is short: long operations are jobs the client polls.
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Failure::other(format!("setting up the HTTP client: {e}")))?;
        let streaming = reqwest::Client::builder()
            .danger_accept_invalid_certs(args.insecure)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Failure::other(format!("setting up the HTTP client: {e}")))?;
        Ok(Client {
            http,
            streaming,
            base,
            user: args.user,
            password,
            insecure: args.insecure,
            json: args.json || args.output == Output::Json,
        })
    }

    /// The URL of an API path given as unescaped segments (a policy name may hold any
    /// character) plus query pairs.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends one request; an ONTAP error body (or any non-2xx answer) becomes a failure.
    pub async fn send(&self, method: Method, url: Url, body: Option<&Value>) -> Outcome<Reply> {
        let mut request = self
            .http
            .request(method, url.clone())
            .basic_auth(&self.user, Some(&self.password))
            .header("accept", "application/json");
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.map_err(|e| self.transport(&url, &e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.transport(&url, &e))?;
        let body = if text.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => v,
                Err(_) if status.is_success() => {
                    return Err(Failure::other(format!(
                        "{url}: the answer is not JSON: {}",
                        snippet(&text)
                    )));
                }
                Err(_) => Value::String(text),
            }
        };
        if status.is_success() {
            return Ok(Reply { status, body });
        }
        Err(match body["error"]["message"].as_str() {
            Some(message) => Failure::Api {
                message: message.to_string(),
                code: match &body["error"]["code"] {
                    Value::String(c) => c.clone(),
                    Value::Null => status.as_u16().to_string(),
                    other => other.to_string(),
                },
            },
            // Not Vigil answering (a proxy, another service on the port).
            None => Failure::other(format!(
                "{url}: HTTP {status}: {}",
                match &body {
                    Value::String(text) => snippet(text),
                    other => snippet(&other.to_string()),
                }
            )),
        })
    }

    /// Opens the streaming endpoint for `topics` (comma-separated); once this returns,
    /// the server is subscribed, so nothing published afterwards is missed.
    pub async fn stream(&self, topics: &str) -> Outcome<super::sse::EventStream> {
        let url = self.url(&["api", "vigil", "stream"], &[("topics", topics)]);
        let response = self
            .streaming
            .get(url.clone())
            .basic_auth(&self.user, Some(&self.password))
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| self.transport(&url, &e))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| self.transport(&url, &e))?;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(match body["error"]["message"].as_str() {
                Some(message) => Failure::Api {
                    message: message.to_string(),
                    code: table::cell(&body["error"]["code"]),
                },
                None => Failure::other(format!("{url}: HTTP {status}: {}", snippet(&text))),
            });
        }
        let origin = url.origin().ascii_serialization();
        Ok(super::sse::EventStream::new(response, origin))
    }

    fn transport(&self, url: &Url, e: &reqwest::Error) -> Failure {
        // reqwest's own message repeats the whole URL and says little ("error sending
        // request"); the innermost cause says what went wrong (refused, DNS, TLS).
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        if e.is_timeout() {
            cause = format!("no answer in time ({cause})");
        }
        let mut message = format!(
            "cannot reach the Vigil server at {}: {cause}",
            url.origin().ascii_serialization()
        );
        if !self.insecure && cause.to_ascii_lowercase().contains("certificate") {
            message
                .push_str(" (Vigil's generated certificate is self-signed: --insecure accepts it)");
        }
        Failure::Connection(message)
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> Outcome<Value> {
        Ok(self
            .send(Method::GET, self.url(segments, query), None)
            .await?
            .body)
    }

    /// Every record of a collection, following `_links.next` across pages; answers one
    /// collection body (`records`, `num_records`) as the server would unpaged.
    pub async fn list(&self, segments: &[&str], query: &[(&str, &str)]) -> Outcome<Value> {
        let mut url = self.url(segments, query);
        let mut records = Vec::new();
        loop {
            let page = self.send(Method::GET, url, None).await?.body;
            if let Some(r) = page["records"].as_array() {
                records.extend(r.iter().cloned());
            }
            match page["_links"]["next"]["href"].as_str() {
                Some(next) => {
                    url = self
                        .base
                        .join(next)
                        .map_err(|e| Failure::other(format!("next page {next}: {e}")))?;
                }
                None => break,
            }
        }
        Ok(json!({"records": records, "num_records": records.len()}))
    }

    /// Every record of a collection for a table; with `--json` the answer is printed as
    /// it is and `None` comes back.
    pub async fn list_for_table(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Outcome<Option<Vec<Value>>> {
        let mut answer = self.list(segments, query).await?;
        if self.json {
            self.print_json(&answer);
            return Ok(None);
        }
        Ok(Some(match answer["records"].take() {
            Value::Array(records) => records,
            _ => Vec::new(),
        }))
    }

    /// Waits for an answer's job when the server answered 202; a failed job is a failure.
    pub async fn complete(&self, reply: Reply) -> Outcome<Value> {
        if reply.status != StatusCode::ACCEPTED {
            return Ok(reply.body);
        }
        match reply.body["job"]["uuid"].as_str() {
            Some(uuid) => {
                let job = self.wait_job(uuid).await?;
                if job["state"] == "success" {
                    Ok(reply.body)
                } else {
                    Err(Failure::from_job(&job))
                }
            }
            None => Ok(reply.body),
        }
    }

    /// Polls a job until it ends and returns its record, whatever the end.
    pub async fn wait_job(&self, uuid: &str) -> Outcome<Value> {
        let url = self.url(&["api", "cluster", "jobs", uuid], &[("fields", "*")]);
        // Configuration jobs end within milliseconds, a run may take hours: start fast,
        // then back off so a long wait costs little.
        let mut pause = Duration::from_millis(50);
        let mut told = false;
        loop {
            let job = self.send(Method::GET, url.clone(), None).await?.body;
            if matches!(job["state"].as_str(), Some("success" | "failure")) {
                return Ok(job);
            }
            if !told && pause >= Duration::from_secs(1) && std::io::stderr().is_terminal() {
                eprintln!("waiting for job {uuid} (interrupting stops the wait, not the job)");
                told = true;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// The uuid of an SVM given by name or by uuid.
    pub async fn svm_uuid(&self, svm: &str) -> Outcome<String> {
        self.resolve(&["api", "svm", "svms"], "uuid", svm, "SVM")
            .await
    }

    /// The key (`key_field`) of the one record of a collection whose `name` is
    /// `name_or_key`, or whose key it is when it is shaped like a uuid.
    pub async fn resolve(
        &self,
        collection: &[&str],
        key_field: &str,
        name_or_key: &str,
        what: &str,
    ) -> Outcome<String> {
        let fields = format!("{key_field},name");
        for filter in ["name", key_field] {
            if filter == key_field && !is_uuid(name_or_key) {
                continue;
            }
            let found = self
                .get(
                    collection,
                    &[(filter, name_or_key), ("fields", fields.as_str())],
                )
                .await?;
            // Filters glob (`*`, `|`): only an exact match names the object.
            let exact = found["records"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r[filter].as_str() == Some(name_or_key));
            if let Some(key) = exact.and_then(|r| r[key_field].as_str()) {
                return Ok(key.to_string());
            }
        }
        Err(Failure::other(format!(
            "{what} \"{name_or_key}\" not found"
        )))
    }

    /// Prints a JSON answer for `--json`.
    pub fn print_json(&self, value: &Value) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(_) => println!("{value}"),
        }
    }
}

/// A uuid in its usual hyphenated form (other forms are never used as keys by the API).
fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

fn snippet(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}
