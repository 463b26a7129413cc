//! `vigil serve`: bootstrap, HTTP(S) listener, request logging and graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rest::Jobs;
use serde_json::json;
use store::Store;

use crate::api;
use crate::config::{Config, Listen, stable_uuid};
use crate::http::lenient::LenientAcceptor;
use crate::state::{CLUSTER_KIND, State};

pub async fn serve(config: Config) -> anyhow::Result<()> {
    raise_open_files_limit();
    if config.metrics.is_some() {
        // Before anything emits: events before the recorder are lost.
        crate::exporter::install();
    }
    // The embedded scanner comes up first so that a node never serves a REST API that
    // points pools at a scanner which is not there.
    let mut local = None;
    if let Some(args) = &config.scanner {
        let scanner = scan::Server::bind(args)
            .await
            .context("starting the embedded scanner")?;
        local = Some(embedded_addresses(&scanner));
        tokio::spawn(async move {
            if let Err(e) = scanner.serve(scan::termination_signal()).await {
                tracing::error!(error = %e, "embedded scanner stopped");
            }
        });
    }
    let state = open_state(config).await?;
    if let Some(local) = local {
        state.scanners.set_local(local);
    }
    crate::cluster::start(&state);
    let samba = crate::samba::Door::start(
        Arc::clone(&state.store),
        Arc::clone(&state.on_access),
        &state.config.data_dir,
    );
    tokio::spawn(Arc::clone(&state.jobs).expire_loop());
    tokio::spawn(audit_tick_loop(Arc::clone(&state.audit)));

    let app = crate::http::router(&state);
    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        shutdown.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    let announce = handle.clone();
    let scheme = match &state.config.listen {
        Listen::Http(_) => "http",
        Listen::Https(_) => "https",
    };
    tokio::spawn(async move {
        if let Some(addr) = announce.listening().await {
            // Tests and scripts read this line to learn an ephemeral port.
            eprintln!("vigil: listening on {scheme}://{addr}");
            tracing::info!(%addr, scheme, "listening");
        }
    });
    // The metrics door's allow-list needs the client's address.
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    match &state.config.listen {
        Listen::Http(addr) => {
            let addr: SocketAddr = addr
                .parse()
                .with_context(|| format!("--listen address {addr:?}"))?;
            axum_server::bind(addr)
                .map(LenientAcceptor)
                .handle(handle)
                .serve(service)
                .await?;
        }
        Listen::Https(addr) => {
            let addr: SocketAddr = addr
                .parse()
                .with_context(|| format!("--listen address {addr:?}"))?;
            let (cert, key) = tls_files(&state.config)?;
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .with_context(|| {
                    format!(
                        "loading TLS certificate {} and key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            axum_server::bind_rustls(addr, tls)
                .map(LenientAcceptor)
                .handle(handle)
                .serve(service)
                .await?;
        }
    }
    crate::scanning::monitors::save_cache(&state);
    state.s3.listeners.shutdown();
    samba.close();
    state.on_access.flush().await;
    state.scanners.shutdown();
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// On-demand runs hold a few hundred open files each (batches on their way to the
/// scanners) and every client holds a socket: a soft limit of 1,024 is too low, and the
/// hard limit is what the administrator allowed.
fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let from = limit.current;
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => tracing::debug!(?from, to = ?limit.current, "open files limit raised"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
        }
    }
}

/// Pools that name the embedded scanner's own addresses are served in-process.
fn embedded_addresses(scanner: &scan::Server) -> scan::dispatch::Local {
    let mut addresses = Vec::new();
    if let Some(addr) = scanner.tcp_addr() {
        addresses.push(vscan::address::ServerAddress::Clamd {
            host: vscan::address::Host::Ip(addr.ip()),
            port: addr.port(),
        });
    }
    if let Some(path) = scanner.socket_path() {
        addresses.push(vscan::address::ServerAddress::ClamdUnix {
            path: path.to_path_buf(),
        });
    }
    scan::dispatch::Local {
        engine: scanner.engine(),
        pool: scanner.pool(),
        addresses,
    }
}

/// Opens the store and brings a new data directory to its first-start state.
pub async fn open_state(config: Config) -> anyhow::Result<Arc<State>> {
    let store = Store::open(&config.database_url)
        .await
        .with_context(|| format!("opening {}", config.database_url))?;
    let node_uuid = stable_uuid(&config.data_dir.join("node-uuid"))?;
    let node = json!({"uuid": node_uuid, "name": config.node_name});
    let jobs = Jobs::open(Arc::clone(&store), config.job_retention, node)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (events, events_rx) = crate::scanning::events::EventLog::new(
        json!({"uuid": node_uuid, "name": config.node_name}),
    );
    let scanners = crate::scanning::monitors::manager(&config, Arc::clone(&events) as _);
    let audit = Arc::new(audit::AuditHub::new(
        config.node_name.clone(),
        Arc::new(audit::SystemClock),
    ));
    let scanning = Arc::new(crate::scanning::ScanService::new(
        Arc::clone(&scanners),
        Arc::clone(&events),
        config.data_dir.clone(),
        Arc::new(crate::scanning::observer::Live {
            hub: Arc::clone(events.live()),
        }),
    ));
    let on_access =
        crate::scanning::on_access::OnAccess::new(Arc::clone(&store), Arc::clone(&scanning));
    let s3 = s3_runtime(&config, &store, &on_access, &audit).await?;
    let config_fanotify = config.fanotify.clone();
    let state = Arc::new(State {
        store,
        config,
        node_uuid,
        started: Instant::now(),
        jobs,
        scanners,
        events,
        scanning,
        on_access: Arc::clone(&on_access),
        runs: Arc::new(crate::scanning::running::LocalRuns::default()),
        audit,
        s3,
        fanotify: Arc::new(crate::fanotify::Door::new(config_fanotify)),
    });
    first_start(&state).await?;
    crate::scanning::monitors::start(&state, events_rx);
    on_access.start();
    crate::mav_service::assign_device_ids(&state).await?;
    crate::quarantine::clean_orphans(&state.config.data_dir);
    crate::quarantine::finish_interrupted(&state.config.data_dir, |svm_uuid| {
        state.namespace(&*state.svm(svm_uuid)?).ok()
    });
    crate::ondemand::start_scheduler(&state);
    crate::scanning::monitors::reconcile(&state);
    api::s3_audit::restore(&state).await;
    crate::s3::audit_feed::recover(&state.audit, &state.config.data_dir).await;
    crate::s3::endpoints::restore(&state);
    crate::fanotify::start(
        &state.fanotify,
        crate::fanotify::Services {
            store: Arc::clone(&state.store),
            on_access: Arc::clone(&state.on_access),
            events: Arc::clone(&state.events),
            scanners: Arc::clone(&state.scanners),
            data_dir: state.config.data_dir.clone(),
        },
    );
    Ok(state)
}

/// The S3 servers' shared parts: the secret-sealing key and listeners that serve HTTPS
/// with the node's certificate.
async fn s3_runtime(
    config: &Config,
    store: &Arc<Store>,
    on_access: &Arc<crate::scanning::on_access::OnAccess>,
    audit: &Arc<audit::AuditHub>,
) -> anyhow::Result<Arc<crate::s3::runtime::S3Runtime>> {
    let sealer = Arc::new(crate::s3::secrets::Sealer::open(&config.data_dir)?);
    let (cert, key) = tls_files(config)?;
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
        .await
        .with_context(|| format!("loading TLS certificate {} for S3", cert.display()))?;
    let listeners = crate::s3::listeners::Listeners::new(
        Arc::clone(store),
        Arc::clone(&sealer),
        Arc::new(crate::s3::audit_feed::AuditFeed::new(
            Arc::clone(audit),
            Arc::clone(store),
            &config.data_dir,
            Arc::new(crate::s3::scan_hooks::ScanHooks::new(
                Arc::new(crate::s3::hooks::LogHooks),
                Arc::clone(on_access),
            )),
        )),
        Some(tls),
        config.s3_address,
        config.s3_port_offset,
    );
    Ok(Arc::new(crate::s3::runtime::S3Runtime {
        sealer,
        listeners,
    }))
}

/// Age retention and schedule rotation also need to run while an SVM is busy: its
/// writer only checks by itself when it has been idle for a second.
async fn audit_tick_loop(hub: Arc<audit::AuditHub>) {
    let mut every = tokio::time::interval(Duration::from_secs(15));
    loop {
        every.tick().await;
        hub.tick();
    }
}

async fn first_start(state: &State) -> anyhow::Result<()> {
    let mut txn = state.store.begin().await;
    if txn.get(CLUSTER_KIND, CLUSTER_KIND).is_none() {
        let cluster_uuid = uuid::Uuid::new_v4().to_string();
        // The cluster owns default_CIFS, which every SVM inherits (enabled).
        txn.put(
            vscan::config::ON_ACCESS_KIND,
            &vscan::config::object_id(&cluster_uuid, vscan::config::DEFAULT_POLICY),
            vscan::config::default_policy(&cluster_uuid),
        );
        txn.put(
            CLUSTER_KIND,
            CLUSTER_KIND,
            json!({
                "uuid": cluster_uuid,
                "name": state.config.cluster_name,
                "location": "",
                "contact": "",
                "ipspace_uuid": uuid::Uuid::new_v4().to_string(),
            }),
        );
        // Built-in schedules exist from the start; one an admin deletes stays deleted.
        for mut schedule in api::schedules::defaults() {
            let uuid = uuid::Uuid::new_v4().to_string();
            schedule["uuid"] = json!(uuid);
            txn.put(crate::state::SCHEDULE_KIND, &uuid, schedule);
        }
    }
    txn.commit().await?;
    if crate::auth::find_account(&state.store, "admin").is_none() {
        let (password, generated) = match std::env::var("VIGIL_ADMIN_PASSWORD") {
            Ok(p) if !p.is_empty() => (p, false),
            _ => (generate_password(), true),
        };
        api::accounts::ensure_admin(state, &password).await?;
        if generated {
            eprintln!(
                "vigil: created account \"admin\" with password {password}  (shown once; set VIGIL_ADMIN_PASSWORD to choose it)"
            );
        } else {
            eprintln!(
                "vigil: created account \"admin\" with the password from VIGIL_ADMIN_PASSWORD"
            );
        }
    }
    Ok(())
}

fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..20)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The configured certificate, or a self-signed one generated into the data dir.
fn tls_files(config: &Config) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let Some((c, k)) = &config.tls {
        return Ok((c.clone(), k.clone()));
    }
    let cert = config.data_dir.join("tls-cert.pem");
    let key = config.data_dir.join("tls-key.pem");
    if !cert.exists() || !key.exists() {
        generate_certificate(&cert, &key, &config.node_name)?;
        tracing::info!(cert = %cert.display(), "generated a self-signed TLS certificate");
    }
    Ok((cert, key))
}

fn generate_certificate(cert: &Path, key: &Path, node_name: &str) -> anyhow::Result<()> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        node_name.to_string(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .context("generating a self-signed certificate")?;
    let key_pem = generated.signing_key.serialize_pem();
    write_private(key, key_pem.as_bytes())?;
    std::fs::write(cert, generated.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}
