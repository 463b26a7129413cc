//! Fuzzes `s3model::keypath::KeyPath::parse` and the paths it maps a key to.
//!
//! Input: any bytes, as UTF-8 (lossy), taken as an S3 object key. Nothing may panic,
//! and every accepted key must map to a relative path of normal components only (no
//! root, no `.` or `..`), each a name that fits a file system (at most 255 bytes, no
//! `/` or NUL) and ends in a Vigil suffix, so that no key reaches outside its bucket
//! directory or lands on a bare name. Distinct keys map to distinct metadata files.

#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use s3model::keypath::{DATA_SUFFIX, DIR_SUFFIX, KeyPath, OBJECT_SUFFIX};

fn inside(key: &str, path: &Path, last_suffix: &str) {
    let mut count = 0;
    for c in path.components() {
        let Component::Normal(name) = c else {
            panic!("{key:?} maps to {path:?}, which leaves the bucket");
        };
        let name = name.to_str().expect("names come from UTF-8 keys");
        assert!(name.len() <= 255, "{key:?}: {name:?} is too long for a file name");
        assert!(!name.contains('\0') && !name.contains('/'), "{key:?}: {name:?}");
        count += 1;
        let expected = if count == path.components().count() { last_suffix } else { DIR_SUFFIX };
        assert!(name.ends_with(expected), "{key:?}: {name:?} lacks {expected:?}");
    }
    assert!(count >= 1, "{key:?} maps to nothing");
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    // Two keys from one input: the part before the first newline and the rest.
    let (a, b) = input.split_once('\n').unwrap_or((&input, ""));
    let mut objects = Vec::new();
    for key in [a, b] {
        let Ok(k) = KeyPath::parse(key) else {
            continue;
        };
        let object = k.dir().join(k.object_name());
        inside(key, &object, OBJECT_SUFFIX);
        inside(key, &k.dir().join(k.data_name(&"f".repeat(32))), DATA_SUFFIX);
        for dir in k.ancestors() {
            inside(key, &dir, DIR_SUFFIX);
            assert!(object.starts_with(&dir), "{key:?}: {dir:?} is not above {object:?}");
        }
        objects.push((key, object));
    }
    if let [(ka, pa), (kb, pb)] = objects.as_slice() {
        assert_eq!(ka == kb, pa == pb, "{ka:?} and {kb:?} map to {pa:?} and {pb:?}");
    }
});
