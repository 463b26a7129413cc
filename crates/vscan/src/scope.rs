//! Scope evaluation: should Vigil scan this file under this policy?
//!
//! A Vscan policy's `scope` (on-access or on-demand) narrows which files are sent to a
//! scan server. [`Scope::from_json`] turns the REST `scope` object into a validated
//! [`Scope`]; [`Scope::decide`] answers "scan" or "skip, because ..." for one file.
//!
//! # Decisions
//!
//! These are the rules, including the ones ONTAP's documentation leaves open. The same
//! text, for operators, is in `docs/vscan.md` ("Scope evaluation").
//!
//! * **Extension.** The text after the last `.` of the final path component. A name whose
//!   only dot is its first character (`.bashrc`) and a name ending in a dot (`file.`) have
//!   no extension; `.config.json` has `json`, `a.tar.gz` has `gz`.
//! * **Extension matching** is ASCII case-insensitive (`EXE` matches `exe`; SMB clients see
//!   names case-insensitively), non-ASCII characters compare exactly. Patterns match the
//!   whole extension: `*` matches any run of characters (also none), `?` exactly one
//!   character. `mp*` matches `mp`, `mp3` and `mp4`; `vmdk?` matches `vmdk1` but not `vmdk`.
//!   There is no escape: a literal `*` or `?` in an extension is matched by the wildcard.
//!   The matcher never backtracks exponentially: linear for patterns with at most one
//!   `*`, O(name × part) for a part between two `*`s. With names of at most 255 bytes
//!   (Linux `NAME_MAX`) and 100 pathological exclusions a decision costs about 2 ms.
//! * **Exclude beats include.** A file whose extension matches any `exclude_extensions`
//!   entry is skipped even if `include_extensions` also matches it. Otherwise it is
//!   scanned only if some `include_extensions` entry matches.
//! * **No extension.** Files without an extension are governed only by
//!   `scan_without_extension`; neither extension list applies to them (`*` in
//!   `include_extensions` does not pull them in).
//! * **Exclude paths** name a directory or file by its path from the SVM root. On-access
//!   policies write them CIFS-style with `\` ([`PathStyle::Cifs`]), on-demand policies
//!   Unix-style with `/` ([`PathStyle::Unix`]); both denote the same namespace path
//!   (`\vol1\a` ≡ `/vol1/a`). `\a\b\name` excludes `name` itself and everything below it;
//!   `\a\b\name\` (trailing separator) excludes only what is below `name`. The trailing
//!   separator means the same in the Unix form (`/a/b/name/`). Matching is per component:
//!   `\vol\a` does not exclude `/vol/ab`. `*` and `?` are wildcards inside one component and
//!   never cross a separator (`\vol\*\tmp` excludes `/vol/x/tmp` but not `/vol/x/y/tmp`),
//!   as in ONTAP 9.14.1 and later.
//! * **Path matching is case-sensitive**, because the SVM namespace is a Linux file system
//!   where `Dir` and `dir` are different directories. This is stricter than a Windows
//!   server; an exclusion must be written with the names' real case.
//! * **Exclude path syntax.** At most 255 characters; CIFS form must start with `\` and may
//!   not contain `/`, Unix form must start with `/` and may not contain `\` (so each form
//!   has one separator and the two stay equivalent). At least one component; no empty
//!   components (`\a\\b`), no `.` or `..` components, no control characters. Spaces,
//!   commas and any other characters are legal inside a component.
//! * **File paths given to [`Scope::decide`]** are `/`-separated from the SVM root. They are
//!   normalized lexically before path matching: empty and `.` components are dropped and
//!   `..` removes the previous component (never going above the root), so
//!   `/vol/a/../b` is matched as `/vol/b`. The caller should pass the path of the file
//!   actually opened; no symbolic links are resolved here.
//! * **Size.** A file larger than `max_file_size` is skipped; a file of exactly
//!   `max_file_size` bytes is scanned. `max_file_size` must be within
//!   [`MIN_FILE_SIZE`]`..=`[`MAX_FILE_SIZE`] (1 KiB to 1 TiB).
//! * **Access and volume.** With `only_execute_access`, files not opened for execute are
//!   skipped. Files on read-only volumes are skipped unless `scan_readonly_volumes`.
//!   On-demand scopes ([`PathStyle::Unix`]) have neither field in ONTAP: an on-demand task
//!   scans what it walks, so [`Scope::from_json`] ignores those two fields for
//!   [`PathStyle::Unix`] and sets `only_execute_access = false`,
//!   `scan_readonly_volumes = true`.
//! * **Order of checks** (only the reported reason depends on it; any failing check
//!   skips): read-only volume, execute access, size, exclude paths (in list order),
//!   extension.
//! * **Validation** ([`Scope::from_json`]): absent or `null` fields take ONTAP's defaults;
//!   fields this module does not know are ignored (the REST layer rejects unknown fields).
//!   `include_extensions` must not be empty; each list holds at most 100 entries
//!   ([`MAX_EXTENSIONS`], [`MAX_EXCLUDE_PATHS`], counted per list); extension entries are
//!   checked by [`check_extension`]. Duplicates are allowed.

use std::fmt;

use serde_json::Value;

/// Default `max_file_size` of an on-access policy (2 GiB).
pub const ON_ACCESS_DEFAULT_MAX: u64 = 2 * 1024 * 1024 * 1024;
/// Default `max_file_size` of an on-demand policy (10 GiB).
pub const ON_DEMAND_DEFAULT_MAX: u64 = 10 * 1024 * 1024 * 1024;
/// Smallest accepted `max_file_size` (1 KiB).
pub const MIN_FILE_SIZE: u64 = 1024;
/// Largest accepted `max_file_size` (1 TiB).
pub const MAX_FILE_SIZE: u64 = 1_099_511_627_776;
/// Most entries in `exclude_paths`.
pub const MAX_EXCLUDE_PATHS: usize = 100;
/// Most entries in `include_extensions`, and separately in `exclude_extensions`.
pub const MAX_EXTENSIONS: usize = 100;
/// Longest extension entry, in characters.
pub const MAX_EXTENSION_LEN: usize = 16;
/// Longest exclude path, in characters.
pub const MAX_PATH_LEN: usize = 255;

/// Which exclude-path syntax a policy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathStyle {
    /// On-access policies: `\dir1\dir2` or `\dir1\dir2\`.
    Cifs,
    /// On-demand policies: `/dir1/dir2`.
    Unix,
}

impl PathStyle {
    fn separator(self) -> char {
        match self {
            PathStyle::Cifs => '\\',
            PathStyle::Unix => '/',
        }
    }

    fn default_max(self) -> u64 {
        match self {
            PathStyle::Cifs => ON_ACCESS_DEFAULT_MAX,
            PathStyle::Unix => ON_DEMAND_DEFAULT_MAX,
        }
    }
}

/// Why a scope is invalid. Each variant maps to one ONTAP error code ([`Self::ontap_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// 10027107.
    #[error("include_extensions must not be empty; use [\"*\"] to scan files with any extension")]
    EmptyInclude,
    /// 10027101. `value` is the number as given (it may be negative or too big for `u64`).
    #[error(
        "max_file_size {value} is outside the allowed range {MIN_FILE_SIZE} to {MAX_FILE_SIZE} bytes (1 KiB to 1 TiB)"
    )]
    FileSize { value: String },
    /// 10027109.
    #[error(
        "exclude path \"{}\" is invalid: {reason}; on-access exclude paths have the form \\dir1\\dir2 (the directory or file and everything below it) or \\dir1\\dir2\\ (only what is below it)",
        shown(.path)
    )]
    BadCifsPath { path: String, reason: String },
    /// 10027174.
    #[error(
        "exclude path \"{}\" is invalid: {reason}; on-demand exclude paths have the form /dir1/dir2, from the SVM root",
        shown(.path)
    )]
    BadUnixPath { path: String, reason: String },
    /// 10027253.
    #[error("exclude_paths has {count} entries; at most {MAX_EXCLUDE_PATHS} are allowed")]
    TooManyPaths { count: usize },
    /// 10027254.
    #[error("{field} has {count} entries; at most {MAX_EXTENSIONS} are allowed")]
    TooManyExtensions { field: &'static str, count: usize },
    /// 262197 (ONTAP's generic "invalid value for a field"). `field` is `None` when the
    /// entry was checked on its own with [`check_extension`].
    #[error("invalid file extension \"{}\"{}: {reason}", shown(.value), in_field(.field))]
    BadExtension {
        field: Option<&'static str>,
        value: String,
        reason: &'static str,
    },
    /// 262197. A field of the `scope` object has the wrong JSON type.
    #[error("scope field {field} must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
}

impl ScopeError {
    /// The ONTAP error code the REST API should answer with.
    pub fn ontap_code(&self) -> u64 {
        match self {
            ScopeError::EmptyInclude => 10027107,
            ScopeError::FileSize { .. } => 10027101,
            ScopeError::BadCifsPath { .. } => 10027109,
            ScopeError::BadUnixPath { .. } => 10027174,
            ScopeError::TooManyPaths { .. } => 10027253,
            ScopeError::TooManyExtensions { .. } => 10027254,
            ScopeError::BadExtension { .. } | ScopeError::WrongType { .. } => 262197,
        }
    }

    /// The REST field the error is about (for the error body's `target`).
    pub fn target(&self) -> &'static str {
        match self {
            ScopeError::EmptyInclude => "scope.include_extensions",
            ScopeError::FileSize { .. } => "scope.max_file_size",
            ScopeError::BadCifsPath { .. }
            | ScopeError::BadUnixPath { .. }
            | ScopeError::TooManyPaths { .. } => "scope.exclude_paths",
            ScopeError::TooManyExtensions { field, .. } => scoped(field),
            ScopeError::BadExtension { field, .. } => scoped(field.unwrap_or("")),
            ScopeError::WrongType { field, .. } => scoped(field),
        }
    }
}

fn scoped(field: &str) -> &'static str {
    match field {
        "include_extensions" => "scope.include_extensions",
        "exclude_extensions" => "scope.exclude_extensions",
        "exclude_paths" => "scope.exclude_paths",
        "max_file_size" => "scope.max_file_size",
        "scan_without_extension" => "scope.scan_without_extension",
        "only_execute_access" => "scope.only_execute_access",
        "scan_readonly_volumes" => "scope.scan_readonly_volumes",
        _ => "scope",
    }
}

fn in_field(field: &Option<&'static str>) -> String {
    field.map(|f| format!(" in {f}")).unwrap_or_default()
}

/// A value for an error message: control characters escaped (they would garble a log
/// line or a terminal) and very long values cut short.
fn shown(s: &str) -> String {
    const LIMIT: usize = 80;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == LIMIT {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks one `include_extensions` / `exclude_extensions` entry: 1 to 16 characters,
/// `*` and `?` allowed, no `.`, `/`, `\` or control characters, not only whitespace.
pub fn check_extension(ext: &str) -> Result<(), ScopeError> {
    extension_problem(ext).map_or(Ok(()), |reason| {
        Err(ScopeError::BadExtension {
            field: None,
            value: ext.to_owned(),
            reason,
        })
    })
}

fn extension_problem(ext: &str) -> Option<&'static str> {
    if ext.is_empty() {
        return Some("it is empty");
    }
    if ext.chars().count() > MAX_EXTENSION_LEN {
        return Some("it is longer than 16 characters");
    }
    if ext.chars().any(char::is_control) {
        return Some("it contains a control character");
    }
    if ext.trim().is_empty() {
        return Some("it is only whitespace");
    }
    if ext.contains('.') {
        // The extension is what follows the last dot, so an entry with a dot never matches.
        return Some("it contains '.'; give the extension without the dot (txt, not .txt)");
    }
    if ext.contains(['/', '\\']) {
        return Some("it contains a path separator");
    }
    None
}

/// One parsed `exclude_paths` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludePath {
    original: String,
    style: PathStyle,
    components: Vec<String>,
    /// Trailing separator: only what is below the named directory is excluded.
    contents_only: bool,
}

impl ExcludePath {
    /// Parses and validates an exclude path in the given style.
    pub fn parse(s: &str, style: PathStyle) -> Result<ExcludePath, ScopeError> {
        let err = |reason: String| match style {
            PathStyle::Cifs => ScopeError::BadCifsPath {
                path: s.to_owned(),
                reason,
            },
            PathStyle::Unix => ScopeError::BadUnixPath {
                path: s.to_owned(),
                reason,
            },
        };
        let sep = style.separator();
        let other = match style {
            PathStyle::Cifs => '/',
            PathStyle::Unix => '\\',
        };
        if s.is_empty() {
            return Err(err("it is empty".into()));
        }
        if s.chars().count() > MAX_PATH_LEN {
            return Err(err(format!("it is longer than {MAX_PATH_LEN} characters")));
        }
        if s.chars().any(char::is_control) {
            return Err(err("it contains a control character".into()));
        }
        if s.contains(other) {
            return Err(err(format!(
                "it contains '{other}'; separate directories with '{sep}'"
            )));
        }
        let Some(rest) = s.strip_prefix(sep) else {
            return Err(err(format!(
                "it does not start with '{sep}' (paths are from the SVM root)"
            )));
        };
        let (rest, contents_only) = match rest.strip_suffix(sep) {
            Some(r) => (r, true),
            None => (rest, false),
        };
        if rest.is_empty() {
            return Err(err("it names no directory".into()));
        }
        let mut components = Vec::new();
        for c in rest.split(sep) {
            match c {
                "" => return Err(err(format!("it has an empty component ('{sep}{sep}')"))),
                "." | ".." => return Err(err(format!("it has a '{c}' component"))),
                _ => components.push(c.to_owned()),
            }
        }
        Ok(ExcludePath {
            original: s.to_owned(),
            style,
            components,
            contents_only,
        })
    }

    /// The path exactly as given.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The style it was parsed with.
    pub fn style(&self) -> PathStyle {
        self.style
    }

    /// Whether this exclusion covers a file whose normalized path components are `file`.
    fn covers(&self, file: &[&str]) -> bool {
        let n = self.components.len();
        let deep_enough = if self.contents_only {
            file.len() > n
        } else {
            file.len() >= n
        };
        deep_enough
            && self
                .components
                .iter()
                .zip(file)
                .all(|(pat, name)| glob_match(pat, name, false))
    }
}

impl fmt::Display for ExcludePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// A policy's scope, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub include_extensions: Vec<String>,
    pub exclude_extensions: Vec<String>,
    pub exclude_paths: Vec<ExcludePath>,
    pub max_file_size: u64,
    pub scan_without_extension: bool,
    pub only_execute_access: bool,
    pub scan_readonly_volumes: bool,
}

/// One file access to decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAccess<'a> {
    /// Path from the SVM root, `/`-separated, starting with `/`.
    pub path: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// Opened with execute intent.
    pub execute: bool,
    /// The file's volume is read-only.
    pub readonly_volume: bool,
}

/// The outcome of [`Scope::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Scan,
    Skip(SkipReason),
}

impl Decision {
    pub fn is_scan(&self) -> bool {
        matches!(self, Decision::Scan)
    }
}

/// Why a file is not scanned. `Display` reads "because ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    ReadOnlyVolume,
    NotExecuteAccess,
    TooLarge {
        size: u64,
        max: u64,
    },
    /// `exclude_path` is the entry as configured.
    ExcludedPath {
        exclude_path: String,
    },
    ExcludedExtension {
        extension: String,
        pattern: String,
    },
    ExtensionNotIncluded {
        extension: String,
    },
    NoExtension,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::ReadOnlyVolume => f.write_str(
                "because the file is on a read-only volume and the policy does not scan read-only volumes (scan_readonly_volumes is false)",
            ),
            SkipReason::NotExecuteAccess => f.write_str(
                "because the file was not opened for execute and the policy scans only execute access (only_execute_access is true)",
            ),
            SkipReason::TooLarge { size, max } => write!(
                f,
                "because the file is {size} bytes, larger than the policy's max_file_size of {max} bytes"
            ),
            SkipReason::ExcludedPath { exclude_path } => write!(
                f,
                "because its path is excluded by the policy's exclude_paths entry \"{}\"",
                shown(exclude_path)
            ),
            SkipReason::ExcludedExtension { extension, pattern } => write!(
                f,
                "because its extension \"{}\" matches the policy's exclude_extensions entry \"{}\"",
                shown(extension),
                shown(pattern)
            ),
            SkipReason::ExtensionNotIncluded { extension } => write!(
                f,
                "because its extension \"{}\" matches none of the policy's include_extensions",
                shown(extension)
            ),
            SkipReason::NoExtension => f.write_str(
                "because the file has no extension and the policy does not scan files without one (scan_without_extension is false)",
            ),
        }
    }
}

impl Scope {
    /// ONTAP's default scope for a policy of this style: include `*`, no exclusions, the
    /// style's default size limit, scan files without extension; on-access
    /// ([`PathStyle::Cifs`]) scans every access on read-write volumes only, on-demand
    /// ([`PathStyle::Unix`]) also read-only volumes.
    pub fn default_for(style: PathStyle) -> Scope {
        Scope {
            include_extensions: vec!["*".to_owned()],
            exclude_extensions: Vec::new(),
            exclude_paths: Vec::new(),
            max_file_size: style.default_max(),
            scan_without_extension: true,
            only_execute_access: false,
            scan_readonly_volumes: style == PathStyle::Unix,
        }
    }

    /// From the JSON `scope` object as the REST API stores it. Absent (or `null`) fields
    /// take ONTAP's defaults, `max_file_size` defaults to `default_max`. `null` as the
    /// whole scope means all defaults. See the module docs for the rules.
    pub fn from_json(
        scope: &Value,
        style: PathStyle,
        default_max: u64,
    ) -> Result<Scope, ScopeError> {
        let obj = match scope {
            Value::Null => None,
            Value::Object(m) => Some(m),
            _ => {
                return Err(ScopeError::WrongType {
                    field: "scope",
                    expected: "an object",
                });
            }
        };
        let field = |name: &str| obj.and_then(|m| m.get(name)).filter(|v| !v.is_null());

        let mut out = Scope::default_for(style);
        out.max_file_size = default_max;

        if let Some(v) = field("include_extensions") {
            out.include_extensions = string_list(v, "include_extensions")?;
        }
        if let Some(v) = field("exclude_extensions") {
            out.exclude_extensions = string_list(v, "exclude_extensions")?;
        }
        if let Some(v) = field("exclude_paths") {
            let paths = string_list(v, "exclude_paths")?;
            // Count before parsing so an oversized list is reported as such, not by
            // whichever entry happens to be malformed.
            if paths.len() > MAX_EXCLUDE_PATHS {
                return Err(ScopeError::TooManyPaths { count: paths.len() });
            }
            out.exclude_paths = paths
                .iter()
                .map(|p| ExcludePath::parse(p, style))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = field("max_file_size") {
            out.max_file_size = file_size(v)?;
        }
        if let Some(v) = field("scan_without_extension") {
            out.scan_without_extension = boolean(v, "scan_without_extension")?;
        }
        // On-demand scopes have no such fields (see module docs), so they keep the values
        // `default_for` gave them.
        if style == PathStyle::Cifs {
            if let Some(v) = field("only_execute_access") {
                out.only_execute_access = boolean(v, "only_execute_access")?;
            }
            if let Some(v) = field("scan_readonly_volumes") {
                out.scan_readonly_volumes = boolean(v, "scan_readonly_volumes")?;
            }
        }
        out.validate()?;
        Ok(out)
    }

    /// Checks the rules [`Self::from_json`] enforces, for a `Scope` built by hand.
    pub fn validate(&self) -> Result<(), ScopeError> {
        if self.include_extensions.is_empty() {
            return Err(ScopeError::EmptyInclude);
        }
        for (field, list) in [
            ("include_extensions", &self.include_extensions),
            ("exclude_extensions", &self.exclude_extensions),
        ] {
            if list.len() > MAX_EXTENSIONS {
                return Err(ScopeError::TooManyExtensions {
                    field,
                    count: list.len(),
                });
            }
            for ext in list {
                if let Some(reason) = extension_problem(ext) {
                    return Err(ScopeError::BadExtension {
                        field: Some(field),
                        value: ext.clone(),
                        reason,
                    });
                }
            }
        }
        if self.exclude_paths.len() > MAX_EXCLUDE_PATHS {
            return Err(ScopeError::TooManyPaths {
                count: self.exclude_paths.len(),
            });
        }
        if !(MIN_FILE_SIZE..=MAX_FILE_SIZE).contains(&self.max_file_size) {
            return Err(ScopeError::FileSize {
                value: self.max_file_size.to_string(),
            });
        }
        Ok(())
    }

    /// Scan this file, or skip it and say why. Never panics, whatever the scope or path.
    pub fn decide(&self, file: &FileAccess) -> Decision {
        if file.readonly_volume && !self.scan_readonly_volumes {
            return Decision::Skip(SkipReason::ReadOnlyVolume);
        }
        if self.only_execute_access && !file.execute {
            return Decision::Skip(SkipReason::NotExecuteAccess);
        }
        if file.size > self.max_file_size {
            return Decision::Skip(SkipReason::TooLarge {
                size: file.size,
                max: self.max_file_size,
            });
        }
        let components = normalize(file.path);
        if let Some(hit) = self.exclude_paths.iter().find(|e| e.covers(&components)) {
            return Decision::Skip(SkipReason::ExcludedPath {
                exclude_path: hit.original.clone(),
            });
        }
        let Some(ext) = components.last().and_then(|name| extension(name)) else {
            return if self.scan_without_extension {
                Decision::Scan
            } else {
                Decision::Skip(SkipReason::NoExtension)
            };
        };
        if let Some(pattern) = self
            .exclude_extensions
            .iter()
            .find(|p| glob_match(p, ext, true))
        {
            return Decision::Skip(SkipReason::ExcludedExtension {
                extension: ext.to_owned(),
                pattern: pattern.clone(),
            });
        }
        if self
            .include_extensions
            .iter()
            .any(|p| glob_match(p, ext, true))
        {
            Decision::Scan
        } else {
            Decision::Skip(SkipReason::ExtensionNotIncluded {
                extension: ext.to_owned(),
            })
        }
    }
}

fn string_list(v: &Value, field: &'static str) -> Result<Vec<String>, ScopeError> {
    let wrong = ScopeError::WrongType {
        field,
        expected: "an array of strings",
    };
    let Value::Array(items) = v else {
        return Err(wrong);
    };
    items
        .iter()
        .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| wrong.clone()))
        .collect()
}

fn boolean(v: &Value, field: &'static str) -> Result<bool, ScopeError> {
    v.as_bool().ok_or(ScopeError::WrongType {
        field,
        expected: "true or false",
    })
}

fn file_size(v: &Value) -> Result<u64, ScopeError> {
    let Value::Number(n) = v else {
        return Err(ScopeError::WrongType {
            field: "max_file_size",
            expected: "an integer number of bytes",
        });
    };
    match n.as_u64() {
        Some(size) if (MIN_FILE_SIZE..=MAX_FILE_SIZE).contains(&size) => Ok(size),
        // Negative and out-of-range integers are range errors (10027101), as ONTAP reports them.
        Some(_) => Err(ScopeError::FileSize {
            value: n.to_string(),
        }),
        None if n.is_i64() => Err(ScopeError::FileSize {
            value: n.to_string(),
        }),
        None => match n.as_f64() {
            // An integer too big for u64 arrives as a float; still a range error.
            Some(f) if f.fract() == 0.0 && f.abs() > MAX_FILE_SIZE as f64 => {
                Err(ScopeError::FileSize {
                    value: n.to_string(),
                })
            }
            _ => Err(ScopeError::WrongType {
                field: "max_file_size",
                expected: "an integer number of bytes",
            }),
        },
    }
}

/// Path components of a `/`-separated path, lexically normalized (see module docs).
fn normalize(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(c),
        }
    }
    out
}

/// The extension of a file name, if it has one (see module docs).
pub fn extension(name: &str) -> Option<&str> {
    match name.rfind('.') {
        Some(0) | None => None,
        Some(i) => Some(&name[i + 1..]).filter(|e| !e.is_empty()),
    }
}

/// Wildcard match of `pattern` against all of `text`: `*` any run, `?` one character.
///
/// No backtracking: the pattern is split at its `*`s; the part before the first `*`
/// must match the start of the text, the part after the last `*` the end, and each part
/// in between is matched at its leftmost position in what remains (taking the leftmost
/// place never hurts, it leaves the most text for the rest). Cost is linear for
/// patterns with at most one `*` and O(text × part) for the parts in between; never
/// exponential.
fn glob_match(pattern: &str, text: &str, fold_case: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        // The common case, on bytes, without decoding characters.
        glob_slices(pattern.as_bytes(), text.as_bytes(), b'*', b'?', |a, b| {
            if fold_case {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        })
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        glob_slices(&p, &t, '*', '?', |a, b| {
            if fold_case {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        })
    }
}

fn glob_slices<T: Copy + PartialEq>(
    pattern: &[T],
    text: &[T],
    star: T,
    any: T,
    same: impl Fn(T, T) -> bool,
) -> bool {
    let part_matches = |part: &[T], txt: &[T]| {
        part.len() == txt.len() && part.iter().zip(txt).all(|(&p, &c)| p == any || same(p, c))
    };
    let Some(first_star) = pattern.iter().position(|&c| c == star) else {
        return part_matches(pattern, text);
    };
    let last_star = pattern
        .iter()
        .rposition(|&c| c == star)
        .unwrap_or(first_star);
    let head = &pattern[..first_star];
    let tail = &pattern[last_star + 1..];
    if head.len() + tail.len() > text.len() {
        return false;
    }
    let (text_head, rest) = text.split_at(head.len());
    let (mut window, text_tail) = rest.split_at(rest.len() - tail.len());
    if !part_matches(head, text_head) || !part_matches(tail, text_tail) {
        return false;
    }
    let middle = pattern.get(first_star + 1..last_star).unwrap_or(&[]);
    for part in middle.split(|&c| c == star).filter(|p| !p.is_empty()) {
        match window
            .windows(part.len())
            .position(|w| part_matches(part, w))
        {
            Some(at) => window = &window[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests;
