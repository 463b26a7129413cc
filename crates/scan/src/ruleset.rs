//! A compiled rule set: YARA-X rules plus ClamAV hash lists, with the serial and date that
//! VERSION reports.
//!
//! Sources: the built-in rules (compiled into the binary) and every `*.yar`/`*.yara`,
//! `*.hdb` and `*.hsb` file directly inside the rules directory. Each YARA file gets its
//! own namespace (its file name) so two feeds may reuse rule identifiers.
//!
//! Serial and date: the serial is the newest modification time (unix seconds) among the
//! sources, the built-in ones counting as [`BUILTIN_RULES_TIME`]; the date is that instant.
//! Both therefore move forward whenever a rule file changes, which is what c-icap needs
//! to renew its ISTag.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::hashdb::HashDb;

const BUILTIN_YARA: &str = include_str!("../rules/default.yar");
const BUILTIN_HDB: &str = include_str!("../rules/default.hdb");
/// When the built-in rules last changed (2026-11-22 00:00:00 UTC).
pub const BUILTIN_RULES_TIME: u64 = 1_795_305_600;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read rules directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read rule file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rule file {path} does not compile: {message}")]
    Compile { path: String, message: String },
    #[error(transparent)]
    HashDb(#[from] crate::hashdb::HashDbError),
    #[error("no rules loaded: the built-in rules are off and {0} holds no rule files")]
    Empty(PathBuf),
}

/// Where rules come from.
#[derive(Debug, Clone, Default)]
pub struct RuleSources {
    pub dir: Option<PathBuf>,
    pub builtin: bool,
}

pub struct Ruleset {
    pub(crate) yara: yara_x::Rules,
    pub(crate) hashes: HashDb,
    pub serial: u64,
    /// Unix seconds of the newest source.
    pub time: u64,
    pub yara_rule_count: usize,
}

impl std::fmt::Debug for Ruleset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ruleset")
            .field("serial", &self.serial)
            .field("yara_rules", &self.yara_rule_count)
            .field("hashes", &self.hashes.len())
            .finish()
    }
}

fn mtime_secs(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

impl Ruleset {
    pub fn load(sources: &RuleSources) -> Result<Ruleset, RulesError> {
        let mut compiler = yara_x::Compiler::new();
        let mut hashes = HashDb::default();
        let mut newest = 0u64;
        let mut source_count = 0usize;
        let add_yara =
            |compiler: &mut yara_x::Compiler, namespace: &str, text: &str, origin: &str| {
                compiler.new_namespace(namespace);
                compiler
                    .add_source(yara_x::SourceCode::from(text).with_origin(origin))
                    .map(|_| ())
                    .map_err(|e| RulesError::Compile {
                        path: origin.to_string(),
                        message: e.to_string(),
                    })
            };
        if sources.builtin {
            add_yara(
                &mut compiler,
                "vigil_builtin",
                BUILTIN_YARA,
                "builtin:default.yar",
            )?;
            hashes.load(BUILTIN_HDB, "builtin:default.hdb")?;
            newest = BUILTIN_RULES_TIME;
            source_count += 1;
        }
        if let Some(dir) = &sources.dir {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|source| RulesError::Dir {
                    path: dir.clone(),
                    source,
                })?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .collect();
            // Deterministic order: namespaces and duplicate-hash precedence do not depend
            // on directory order.
            files.sort();
            for path in files {
                let Some(kind) = RuleFileKind::of(&path) else {
                    continue;
                };
                let meta = std::fs::metadata(&path).map_err(|source| RulesError::File {
                    path: path.clone(),
                    source,
                })?;
                if !meta.is_file() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).map_err(|source| RulesError::File {
                    path: path.clone(),
                    source,
                })?;
                let origin = path.display().to_string();
                match kind {
                    RuleFileKind::Yara => {
                        let namespace = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        add_yara(&mut compiler, &namespace, &text, &origin)?;
                    }
                    RuleFileKind::Hashes => hashes.load(&text, &origin)?,
                }
                newest = newest.max(mtime_secs(&meta));
                source_count += 1;
            }
        }
        if source_count == 0 {
            return Err(RulesError::Empty(sources.dir.clone().unwrap_or_default()));
        }
        let yara = compiler.build();
        let yara_rule_count = yara.iter().len();
        Ok(Ruleset {
            yara,
            hashes,
            serial: newest,
            time: newest,
            yara_rule_count,
        })
    }

    /// The date part of VERSION, in clamd's `ctime` shape: `Sun Nov 22 09:31:17 2026`.
    pub fn date_string(&self) -> String {
        chrono::DateTime::from_timestamp(self.time as i64, 0)
            .map(|t| t.format("%a %b %e %H:%M:%S %Y").to_string())
            .unwrap_or_default()
    }
}

enum RuleFileKind {
    Yara,
    Hashes,
}

impl RuleFileKind {
    fn of(path: &Path) -> Option<RuleFileKind> {
        match path.extension()?.to_str()? {
            "yar" | "yara" => Some(RuleFileKind::Yara),
            "hdb" | "hsb" => Some(RuleFileKind::Hashes),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_compile() {
        let rules = Ruleset::load(&RuleSources {
            dir: None,
            builtin: true,
        })
        .expect("builtin rules");
        assert!(rules.yara_rule_count >= 5);
        assert_eq!(rules.serial, BUILTIN_RULES_TIME);
        assert_eq!(rules.date_string(), "Sun Nov 22 00:00:00 2026");
    }

    #[test]
    fn directory_rules_add_to_builtin_and_bad_rules_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("extra.yar"),
            "rule extra { strings: $a = \"vigil-extra\" condition: $a }",
        )
        .expect("write");
        std::fs::write(dir.path().join("notes.txt"), "ignored").expect("write");
        let rules = Ruleset::load(&RuleSources {
            dir: Some(dir.path().to_path_buf()),
            builtin: true,
        })
        .expect("rules");
        assert!(rules.serial > BUILTIN_RULES_TIME);
        std::fs::write(
            dir.path().join("broken.yar"),
            "rule broken { condition: nonsense }",
        )
        .expect("write");
        let err = Ruleset::load(&RuleSources {
            dir: Some(dir.path().to_path_buf()),
            builtin: true,
        })
        .expect_err("broken rule must fail");
        assert!(err.to_string().contains("broken.yar"), "{err}");
        let empty = tempfile::tempdir().expect("tempdir");
        assert!(
            Ruleset::load(&RuleSources {
                dir: Some(empty.path().to_path_buf()),
                builtin: false
            })
            .is_err()
        );
    }
}
