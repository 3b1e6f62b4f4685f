//! The hub's NATS JetStream feed (`calmline hub --nats URL`): monitors on any site publish
//! their events to the `CALMLINE` stream (see [`crate::uplink::nats`]); every hub reads them
//! through a durable pull consumer of its own, so two hubs both see the whole floor, and a hub
//! restarted carries on from where its consumer stopped.
//!
//! Events go through the same writer as the HTTP ingest and are acknowledged to JetStream only
//! once committed. Delivery is at least once (redelivered after a hub crash or a lost ack): the
//! store keeps each event id once, so a redelivery changes nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer, stream};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::oneshot;

use super::server::{Fate, IngestJob, Shared, foreign_calls, valid_envelope};
use super::store::Station;
use crate::events::Envelope;
use crate::uplink::nats::{NatsAuth, STREAM, STREAM_SUBJECTS, connect, parse_subject};

/// Where a hub reads the floor's events from.
#[derive(Debug, Clone)]
pub struct NatsFeed {
    /// The NATS server(s).
    pub url: String,
    /// The hub's credentials.
    pub auth: NatsAuth,
    /// The durable consumer's name (one per hub).
    pub consumer: String,
    /// Sites followed (empty = all).
    pub sites: Vec<String>,
}

/// How long a station's registry entry is trusted before it is read again.
const STATION_TTL: Duration = Duration::from_secs(5);

/// Messages handled per commit at most.
const BATCH: usize = 1000;

/// Start following the stream (one task per site followed).
pub(super) fn start(hub: Shared, feed: NatsFeed) {
    let sites: Vec<Option<String>> = if feed.sites.is_empty() {
        vec![None]
    } else {
        feed.sites.iter().cloned().map(Some).collect()
    };
    for site in sites {
        tokio::spawn(follow(hub.clone(), feed.clone(), site));
    }
}

/// Follow one consumer for ever: connect, read, commit, acknowledge; on any failure wait and
/// start again (the consumer remembers what was acknowledged).
async fn follow(hub: Shared, feed: NatsFeed, site: Option<String>) {
    let mut backoff = Duration::from_millis(250);
    let mut warned = false;
    loop {
        let err = follow_once(&hub, &feed, site.as_deref(), &mut warned).await;
        hub.count("nats_reconnects", 1);
        if !warned {
            eprintln!(
                "calmline hub: NATS at {}: {err}; retrying (events wait in the stream)",
                feed.url
            );
            warned = true;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn follow_once(
    hub: &Shared,
    feed: &NatsFeed,
    site: Option<&str>,
    warned: &mut bool,
) -> String {
    let client = match connect(
        &feed.url,
        &feed.auth,
        &format!("calmline hub {}", feed.consumer),
        Duration::from_secs(5),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return e,
    };
    let js = jetstream::new(client);
    let stream = match js
        .get_or_create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![STREAM_SUBJECTS.into()],
            storage: stream::StorageType::File,
            // Long enough for a hub down over a weekend to catch up; hubs keep their own store.
            max_age: Duration::from_secs(7 * 86_400),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
    {
        Ok(s) => s,
        Err(e) => return format!("cannot open the {STREAM} stream: {e}"),
    };
    let (durable, filter) = match site {
        Some(s) => (
            format!("{}-{s}", feed.consumer),
            format!("calmline.{s}.*.events"),
        ),
        None => (feed.consumer.clone(), STREAM_SUBJECTS.to_string()),
    };
    let consumer: consumer::PullConsumer = match stream
        .get_or_create_consumer(
            &durable,
            consumer::pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: filter,
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 20_000,
                ..Default::default()
            },
        )
        .await
    {
        Ok(c) => c,
        Err(e) => return format!("cannot open consumer {durable}: {e}"),
    };
    // The consumer's backlog for /metrics, every 5 s while this connection lasts.
    let lag = {
        let (c, m, name) = (consumer.clone(), hub.metrics.clone(), durable.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if let Ok(i) = c.get_info().await {
                    m.nats(&name, i.num_pending, i.num_ack_pending as u64);
                }
            }
        })
    };
    let _stop_lag = AbortOnDrop(lag);
    let mut messages = match consumer.messages().await {
        Ok(m) => m,
        Err(e) => return format!("cannot read consumer {durable}: {e}"),
    };
    if *warned {
        eprintln!(
            "calmline hub: NATS at {}: following again ({durable})",
            feed.url
        );
        *warned = false;
    }
    let mut stations: HashMap<String, (Station, Instant)> = HashMap::new();
    loop {
        let first = match messages.next().await {
            None => return format!("consumer {durable} ended"),
            // Missed heartbeats and the like: the stream recovers by itself.
            Some(Err(e)) => {
                hub.count("nats_stream_errors", 1);
                if e.kind() == consumer::pull::MessagesErrorKind::ConsumerDeleted {
                    return format!("consumer {durable} was deleted");
                }
                continue;
            }
            Some(Ok(m)) => m,
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match messages.next().now_or_never() {
                Some(Some(Ok(m))) => batch.push(m),
                _ => break,
            }
        }
        if let Err(e) = handle(hub, batch, &mut stations).await {
            return e;
        }
    }
}

/// Stops a background task when its owner is gone.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The hub's station for a subject's site and station: `SITE.STATION`, in the team the hub's
/// registry gives it (`calmline hub token add SITE.STATION --team T`), else in the site's team.
fn station(hub: &Shared, site: &str, name: &str) -> Station {
    let full = format!("{site}.{name}");
    match hub.db().station_by_name(&full) {
        Ok(Some(s)) => s,
        _ => Station {
            name: full,
            team: site.to_string(),
            revoked: false,
        },
    }
}

/// Validate, commit and acknowledge one batch. An error leaves the batch unacknowledged
/// (JetStream redelivers it).
async fn handle(
    hub: &Shared,
    batch: Vec<jetstream::Message>,
    stations: &mut HashMap<String, (Station, Instant)>,
) -> Result<(), String> {
    let mut good: Vec<(Station, Envelope)> = Vec::new();
    let mut kept: Vec<jetstream::Message> = Vec::new();
    let mut refused: Vec<jetstream::Message> = Vec::new();
    for m in batch {
        let Some((site, name)) = parse_subject(m.subject.as_str()) else {
            hub.count("rejected_malformed_event", 1);
            refused.push(m);
            continue;
        };
        let key = format!("{site}.{name}");
        // Looked up again now and then: a registry change (team, revocation) takes effect.
        let st = match stations
            .get(&key)
            .filter(|(_, at)| at.elapsed() < STATION_TTL)
        {
            Some((s, _)) => s.clone(),
            None => {
                let (h, site, name) = (hub.clone(), site.to_string(), name.to_string());
                let s = tokio::task::spawn_blocking(move || station(&h, &site, &name))
                    .await
                    .map_err(|e| e.to_string())?;
                stations.insert(key, (s.clone(), Instant::now()));
                s
            }
        };
        if st.revoked {
            hub.count("refused_bad_token", 1);
            refused.push(m);
            continue;
        }
        if m.payload.len() > hub.opts.max_event_bytes {
            hub.count("rejected_oversized_event", 1);
            refused.push(m);
            continue;
        }
        match serde_json::from_slice::<Envelope>(&m.payload) {
            Ok(e) if valid_envelope(&e) => {
                super::server::note_outbox(hub, &e);
                good.push((st, e));
                kept.push(m);
            }
            _ => {
                hub.count("rejected_malformed_event", 1);
                refused.push(m);
            }
        }
    }
    // A call belongs to the station that started it, whichever way its events come.
    let mut by_station: HashMap<String, Vec<(Station, Envelope)>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut index: HashMap<String, jetstream::Message> = HashMap::new();
    for ((st, e), m) in good.into_iter().zip(kept) {
        index.insert(e.id.clone(), m);
        if !by_station.contains_key(&st.name) {
            order.push(st.name.clone());
        }
        by_station.entry(st.name.clone()).or_default().push((st, e));
    }
    let mut all: Vec<(Station, Envelope)> = Vec::new();
    for name in order {
        let mut events = by_station.remove(&name).unwrap_or_default();
        for bad in foreign_calls(hub, &name, &mut events).await {
            if let Some(m) = index.remove(&bad) {
                refused.push(m);
            }
        }
        all.extend(events);
    }
    if !all.is_empty() {
        let n = all.len();
        let (tx, rx) = oneshot::channel();
        hub.ingest
            .send(IngestJob {
                batch: all,
                reply: tx,
            })
            .map_err(|_| "the hub's store is closed".to_string())?;
        let fates = match rx.await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                for m in index.values() {
                    let _ = m.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
                }
                return Err(format!("not stored: {e}"));
            }
            Err(_) => return Err("the hub's store is closed".into()),
        };
        let dups = fates.iter().filter(|f| **f == Fate::Duplicate).count();
        if dups > 0 {
            hub.count("duplicates_ignored", dups as i64);
        }
        hub.count("events_stored", (n - dups) as i64);
        hub.count("events_from_nats", n as i64);
    }
    for m in index.values() {
        m.ack()
            .await
            .map_err(|e| format!("cannot acknowledge: {e}"))?;
    }
    for m in refused {
        // Never redelivered: a malformed or foreign event will not get better.
        let _ = m.ack_with(AckKind::Term).await;
    }
    Ok(())
}
