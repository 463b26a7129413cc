//! Fuzzes `vscan::scope`: `Scope::from_json` on fuzzed extension and path lists, then
//! `Scope::decide` on a fuzzed file.
//!
//! Input: one flags byte, eight bytes of file size (little-endian), then UTF-8 (lossy)
//! with up to five newline-separated parts, list entries separated by `|`:
//! `<include_extensions>\n<exclude_extensions>\n<exclude_paths>\n<file path>\n<max_file_size as JSON>`.
//! An empty list part leaves the field out (its default applies); an empty
//! `max_file_size` part too, any other text that is not JSON is sent as a string.
//!
//! Nothing may panic. Also checked: a scope `from_json` accepts passes `validate`; each
//! exclude path re-parses from `as_str` to an equal value; the same exclusion written in
//! the other style (`\` <-> `/`) parses and excludes the same file; the decision does
//! not depend on the ASCII case of the file name when no path exclusion applies.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use vscan::scope::{
    Decision, ExcludePath, FileAccess, ON_ACCESS_DEFAULT_MAX, ON_DEMAND_DEFAULT_MAX, PathStyle,
    Scope, SkipReason, check_extension,
};

fn list(part: Option<&str>) -> Option<Value> {
    let part = part.filter(|p| !p.is_empty())?;
    Some(Value::Array(
        part.split('|')
            .map(|s| Value::String(s.to_owned()))
            .collect(),
    ))
}

fn excluded_by_path(d: &Decision) -> bool {
    matches!(d, Decision::Skip(SkipReason::ExcludedPath { .. }))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (size, text) = if rest.len() >= 8 {
        let (s, t) = rest.split_at(8);
        (u64::from_le_bytes(s.try_into().unwrap_or([0; 8])), t)
    } else {
        (0, rest)
    };
    let text = String::from_utf8_lossy(text);
    let mut parts = text.split('\n');
    let (include, exclude, paths, path, max) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next().unwrap_or(""),
        parts.next(),
    );
    let (style, other, default_max) = if flags & 1 == 0 {
        (PathStyle::Cifs, PathStyle::Unix, ON_ACCESS_DEFAULT_MAX)
    } else {
        (PathStyle::Unix, PathStyle::Cifs, ON_DEMAND_DEFAULT_MAX)
    };

    let mut obj = Map::new();
    for (name, value) in [
        ("include_extensions", list(include)),
        ("exclude_extensions", list(exclude)),
        ("exclude_paths", list(paths)),
    ] {
        if let Some(v) = value {
            obj.insert(name.into(), v);
        }
    }
    if let Some(m) = max.filter(|m| !m.is_empty()) {
        let v = serde_json::from_str(m).unwrap_or_else(|_| Value::String(m.to_owned()));
        obj.insert("max_file_size".into(), v);
    }
    obj.insert("scan_without_extension".into(), Value::Bool(flags & 2 != 0));
    obj.insert("only_execute_access".into(), Value::Bool(flags & 4 != 0));
    obj.insert("scan_readonly_volumes".into(), Value::Bool(flags & 8 != 0));

    for e in include
        .into_iter()
        .chain(exclude)
        .flat_map(|p| p.split('|'))
    {
        let _ = check_extension(e).map_err(|e| e.to_string());
    }
    let _ = ExcludePath::parse(path, PathStyle::Cifs);
    let _ = ExcludePath::parse(path, PathStyle::Unix);

    let scope = match Scope::from_json(&Value::Object(obj), style, default_max) {
        Ok(s) => s,
        Err(e) => {
            let _ = (e.to_string(), e.ontap_code(), e.target());
            return;
        }
    };
    assert_eq!(scope.validate(), Ok(()));
    let file = FileAccess {
        path,
        size,
        execute: flags & 16 != 0,
        readonly_volume: flags & 32 != 0,
    };
    let decision = scope.decide(&file);
    if let Decision::Skip(reason) = &decision {
        assert!(reason.to_string().starts_with("because "));
    }

    // Each exclusion, alone and in the other style.
    let swap = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '\\' => '/',
                '/' => '\\',
                c => c,
            })
            .collect()
    };
    // Only the path check matters here, so make every other check pass.
    let lone = |style: PathStyle, p: ExcludePath| Scope {
        exclude_paths: vec![p],
        max_file_size: u64::MAX,
        scan_readonly_volumes: true,
        ..Scope::default_for(style)
    };
    for p in &scope.exclude_paths {
        assert_eq!(ExcludePath::parse(p.as_str(), style).as_ref(), Ok(p));
        let q = match ExcludePath::parse(&swap(p.as_str()), other) {
            Ok(q) => q,
            Err(e) => panic!("{} parses but its {other:?} form does not: {e}", p.as_str()),
        };
        let a = lone(style, p.clone()).decide(&file);
        let b = lone(other, q).decide(&file);
        assert_eq!(
            excluded_by_path(&a),
            excluded_by_path(&b),
            "{p} on {path:?}"
        );
    }

    // Extensions compare ASCII case-insensitively; path exclusions don't, so drop them.
    let no_paths = Scope {
        exclude_paths: Vec::new(),
        ..scope.clone()
    };
    let upper = match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{}", name.to_ascii_uppercase()),
        None => path.to_ascii_uppercase(),
    };
    let upper_file = FileAccess {
        path: &upper,
        ..file
    };
    assert_eq!(
        no_paths.decide(&file).is_scan(),
        no_paths.decide(&upper_file).is_scan(),
        "{path:?} vs {upper:?}"
    );
});
