//! Server-sent events as the streaming endpoint sends them: a small parser of the
//! `text/event-stream` format (event names, `data` lines, comments as keep-alives) over
//! the chunks of one long HTTP answer.

use std::collections::VecDeque;

use serde_json::Value;

use super::client::{Failure, Outcome};

/// One event: its name (`message` when the server gave none) and its data as JSON
/// (`Null` when the data is not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub name: String,
    pub data: Value,
}

/// The parser's state between chunks: the unfinished line and the event being built.
#[derive(Default)]
pub struct Parser {
    line: Vec<u8>,
    name: Option<String>,
    data: Option<String>,
}

impl Parser {
    /// Feeds a chunk; returns the events it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut done = Vec::new();
        for &b in chunk {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.line_done(&String::from_utf8_lossy(&line)) {
                done.push(event);
            }
        }
        done
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            // A blank line dispatches; an event without data is not dispatched (the spec).
            let name = self.name.take();
            let data = self.data.take()?;
            return Some(SseEvent {
                name: name.unwrap_or_else(|| "message".to_string()),
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            // `id` and `retry` matter to browsers reconnecting; a CLI run does not.
            _ => {}
        }
        None
    }
}

/// The events of one open answer of the streaming endpoint.
pub struct EventStream {
    response: reqwest::Response,
    parser: Parser,
    ready: VecDeque<SseEvent>,
    origin: String,
}

impl EventStream {
    pub fn new(response: reqwest::Response, origin: String) -> EventStream {
        EventStream {
            response,
            parser: Parser::default(),
            ready: VecDeque::new(),
            origin,
        }
    }

    /// The next event; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Outcome<Option<SseEvent>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let chunk = self.response.chunk().await.map_err(|e| {
                Failure::Connection(format!(
                    "the Vigil server at {} stopped streaming: {e}",
                    self.origin
                ))
            })?;
            match chunk {
                Some(bytes) => self.ready.extend(self.parser.feed(&bytes)),
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let text =
            b": keep-alive\n\nevent: runs\ndata: {\"a\":1}\n\ndata: x\r\n\r\nevent: lagged\n";
        let mut p = Parser::default();
        let mut got = Vec::new();
        for piece in text.chunks(3) {
            got.extend(p.feed(piece));
        }
        assert_eq!(
            got,
            vec![
                SseEvent {
                    name: "runs".into(),
                    data: json!({"a": 1})
                },
                SseEvent {
                    name: "message".into(),
                    data: Value::Null
                },
            ]
        );
        // The unfinished event waits for its blank line.
        let rest = p.feed(b"data: {\"missed\":2}\n\n");
        assert_eq!(rest[0].name, "lagged");
        assert_eq!(rest[0].data["missed"], 2);
    }

    #[test]
    fn data_lines_join_with_newlines() {
        let mut p = Parser::default();
        let got = p.feed(b"data: [1,\ndata: 2]\n\n");
        assert_eq!(got[0].data, json!([1, 2]));
    }
}
