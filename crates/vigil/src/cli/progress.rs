//! A run's progress as `vscan on-demand run --wait` shows it: a bar redrawn in place on a
//! terminal, plain lines (one per change) otherwise, on stderr so stdout keeps the answer.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use serde_json::Value;

const BAR_WIDTH: usize = 30;

pub struct Display {
    terminal: bool,
    started: Instant,
    /// The last line printed, so plain output prints only changes.
    last: String,
}

impl Display {
    pub fn new() -> Display {
        Display {
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: String::new(),
        }
    }

    /// Shows one `runs` message of the streaming endpoint.
    pub fn show(&mut self, run: &Value) {
        let done = run["files_done"].as_u64().unwrap_or(0);
        let queued = run["files_queued"].as_u64().unwrap_or(0);
        let walking = run["walking"].as_bool().unwrap_or(false);
        let infected = run["infected_count"].as_u64().unwrap_or(0);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        // While the walk goes on, the total is only a lower bound.
        let total = if walking {
            format!("{queued}+")
        } else {
            queued.to_string()
        };
        let counts = format!("{done}/{total} files, {infected} infected, {rate:.1} files/s");
        if self.terminal {
            let filled = match queued {
                0 => 0,
                q => (done.min(q) as usize * BAR_WIDTH) / q as usize,
            };
            let bar = format!("{}{}", "#".repeat(filled), " ".repeat(BAR_WIDTH - filled));
            eprint!("\r[{bar}] {counts}\x1b[K");
            let _ = std::io::stderr().flush();
        } else {
            // The rate changes with every message: only the counts decide a new line.
            let key = format!("{done}/{total} {infected}");
            if key != self.last {
                eprintln!("progress: {counts}");
                self.last = key;
            }
        }
    }

    /// Ends the bar's line before anything else is printed.
    pub fn finish(&self) {
        if self.terminal {
            eprintln!();
        }
    }
}
