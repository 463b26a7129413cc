//! Fuzzes `mav::parse_request` and the rendering of its outcome (the RMM error form,
//! or for an accepted request the response from a small fixed source whose names and
//! paths are the fuzz input itself).
//!
//! Input: UTF-8 (lossy), split like a decoded query string: pairs on `&`, name and
//! value on the first `=`. Nothing may panic. Also asserted: every body is
//! well-formed XML made of characters XML 1.0 allows, with `status="OK"` exactly
//! when `handle` succeeded; a parse error renders with its own errorcode; a bad key
//! is errorcode 3 whatever the rest of the query; parsing is deterministic.

#![no_main]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use mav::*;
use quick_xml::Reader;
use quick_xml::events::Event;

struct Fixed {
    text: String,
}

fn time(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

impl Source for Fixed {
    fn client(&self) -> Result<Client, SourceError> {
        Ok(Client {
            id: 1,
            name: self.text.clone(),
            timezone: self.text.clone(),
            created: None,
        })
    }
    fn site(&self) -> Result<Site, SourceError> {
        Ok(Site {
            id: 1,
            name: self.text.clone(),
            created: None,
        })
    }
    fn devices(&self) -> Result<Vec<Device>, SourceError> {
        Ok((1..=3)
            .map(|id| Device {
                id,
                name: self.text.clone(),
                uuid: self.text.clone(),
                description: Some(self.text.clone()),
                online: id % 2 == 0,
            })
            .collect())
    }
    fn scans(&self, device: u64, _since: DateTime<Utc>) -> Result<Vec<Scan>, SourceError> {
        if device == 3 {
            return Err(SourceError(self.text.clone()));
        }
        let mut threat = Threat::file(
            self.text.clone(),
            self.text.clone(),
            ThreatStatus::Quarantined,
            self.text.clone(),
        );
        threat.quarantine.push(QuarantineItem {
            guid: Guid(u128::from(device) << 64),
            count: 1,
            deleted: false,
        });
        Ok(vec![Scan {
            id: 1,
            scan_type: ScanType::Custom,
            status: ScanStatus::Finished,
            start: time(1_795_000_000),
            end: Some(time(1_795_000_100)),
            files_scanned: 10,
            folders_scanned: 2,
            cookies_scanned: 0,
            registry_scanned: 0,
            processes_scanned: 0,
            threats: vec![threat],
            errors: vec![ScanError {
                item: self.text.clone(),
                reason: ErrorReason::CreateFile,
            }],
            engine: Engine {
                name: self.text.clone(),
                version: self.text.clone(),
            },
        }])
    }
}

fn keys(key: &str) -> KeyDecision {
    match key {
        "all" => KeyDecision::Allowed(KeyScope::All),
        "one" => KeyDecision::Allowed(KeyScope::Devices(BTreeSet::from([1]))),
        _ => KeyDecision::Denied,
    }
}

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn check_xml(body: &str, input: &str) {
    assert!(body.chars().all(xml_char), "{input:?}: character XML cannot carry in {body:?}");
    let mut reader = Reader::from_str(body);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => depth -= 1,
            Ok(_) => {}
            Err(e) => panic!("{input:?}: not well-formed ({e}):\n{body}"),
        }
    }
    assert_eq!(depth, 0, "{input:?}: unbalanced:\n{body}");
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let query: Vec<(String, String)> = input
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect();
    let ctx = Context::new(input.to_string(), time(1_795_100_000));
    let source = Fixed {
        text: input.to_string(),
    };

    let parsed = parse_request(&query);
    assert_eq!(parsed, parse_request(&query), "{input:?}: not deterministic");
    if let Err(e) = &parsed {
        let body = render_error(e, &ctx);
        check_xml(&body, &input);
        assert!(body.contains("status=\"FAIL\""));
        assert!(body.contains(&format!("<errorcode>{}</errorcode>", e.errorcode())));
    }

    let outcome = handle(&query, &keys, &source, &ctx);
    let body = respond(&query, &keys, &source, &ctx);
    check_xml(&body, &input);
    match &outcome {
        Ok(ok) => {
            assert_eq!(ok, &body);
            assert!(parsed.is_ok(), "{input:?}: handled though the parse failed");
            assert!(body.contains("status=\"OK\""));
        }
        Err(e) => {
            assert_eq!(body, render_error(e, &ctx));
            if let Ok(r) = &parsed
                && !matches!(keys(r.apikey()), KeyDecision::Denied)
            {
                assert_ne!(e, &MavError::BadKey, "{input:?}");
            }
        }
    }
    // A key the store denies is errorcode 3, whatever the rest of the query says.
    let denied = query
        .iter()
        .filter(|(k, _)| k == "apikey")
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>();
    if denied.len() != 1 || matches!(keys(denied[0]), KeyDecision::Denied) {
        assert_eq!(outcome, Err(MavError::BadKey), "{input:?}");
    }
});
