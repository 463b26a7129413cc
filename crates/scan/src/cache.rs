//! The scan cache: clean verdicts, so an unchanged file is not sent to a server again.
//!
//! An entry says "this file, in this state, was clean for these engines". It is keyed
//! by SVM, device and inode, and holds what must still match for it to count: size,
//! modification and change times (any write or `touch` moves them), the engine tag
//! (the versions of the servers that would scan now: a signature or rules update
//! changes it) and the SVM's cache generation (`cache_clear` bumps it). Only clean
//! verdicts are kept; a detection is always rescanned.
//!
//! Memory is bounded: past `capacity` entries the oldest insertions go first. The cache
//! is saved to a file (written aside, then renamed) every `save_interval` and when the
//! node stops, and loaded at start, so a restart keeps it; a crash loses at most the
//! entries of one interval, which only costs rescans.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// What identifies a file on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    svm: String,
    dev: u64,
    ino: u64,
}

/// The state of a file when it was found clean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime: i128,
    pub ctime: i128,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    stamp: Stamp,
    engine: String,
    generation: u64,
}

/// A file's identity and state, read with one `stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub stamp: Stamp,
}

impl FileId {
    pub fn of(meta: &fs::Metadata) -> FileId {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            stamp: Stamp {
                size: meta.size(),
                mtime: ns(meta.mtime(), meta.mtime_nsec()),
                ctime: ns(meta.ctime(), meta.ctime_nsec()),
            },
        }
    }
}

struct Inner {
    entries: HashMap<Key, Entry>,
    /// Insertion order for eviction; stale keys (re-inserted or removed) are skipped.
    order: VecDeque<Key>,
    dirty: bool,
}

pub struct ScanCache {
    inner: Mutex<Inner>,
    capacity: usize,
    file: Option<PathBuf>,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ScanCache {
    /// A cache of at most `capacity` entries, saved to and loaded from `file` if given.
    /// A missing or unreadable file starts an empty cache (entries are only an
    /// optimisation; losing them costs rescans, never a wrong verdict).
    pub fn open(capacity: usize, file: Option<PathBuf>) -> ScanCache {
        let cache = ScanCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                order: VecDeque::new(),
                dirty: false,
            }),
            capacity: capacity.max(1),
            file,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        };
        if let Some(path) = &cache.file {
            match cache.load(path) {
                Ok(n) if n > 0 => {
                    tracing::info!(entries = n, path = %path.display(), "scan cache loaded")
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "scan cache not loaded; starting empty")
                }
            }
        }
        cache
    }

    /// Is this file, as it is now, known clean for these engines and this generation?
    pub fn is_clean(&self, svm: &str, file: &FileId, engine: &str, generation: u64) -> bool {
        let key = Key {
            svm: svm.to_string(),
            dev: file.dev,
            ino: file.ino,
        };
        let hit = lock(&self.inner).entries.get(&key).is_some_and(|e| {
            e.stamp == file.stamp && e.engine == engine && e.generation == generation
        });
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Remembers a clean verdict.
    pub fn insert_clean(&self, svm: &str, file: &FileId, engine: &str, generation: u64) {
        let key = Key {
            svm: svm.to_string(),
            dev: file.dev,
            ino: file.ino,
        };
        let mut inner = lock(&self.inner);
        let entry = Entry {
            stamp: file.stamp.clone(),
            // One entry per line in the saved file.
            engine: engine.replace(['\n', '\r'], " "),
            generation,
        };
        if inner.entries.insert(key.clone(), entry).is_none() {
            inner.order.push_back(key);
        }
        while inner.entries.len() > self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.entries.remove(&old);
                }
                None => break,
            }
        }
        inner.dirty = true;
    }

    /// Forgets one SVM's entries (its cache was cleared, or it was deleted).
    pub fn clear_svm(&self, svm: &str) {
        let mut inner = lock(&self.inner);
        inner.entries.retain(|k, _| k.svm != svm);
        let Inner { entries, order, .. } = &mut *inner;
        order.retain(|k| entries.contains_key(k));
        inner.dirty = true;
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (hits, misses) since start.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Writes the entries to the cache file if they changed since the last save.
    pub fn save(&self) -> io::Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let lines: Vec<String> = {
            let mut inner = lock(&self.inner);
            if !inner.dirty {
                return Ok(());
            }
            inner.dirty = false;
            inner
                .order
                .iter()
                .filter_map(|k| inner.entries.get(k).map(|e| (k, e)))
                .map(|(k, e)| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                        k.svm,
                        k.dev,
                        k.ino,
                        e.stamp.size,
                        e.stamp.mtime,
                        e.stamp.ctime,
                        e.generation,
                        e.engine
                    )
                })
                .collect()
        };
        let tmp = path.with_extension("tmp");
        let mut out = BufWriter::new(File::create(&tmp)?);
        out.write_all(b"vigil-scan-cache 1\n")?;
        for line in lines {
            out.write_all(line.as_bytes())?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, path)
    }

    fn load(&self, path: &Path) -> io::Result<usize> {
        let mut lines = BufReader::new(File::open(path)?).lines();
        if lines.next().transpose()?.as_deref() != Some("vigil-scan-cache 1") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a scan cache file",
            ));
        }
        let mut loaded = 0;
        for line in lines {
            let line = line?;
            // Fields never contain tabs except the engine tag, which comes last.
            let f: Vec<&str> = line.splitn(8, '\t').collect();
            let parsed = (|| {
                Some((
                    Key {
                        svm: f.first()?.to_string(),
                        dev: f.get(1)?.parse().ok()?,
                        ino: f.get(2)?.parse().ok()?,
                    },
                    Entry {
                        stamp: Stamp {
                            size: f.get(3)?.parse().ok()?,
                            mtime: f.get(4)?.parse().ok()?,
                            ctime: f.get(5)?.parse().ok()?,
                        },
                        generation: f.get(6)?.parse().ok()?,
                        engine: f.get(7)?.to_string(),
                    },
                ))
            })();
            // A torn last line (crash while saving is excluded by the rename, but a
            // hand-edited file is not) is skipped, not fatal.
            if let Some((key, entry)) = parsed {
                let mut inner = lock(&self.inner);
                if inner.entries.insert(key.clone(), entry).is_none() {
                    inner.order.push_back(key);
                }
                loaded += 1;
            }
        }
        let mut inner = lock(&self.inner);
        while inner.entries.len() > self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.entries.remove(&old);
                }
                None => break,
            }
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ino: u64, size: u64, mtime: i128) -> FileId {
        FileId {
            dev: 1,
            ino,
            stamp: Stamp {
                size,
                mtime,
                ctime: mtime,
            },
        }
    }

    #[test]
    fn hits_need_same_state_engine_and_generation() {
        let c = ScanCache::open(10, None);
        let f = id(7, 100, 5);
        assert!(!c.is_clean("a", &f, "e1", 0));
        c.insert_clean("a", &f, "e1", 0);
        assert!(c.is_clean("a", &f, "e1", 0));
        assert!(!c.is_clean("b", &f, "e1", 0), "another SVM");
        assert!(!c.is_clean("a", &id(7, 101, 5), "e1", 0), "size changed");
        assert!(!c.is_clean("a", &id(7, 100, 6), "e1", 0), "touched");
        assert!(!c.is_clean("a", &f, "e2", 0), "engine updated");
        assert!(!c.is_clean("a", &f, "e1", 1), "cache cleared");
        c.clear_svm("a");
        assert!(!c.is_clean("a", &f, "e1", 0));
        assert_eq!(c.counters(), (1, 7));
    }

    #[test]
    fn bounded_oldest_first() {
        let c = ScanCache::open(3, None);
        for ino in 0..5 {
            c.insert_clean("a", &id(ino, 1, 1), "e", 0);
        }
        assert_eq!(c.len(), 3);
        assert!(!c.is_clean("a", &id(0, 1, 1), "e", 0));
        assert!(!c.is_clean("a", &id(1, 1, 1), "e", 0));
        assert!(c.is_clean("a", &id(4, 1, 1), "e", 0));
    }

    #[test]
    fn survives_save_and_load_and_ignores_junk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache");
        let c = ScanCache::open(10, Some(path.clone()));
        c.insert_clean("a", &id(1, 10, 20), "ClamAV 1.4.6/27123\tx", 3);
        c.insert_clean("b", &id(2, 10, 20), "e", 0);
        c.save().unwrap();
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("torn\t1\n");
        fs::write(&path, text).unwrap();
        let d = ScanCache::open(10, Some(path.clone()));
        assert_eq!(d.len(), 2);
        assert!(d.is_clean("a", &id(1, 10, 20), "ClamAV 1.4.6/27123\tx", 3));
        fs::write(&path, "garbage").unwrap();
        assert!(ScanCache::open(10, Some(path)).is_empty());
    }
}
