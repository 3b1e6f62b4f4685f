//! A monitor's connection to the hub: what of a live call is shared, and how it gets there
//! without ever holding up the analysis or losing an alert.
//!
//! The analysis thread hands each event to [`Uplink::event`], which keeps only what the hub may
//! see (see [`shared`]), numbers it, and puts it on a bounded queue (never blocking: a full queue
//! counts a drop). The uplink thread appends what it takes to an outbox file on disk, sends
//! batches over HTTP, and forgets an event only once the hub has acknowledged it (which it does
//! only after committing). When the hub is unreachable it retries with backoff; when the monitor
//! is restarted, what the outbox still holds is sent first. The hub ignores ids it already has,
//! so sending again never duplicates.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::error::{Error, Result};
use crate::events::{Envelope, Event, EventBody, Speaker};

pub mod nats;

/// How a monitor reports to its hub.
#[derive(Debug, Clone)]
pub struct UplinkOptions {
    /// The hub's base URL (`http://host:7878`).
    pub url: String,
    /// The station token (`calmline hub token add`).
    pub token: String,
    /// The agent's name as supervisors see it.
    pub agent: String,
    /// Where unacknowledged events wait.
    pub outbox: PathBuf,
    /// Also share the agent's own figures (`[alerts] share_agent_metrics`).
    pub share_agent_metrics: bool,
    /// Seconds between the customer's level updates.
    pub level_interval_s: f64,
    /// Trust only this CA (PEM) for an `https://` hub with a private certificate.
    pub ca: Option<PathBuf>,
    /// Publish to NATS JetStream instead of posting to `url` (then `url`, `token` and `ca` are
    /// not used).
    pub nats: Option<nats::NatsTarget>,
}

/// Counts of what the uplink did, readable while it runs.
#[derive(Debug, Default)]
pub struct UplinkStats {
    /// Events queued for the hub.
    pub queued: AtomicU64,
    /// Events the hub acknowledged.
    pub acked: AtomicU64,
    /// Events the hub refused for good (malformed, too large): logged and dropped.
    pub rejected: AtomicU64,
    /// Events dropped because the queue to the uplink thread was full.
    pub dropped: AtomicU64,
    /// Failed attempts to reach the hub.
    pub failures: AtomicU64,
    /// Events in the outbox now, waiting for the hub.
    pub pending: AtomicU64,
}

/// What the uplink did over a call.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UplinkSummary {
    /// The call's id at the hub.
    pub call: String,
    /// Events queued for the hub.
    pub queued: u64,
    /// Acknowledged by the hub.
    pub acked: u64,
    /// Refused by the hub for good.
    pub rejected: u64,
    /// Dropped on a full queue.
    pub dropped: u64,
    /// Still in the outbox (sent when the next call starts or the hub is back).
    pub pending: u64,
    /// Failed attempts to reach the hub.
    pub failures: u64,
}

/// The monitor's side of the hub connection, owned by the analysis thread.
pub struct Uplink {
    call: String,
    seq: u64,
    tx: Option<Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<u64>>,
    stats: Arc<UplinkStats>,
    share_agent: bool,
    level_every: f64,
    /// Call clock of the last level sent, and the highest score since.
    last_level: f64,
    peak_since: f32,
}

enum Msg {
    Event(Box<Envelope>),
    /// Stop once everything is acknowledged or the deadline passes.
    Finish(Instant),
}

/// Largest request the uplink sends (the hub's default limit is 1 MiB).
const MAX_BATCH_BYTES: usize = 512 * 1024;
/// Events waiting for the uplink thread at most (about 15 minutes of a call's shared events).
const QUEUE: usize = 16_384;

/// Whether (and in what form) an event of the call goes to the hub: the customer's side and the
/// monitor's health; the agent's measurements only when the centre shares them; coaching cues
/// never (they are the agent's own).
pub fn shared(e: &Event, share_agent: bool) -> Option<Event> {
    let customer = |s: &Speaker| *s == Speaker::Customer || (share_agent && *s == Speaker::Agent);
    let keep = match &e.body {
        EventBody::Levels(l) => customer(&l.speaker),
        EventBody::Baseline { speaker, .. } | EventBody::EpisodeStart { speaker, .. } => {
            customer(speaker)
        }
        EventBody::EpisodeEnd(ep) => customer(&ep.speaker),
        EventBody::SpeakerSummary(s) => customer(&s.speaker),
        EventBody::Transcript(s) => customer(&s.speaker),
        EventBody::Phrase(p) => customer(&p.speaker),
        EventBody::ConversationSummary(_)
        | EventBody::Overlap { .. }
        | EventBody::Interruption { .. }
        | EventBody::Silence { .. } => share_agent,
        EventBody::Alert(_)
        | EventBody::Status(_)
        | EventBody::Warning { .. }
        | EventBody::CallStart { .. }
        | EventBody::CallEnd { .. } => true,
        // The provisional first signal is for the agent's meter; the floor waits for episodes.
        EventBody::Cue(_) | EventBody::TranscriptSkipped { .. } | EventBody::Rising { .. } => false,
        #[allow(unreachable_patterns)]
        _ => false,
    };
    if !keep {
        return None;
    }
    let mut e = e.clone();
    if let EventBody::Alert(a) = &mut e.body
        && !share_agent
    {
        a.agent = None;
    }
    Some(e)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new call id: the wall-clock time and a random part, valid for the hub.
pub fn new_call_id() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom::fill(&mut b);
    let r: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{r}", now_ms())
}

impl Uplink {
    /// Connect a new call to the hub (the connection itself is made, and remade, by the uplink
    /// thread: a hub that is down does not stop the call) and queue its `call_start`.
    pub fn start(opts: UplinkOptions) -> Result<Self> {
        std::fs::create_dir_all(&opts.outbox).map_err(|source| Error::Write {
            path: opts.outbox.clone(),
            source,
        })?;
        let roots = match &opts.ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|i| match i {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{}: no PEM certificate in it",
                        path.display()
                    )));
                }
                Some(ureq::tls::RootCerts::from(certs))
            }
            None => None,
        };
        let transport = match &opts.nats {
            Some(t) => Transport::Nats(Box::new(nats::Publisher::new(t.clone())?)),
            None => Transport::http(&opts, roots),
        };
        let call = new_call_id();
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let stats = Arc::new(UplinkStats::default());
        let st = stats.clone();
        let file = opts.outbox.join(format!("{call}.jsonl"));
        let o = opts.clone();
        let thread = std::thread::Builder::new()
            .name("uplink".into())
            .spawn(move || sender(o, transport, file, rx, st))
            .map_err(|e| Error::Invalid(format!("cannot start the uplink thread: {e}")))?;
        let mut me = Self {
            call,
            seq: 0,
            tx: Some(tx),
            thread: Some(thread),
            stats,
            share_agent: opts.share_agent_metrics,
            level_every: opts.level_interval_s,
            last_level: f64::NEG_INFINITY,
            peak_since: 0.0,
        };
        me.push(Event {
            t_s: 0.0,
            body: EventBody::CallStart { agent: opts.agent },
        });
        Ok(me)
    }

    /// The call's id at the hub.
    pub fn call(&self) -> &str {
        &self.call
    }

    /// Counters, live.
    pub fn stats(&self) -> &UplinkStats {
        &self.stats
    }

    /// Offer one event of the call; never blocks.
    pub fn event(&mut self, e: &Event) {
        let Some(e) = shared(e, self.share_agent) else {
            return;
        };
        // Levels: the customer's score about once a second (its peak over the second, so a
        // short spike still shows), not ten times.
        if let EventBody::Levels(l) = &e.body {
            if l.speaker != Speaker::Customer {
                return;
            }
            self.peak_since = self.peak_since.max(l.escalation);
            if e.t_s - self.last_level < self.level_every {
                return;
            }
            self.last_level = e.t_s;
            let mut e = e.clone();
            if let EventBody::Levels(l) = &mut e.body {
                l.escalation = self.peak_since;
            }
            self.peak_since = 0.0;
            self.push(e);
            return;
        }
        let mut e = e;
        // The hub's operators see each monitor's backlog.
        if let EventBody::Status(st) = &mut e.body {
            st.outbox = Some(self.stats.pending.load(Ordering::Relaxed));
        }
        self.push(e);
    }

    fn push(&mut self, event: Event) {
        let env = Envelope {
            id: format!("{}/{}", self.call, self.seq),
            call: self.call.clone(),
            seq: self.seq,
            sent_ms: now_ms(),
            event,
        };
        self.seq += 1;
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Msg::Event(Box::new(env))) {
            Ok(()) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// End the call: queue `call_end`, then wait up to `wait` for the hub to acknowledge
    /// everything. What it has not acknowledged stays in the outbox for the next run.
    pub fn finish(mut self, duration_s: f64, wait: Duration) -> UplinkSummary {
        self.push(Event {
            t_s: duration_s,
            body: EventBody::CallEnd { duration_s },
        });
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Finish(Instant::now() + wait));
        }
        let pending = self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0);
        let s = &self.stats;
        UplinkSummary {
            call: self.call.clone(),
            queued: s.queued.load(Ordering::Relaxed),
            acked: s.acked.load(Ordering::Relaxed),
            rejected: s.rejected.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            pending,
            failures: s.failures.load(Ordering::Relaxed),
        }
    }
}

/// One event waiting for its acknowledgement.
struct Pending {
    id: String,
    json: String,
    /// The outbox file holding it.
    file: PathBuf,
}

/// Outbox files left by earlier runs, oldest first, with their events.
fn leftovers(dir: &Path, current: &Path) -> Vec<Pending> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p != current)
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            // A line cut short by a crash is not an event: skip it.
            if let Ok(env) = serde_json::from_str::<Envelope>(line) {
                out.push(Pending {
                    id: env.id,
                    json: line.to_string(),
                    file: f.clone(),
                });
            }
        }
        if out.last().is_none_or(|p| p.file != f) {
            let _ = std::fs::remove_file(&f);
        }
    }
    out
}

/// What the other end made of a batch.
struct Answer {
    /// Stored (or already had): forget them.
    acked: Vec<String>,
    /// Refused for good, with the reason: forget them too.
    rejected: Vec<(String, String)>,
}

/// How batches reach the hub: HTTP to one hub, or JetStream for any number of hubs.
enum Transport {
    Http {
        agent: ureq::Agent,
        url: String,
        base: String,
        auth: String,
    },
    Nats(Box<nats::Publisher>),
}

impl Transport {
    fn http(opts: &UplinkOptions, roots: Option<ureq::tls::RootCerts>) -> Self {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false);
        if let Some(roots) = roots {
            config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        }
        Transport::Http {
            agent: config.build().into(),
            url: format!("{}/api/ingest", opts.url.trim_end_matches('/')),
            base: opts.url.clone(),
            auth: format!("Bearer {}", opts.token),
        }
    }

    /// Send `batch` (id, JSON); an error says why nothing was acknowledged.
    fn send(&mut self, batch: &[(&str, &str)]) -> std::result::Result<Answer, String> {
        match self {
            Transport::Nats(p) => p.send(batch).map(|acked| Answer {
                acked,
                rejected: Vec::new(),
            }),
            Transport::Http {
                agent,
                url,
                base,
                auth,
            } => {
                let mut body = String::from("{\"events\":[");
                for (n, (_, json)) in batch.iter().enumerate() {
                    if n > 0 {
                        body.push(',');
                    }
                    body.push_str(json);
                }
                body.push_str("]}");
                let result = agent
                    .post(url.as_str())
                    .header("Authorization", auth.as_str())
                    .content_type("application/json")
                    .send(body.as_bytes());
                match result {
                    Ok(mut resp) if resp.status().as_u16() == 200 => {
                        let text = resp.body_mut().read_to_string().unwrap_or_default();
                        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                        let acked = v["acked"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|id| id.as_str().map(String::from))
                            .collect();
                        let rejected = v["rejected"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|r| {
                                let id = r["id"].as_str()?.to_string();
                                Some((id, r["reason"].as_str().unwrap_or("?").to_string()))
                            })
                            .collect();
                        Ok(Answer { acked, rejected })
                    }
                    Ok(mut resp) => {
                        let code = resp.status().as_u16();
                        let text = resp.body_mut().read_to_string().unwrap_or_default();
                        Err(format!(
                            "the hub at {base} answered {code}: {}",
                            text.trim()
                        ))
                    }
                    Err(e) => Err(format!("cannot reach the hub at {base} ({e})")),
                }
            }
        }
    }
}

/// The uplink thread. Returns how many events were still unacknowledged when it stopped.
fn sender(
    opts: UplinkOptions,
    transport: Transport,
    file: PathBuf,
    rx: Receiver<Msg>,
    stats: Arc<UplinkStats>,
) -> u64 {
    let mut transport = transport;
    let mut pending: VecDeque<Pending> = leftovers(&opts.outbox, &file).into();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .ok();
    let mut backoff = Duration::from_millis(200);
    let mut next_try = Instant::now();
    let mut finish: Option<Instant> = None;
    let mut warned = false;
    loop {
        // 1. Take what the analysis queued; write it to the outbox before sending it.
        let wait = if pending.is_empty() {
            Duration::from_millis(200)
        } else {
            Duration::from_millis(20)
        };
        let first = match finish {
            Some(_) => None,
            None => match rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    finish = Some(Instant::now());
                    None
                }
            },
        };
        for m in first.into_iter().chain(rx.try_iter()) {
            match m {
                Msg::Event(env) => {
                    let Ok(json) = serde_json::to_string(&env) else {
                        continue;
                    };
                    if let Some(f) = out.as_mut() {
                        let _ = writeln!(f, "{json}");
                        let _ = f.flush();
                    }
                    pending.push_back(Pending {
                        id: env.id.clone(),
                        json,
                        file: file.clone(),
                    });
                }
                Msg::Finish(deadline) => finish = Some(deadline),
            }
        }
        stats.pending.store(pending.len() as u64, Ordering::Relaxed);
        if pending.is_empty() && finish.is_some() {
            break;
        }
        if finish.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if pending.is_empty() || Instant::now() < next_try {
            if finish.is_some() {
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        }
        // 2. Send a batch.
        let mut size = 0;
        let batch: Vec<(&str, &str)> = pending
            .iter()
            .take(1000)
            .take_while(|p| {
                size += p.json.len() + 1;
                size <= MAX_BATCH_BYTES
            })
            .map(|p| (p.id.as_str(), p.json.as_str()))
            .collect();
        // One oversized event still goes alone (the hub rejects it for good).
        let batch = if batch.is_empty() {
            pending
                .iter()
                .take(1)
                .map(|p| (p.id.as_str(), p.json.as_str()))
                .collect()
        } else {
            batch
        };
        let ok = match transport.send(&batch) {
            Ok(answer) => {
                let mut done: std::collections::HashSet<String> = std::collections::HashSet::new();
                for id in answer.acked {
                    done.insert(id);
                    stats.acked.fetch_add(1, Ordering::Relaxed);
                }
                for (id, reason) in answer.rejected {
                    eprintln!("calmline: the hub refused event {id}: {reason}");
                    done.insert(id);
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                }
                pending.retain(|p| !done.contains(&p.id));
                true
            }
            Err(msg) => {
                if !warned {
                    eprintln!(
                        "calmline: {msg}; events wait in {} and are sent when it is back",
                        opts.outbox.display()
                    );
                    warned = true;
                }
                false
            }
        };
        if ok {
            backoff = Duration::from_millis(200);
            next_try = Instant::now();
            warned = false;
            // Outbox files whose every event is acknowledged are done with.
            if pending.iter().all(|p| p.file != file)
                && let Some(f) = out.as_mut()
            {
                let _ = f.set_len(0);
            }
        } else {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            next_try = Instant::now() + backoff;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        let mut gone: Vec<PathBuf> = Vec::new();
        for p in pending.iter() {
            if p.file != file && !gone.contains(&p.file) {
                gone.push(p.file.clone());
            }
        }
        for f in std::fs::read_dir(&opts.outbox)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
        {
            if f.extension().is_some_and(|x| x == "jsonl") && f != file && !gone.contains(&f) {
                // Every event of this earlier call is acknowledged now.
                let _ = std::fs::remove_file(&f);
            }
        }
    }
    let left = pending.len() as u64;
    if left == 0 {
        drop(out);
        let _ = std::fs::remove_file(&file);
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Alert, AlertKind, Because, Cue, CueKind};

    fn ev(body: EventBody) -> Event {
        Event { t_s: 1.0, body }
    }

    #[test]
    fn only_the_customer_side_and_health_are_shared() {
        let because = Because {
            figures: Default::default(),
            moments: vec![],
            sentence: "x".into(),
        };
        let mut agent = std::collections::BTreeMap::new();
        agent.insert("agent_loudness_db".to_string(), 6.0);
        let alert = ev(EventBody::Alert(Alert {
            kind: AlertKind::EscalatedCall,
            headline: "h".into(),
            priority: 3,
            evidence: because.clone(),
            snippet: None,
            agent: Some(agent),
        }));
        let shared_alert = shared(&alert, false).unwrap();
        match &shared_alert.body {
            EventBody::Alert(a) => assert!(a.agent.is_none()),
            _ => panic!(),
        }
        match &shared(&alert, true).unwrap().body {
            EventBody::Alert(a) => assert!(a.agent.is_some()),
            _ => panic!(),
        }
        let cue = ev(EventBody::Cue(Cue {
            kind: CueKind::ALL[0],
            headline: "h".into(),
            example: None,
            priority: 1,
            evidence: because,
        }));
        assert!(shared(&cue, true).is_none());
        let overlap = ev(EventBody::Overlap {
            start_s: 0.0,
            end_s: 1.0,
        });
        assert!(shared(&overlap, false).is_none());
        assert!(shared(&overlap, true).is_some());
        let warn = ev(EventBody::Warning {
            message: "device lost".into(),
        });
        assert!(shared(&warn, false).is_some());
    }

    #[test]
    fn call_ids_are_unique_and_valid_for_the_hub() {
        let a = new_call_id();
        let b = new_call_id();
        assert_ne!(a, b);
        assert!(crate::hub::valid_call_id(&a), "{a}");
    }
}
