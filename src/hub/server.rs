//! The hub's HTTP server (axum on tokio): the monitors' ingest endpoint, the supervisors' pages,
//! their JSON API and the live stream (Server-Sent Events).
//!
//! Writes of monitor events go to one writer thread, which commits every batch that arrived
//! meanwhile in one transaction and only then acknowledges them: an acknowledged event survives
//! a hub crash, and an id seen before is acknowledged again but stored once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::{broadcast, oneshot};

use super::auth;
use super::store::{AlertRow, CallRow, Changes, Filter, Station, Store, User, now_ms};
use crate::error::{Error, Result};
use crate::events::Envelope;
use crate::language::Redactor;

/// How the hub runs.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// The SQLite file.
    pub db: PathBuf,
    /// Calls, alerts and audit entries older than this many days are deleted.
    pub retention_days: u32,
    /// A call whose monitor sends nothing for this long is `station_silent`.
    pub silent_after_s: f64,
    /// Largest request body a monitor may send (bytes).
    pub max_batch_bytes: usize,
    /// Largest single event (bytes of JSON).
    pub max_event_bytes: usize,
    /// How long a supervisor's session lasts (hours).
    pub session_hours: u32,
    /// When failed sign-ins lock a name or an address.
    pub sign_in: super::throttle::Limits,
    /// Serve HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Also take events from NATS JetStream.
    pub nats: Option<super::nats::NatsFeed>,
}

/// The client's address, for handlers that need it (sign-in limits), over HTTP and HTTPS.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Peer(*s.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(s: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        Peer(*s.remote_addr())
    }
}

/// A TLS listener for axum: TCP connections are accepted and their handshakes run
/// concurrently (a slow or broken client holds up no one); finished ones are handed to axum.
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    addr: SocketAddr,
}

impl TlsListener {
    fn new(
        tcp: tokio::net::TcpListener,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<Self> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |path: &std::path::Path, what: String| {
            Error::Invalid(format!("{}: {what}", path.display()))
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad(cert, format!("cannot read the certificate: {e}")))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(cert, format!("not a PEM certificate chain: {e}")))?;
        if certs.is_empty() {
            return Err(bad(cert, "holds no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| bad(cert, format!("unusable certificate and key: {e}")))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let addr = tcp
            .local_addr()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    if let Ok(Ok(tls)) = hs.await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(Self { rx, addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// One update of the floor, for the pages whose user may see `team`.
#[derive(Debug, Clone)]
struct Update {
    team: String,
    json: String,
}

pub(super) struct IngestJob {
    pub(super) batch: Vec<(Station, Envelope)>,
    pub(super) reply: oneshot::Sender<Result<Vec<Fate>>>,
}

/// What became of one event a monitor sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Fate {
    Stored,
    Duplicate,
}

pub(super) struct Hub {
    pub(super) opts: HubOptions,
    /// Reads and supervisors' writes (claims, resolves, logins); WAL lets it read while the
    /// writer thread commits.
    db: Mutex<Store>,
    pub(super) ingest: crossbeam_channel::Sender<IngestJob>,
    floor: broadcast::Sender<Update>,
    /// Refusals and duplicates by reason, flushed to the store's counters now and then.
    counts: Mutex<HashMap<&'static str, i64>>,
    /// Token digests looked up lately (a station sends every second). Cleared when the stations
    /// change in the store (`hub token add/revoke` run by another process): see
    /// [`watch_stations`].
    tokens: Mutex<HashMap<String, (Option<Station>, std::time::Instant)>>,
    /// Which station started each call seen lately (a call never changes station).
    owners: Mutex<HashMap<String, String>>,
    /// Live figures for `/metrics`.
    pub(super) metrics: Arc<super::metrics::Metrics>,
    /// Failed sign-ins by name and address.
    sign_in: Mutex<super::throttle::SignInGuard>,
    /// Password checks running at once (each takes 19 MB and tens of ms of a core: a flood of
    /// sign-ins must queue, not take the machine's memory).
    password_checks: tokio::sync::Semaphore,
    /// Wakes the task sharing supervisors' steps with the floor's other hubs (NATS).
    pub(super) steps_wake: tokio::sync::Notify,
}

/// How long a token lookup is trusted at most (revocations clear it within [`STATIONS_POLL`]).
const TOKEN_TTL: Duration = Duration::from_secs(60);
/// How often the hub looks for added or revoked stations.
const STATIONS_POLL: Duration = Duration::from_millis(250);
/// Entries kept at most in each of the hub's lookup caches (cleared when full).
const CACHE_MAX: usize = 200_000;

pub(super) type Shared = Arc<Hub>;

impl Hub {
    pub(super) fn count(&self, what: &'static str, by: i64) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(what)
            .or_default() += by;
    }

    pub(super) fn db(&self) -> std::sync::MutexGuard<'_, Store> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn publish(&self, store: &Store, changes: &Changes) {
        publish(&self.floor, store, changes);
    }
}

fn publish(floor: &broadcast::Sender<Update>, store: &Store, changes: &Changes) {
    for id in &changes.calls {
        if let Ok(Some(c)) = store.call(id) {
            let json = serde_json::json!({"type": "call", "call": c}).to_string();
            let _ = floor.send(Update {
                team: c.team.clone(),
                json,
            });
        }
    }
    for id in &changes.alerts {
        if let Ok(Some(a)) = store.alert(*id) {
            let json = serde_json::json!({"type": "alert", "alert": a}).to_string();
            let _ = floor.send(Update {
                team: a.team.clone(),
                json,
            });
        }
    }
}

/// Run the hub until Ctrl-C (or SIGTERM).
pub fn run(opts: HubOptions, redactor: Redactor) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start the hub's runtime: {e}")))?;
    rt.block_on(serve(opts, redactor))
}

async fn serve(opts: HubOptions, redactor: Redactor) -> Result<()> {
    let store = Store::open(&opts.db)?;
    let writer_store = Store::open(&opts.db)?;
    let publisher_store = Store::open(&opts.db)?;
    let (tx, rx) = crossbeam_channel::bounded::<IngestJob>(1024);
    let (floor, _) = broadcast::channel(4096);
    let metrics = Arc::new(super::metrics::Metrics::new());
    let hub = Arc::new(Hub {
        opts: opts.clone(),
        db: Mutex::new(store),
        ingest: tx,
        floor: floor.clone(),
        counts: Mutex::new(HashMap::new()),
        tokens: Mutex::new(HashMap::new()),
        owners: Mutex::new(HashMap::new()),
        metrics: metrics.clone(),
        sign_in: Mutex::new(super::throttle::SignInGuard::new(opts.sign_in)),
        password_checks: tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ),
        steps_wake: tokio::sync::Notify::new(),
    });
    std::thread::Builder::new()
        .name("hub-writer".into())
        .spawn(move || writer(writer_store, rx, publisher_store, floor, redactor, metrics))
        .map_err(|e| Error::Invalid(format!("cannot start the hub's writer: {e}")))?;
    tokio::spawn(housekeeping(hub.clone()));
    tokio::spawn(watch_stations(hub.clone()));
    if let Some(feed) = &opts.nats {
        super::nats::start(hub.clone(), feed.clone());
        // Claims and resolutions taken here reach the other hubs, and theirs reach this one.
        let origin = {
            let mut db = hub.db();
            db.share_steps(&feed.consumer)?;
            db.hub_id()?
        };
        super::floor::start(hub.clone(), feed.clone(), origin);
    }

    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics_page))
        .route("/", get(floor_page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/api/ingest", post(ingest))
        .route("/api/me", get(me))
        .route("/api/floor", get(floor_state))
        .route("/api/calls", get(calls))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}/audit", get(alert_audit))
        .route("/api/alerts/{id}/claim", post(claim))
        .route("/api/alerts/{id}/unclaim", post(unclaim))
        .route("/api/alerts/{id}/resolve", post(resolve))
        .route("/api/stream", get(stream))
        .route("/api/stats", get(stats))
        .route("/api/stations", get(stations))
        .with_state(hub.clone());
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .map_err(|e| Error::Invalid(format!("cannot listen on {}: {e}", opts.bind)))?;
    let addr = listener.local_addr().unwrap_or(opts.bind);
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
    };
    let served = match &opts.tls {
        Some((cert, key)) => {
            let tls = TlsListener::new(listener, cert, key)?;
            eprintln!(
                "calmline hub: listening on https://{addr}/ (store {})",
                opts.db.display()
            );
            axum::serve(tls, app.into_make_service_with_connect_info::<Peer>())
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            eprintln!(
                "calmline hub: listening on http://{addr}/ (store {})",
                opts.db.display()
            );
            axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    served.map_err(|e| Error::Invalid(format!("the hub's server stopped: {e}")))?;
    flush_counts(&hub);
    Ok(())
}

/// The writer thread: take every ingest job waiting, commit them in one transaction, answer
/// each, then tell the pages.
fn writer(
    mut store: Store,
    rx: crossbeam_channel::Receiver<IngestJob>,
    publisher_store: Store,
    floor: broadcast::Sender<Update>,
    redactor: Redactor,
    metrics: Arc<super::metrics::Metrics>,
) {
    // The pages are told on another thread (reading what was committed on its own connection),
    // so the next commit does not wait for the last one's page updates.
    let (to_pages, changed) = crossbeam_channel::unbounded::<Changes>();
    let _ = std::thread::Builder::new()
        .name("hub-pages".into())
        .spawn(move || {
            while let Ok(mut changes) = changed.recv() {
                // Coalesce what queued up meanwhile: each call's tile once, with its latest state.
                while let Ok(more) = changed.try_recv() {
                    changes.calls.extend(more.calls);
                    changes.alerts.extend(more.alerts);
                }
                changes.calls.sort();
                changes.calls.dedup();
                changes.alerts.sort_unstable();
                changes.alerts.dedup();
                publish(&floor, &publisher_store, &changes);
            }
        });
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < 256 {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let all: Vec<(Station, Envelope)> =
            jobs.iter().flat_map(|j| j.batch.iter().cloned()).collect();
        let began = std::time::Instant::now();
        let result = store.ingest(&all, &redactor);
        metrics.commit.observe(began.elapsed().as_secs_f64());
        match result {
            Ok((fresh, changes)) => {
                let now = now_ms();
                let mut n = 0;
                for ((_, e), _) in all.iter().zip(&fresh).filter(|(_, f)| **f) {
                    metrics.event_lag.observe((now - e.sent_ms) as f64 / 1000.0);
                    n += 1;
                }
                metrics
                    .stored
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                let mut at = 0;
                for j in jobs {
                    let n = j.batch.len();
                    let fates = fresh[at..at + n]
                        .iter()
                        .map(|&f| if f { Fate::Stored } else { Fate::Duplicate })
                        .collect();
                    at += n;
                    let _ = j.reply.send(Ok(fates));
                }
                let _ = to_pages.send(changes);
            }
            Err(e) => {
                let msg = e.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(Error::Invalid(msg.clone())));
                }
            }
        }
    }
}

/// A token revoked (or a station added) by `calmline hub token ...` is seen within
/// [`STATIONS_POLL`]: the token cache is cleared whenever the stations change.
async fn watch_stations(hub: Shared) {
    let mut tick = tokio::time::interval(STATIONS_POLL);
    let mut last = None;
    loop {
        tick.tick().await;
        let h = hub.clone();
        let now = tokio::task::spawn_blocking(move || h.db().stations_version().ok())
            .await
            .ok()
            .flatten();
        if now.is_some() && now != last {
            hub.tokens.lock().unwrap_or_else(|p| p.into_inner()).clear();
            last = now;
        }
    }
}

/// Once a second: calls whose monitor went quiet; once an hour: retention.
async fn housekeeping(hub: Shared) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        hub.metrics.tick();
        let h = hub.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut db = h.db();
            let quiet_ms = (h.opts.silent_after_s * 1000.0) as i64;
            if let Ok(ch) = db.mark_silent(quiet_ms) {
                h.publish(&db, &ch);
            }
            drop(db);
            flush_counts(&h);
        })
        .await;
        if last_purge.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            last_purge = Some(std::time::Instant::now());
            let h = hub.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let days = h.opts.retention_days;
                let _ = h.db().purge(days);
            })
            .await;
        }
    }
}

fn flush_counts(hub: &Hub) {
    let counts: Vec<(&'static str, i64)> = hub
        .counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .collect();
    if counts.is_empty() {
        return;
    }
    let db = hub.db();
    for (k, v) in counts {
        let _ = db.count(k, v);
    }
}

// ---- monitors ----

fn plain(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, format!("{}\n", msg.into())).into_response()
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

async fn ingest(State(hub): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        hub.count("refused_no_token", 1);
        return plain(
            StatusCode::UNAUTHORIZED,
            "no station token: send Authorization: Bearer TOKEN (see `calmline hub token add`)",
        );
    }
    let hash = auth::digest(token);
    let cached = {
        let t = hub.tokens.lock().unwrap_or_else(|p| p.into_inner());
        t.get(&hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_TTL)
            .map(|(s, _)| s.clone())
    };
    let station = match cached {
        Some(s) => s,
        None => {
            let (h, key) = (hub.clone(), hash.clone());
            let looked = tokio::task::spawn_blocking(move || h.db().station_by_token(&key))
                .await
                .ok()
                .and_then(|r| r.ok());
            // A failed lookup is not remembered: the next request asks the store again.
            if let Some(s) = &looked {
                let mut t = hub.tokens.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() >= CACHE_MAX {
                    t.clear();
                }
                t.insert(hash, (s.clone(), std::time::Instant::now()));
            }
            looked.flatten()
        }
    };
    let Some(station) = station else {
        hub.count("refused_bad_token", 1);
        return plain(StatusCode::UNAUTHORIZED, "unknown or revoked station token");
    };
    let bytes = match axum::body::to_bytes(body, hub.opts.max_batch_bytes).await {
        Ok(b) => b,
        Err(_) => {
            hub.count("refused_oversized", 1);
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body over {} bytes: send fewer events per request",
                    hub.opts.max_batch_bytes
                ),
            );
        }
    };
    let parsed = match parse_batch(&bytes, hub.opts.max_event_bytes) {
        Ok(p) => p,
        Err(e) => {
            hub.count("refused_malformed", 1);
            return plain(StatusCode::BAD_REQUEST, e);
        }
    };
    let mut rejected = Vec::new();
    let mut good: Vec<(Station, Envelope)> = Vec::new();
    for p in parsed {
        match p {
            Parsed::Good(e) => {
                note_outbox(&hub, &e);
                good.push((station.clone(), e))
            }
            Parsed::Rejected {
                id,
                reason,
                oversized,
            } => {
                hub.count(
                    if oversized {
                        "rejected_oversized_event"
                    } else {
                        "rejected_malformed_event"
                    },
                    1,
                );
                rejected.push(serde_json::json!({"id": id, "reason": reason}));
            }
        }
    }
    // A call belongs to the station that started it: another station's token cannot add to it.
    for bad in foreign_calls(&hub, &station.name, &mut good).await {
        rejected
            .push(serde_json::json!({"id": bad, "reason": "this call belongs to another station"}));
    }
    let ids: Vec<String> = good.iter().map(|(_, e)| e.id.clone()).collect();
    let fates = if good.is_empty() {
        Vec::new()
    } else {
        let (tx, rx) = oneshot::channel();
        if hub
            .ingest
            .send(IngestJob {
                batch: good,
                reply: tx,
            })
            .is_err()
        {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "the hub's store is closed");
        }
        match rx.await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not stored, send again: {e}"),
                );
            }
            Err(_) => return plain(StatusCode::SERVICE_UNAVAILABLE, "not stored, send again"),
        }
    };
    let dups = fates.iter().filter(|f| **f == Fate::Duplicate).count();
    if dups > 0 {
        hub.count("duplicates_ignored", dups as i64);
    }
    hub.count("events_stored", (fates.len() - dups) as i64);
    json_response(
        StatusCode::OK,
        serde_json::json!({"acked": ids, "duplicates": dups, "rejected": rejected}),
    )
}

/// Remove from `good` the events of calls that another station started, and return their ids.
pub(super) async fn foreign_calls(
    hub: &Shared,
    station: &str,
    good: &mut Vec<(Station, Envelope)>,
) -> Vec<String> {
    if good.is_empty() {
        return Vec::new();
    }
    let mut calls: Vec<String> = good.iter().map(|(_, e)| e.call.clone()).collect();
    calls.sort();
    calls.dedup();
    let mut foreign: Vec<String> = Vec::new();
    {
        let owners = hub.owners.lock().unwrap_or_else(|p| p.into_inner());
        calls.retain(|c| match owners.get(c) {
            Some(owner) => {
                if owner != station {
                    foreign.push(c.clone());
                }
                false
            }
            None => true,
        });
    }
    if !calls.is_empty() {
        let h = hub.clone();
        let owned: Vec<(String, String)> = tokio::task::spawn_blocking(move || {
            let db = h.db();
            calls
                .into_iter()
                .filter_map(|c| db.call(&c).ok().flatten().map(|row| (c, row.station)))
                .collect()
        })
        .await
        .unwrap_or_default();
        let mut owners = hub.owners.lock().unwrap_or_else(|p| p.into_inner());
        if owners.len() >= CACHE_MAX {
            owners.clear();
        }
        for (c, owner) in owned {
            if owner != station {
                foreign.push(c.clone());
            }
            owners.insert(c, owner);
        }
    }
    let mut out = Vec::new();
    if !foreign.is_empty() {
        good.retain(|(_, e)| {
            let bad = foreign.contains(&e.call);
            if bad {
                hub.count("rejected_foreign_call", 1);
                out.push(e.id.clone());
            }
            !bad
        });
    }
    out
}

/// Monitors report their outbox backlog in their status events.
pub(super) fn note_outbox(hub: &Hub, e: &Envelope) {
    if let crate::events::EventBody::Status(st) = &e.event.body
        && let Some(n) = st.outbox
    {
        hub.metrics.outbox(&e.call, n);
    }
}

/// `/metrics`: Prometheus text format, aggregates only (see [`super::metrics`]).
async fn metrics_page(State(hub): State<Shared>) -> Response {
    flush_counts(&hub);
    let h = hub.clone();
    let quiet_ms = (hub.opts.silent_after_s * 1000.0) as i64;
    let figures = tokio::task::spawn_blocking(move || {
        let db = h.db();
        Ok::<_, Error>((db.metrics(quiet_ms)?, db.counters()?, db.floor_backlog()?))
    })
    .await;
    match figures {
        Ok(Ok(((stations, stations_connected, active_calls, alerts), counters, floor))) => {
            let body = super::metrics::render(
                &hub.metrics,
                &super::metrics::FromStore {
                    stations,
                    stations_connected,
                    active_calls,
                    alerts,
                    counters,
                    floor,
                },
            );
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
        }
        _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    }
}

/// An envelope's id is `CALL/SEQ` of its own call and number, the call id a valid one.
/// One event of an ingest request, as parsed.
#[derive(Debug)]
pub enum Parsed {
    /// A well-formed event.
    Good(Envelope),
    /// An event refused, with its id (if it had one) and why.
    Rejected {
        /// The event's id, or "".
        id: String,
        /// Why, for the monitor.
        reason: String,
        /// Refused for its size (counted apart in /metrics).
        oversized: bool,
    },
}

/// Parse an ingest request body, `{"events": [...]}`: each event is checked on its own (size,
/// envelope, id), so one bad event does not refuse the others. A body that is not a batch at all
/// is an error with the reason.
pub fn parse_batch(
    bytes: &[u8],
    max_event_bytes: usize,
) -> std::result::Result<Vec<Parsed>, String> {
    #[derive(Deserialize)]
    struct Batch {
        events: Vec<serde_json::Value>,
    }
    let batch: Batch = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a batch of events ({{\"events\": [...]}}): {e}"))?;
    Ok(batch
        .events
        .into_iter()
        .map(|v| {
            let id = v
                .get("id")
                .and_then(|i| i.as_str())
                .unwrap_or("")
                .to_string();
            let size = v.to_string().len();
            if size > max_event_bytes {
                return Parsed::Rejected {
                    id,
                    reason: format!("event of {size} bytes, over {max_event_bytes}"),
                    oversized: true,
                };
            }
            match serde_json::from_value::<Envelope>(v) {
                Ok(e) if valid_envelope(&e) => Parsed::Good(e),
                Ok(_) => Parsed::Rejected {
                    id,
                    reason: "id must be CALL/SEQ, CALL 1-64 of [A-Za-z0-9_-]".into(),
                    oversized: false,
                },
                Err(e) => Parsed::Rejected {
                    id,
                    reason: e.to_string(),
                    oversized: false,
                },
            }
        })
        .collect())
}

pub(super) fn valid_envelope(e: &Envelope) -> bool {
    valid_call_id(&e.call) && e.id == format!("{}/{}", e.call, e.seq)
}

/// A call id a monitor may choose: 1-64 characters of letters, digits, `-` and `_`.
pub fn valid_call_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

// ---- supervisors: sessions ----

const COOKIE: &str = "calmline_session";

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The signed-in supervisor and their CSRF token.
async fn session(hub: &Shared, headers: &HeaderMap) -> Option<(User, String)> {
    let id = cookie(headers, COOKIE)?.to_string();
    let h = hub.clone();
    tokio::task::spawn_blocking(move || h.db().session(&auth::digest(&id)))
        .await
        .ok()?
        .ok()?
}

/// A state-changing request must carry the session's CSRF token in `X-CSRF-Token` (a page
/// of another site cannot read it, so cannot forge the request).
async fn session_for_write(hub: &Shared, headers: &HeaderMap) -> Result<User, Response> {
    let Some((user, csrf)) = session(hub, headers).await else {
        return Err(plain(StatusCode::UNAUTHORIZED, "sign in at /login"));
    };
    let sent = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !auth::same(sent, &csrf) {
        hub.count("refused_csrf", 1);
        return Err(plain(
            StatusCode::FORBIDDEN,
            "missing or wrong X-CSRF-Token",
        ));
    }
    Ok(user)
}

async fn login_page(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let error = if q.contains_key("failed") {
        r#"<p class="error" role="alert">Wrong name or password.</p>"#
    } else {
        ""
    };
    Html(super::page::LOGIN.replace("{{error}}", error))
}

/// `429` with the sign-in form and when to try again.
fn locked_out(wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let when = if secs < 90 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs.div_ceil(60))
    };
    let page = super::page::LOGIN.replace(
        "{{error}}",
        &format!(
            r#"<p class="error" role="alert">Too many failed sign-ins for this name or from this computer. Try again in {when}.</p>"#
        ),
    );
    let mut r = (StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(
    State(hub): State<Shared>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    // A form posted from another site is refused (login CSRF).
    if let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) && origin != "null"
        && origin.split("://").nth(1) != Some(host)
    {
        hub.count("refused_csrf", 1);
        return plain(StatusCode::FORBIDDEN, "login form posted from another site");
    }
    // Locked names and addresses are refused before any password work.
    let attempt = hub.sign_in.lock().unwrap_or_else(|p| p.into_inner()).begin(
        &f.username,
        peer.ip(),
        std::time::Instant::now(),
    );
    let attempt = match attempt {
        Ok(a) => a,
        Err(refused) => {
            hub.count("login_locked_out", 1);
            return locked_out(refused.retry_after);
        }
    };
    let Ok(_permit) = hub.password_checks.acquire().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "the hub is stopping");
    };
    let h = hub.clone();
    let hours = hub.opts.session_hours;
    let lock = attempt.lock;
    let result = tokio::task::spawn_blocking(move || -> Result<Option<String>> {
        let db = h.db();
        let failed = |name: &str| -> Result<Option<String>> {
            db.audit(name, "login_failed", None)?;
            if let Some(l) = lock {
                let detail = format!(
                    "too many failed sign-ins for this name or from {}: refused for {} s",
                    peer.ip(),
                    l.as_secs()
                );
                db.audit(name, "login_locked", Some(&detail))?;
            }
            Ok(None)
        };
        let Some((user, hash)) = db.user(&f.username)? else {
            // The same work as a real check, so a wrong name and a wrong password look alike.
            let _ = auth::check_password(&f.password, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
            return failed(&f.username);
        };
        if !auth::check_password(&f.password, &hash) {
            return failed(&user.name);
        }
        let id = auth::secret("clss_")?;
        let csrf = auth::secret("")?;
        db.add_session(
            &auth::digest(&id),
            &user.name,
            &csrf,
            now_ms() + hours as i64 * 3_600_000,
        )?;
        db.audit(&user.name, "login", None)?;
        Ok(Some(id))
    })
    .await;
    match result {
        Ok(Ok(Some(id))) => {
            hub.sign_in
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .succeeded(attempt);
            let mut r = Redirect::to("/").into_response();
            let c = format!(
                "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                hours as u64 * 3600,
                if hub.opts.tls.is_some() {
                    "; Secure"
                } else {
                    ""
                }
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Ok(None)) => {
            hub.count("login_failed", 1);
            match lock {
                Some(l) => {
                    hub.count("login_locked", 1);
                    locked_out(l)
                }
                None => Redirect::to("/login?failed").into_response(),
            }
        }
        _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    }
}

async fn logout(State(hub): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, COOKIE).map(String::from) {
        let h = hub.clone();
        let _ = tokio::task::spawn_blocking(move || h.db().end_session(&auth::digest(&id))).await;
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("calmline_session=; Path=/; Max-Age=0"),
    );
    r
}

// ---- supervisors: pages and API ----

async fn floor_page(State(hub): State<Shared>, headers: HeaderMap) -> Response {
    if session(&hub, &headers).await.is_none() {
        return Redirect::to("/login").into_response();
    }
    Html(super::page::FLOOR).into_response()
}

async fn me(State(hub): State<Shared>, headers: HeaderMap) -> Response {
    match session(&hub, &headers).await {
        Some((u, csrf)) => json_response(
            StatusCode::OK,
            serde_json::json!({"name": u.name, "teams": u.teams, "admin": u.admin, "csrf": csrf}),
        ),
        None => plain(StatusCode::UNAUTHORIZED, "sign in at /login"),
    }
}

/// What the floor view starts from: the active calls and the alerts not yet resolved.
async fn floor_state(State(hub): State<Shared>, headers: HeaderMap) -> Response {
    let Some((user, _)) = session(&hub, &headers).await else {
        return plain(StatusCode::UNAUTHORIZED, "sign in at /login");
    };
    let h = hub.clone();
    let r = tokio::task::spawn_blocking(move || -> Result<(Vec<CallRow>, Vec<AlertRow>)> {
        let db = h.db();
        let calls = db.calls(&Filter {
            active: Some(true),
            ..Default::default()
        })?;
        let alerts = db.alerts(&Filter {
            state: Some("active".into()),
            ..Default::default()
        })?;
        Ok((calls, alerts))
    })
    .await;
    match r {
        Ok(Ok((calls, alerts))) => {
            let calls: Vec<_> = calls.into_iter().filter(|c| user.sees(&c.team)).collect();
            let alerts: Vec<_> = alerts.into_iter().filter(|a| user.sees(&a.team)).collect();
            json_response(
                StatusCode::OK,
                serde_json::json!({"calls": calls, "alerts": alerts, "now_ms": now_ms()}),
            )
        }
        _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    }
}

/// A history query as the URL carries it (every value a string: serde's `flatten` cannot read
/// numbers from a query string, so the conversion is done here).
#[derive(Deserialize, Default)]
struct ListQuery {
    team: Option<String>,
    agent: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    active: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

impl ListQuery {
    /// The store's filter, or what is wrong with the query.
    fn filter(&self) -> std::result::Result<Filter, String> {
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let limit = match nonempty(&self.limit) {
            Some(l) => Some(
                l.parse::<u32>()
                    .map_err(|_| format!("limit={l}: expected a number"))?,
            ),
            None => None,
        };
        let active = match nonempty(&self.active).as_deref() {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(v) => return Err(format!("active={v}: expected true or false")),
        };
        Ok(Filter {
            team: nonempty(&self.team),
            agent: nonempty(&self.agent),
            kind: nonempty(&self.kind),
            state: nonempty(&self.state),
            from: nonempty(&self.from),
            to: nonempty(&self.to),
            q: nonempty(&self.q),
            active,
            limit,
        })
    }
}

fn csv_field(s: &str) -> String {
    // Quote always; a leading = + - @ would be a formula to a spreadsheet.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn iso(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return String::new();
    };
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The rows of a list endpoint that the signed-in user may see, by the query's filters.
async fn visible_rows<T: Send + 'static>(
    hub: &Shared,
    headers: &HeaderMap,
    q: &ListQuery,
    fetch: fn(&Store, &Filter) -> Result<Vec<T>>,
    team: fn(&T) -> &str,
) -> std::result::Result<Vec<T>, Response> {
    let Some((user, _)) = session(hub, headers).await else {
        return Err(plain(StatusCode::UNAUTHORIZED, "sign in at /login"));
    };
    let f = q.filter().map_err(|m| plain(StatusCode::BAD_REQUEST, m))?;
    let h = hub.clone();
    let Ok(Ok(rows)) = tokio::task::spawn_blocking(move || fetch(&h.db(), &f)).await else {
        return Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"));
    };
    Ok(rows.into_iter().filter(|r| user.sees(team(r))).collect())
}

async fn calls(
    State(hub): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let rows = match visible_rows(&hub, &headers, &q, Store::calls, |c: &CallRow| &c.team).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    if q.format.as_deref() == Some("csv") {
        let mut out = String::from(
            "call,team,agent,station,started,ended,duration_s,peak_escalation,last_snippet\n",
        );
        for c in &rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{:.1},{:.2},{}\n",
                csv_field(&c.id),
                csv_field(&c.team),
                csv_field(&c.agent),
                csv_field(&c.station),
                iso(Some(c.started_ms)),
                iso(c.ended_ms),
                c.duration_s,
                c.peak,
                csv_field(c.snippet.as_deref().unwrap_or(""))
            ));
        }
        return csv(out, "calls.csv");
    }
    json_response(StatusCode::OK, serde_json::json!({ "calls": rows }))
}

fn csv(body: String, name: &str) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

async fn alerts(
    State(hub): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let rows = match visible_rows(&hub, &headers, &q, Store::alerts, |a: &AlertRow| &a.team).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    if q.format.as_deref() == Some("csv") {
        let mut out = String::from(
            "alert,call,team,agent,kind,state,opened,call_time_s,repeats,claimed_by,resolved_by,headline,reason,snippet,note\n",
        );
        for a in &rows {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{:.1},{},{},{},{},{},{},{}\n",
                a.id,
                csv_field(&a.call),
                csv_field(&a.team),
                csv_field(&a.agent),
                a.kind,
                a.state,
                iso(Some(a.opened_ms)),
                a.t_s,
                a.repeats,
                csv_field(a.claimed_by.as_deref().unwrap_or("")),
                csv_field(a.resolved_by.as_deref().unwrap_or("")),
                csv_field(&a.headline),
                csv_field(&a.reason),
                csv_field(a.snippet.as_deref().unwrap_or("")),
                csv_field(a.note.as_deref().unwrap_or(""))
            ));
        }
        return csv(out, "alerts.csv");
    }
    json_response(StatusCode::OK, serde_json::json!({ "alerts": rows }))
}

/// The alert, if it exists and `user` may see it.
async fn visible_alert(hub: &Shared, user: &User, id: i64) -> Option<AlertRow> {
    let h = hub.clone();
    let a = tokio::task::spawn_blocking(move || h.db().alert(id))
        .await
        .ok()?
        .ok()??;
    user.sees(&a.team).then_some(a)
}

async fn alert_audit(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    let Some((user, _)) = session(&hub, &headers).await else {
        return plain(StatusCode::UNAUTHORIZED, "sign in at /login");
    };
    if visible_alert(&hub, &user, id).await.is_none() {
        return plain(StatusCode::NOT_FOUND, format!("no alert {id}"));
    }
    let h = hub.clone();
    match tokio::task::spawn_blocking(move || h.db().audit_of(id)).await {
        Ok(Ok(rows)) => json_response(StatusCode::OK, serde_json::json!({ "audit": rows })),
        _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    }
}

#[derive(Deserialize, Default)]
struct ResolveBody {
    note: Option<String>,
}

enum Step {
    Claim,
    Unclaim,
    Resolve(Option<String>),
}

async fn step(hub: Shared, headers: HeaderMap, id: i64, s: Step) -> Response {
    let user = match session_for_write(&hub, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if visible_alert(&hub, &user, id).await.is_none() {
        return plain(StatusCode::NOT_FOUND, format!("no alert {id}"));
    }
    let h = hub.clone();
    let name = user.name.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut db = h.db();
        let r = match s {
            Step::Claim => db.claim(id, &name, true),
            Step::Unclaim => db.claim(id, &name, false),
            Step::Resolve(note) => {
                let note = note
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| n.chars().take(2000).collect::<String>());
                db.resolve(id, &name, note.as_deref())
            }
        };
        if let Ok(Some(a)) = &r {
            h.publish(
                &db,
                &Changes {
                    calls: Vec::new(),
                    alerts: vec![a.id],
                },
            );
            h.steps_wake.notify_one();
        }
        r
    })
    .await;
    match r {
        Ok(Ok(Some(a))) => json_response(StatusCode::OK, serde_json::json!({ "alert": a })),
        Ok(Ok(None)) => plain(StatusCode::NOT_FOUND, format!("no alert {id}")),
        Ok(Err(Error::Invalid(m))) => plain(StatusCode::CONFLICT, m),
        _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    }
}

async fn claim(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    step(hub, headers, id, Step::Claim).await
}

async fn unclaim(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    step(hub, headers, id, Step::Unclaim).await
}

async fn resolve(
    State(hub): State<Shared>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<i64>,
    body: axum::body::Bytes,
) -> Response {
    let b: ResolveBody = if body.is_empty() {
        ResolveBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    format!("expected {{\"note\": \"...\"}}: {e}"),
                );
            }
        }
    };
    step(hub, headers, id, Step::Resolve(b.note)).await
}

/// The live stream: every update of a call or alert the user may see, as Server-Sent Events.
async fn stream(State(hub): State<Shared>, headers: HeaderMap) -> Response {
    let Some((user, _)) = session(&hub, &headers).await else {
        return plain(StatusCode::UNAUTHORIZED, "sign in at /login");
    };
    let rx = hub.floor.subscribe();
    let s = futures_util::stream::unfold((rx, user), |(mut rx, user)| async move {
        loop {
            match rx.recv().await {
                Ok(u) if user.sees(&u.team) => {
                    let ev = SseEvent::default().data(u.json);
                    return Some((Ok::<_, std::convert::Infallible>(ev), (rx, user)));
                }
                Ok(_) => continue,
                // Too slow to keep up: tell the page to fetch the whole floor again.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let ev = SseEvent::default().data(r#"{"type":"resync"}"#);
                    return Some((Ok(ev), (rx, user)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response()
}

/// The stations of the user's teams: last heard from, their call, capturing, dropped audio.
async fn stations(State(hub): State<Shared>, headers: HeaderMap) -> Response {
    let Some((user, _)) = session(&hub, &headers).await else {
        return plain(StatusCode::UNAUTHORIZED, "sign in at /login");
    };
    let h = hub.clone();
    match tokio::task::spawn_blocking(move || h.db().station_health()).await {
        Ok(Ok(rows)) => {
            let rows: Vec<_> = rows.into_iter().filter(|s| user.sees(&s.team)).collect();
            json_response(
                StatusCode::OK,
                serde_json::json!({
                    "stations": rows,
                    "now_ms": now_ms(),
                    "silent_after_s": hub.opts.silent_after_s,
                }),
            )
        }
        _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    }
}

/// Counters (refusals, duplicates, events stored) and stations: admins only.
async fn stats(State(hub): State<Shared>, headers: HeaderMap) -> Response {
    let Some((user, _)) = session(&hub, &headers).await else {
        return plain(StatusCode::UNAUTHORIZED, "sign in at /login");
    };
    if !user.admin {
        return plain(StatusCode::FORBIDDEN, "admins only");
    }
    flush_counts(&hub);
    let h = hub.clone();
    match tokio::task::spawn_blocking(move || {
        let db = h.db();
        Ok::<_, Error>((db.counters()?, db.stations()?))
    })
    .await
    {
        Ok(Ok((c, s))) => json_response(
            StatusCode::OK,
            serde_json::json!({"counters": c, "stations": s}),
        ),
        _ => plain(StatusCode::INTERNAL_SERVER_ERROR, "the store failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_and_csv_are_safe() {
        assert!(valid_call_id("2026-11-25_a1b2"));
        assert!(!valid_call_id(""));
        assert!(!valid_call_id("a/b"));
        assert!(!valid_call_id(&"x".repeat(65)));
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "\"'=SUM(A1)\"");
        assert_eq!(iso(Some(1_795_564_800_000)), "2026-11-25T00:00:00Z");
        assert_eq!(iso(None), "");
    }
}
