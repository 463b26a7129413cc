//! Fuzzes ONTAP's query language as `crates/rest` parses it: field filters
//! (`Filter::parse` + `matches`), `fields` (`Selection::parse` + `project`) and
//! `order_by` (`parse_order_by` + `compare_records`).
//!
//! Input: up to four newline-separated parts, as UTF-8 (lossy):
//! `<filter field path>\n<filter value>\n<fields value>\n<order_by value>`.
//! Missing parts are empty. Nothing may panic; in addition `compare_records` must be
//! a total order on the fixed records, since the server sorts with `sort_by`, which
//! may panic on an inconsistent comparator.

#![no_main]

use std::cmp::Ordering;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rest::fields::Selection;
use rest::query::{Filter, compare_records, parse_order_by};
use rest::schema::*;
use serde_json::{Value, json};

struct Fixture {
    schema: Schema,
    records: Vec<Value>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        schema: Schema::new(vec![
            string("uuid").identity(),
            string("name").identity().read_write(),
            integer("size").read_write(),
            boolean("enabled"),
            enumeration("state", &["running", "stopped", "starting"]),
            datetime("create_time"),
            reference("svm"),
            object(
                "b",
                vec![
                    string("c"),
                    string("d"),
                    object("e", vec![integer("f"), datetime("g")]),
                ],
            ),
            array("servers", Ty::String),
            array("ports", Ty::Integer),
            array_of("pools", vec![string("name"), integer("size"), boolean("ok")]),
            object("stats", vec![integer("iops"), integer("latency")]).expensive(),
            string("password").write_only(),
            string("comment").read_write(),
        ]),
        records: vec![
            json!({
                "uuid": "1b2c3d4e-0000-4000-8000-000000000001",
                "name": "vs1",
                "size": 10_737_418_240u64,
                "enabled": true,
                "state": "running",
                "create_time": "2024-05-01T10:00:00+02:00",
                "svm": {"uuid": "u1", "name": "svm_alpha", "_links": {"self": {"href": "/api/svm/svms/u1"}}},
                "b": {"c": "1", "d": "Δ two", "e": {"f": -3, "g": "2024-05-01"}},
                "servers": ["1.1.1.1", "2.2.2.2"],
                "ports": [80, 443],
                "pools": [{"name": "p1", "size": 1, "ok": true}, {"name": "P2", "size": 2}],
                "stats": {"iops": 9, "latency": 1},
                "password": "secret",
                "comment": null,
                "_links": {"self": {"href": "/api/x/1"}}
            }),
            json!({
                "uuid": "1b2c3d4e-0000-4000-8000-000000000002",
                "name": "VS2*|\"{..}",
                "size": -1,
                "enabled": false,
                "state": "stopped",
                "create_time": "not a time",
                "svm": {"name": "vs*"},
                "b": {"c": 7, "e": null},
                "servers": [],
                "ports": [1.5, "80", null],
                "pools": [],
                "stats": {"iops": u64::MAX},
                "comment": "ünïcödé ß İ"
            }),
            json!({
                "uuid": "x",
                "name": "",
                "size": "10GB",
                "enabled": "true",
                "state": "weird",
                "create_time": "1970-01-01T00:00:00Z",
                "svm": [{"name": "a"}, {"name": "b"}],
                "b": [{"c": "x"}, 3, "s", null],
                "servers": "not-an-array",
                "ports": i64::MIN,
                "pools": {"name": "not-an-array"}
            }),
            json!({"name": "vs1", "size": 10_737_418_240u64}),
            json!({}),
            json!(null),
            json!([1, {"name": "in an array"}]),
            json!("scalar"),
        ],
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let path = parts.next().unwrap_or("");
    let value = parts.next().unwrap_or("");
    let fields = parts.next().unwrap_or("");
    let order_by = parts.next().unwrap_or("");
    let Fixture { schema, records } = fixture();

    if let Ok(filter) = Filter::parse(path, value, schema) {
        for record in records {
            let _ = filter.matches(record);
        }
    }

    for ignore_unknown in [false, true] {
        if let Ok(selection) = Selection::parse(fields, schema, ignore_unknown) {
            for record in records {
                let _ = selection.project(record, schema);
            }
        }
    }

    if let Ok(keys) = parse_order_by(order_by, schema) {
        for a in records {
            assert_eq!(compare_records(a, a, &keys), Ordering::Equal);
            for b in records {
                let ab = compare_records(a, b, &keys);
                assert_eq!(ab, compare_records(b, a, &keys).reverse(), "antisymmetry");
                for c in records {
                    // A total preorder: a <= b <= c implies a <= c, and a < c
                    // unless all three are equal.
                    let bc = compare_records(b, c, &keys);
                    if ab != Ordering::Greater && bc != Ordering::Greater {
                        let want = if ab == Ordering::Equal && bc == Ordering::Equal {
                            Ordering::Equal
                        } else {
                            Ordering::Less
                        };
                        assert_eq!(compare_records(a, c, &keys), want, "transitivity");
                    }
                }
            }
        }
        let mut sorted = records.clone();
        sorted.sort_by(|a, b| compare_records(a, b, &keys));
    }
});
