use serde_json::json;

use super::*;

fn cifs(json: Value) -> Scope {
    Scope::from_json(&json, PathStyle::Cifs, ON_ACCESS_DEFAULT_MAX).unwrap()
}

fn unix(json: Value) -> Scope {
    Scope::from_json(&json, PathStyle::Unix, ON_DEMAND_DEFAULT_MAX).unwrap()
}

fn file(path: &str) -> FileAccess<'_> {
    FileAccess {
        path,
        size: 100,
        execute: false,
        readonly_volume: false,
    }
}

/// Shorthands for the expected outcome in the table (size, execute and read-only volume
/// have their own tests).
enum Want {
    Scan,
    Path(&'static str),
    ExclExt(&'static str, &'static str),
    NotIncluded(&'static str),
    NoExt,
}

fn want(w: &Want) -> Decision {
    let skip = Decision::Skip;
    match *w {
        Want::Scan => Decision::Scan,
        Want::Path(p) => skip(SkipReason::ExcludedPath {
            exclude_path: p.into(),
        }),
        Want::ExclExt(e, p) => skip(SkipReason::ExcludedExtension {
            extension: e.into(),
            pattern: p.into(),
        }),
        Want::NotIncluded(e) => skip(SkipReason::ExtensionNotIncluded {
            extension: e.into(),
        }),
        Want::NoExt => skip(SkipReason::NoExtension),
    }
}

#[test]
fn decision_table() {
    use Want::*;
    let default = json!({});
    let only_exe = json!({"include_extensions": ["exe"]});
    let no_noext = json!({"scan_without_extension": false});
    let wild =
        json!({"include_extensions": ["mp*", "vmdk?", "d?c*x"], "scan_without_extension": false});
    let excl = json!({"include_extensions": ["*"], "exclude_extensions": ["mp*", "LOG"]});
    let both = json!({"include_extensions": ["txt", "doc"], "exclude_extensions": ["txt"]});
    let paths = json!({"exclude_paths": [
        "\\vol\\a", "\\vol\\contents\\", "\\vol\\*\\tmp", "\\vol\\x?z", "\\vol\\a b,c", "\\Vol\\Case"
    ]});
    let unix_paths = json!({"exclude_paths": ["/vol/a", "/vol/contents/", "/vol/*/tmp"]});

    // (scope, on-demand?, path, expected)
    let table: Vec<(&Value, bool, &str, Want)> = vec![
        // Defaults scan everything, with or without extension.
        (&default, false, "/vol/a.exe", Scan),
        (&default, false, "/vol/README", Scan),
        (&default, false, "/", Scan),
        // Extension extraction.
        (&only_exe, false, "/vol/a.exe", Scan),
        (&only_exe, false, "/vol/a.EXE", Scan),
        (&only_exe, false, "/vol/a.Exe", Scan),
        (&only_exe, false, "/vol/a.exe.txt", NotIncluded("txt")),
        (&only_exe, false, "/vol/a.txt.exe", Scan),
        (&only_exe, false, "/vol/.exe", Scan), // leading-dot-only name: no extension
        (&only_exe, false, "/vol/.bashrc", Scan),
        (&only_exe, false, "/vol/.config.exe", Scan),
        (&only_exe, false, "/vol/.config.json", NotIncluded("json")),
        (&only_exe, false, "/vol/file.", Scan), // trailing dot: no extension
        (&only_exe, false, "/vol/file..", Scan),
        (&only_exe, false, "/vol/a..exe", Scan),
        (&only_exe, false, "/vol.exe/file", Scan), // directory's dot doesn't count
        (&only_exe, false, "/vol.txt/file.exe", Scan),
        (&only_exe, false, "/vol/a.exe/", Scan), // trailing slash: same final component
        (&only_exe, false, "/vol/a.exe ", NotIncluded("exe ")),
        (&only_exe, false, "/vol/a.exé", NotIncluded("exé")),
        // No extension governed only by scan_without_extension.
        (&no_noext, false, "/vol/README", NoExt),
        (&no_noext, false, "/vol/.bashrc", NoExt),
        (&no_noext, false, "/vol/file.", NoExt),
        (&no_noext, false, "/vol/a.b", Scan),
        (&no_noext, false, "/", NoExt),
        (&no_noext, false, "", NoExt),
        // Wildcards.
        (&wild, false, "/f.mp", Scan),
        (&wild, false, "/f.mp3", Scan),
        (&wild, false, "/f.MP4", Scan),
        (&wild, false, "/f.mpeg", Scan),
        (&wild, false, "/f.amp3", NotIncluded("amp3")),
        (&wild, false, "/f.vmdk1", Scan),
        (&wild, false, "/f.VMDKx", Scan),
        (&wild, false, "/f.vmdk", NotIncluded("vmdk")),
        (&wild, false, "/f.vmdk12", NotIncluded("vmdk12")),
        (&wild, false, "/f.docx", Scan),
        (&wild, false, "/f.dacx", Scan),
        (&wild, false, "/f.dcx", NotIncluded("dcx")),
        (&wild, false, "/f.dOcXYZx", Scan),
        (&wild, false, "/f.docxy", NotIncluded("docxy")),
        (&wild, false, "/f.é", NotIncluded("é")),
        (&wild, false, "/noext", NoExt),
        // Exclude beats include; first matching exclude is named.
        (&excl, false, "/f.mp3", ExclExt("mp3", "mp*")),
        (&excl, false, "/f.MP", ExclExt("MP", "mp*")),
        (&excl, false, "/f.log", ExclExt("log", "LOG")),
        (&excl, false, "/f.txt", Scan),
        (&excl, false, "/noext", Scan),
        (&both, false, "/f.txt", ExclExt("txt", "txt")),
        (&both, false, "/f.TXT", ExclExt("TXT", "txt")),
        (&both, false, "/f.doc", Scan),
        (&both, false, "/f.pdf", NotIncluded("pdf")),
        (&both, false, "/noext", Scan),
        // CIFS exclude paths.
        (&paths, false, "/vol/a", Path("\\vol\\a")),
        (&paths, false, "/vol/a/", Path("\\vol\\a")),
        (&paths, false, "/vol/a/x.exe", Path("\\vol\\a")),
        (&paths, false, "/vol/a/b/c/d", Path("\\vol\\a")),
        (&paths, false, "/vol/ab", Scan), // prefix, not a component
        (&paths, false, "/vol/ab/x", Scan),
        (&paths, false, "/vol/A/x", Scan), // case-sensitive
        (&paths, false, "/vol", Scan),
        (&paths, false, "/other/vol/a", Scan),
        (&paths, false, "/vol/contents", Scan), // trailing '\': only what is below
        (&paths, false, "/vol/contents/", Scan),
        (&paths, false, "/vol/contents/f", Path("\\vol\\contents\\")),
        (
            &paths,
            false,
            "/vol/contents/d/f",
            Path("\\vol\\contents\\"),
        ),
        (&paths, false, "/vol/contentsx/f", Scan),
        (&paths, false, "/vol/q/tmp", Path("\\vol\\*\\tmp")),
        (&paths, false, "/vol/q/tmp/f.txt", Path("\\vol\\*\\tmp")),
        (&paths, false, "/vol/q/r/tmp", Scan), // '*' doesn't cross a separator
        (&paths, false, "/vol/tmp", Scan),
        (&paths, false, "/vol/xyz", Path("\\vol\\x?z")),
        (&paths, false, "/vol/xz", Scan),
        (&paths, false, "/vol/xyyz", Scan),
        (&paths, false, "/vol/a b,c/f", Path("\\vol\\a b,c")),
        (&paths, false, "/Vol/Case", Path("\\Vol\\Case")),
        (&paths, false, "/vol/case", Scan),
        // Lexical normalization of the file path.
        (&paths, false, "//vol//a", Path("\\vol\\a")),
        (&paths, false, "/vol/./a/f", Path("\\vol\\a")),
        (&paths, false, "/vol/a/../b/f", Scan),
        (&paths, false, "/vol/b/../a/f", Path("\\vol\\a")),
        (&paths, false, "/../../vol/a", Path("\\vol\\a")),
        (&paths, false, "vol/a", Path("\\vol\\a")),
        // Unix exclude paths behave the same.
        (&unix_paths, true, "/vol/a", Path("/vol/a")),
        (&unix_paths, true, "/vol/a/f", Path("/vol/a")),
        (&unix_paths, true, "/vol/ab", Scan),
        (&unix_paths, true, "/vol/contents", Scan),
        (&unix_paths, true, "/vol/contents/f", Path("/vol/contents/")),
        (&unix_paths, true, "/vol/x/tmp/f", Path("/vol/*/tmp")),
        (&unix_paths, true, "/vol/x/y/tmp/f", Scan),
    ];
    for (json, on_demand, path, expected) in &table {
        let scope = if *on_demand {
            unix((*json).clone())
        } else {
            cifs((*json).clone())
        };
        assert_eq!(
            scope.decide(&file(path)),
            want(expected),
            "scope {json} path {path:?}"
        );
    }
}

#[test]
fn size_boundary() {
    let scope = cifs(json!({"max_file_size": 4096}));
    let at = |size| FileAccess {
        size,
        ..file("/f.txt")
    };
    assert_eq!(scope.decide(&at(0)), Decision::Scan);
    assert_eq!(scope.decide(&at(4096)), Decision::Scan);
    assert_eq!(
        scope.decide(&at(4097)),
        Decision::Skip(SkipReason::TooLarge {
            size: 4097,
            max: 4096
        })
    );
    assert_eq!(
        scope.decide(&at(u64::MAX)),
        Decision::Skip(SkipReason::TooLarge {
            size: u64::MAX,
            max: 4096
        })
    );
    let default = cifs(json!({}));
    assert!(default.decide(&at(ON_ACCESS_DEFAULT_MAX)).is_scan());
    assert!(!default.decide(&at(ON_ACCESS_DEFAULT_MAX + 1)).is_scan());
    let od = unix(json!({}));
    assert!(od.decide(&at(ON_DEMAND_DEFAULT_MAX)).is_scan());
    assert!(!od.decide(&at(ON_DEMAND_DEFAULT_MAX + 1)).is_scan());
}

#[test]
fn execute_and_readonly() {
    let exec_only = cifs(json!({"only_execute_access": true}));
    let ro = cifs(json!({"scan_readonly_volumes": true}));
    let default = cifs(json!({}));
    let f = file("/f.exe");
    let exec = FileAccess { execute: true, ..f };
    let on_ro = FileAccess {
        readonly_volume: true,
        ..f
    };
    assert_eq!(
        exec_only.decide(&f),
        Decision::Skip(SkipReason::NotExecuteAccess)
    );
    assert_eq!(exec_only.decide(&exec), Decision::Scan);
    assert_eq!(default.decide(&f), Decision::Scan);
    assert_eq!(default.decide(&exec), Decision::Scan);
    assert_eq!(
        default.decide(&on_ro),
        Decision::Skip(SkipReason::ReadOnlyVolume)
    );
    assert_eq!(ro.decide(&on_ro), Decision::Scan);
}

#[test]
fn first_failing_check_is_reported() {
    let scope = cifs(json!({
        "only_execute_access": true, "max_file_size": 1024,
        "exclude_paths": ["\\a"], "include_extensions": ["x"], "scan_without_extension": false
    }));
    let all_bad = FileAccess {
        path: "/a/f.y",
        size: 2000,
        execute: false,
        readonly_volume: true,
    };
    let mut f = all_bad;
    assert_eq!(scope.decide(&f), Decision::Skip(SkipReason::ReadOnlyVolume));
    f.readonly_volume = false;
    assert_eq!(
        scope.decide(&f),
        Decision::Skip(SkipReason::NotExecuteAccess)
    );
    f.execute = true;
    assert!(matches!(
        scope.decide(&f),
        Decision::Skip(SkipReason::TooLarge { .. })
    ));
    f.size = 1024;
    assert!(matches!(
        scope.decide(&f),
        Decision::Skip(SkipReason::ExcludedPath { .. })
    ));
    f.path = "/b/f.y";
    assert!(matches!(
        scope.decide(&f),
        Decision::Skip(SkipReason::ExtensionNotIncluded { .. })
    ));
    f.path = "/b/f.x";
    assert_eq!(scope.decide(&f), Decision::Scan);
}

#[test]
fn on_demand_ignores_on_access_only_fields() {
    let od = unix(json!({"only_execute_access": true, "scan_readonly_volumes": false}));
    assert!(!od.only_execute_access);
    assert!(od.scan_readonly_volumes);
    let f = FileAccess {
        readonly_volume: true,
        ..file("/f.txt")
    };
    assert_eq!(od.decide(&f), Decision::Scan);
}

#[test]
fn from_json_defaults() {
    let oa = cifs(json!({}));
    assert_eq!(oa, Scope::default_for(PathStyle::Cifs));
    assert_eq!(oa.include_extensions, vec!["*"]);
    assert!(oa.exclude_extensions.is_empty());
    assert!(oa.exclude_paths.is_empty());
    assert_eq!(oa.max_file_size, 2_147_483_648);
    assert!(oa.scan_without_extension);
    assert!(!oa.only_execute_access);
    assert!(!oa.scan_readonly_volumes);
    assert_eq!(cifs(Value::Null), oa);
    let nulls = json!({"include_extensions": null, "exclude_paths": null, "max_file_size": null,
        "scan_without_extension": null, "only_execute_access": null});
    assert_eq!(cifs(nulls), oa);
    let od = unix(json!({}));
    assert_eq!(od, Scope::default_for(PathStyle::Unix));
    assert_eq!(od.max_file_size, 10_737_418_240);
    // default_max is the caller's.
    let custom = Scope::from_json(&json!({}), PathStyle::Cifs, 5000).unwrap();
    assert_eq!(custom.max_file_size, 5000);
    // Unknown fields are the REST layer's business.
    assert_eq!(cifs(json!({"bogus": 1})), oa);
}

#[test]
fn from_json_reads_every_field() {
    let s = cifs(json!({
        "include_extensions": ["exe", "d?c"],
        "exclude_extensions": ["tmp"],
        "exclude_paths": ["\\vol\\a", "\\vol\\b\\"],
        "max_file_size": 1024,
        "scan_without_extension": false,
        "only_execute_access": true,
        "scan_readonly_volumes": true
    }));
    assert_eq!(s.include_extensions, vec!["exe", "d?c"]);
    assert_eq!(s.exclude_extensions, vec!["tmp"]);
    let paths: Vec<&str> = s.exclude_paths.iter().map(ExcludePath::as_str).collect();
    assert_eq!(paths, vec!["\\vol\\a", "\\vol\\b\\"]);
    assert_eq!(s.max_file_size, 1024);
    assert!(!s.scan_without_extension);
    assert!(s.only_execute_access);
    assert!(s.scan_readonly_volumes);
}

fn cifs_err(json: Value) -> ScopeError {
    Scope::from_json(&json, PathStyle::Cifs, ON_ACCESS_DEFAULT_MAX).unwrap_err()
}

#[test]
fn from_json_errors_and_codes() {
    let e = cifs_err(json!({"include_extensions": []}));
    assert_eq!(e, ScopeError::EmptyInclude);
    assert_eq!(e.ontap_code(), 10027107);
    assert_eq!(e.target(), "scope.include_extensions");

    for bad in [
        json!(0),
        json!(1023),
        json!(1_099_511_627_777u64),
        json!(-1),
        json!(1e30),
    ] {
        let e = cifs_err(json!({ "max_file_size": bad }));
        assert!(matches!(e, ScopeError::FileSize { .. }), "{bad}: {e:?}");
        assert_eq!(e.ontap_code(), 10027101);
        assert!(e.to_string().contains(&bad.to_string()), "{e}");
    }
    assert_eq!(cifs(json!({"max_file_size": 1024})).max_file_size, 1024);
    assert_eq!(
        cifs(json!({"max_file_size": MAX_FILE_SIZE})).max_file_size,
        MAX_FILE_SIZE
    );
    for bad in [json!(1024.5), json!("1024"), json!(true)] {
        let e = cifs_err(json!({ "max_file_size": bad }));
        assert!(matches!(e, ScopeError::WrongType { .. }), "{bad}: {e:?}");
    }

    let e = cifs_err(json!({"exclude_paths": ["vol\\a"]}));
    assert!(matches!(e, ScopeError::BadCifsPath { .. }));
    assert_eq!(e.ontap_code(), 10027109);
    assert!(e.to_string().contains("\"vol\\a\""), "{e}");
    let e = Scope::from_json(
        &json!({"exclude_paths": ["vol/a"]}),
        PathStyle::Unix,
        ON_DEMAND_DEFAULT_MAX,
    )
    .unwrap_err();
    assert!(matches!(e, ScopeError::BadUnixPath { .. }));
    assert_eq!(e.ontap_code(), 10027174);

    let many: Vec<String> = (0..101).map(|i| format!("\\p{i}")).collect();
    let e = cifs_err(json!({ "exclude_paths": many }));
    assert_eq!(e, ScopeError::TooManyPaths { count: 101 });
    assert_eq!(e.ontap_code(), 10027253);
    assert_eq!(
        cifs(json!({ "exclude_paths": &many[..100] }))
            .exclude_paths
            .len(),
        100
    );
    // Count is checked before entries.
    let bad_many: Vec<&str> = vec!["nope"; 101];
    assert_eq!(
        cifs_err(json!({ "exclude_paths": bad_many })),
        ScopeError::TooManyPaths { count: 101 }
    );

    let many: Vec<String> = (0..101).map(|i| format!("e{i}")).collect();
    for field in ["include_extensions", "exclude_extensions"] {
        let e = cifs_err(json!({ field: many }));
        assert!(
            matches!(e, ScopeError::TooManyExtensions { field: f, count: 101 } if f == field),
            "{e:?}"
        );
        assert_eq!(e.ontap_code(), 10027254);
        assert!(e.to_string().contains(field));
        assert_eq!(cifs(json!({ field: &many[..100] })).exclude_paths.len(), 0);
    }
    // 100 per list, not combined.
    cifs(json!({"include_extensions": &many[..100], "exclude_extensions": &many[..100]}));

    let e = cifs_err(json!({"exclude_extensions": [".txt"]}));
    assert!(
        matches!(&e, ScopeError::BadExtension { field: Some("exclude_extensions"), value, .. } if value == ".txt")
    );
    assert_eq!(e.ontap_code(), 262197);
    assert_eq!(e.target(), "scope.exclude_extensions");
    assert!(
        e.to_string().contains("\".txt\" in exclude_extensions"),
        "{e}"
    );

    for (json, field) in [
        (json!([]), "scope"),
        (json!("x"), "scope"),
        (json!({"include_extensions": "exe"}), "include_extensions"),
        (
            json!({"include_extensions": ["exe", 1]}),
            "include_extensions",
        ),
        (json!({"exclude_paths": [null]}), "exclude_paths"),
        (
            json!({"scan_without_extension": "yes"}),
            "scan_without_extension",
        ),
        (json!({"only_execute_access": 1}), "only_execute_access"),
        (
            json!({"scan_readonly_volumes": []}),
            "scan_readonly_volumes",
        ),
    ] {
        let e = cifs_err(json.clone());
        assert!(
            matches!(e, ScopeError::WrongType { field: f, .. } if f == field),
            "{json}: {e:?}"
        );
        assert_eq!(e.ontap_code(), 262197);
    }
}

#[test]
fn extension_entries() {
    for ok in [
        "exe",
        "*",
        "?",
        "mp*",
        "vmdk?",
        "a b",
        "ÄÖÜ",
        "abcdefghijklmnop",
        "tar-gz",
        "é",
    ] {
        assert_eq!(check_extension(ok), Ok(()), "{ok:?}");
    }
    for bad in [
        "",
        "abcdefghijklmnopq",
        ".txt",
        "tar.gz",
        ".",
        "a/b",
        "a\\b",
        " ",
        "\t",
        "  ",
        "a\u{0}",
        "a\nb",
        "\u{7f}",
    ] {
        let e = check_extension(bad).unwrap_err();
        assert!(
            matches!(&e, ScopeError::BadExtension { field: None, value, .. } if value == bad),
            "{bad:?}"
        );
    }
    // Characters, not bytes: 16 two-byte characters are fine.
    assert_eq!(check_extension(&"é".repeat(16)), Ok(()));
    assert!(check_extension(&"é".repeat(17)).is_err());
    // Control characters are escaped in the message.
    let msg = check_extension("a\nb").unwrap_err().to_string();
    assert!(msg.contains("a\\nb") && !msg.contains('\n'), "{msg}");
}

#[test]
fn exclude_path_syntax() {
    for ok in [
        "\\vol",
        "\\vol\\",
        "\\vol\\a",
        "\\vol\\a\\",
        "\\vol\\a b",
        "\\vol\\a,b\\",
        "\\vol\\*",
        "\\vol\\d?r\\*.tmp",
        "\\ ",
        "\\…\\ü",
    ] {
        let p = ExcludePath::parse(ok, PathStyle::Cifs).unwrap();
        assert_eq!(p.as_str(), ok);
        assert_eq!(p.to_string(), ok);
        assert_eq!(p.style(), PathStyle::Cifs);
        let u = ok.replace('\\', "/");
        assert_eq!(ExcludePath::parse(&u, PathStyle::Unix).unwrap().as_str(), u);
    }
    let max = format!("\\{}", "a".repeat(254));
    assert!(ExcludePath::parse(&max, PathStyle::Cifs).is_ok());
    let max_chars = format!("\\{}", "é".repeat(254));
    assert!(ExcludePath::parse(&max_chars, PathStyle::Cifs).is_ok());

    let too_long = format!("\\{}", "a".repeat(255));
    for (bad, why) in [
        ("", "empty"),
        ("\\", "names no directory"),
        ("\\\\", "names no directory"),
        ("vol\\a", "does not start with '\\'"),
        ("/vol/a", "contains '/'"),
        ("\\vol/a", "contains '/'"),
        ("\\vol\\\\a", "empty component"),
        ("\\\\vol", "empty component"),
        ("\\vol\\a\\\\", "empty component"),
        ("\\vol\\.\\a", "'.' component"),
        ("\\vol\\..\\a", "'..' component"),
        ("\\..", "'..' component"),
        ("\\vol\\a\u{0}", "control character"),
        ("\\vol\\a\tb", "control character"),
        (too_long.as_str(), "longer than 255"),
    ] {
        let e = ExcludePath::parse(bad, PathStyle::Cifs).unwrap_err();
        match &e {
            ScopeError::BadCifsPath { path, reason } => {
                assert_eq!(path, bad);
                assert!(reason.contains(why), "{bad:?}: {reason}");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    for (bad, why) in [
        ("", "empty"),
        ("/", "names no directory"),
        ("vol/a", "does not start with '/'"),
        ("\\vol\\a", "contains '\\'"),
        ("/vol//a", "empty component"),
        ("/vol/../a", "'..' component"),
    ] {
        match ExcludePath::parse(bad, PathStyle::Unix).unwrap_err() {
            ScopeError::BadUnixPath { path, reason } => {
                assert_eq!(path, bad);
                assert!(reason.contains(why), "{bad:?}: {reason}");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn cifs_and_unix_forms_exclude_the_same_files() {
    let pairs = [
        ("\\vol\\a", "/vol/a"),
        ("\\vol\\a\\", "/vol/a/"),
        ("\\v*\\?", "/v*/?"),
    ];
    let files = [
        "/vol", "/vol/a", "/vol/a/b", "/vol/b", "/vx/a", "/vx/ab", "/v/a/b/c",
    ];
    for (c, u) in pairs {
        let c = ExcludePath::parse(c, PathStyle::Cifs).unwrap();
        let u = ExcludePath::parse(u, PathStyle::Unix).unwrap();
        for f in files {
            let f = normalize(f);
            assert_eq!(c.covers(&f), u.covers(&f), "{c} vs {u} on {f:?}");
        }
    }
}

#[test]
fn glob() {
    let cases = [
        ("*", "", true),
        ("*", "abc", true),
        ("", "", true),
        ("", "a", false),
        ("a", "", false),
        ("?", "", false),
        ("?", "é", true),
        ("??", "é", false),
        ("a*", "a", true),
        ("a*b", "ab", true),
        ("a*b", "axxb", true),
        ("a*b", "axxbx", false),
        ("a*b*c", "abbbc", true),
        ("*a", "bbba", true),
        ("*a", "bbbab", false),
        ("**", "x", true),
        ("*?*", "", false),
        ("*?*", "x", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*ab*ab", "abab", true),
        ("*ab*ab", "aabxab", true),
        ("*ab*ab", "abxa", false),
    ];
    for (p, t, m) in cases {
        assert_eq!(glob_match(p, t, false), m, "{p:?} vs {t:?}");
    }
    assert!(glob_match("EXE", "exe", true));
    assert!(!glob_match("EXE", "exe", false));
    // Only ASCII folds.
    assert!(!glob_match("É", "é", true));
}

#[test]
fn glob_has_no_exponential_backtracking() {
    let pattern = format!("{}b", "*a".repeat(30));
    let text = "a".repeat(100_000);
    let start = std::time::Instant::now();
    assert!(!glob_match(&pattern, &text, true));
    assert!(glob_match(&pattern, &format!("{text}b"), true));
    // An exponential matcher would not finish; linear-ish takes milliseconds.
    assert!(start.elapsed() < std::time::Duration::from_secs(5));

    // The same through the public API: a 16-character pattern and a 255-byte extension.
    let scope = cifs(json!({"include_extensions": ["*a*a*a*a*a*a*a*b"]}));
    let name = format!("/f.{}", "a".repeat(250));
    assert!(!scope.decide(&file(&name)).is_scan());
    let path = format!("\\{}b", "*a".repeat(100));
    let ex = ExcludePath::parse(&path, PathStyle::Cifs).unwrap();
    assert!(!ex.covers(&["a".repeat(255).as_str()]));
}

#[test]
fn extension_fn() {
    assert_eq!(extension("a.txt"), Some("txt"));
    assert_eq!(extension("a.b.c"), Some("c"));
    assert_eq!(extension(".bashrc"), None);
    assert_eq!(extension(".a.b"), Some("b"));
    assert_eq!(extension("file."), None);
    assert_eq!(extension("."), None);
    assert_eq!(extension(".."), None);
    assert_eq!(extension("noext"), None);
    assert_eq!(extension(""), None);
}

#[test]
fn skip_reasons_read_as_sentences() {
    let reasons = [
        SkipReason::ReadOnlyVolume,
        SkipReason::NotExecuteAccess,
        SkipReason::TooLarge { size: 5, max: 4 },
        SkipReason::ExcludedPath {
            exclude_path: "\\vol\\a".into(),
        },
        SkipReason::ExcludedExtension {
            extension: "mp3".into(),
            pattern: "mp*".into(),
        },
        SkipReason::ExtensionNotIncluded {
            extension: "pdf".into(),
        },
        SkipReason::NoExtension,
    ];
    for r in reasons {
        let s = r.to_string();
        assert!(s.starts_with("because "), "{s}");
    }
    assert_eq!(
        SkipReason::ExcludedExtension {
            extension: "mp3".into(),
            pattern: "mp*".into()
        }
        .to_string(),
        "because its extension \"mp3\" matches the policy's exclude_extensions entry \"mp*\""
    );
    assert_eq!(
        SkipReason::ExcludedPath {
            exclude_path: "\\vol\\a".into()
        }
        .to_string(),
        "because its path is excluded by the policy's exclude_paths entry \"\\vol\\a\""
    );
}

#[test]
fn validate_catches_hand_built_scopes() {
    let mut s = Scope::default_for(PathStyle::Cifs);
    assert_eq!(s.validate(), Ok(()));
    s.max_file_size = 10;
    assert!(matches!(s.validate(), Err(ScopeError::FileSize { .. })));
    s.max_file_size = 2048;
    s.include_extensions.clear();
    assert_eq!(s.validate(), Err(ScopeError::EmptyInclude));
    // An invalid hand-built scope still decides without panicking.
    s.exclude_extensions = vec![String::new(), "*".into()];
    assert!(!s.decide(&file("/a.b")).is_scan());
}

#[test]
fn worst_case_decide_stays_cheap() {
    // Largest valid scope against the longest Linux file name, with patterns whose middle
    // part has to be tried at every position of the component.
    let half = "a".repeat(126);
    let paths = vec![format!("\\*{half}b*"); MAX_EXCLUDE_PATHS];
    let exts = vec!["*aaaaaaaaaa?b*"; MAX_EXTENSIONS];
    let scope = cifs(json!({
        "exclude_paths": paths, "include_extensions": exts, "exclude_extensions": exts
    }));
    let name = format!("/{}.{}", "a".repeat(200), "a".repeat(54));
    let start = std::time::Instant::now();
    for _ in 0..10 {
        assert_eq!(
            scope.decide(&file(&name)),
            Decision::Skip(SkipReason::ExtensionNotIncluded {
                extension: "a".repeat(54)
            })
        );
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

/// Exponential but obviously right; the reference for `glob_match`.
fn reference_glob(p: &[char], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => (0..=t.len()).any(|i| reference_glob(rest, &t[i..])),
        Some((&c, rest)) => match t.split_first() {
            Some((&d, t_rest)) => (c == '?' || c == d) && reference_glob(rest, t_rest),
            None => false,
        },
    }
}

/// Every pattern over `a b * ?` up to 5 characters against every text over `a b é` up to
/// 5 characters (the `é` takes the non-ASCII path).
#[test]
fn glob_agrees_with_reference() {
    fn all(alphabet: &[char], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..max {
            layer = layer
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            out.extend(layer.iter().cloned());
        }
        out
    }
    let patterns = all(&['a', 'b', '*', '?'], 5);
    let texts = all(&['a', 'b', 'é'], 5);
    for p in &patterns {
        let pc: Vec<char> = p.chars().collect();
        for t in &texts {
            let tc: Vec<char> = t.chars().collect();
            assert_eq!(
                glob_match(p, t, false),
                reference_glob(&pc, &tc),
                "{p:?} vs {t:?}"
            );
        }
    }
}
