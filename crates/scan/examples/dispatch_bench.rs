//! Dispatch overhead: 4 KiB files scanned through Vigil's dispatcher (`Manager::scan`)
//! against the same real clamd driven directly with the same protocol (FILDES over its
//! unix socket), in one run; then the dispatcher over two clamd.
//!
//! Usage: dispatch_bench <work dir> [files=4000] [concurrency=16]

use std::collections::HashSet;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clamd::client::{Client, Endpoint};
use scan::dispatch::ScanEvent;
use scan::remote::{Assignment, Desired, EventSink, Manager, ManagerConfig, Role, ServerEvent};

const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

struct Quiet;
impl EventSink for Quiet {
    fn server_event(&self, _: ServerEvent) {}
    fn scan_event(&self, _: ScanEvent) {}
}

struct Clamd {
    child: Child,
    socket: PathBuf,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_clamd(dir: &Path) -> anyhow::Result<Clamd> {
    std::fs::create_dir_all(dir.join("db"))?;
    let hex: String = EICAR.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(dir.join("db/bench.ndb"), format!("Bench.EICAR:0:*:{hex}\n"))?;
    let socket = dir.join("clamd.sock");
    std::fs::write(
        dir.join("clamd.conf"),
        format!(
            "DatabaseDirectory {}\nLocalSocket {}\nForeground yes\nLogFile {}\nUser root\nMaxThreads 16\n",
            dir.join("db").display(),
            socket.display(),
            dir.join("clamd.log").display()
        ),
    )?;
    let child = Command::new("clamd")
        .arg("-c")
        .arg(dir.join("clamd.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !socket.exists() {
        anyhow::ensure!(Instant::now() < deadline, "clamd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Clamd { child, socket })
}

async fn run<F, Fut>(files: &[PathBuf], concurrency: usize, f: F) -> anyhow::Result<f64>
where
    F: Fn(PathBuf) -> Fut + Send + Sync + 'static + Clone,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let queue = Arc::new(std::sync::Mutex::new(files.to_vec()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let queue = Arc::clone(&queue);
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                let Some(path) = next else {
                    return anyhow::Ok(());
                };
                f(path).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(files.len() as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let work = PathBuf::from(
        args.get(1)
            .cloned()
            .unwrap_or_else(|| "bench/out/dispatch".into()),
    );
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4000);
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("files"))?;
    let files: Vec<PathBuf> = (0..n)
        .map(|i| {
            let path = work.join("files").join(format!("f{i:06}.bin"));
            let body: Vec<u8> = (0..4096u32)
                .map(|b| (b.wrapping_mul(31).wrapping_add(i as u32) % 251) as u8)
                .collect();
            std::fs::write(&path, body).map(|_| path)
        })
        .collect::<Result<_, _>>()?;
    let a = start_clamd(&work.join("clamd-a"))?;
    let b = start_clamd(&work.join("clamd-b"))?;

    let direct = {
        let client = Client::new(Endpoint::Unix(a.socket.clone()), Duration::from_secs(30));
        client.ping().await?;
        run(&files, concurrency, move |p: PathBuf| {
            let client = client.clone();
            async move {
                let file = std::fs::File::open(&p)?;
                let reply = client.fildes(file.as_fd()).await?;
                anyhow::ensure!(
                    reply.status == clamd::reply::Status::Ok,
                    "unexpected {reply:?}"
                );
                Ok(())
            }
        })
        .await?
    };

    let via = |servers: Vec<PathBuf>| {
        let files = files.clone();
        async move {
            let m = Manager::new(
                ManagerConfig {
                    per_server_scans: concurrency,
                    ..ManagerConfig::default()
                },
                Arc::new(Quiet),
            );
            let assignments: Vec<Assignment> = servers
                .iter()
                .map(|s| Assignment {
                    svm: "bench".into(),
                    server: format!("unix://{}", s.display()),
                    role: Role::Primary,
                })
                .collect();
            let wanted = assignments.len();
            m.apply(&Desired {
                enabled_svms: HashSet::from(["bench".to_string()]),
                assignments,
                cache_generations: Default::default(),
            });
            let deadline = Instant::now() + Duration::from_secs(30);
            while m.statuses().iter().filter(|s| s.connected).count() < wanted {
                anyhow::ensure!(Instant::now() < deadline, "servers did not connect");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let m2 = Arc::clone(&m);
            let rate = run(&files, concurrency, move |p: PathBuf| {
                let m = Arc::clone(&m2);
                async move {
                    let s = m.scan("bench", &p, "/f").await?;
                    anyhow::ensure!(s.verdict.is_clean(), "unexpected {:?}", s.verdict);
                    Ok(())
                }
            })
            .await?;
            m.shutdown();
            anyhow::Ok(rate)
        }
    };
    let one = via(vec![a.socket.clone()]).await?;
    let two = via(vec![a.socket.clone(), b.socket.clone()]).await?;
    // Direct once more, so a drift of the machine over the run shows.
    let direct_again = {
        let client = Client::new(Endpoint::Unix(a.socket.clone()), Duration::from_secs(30));
        run(&files, concurrency, move |p: PathBuf| {
            let client = client.clone();
            async move {
                let file = std::fs::File::open(&p)?;
                client.fildes(file.as_fd()).await?;
                Ok(())
            }
        })
        .await?
    };
    println!("files: {n} x 4 KiB, concurrency {concurrency}, clamd FILDES over a unix socket");
    println!(
        "direct to clamd A:           {direct:>10.0} files/s (again at the end: {direct_again:.0})"
    );
    println!(
        "Vigil dispatcher, 1 clamd:   {one:>10.0} files/s  ratio {:.2}x",
        one / direct
    );
    println!(
        "Vigil dispatcher, 2 clamd:   {two:>10.0} files/s  ratio {:.2}x",
        two / direct
    );
    drop((a, b));
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
