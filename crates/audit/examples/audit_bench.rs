//! Audit records per second through the real pipeline (`AuditHub::record`: serialize,
//! queue, group-committed write + fdatasync, acknowledge) at several concurrency levels,
//! against a plain buffered append of exactly the same bytes in the same run (the
//! physical ceiling: no sync, one writer, 64 KiB buffer).
//!
//! Usage: audit_bench <dir> [writers,...] [records per level]
//! Run through `bench/audit/run.sh`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use audit::log::{ACTIVE_NAME, archives};
use audit::{AuditEvent, AuditHub, LogConfig, RotationSchedule, S3Event, SvmAudit, SystemClock};

const SVM: &str = "0b3c9f4e-2f7a-4d52-9a41-5b8e2d7c1a90";

fn event(writer: usize, seq: usize) -> AuditEvent {
    let mut e = AuditEvent::new(
        S3Event::PutObject,
        "192.0.2.44:51234".parse().expect("literal address"),
        format!("{writer:04x}{seq:012x}"),
    );
    e.bucket = Some("media-archive".into());
    e.object = Some(format!("projects/2026/clip-{writer}-{seq}.mp4"));
    e.user.access_key = Some("AKIAVIGILBENCH0001".into());
    e.user.name = Some("bench-user".into());
    e.bytes_in = 1 << 20;
    e.duration_us = 1834;
    e.user_agent = Some("aws-sdk-go-v2/1.30.0".into());
    e
}

fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut names = archives(dir).unwrap_or_default();
    names.push(ACTIVE_NAME.to_string());
    let mut out = Vec::new();
    for n in names {
        out.extend(std::fs::read(dir.join(n)).unwrap_or_default());
    }
    out
}

struct Run {
    records: usize,
    bytes: usize,
    elapsed: Duration,
    syncs: u64,
}

async fn pipeline(dir: PathBuf, writers: usize, records: usize) -> Run {
    let hub = Arc::new(AuditHub::new("bench-node", Arc::new(SystemClock)));
    hub.apply(SvmAudit {
        svm_uuid: SVM.into(),
        svm_name: "vsbench".into(),
        enabled: true,
        data: true,
        management: true,
        log: LogConfig {
            dir: dir.clone(),
            // ONTAP's default rotation size; retention keeps everything.
            rotation_size: 100 << 20,
            rotation_schedule: RotationSchedule::default(),
            retention_count: 0,
            retention_age: Duration::ZERO,
        },
    })
    .await
    .expect("open the audit log");
    let per_writer = records / writers;
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                for i in 0..per_writer {
                    hub.record(SVM, event(w, i)).await.expect("record");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer task");
    }
    let elapsed = started.elapsed();
    let syncs = hub
        .log(SVM)
        .map_or(0, |l| l.stats().syncs.load(Ordering::Relaxed));
    Run {
        records: per_writer * writers,
        bytes: all_bytes(&dir).len(),
        elapsed,
        syncs,
    }
}

/// The same bytes, line by line, through a 64 KiB buffered writer, flushed once.
fn buffered(dir: &Path, bytes: &[u8]) -> Duration {
    let path = dir.join("plain.json");
    let started = Instant::now();
    let file = std::fs::File::create(&path).expect("create");
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        w.write_all(line).expect("write");
    }
    w.flush().expect("flush");
    started.elapsed()
}

/// The pipeline's own writer with one thread and no concurrency, for the sync count.
fn single_log_stats(dir: &Path, n: usize) -> (Duration, u64) {
    let log = audit::AuditLog::open(
        LogConfig {
            dir: dir.to_path_buf(),
            rotation_size: 0,
            rotation_schedule: RotationSchedule::default(),
            retention_count: 0,
            retention_age: Duration::ZERO,
        },
        Arc::new(SystemClock),
    )
    .expect("open");
    let started = Instant::now();
    for i in 0..n {
        log.append_blocking(serde_json::to_vec(&event(0, i)).expect("serialize"))
            .expect("append");
    }
    (started.elapsed(), log.stats().syncs.load(Ordering::Relaxed))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(args.next().unwrap_or_else(|| "bench/out/audit".into()));
    let levels: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1,8,64,256".into())
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let records: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("bench dir");

    let probe = root.join("single");
    std::fs::create_dir_all(&probe).expect("dir");
    let (t, syncs) = single_log_stats(&probe, 500);
    println!(
        "fdatasync latency (1 writer, 500 records): {:.3} ms/record, {syncs} syncs",
        t.as_secs_f64() * 1000.0 / 500.0
    );
    println!(
        "{:>8} {:>9} {:>8} {:>8} {:>14} {:>16} {:>8}",
        "writers", "records", "MiB", "rec/sync", "pipeline rec/s", "buffered rec/s", "ratio"
    );
    for writers in levels {
        // One writer pays a full sync per record: fewer records keep the run short.
        let n = if writers == 1 {
            records.min(2_000)
        } else {
            records.max(writers)
        };
        let dir = root.join(format!("w{writers}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let run = runtime.block_on(pipeline(dir.clone(), writers, n));
        let bytes = all_bytes(&dir);
        let plain = buffered(&dir, &bytes);
        let pipe_rate = run.records as f64 / run.elapsed.as_secs_f64();
        let plain_rate = run.records as f64 / plain.as_secs_f64();
        println!(
            "{:>8} {:>9} {:>8.1} {:>8.1} {:>14.0} {:>16.0} {:>8.4}",
            writers,
            run.records,
            run.bytes as f64 / (1 << 20) as f64,
            run.records as f64 / run.syncs.max(1) as f64,
            pipe_rate,
            plain_rate,
            pipe_rate / plain_rate
        );
    }
}
