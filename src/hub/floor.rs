//! Supervisors' steps shared by the floor's hubs over NATS JetStream: a claim, unclaim or
//! resolve taken on one hub reaches every other hub following the same NATS server.
//!
//! A step is queued in the hub's store in the same transaction as the step itself (so a hub
//! that dies, or a NATS server that is down, loses none), published to the `CALMLINE_FLOOR`
//! stream with its id as the message id, and leaves the queue once JetStream has stored it.
//! Every hub reads the stream through a durable consumer of its own and applies the others'
//! steps ([`super::store::Store::apply_floor`]): the latest claim wins and the earliest
//! resolution, whatever order the steps arrive in, so every hub ends with the same alert.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, message::PublishMessage, stream};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::nats::NatsFeed;
use super::server::Shared;
use super::store::Changes;
use crate::uplink::nats::connect;

/// The stream of supervisors' steps.
pub const FLOOR_STREAM: &str = "CALMLINE_FLOOR";
/// Its one subject.
pub const FLOOR_SUBJECT: &str = "calmline.floor.steps";

/// What a supervisor did to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FloorStep {
    /// Took it ("I am on it").
    Claim,
    /// Gave it back.
    Unclaim,
    /// Closed it, with an optional note.
    Resolve,
}

/// One supervisor's step, as shared between hubs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloorAction {
    /// Unique id (the JetStream message id).
    pub id: String,
    /// The store it was taken on (its random id): a hub skips its own.
    pub origin: String,
    /// That hub's name (its `--consumer`), for the audit trail.
    pub hub: String,
    /// The id of the event that raised the alert: the same alert on every hub. `None` for an
    /// alert a hub raises itself (a silent station).
    pub event: Option<String>,
    /// The alert's call.
    pub call: String,
    /// The alert's kind.
    pub kind: String,
    /// What was done.
    pub step: FloorStep,
    /// By whom.
    pub user: String,
    /// The resolution note.
    pub note: Option<String>,
    /// When (ms since the epoch, the origin hub's clock).
    pub at_ms: i64,
}

/// Which store a step was taken on.
#[derive(Debug, Clone)]
pub struct FloorOrigin {
    /// The store's random id.
    pub id: String,
    /// The hub's name.
    pub hub: String,
}

/// Start sharing: publish this hub's steps, apply the others'.
pub(super) fn start(hub: Shared, feed: NatsFeed, origin: String) {
    tokio::spawn(retry(hub.clone(), feed.clone(), origin.clone(), true));
    tokio::spawn(retry(hub, feed, origin, false));
}

async fn retry(hub: Shared, feed: NatsFeed, origin: String, publish: bool) {
    let mut backoff = Duration::from_millis(250);
    let mut warned = false;
    loop {
        let r = if publish {
            publish_steps(&hub, &feed).await
        } else {
            follow_steps(&hub, &feed, &origin).await
        };
        hub.count("nats_floor_reconnects", 1);
        if !warned {
            let what = if publish { "sharing" } else { "following" };
            eprintln!(
                "calmline hub: NATS at {}: {what} supervisors' steps ({FLOOR_SUBJECT}): {r}; retrying (steps wait in the store)",
                feed.url
            );
            warned = true;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Connect (as `what`) and open the steps' stream, creating it when missing.
async fn open(feed: &NatsFeed, what: &str) -> Result<(jetstream::Context, stream::Stream), String> {
    let client = connect(
        &feed.url,
        &feed.auth,
        &format!("calmline hub {} {what}", feed.consumer),
        Duration::from_secs(5),
    )
    .await?;
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(stream::Config {
            name: FLOOR_STREAM.into(),
            subjects: vec![FLOOR_SUBJECT.into()],
            storage: stream::StorageType::File,
            // As long as the events' stream: a hub catching up on a week of events gets the
            // steps taken on them too.
            max_age: Duration::from_secs(7 * 86_400),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot open the {FLOOR_STREAM} stream: {e}"))?;
    Ok((js, stream))
}

/// Publish queued steps until the connection fails.
async fn publish_steps(hub: &Shared, feed: &NatsFeed) -> String {
    let js = match open(feed, "steps").await {
        Ok((js, _)) => js,
        Err(e) => return e,
    };
    loop {
        let h = hub.clone();
        let queued = match tokio::task::spawn_blocking(move || h.db().floor_outbox(100)).await {
            Ok(Ok(q)) => q,
            Ok(Err(e)) => return e.to_string(),
            Err(e) => return e.to_string(),
        };
        if queued.is_empty() {
            // Woken at once by a step, or now and then in case a wake-up was missed.
            let _ = tokio::time::timeout(Duration::from_secs(1), hub.steps_wake.notified()).await;
            continue;
        }
        for a in queued {
            let body = serde_json::to_vec(&a).unwrap_or_default();
            let msg = PublishMessage::build()
                .payload(body.into())
                .message_id(a.id.as_str());
            let ack = match js.send_publish(FLOOR_SUBJECT, msg).await {
                Ok(f) => f,
                Err(e) => return format!("cannot publish a step: {e}"),
            };
            if let Err(e) = tokio::time::timeout(Duration::from_secs(5), async move { ack.await })
                .await
                .map_err(|_| "no acknowledgement within 5 s".to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
            {
                return format!("a step was not stored: {e}");
            }
            let (h, id) = (hub.clone(), a.id.clone());
            match tokio::task::spawn_blocking(move || h.db().floor_sent(&id)).await {
                Ok(Ok(())) => hub.count("floor_steps_shared", 1),
                Ok(Err(e)) => return e.to_string(),
                Err(e) => return e.to_string(),
            }
        }
    }
}

/// Apply the other hubs' steps until the connection fails.
async fn follow_steps(hub: &Shared, feed: &NatsFeed, origin: &str) -> String {
    let stream = match open(feed, "floor").await {
        Ok((_, s)) => s,
        Err(e) => return e,
    };
    // One consumer per store, not per `--consumer`: two hubs sharing an events consumer (each
    // storing part of the floor) must still both see every step.
    let durable = format!(
        "{}-floor-{}",
        feed.consumer,
        origin.trim_start_matches("hub_")
    );
    let consumer: consumer::PullConsumer = match stream
        .get_or_create_consumer(
            &durable,
            consumer::pull::Config {
                durable_name: Some(durable.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                // A hub whose store is gone does not leave its consumer behind for ever.
                inactive_threshold: Duration::from_secs(7 * 86_400),
                ..Default::default()
            },
        )
        .await
    {
        Ok(c) => c,
        Err(e) => return format!("cannot open consumer {durable}: {e}"),
    };
    let mut messages = match consumer.messages().await {
        Ok(m) => m,
        Err(e) => return format!("cannot read consumer {durable}: {e}"),
    };
    loop {
        let m = match messages.next().await {
            None => return format!("consumer {durable} ended"),
            Some(Err(e)) => {
                if e.kind() == consumer::pull::MessagesErrorKind::ConsumerDeleted {
                    return format!("consumer {durable} was deleted");
                }
                continue;
            }
            Some(Ok(m)) => m,
        };
        match serde_json::from_slice::<FloorAction>(&m.payload) {
            Ok(a) if a.origin == origin => {}
            Ok(a) => {
                let h = hub.clone();
                let r = tokio::task::spawn_blocking(move || {
                    let mut db = h.db();
                    let r = db.apply_floor(&a);
                    if let Ok(Some(id)) = &r {
                        h.publish(
                            &db,
                            &Changes {
                                calls: Vec::new(),
                                alerts: vec![*id],
                            },
                        );
                    }
                    r
                })
                .await;
                match r {
                    Ok(Ok(_)) => hub.count("floor_steps_applied", 1),
                    Ok(Err(e)) => return format!("a step was not stored: {e}"),
                    Err(e) => return e.to_string(),
                }
            }
            Err(_) => hub.count("rejected_malformed_step", 1),
        }
        if let Err(e) = m.ack().await {
            return format!("cannot acknowledge a step: {e}");
        }
    }
}
