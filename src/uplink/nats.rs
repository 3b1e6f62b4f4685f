//! Publishing a monitor's events to NATS JetStream (`calmline live --nats URL`): the same
//! events, outbox and acknowledgements as the hub's HTTP ingest, with JetStream as the hub.
//!
//! Each event goes to `calmline.<site>.<station>.events` with its id as the message id, so the
//! stream drops a copy sent again within its duplicate window; hubs deduplicate by the same id
//! beyond it. An event leaves the outbox only once JetStream has acknowledged it (stored).

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};

use crate::error::{Error, Result};

/// The JetStream stream every monitor publishes to and every hub reads.
pub const STREAM: &str = "CALMLINE";
/// The subjects of that stream.
pub const STREAM_SUBJECTS: &str = "calmline.*.*.events";

/// Publish acknowledgements awaited at most at once (the client keeps a slot for each until it
/// is awaited; more at once stalls).
const WINDOW: usize = 256;

/// How a station or hub signs in to NATS.
#[derive(Clone, Default)]
pub struct NatsAuth {
    /// NATS user ("" = none).
    pub user: String,
    /// Its password.
    pub password: String,
    /// An nkey seed (`SU...`) to sign in with instead ("" = none).
    pub nkey_seed: String,
    /// A credentials file's text (user JWT and seed) to sign in with instead of either ("" =
    /// none): decentralised authentication, where the server trusts an operator, not a list.
    pub credentials: String,
}

/// Secrets are not printed, so a debug line or a panic message never carries one.
impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |s: &str| if s.is_empty() { "" } else { "(set)" };
        f.debug_struct("NatsAuth")
            .field("user", &self.user)
            .field("password", &set(&self.password))
            .field("nkey_seed", &set(&self.nkey_seed))
            .field("credentials", &set(&self.credentials))
            .finish()
    }
}

/// Where a monitor publishes.
#[derive(Debug, Clone)]
pub struct NatsTarget {
    /// The NATS server(s), e.g. `nats://nats.example:4222` (comma-separated for a cluster).
    pub url: String,
    /// The site (contact centre) the station is on.
    pub site: String,
    /// The station's name.
    pub station: String,
    /// Its credentials.
    pub auth: NatsAuth,
}

/// A site or station name usable as one NATS subject token.
pub fn valid_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The subject a station publishes its events to.
pub fn subject(site: &str, station: &str) -> String {
    format!("calmline.{site}.{station}.events")
}

/// Site and station of an event subject (`None` for any other subject).
pub fn parse_subject(s: &str) -> Option<(&str, &str)> {
    let mut it = s.split('.');
    match (it.next(), it.next(), it.next(), it.next(), it.next()) {
        (Some("calmline"), Some(site), Some(station), Some("events"), None)
            if valid_token(site) && valid_token(station) =>
        {
            Some((site, station))
        }
        _ => None,
    }
}

/// Connect to NATS with `auth` (within `timeout`; no retry here: callers retry with backoff,
/// and the client reconnects by itself once connected).
pub async fn connect(
    url: &str,
    auth: &NatsAuth,
    name: &str,
    timeout: Duration,
) -> std::result::Result<async_nats::Client, String> {
    let mut o = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(timeout)
        .request_timeout(Some(timeout))
        .max_reconnects(None);
    if !auth.credentials.is_empty() {
        o = o
            .credentials(&auth.credentials)
            .map_err(|e| format!("NATS credentials: {e}"))?;
    } else if !auth.nkey_seed.is_empty() {
        o = o.nkey(auth.nkey_seed.clone());
    } else if !auth.user.is_empty() {
        o = o.user_and_password(auth.user.clone(), auth.password.clone());
    }
    let addrs: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(|u| u.trim().parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("{url:?} is not a NATS URL: {e}"))?;
    tokio::time::timeout(timeout, o.connect(addrs))
        .await
        .map_err(|_| format!("no answer from {url} within {} s", timeout.as_secs()))?
        .map_err(|e| format!("cannot connect to {url}: {e}"))
}

/// The uplink thread's JetStream publisher: a small runtime of its own, connected on first use
/// and again after a failure.
pub struct Publisher {
    rt: tokio::runtime::Runtime,
    target: NatsTarget,
    subject: String,
    js: Option<jetstream::Context>,
}

impl Publisher {
    /// A publisher for `target` (no connection yet).
    pub fn new(target: NatsTarget) -> Result<Self> {
        for (what, v) in [("site", &target.site), ("station", &target.station)] {
            if !valid_token(v) {
                return Err(Error::Invalid(format!(
                    "NATS {what} {v:?}: expected 1-64 of A-Z a-z 0-9 - _"
                )));
            }
        }
        // One worker thread: the client's connection task (pings, reconnects) runs between
        // batches too.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("uplink-nats")
            .enable_all()
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start the NATS client's runtime: {e}")))?;
        Ok(Self {
            rt,
            subject: subject(&target.site, &target.station),
            target,
            js: None,
        })
    }

    /// Publish `batch` (event id, JSON) and return the ids JetStream stored. An error means
    /// nothing was stored (the caller backs off and sends again; stored copies are dropped as
    /// duplicates).
    pub fn send(&mut self, batch: &[(&str, &str)]) -> std::result::Result<Vec<String>, String> {
        let Self {
            rt,
            target,
            subject,
            js,
        } = self;
        rt.block_on(async {
            if js.is_none() {
                let client = connect(
                    &target.url,
                    &target.auth,
                    &format!("calmline station {}.{}", target.site, target.station),
                    Duration::from_secs(5),
                )
                .await?;
                *js = Some(jetstream::new(client));
            }
            let ctx = js.as_ref().expect("connected above");
            let mut acked = Vec::new();
            let mut last_err = None;
            for chunk in batch.chunks(WINDOW) {
                let mut futs = Vec::with_capacity(chunk.len());
                for (id, json) in chunk {
                    let msg = PublishMessage::build()
                        .payload(json.to_string().into())
                        .message_id(id);
                    match ctx.send_publish(subject.clone(), msg).await {
                        Ok(f) => futs.push((id, f)),
                        Err(e) => {
                            last_err = Some(e.to_string());
                            break;
                        }
                    }
                }
                for (id, f) in futs {
                    match f.await {
                        Ok(_) => acked.push(id.to_string()),
                        Err(e) => last_err = Some(e.to_string()),
                    }
                }
                if last_err.is_some() {
                    break;
                }
            }
            match last_err {
                Some(e) if acked.is_empty() => Err(format!(
                    "JetStream at {} did not store events on {subject}: {e}",
                    target.url
                )),
                _ => Ok(acked),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_and_reject_wildcards() {
        let s = subject("paris", "desk-07");
        assert_eq!(s, "calmline.paris.desk-07.events");
        assert_eq!(parse_subject(&s), Some(("paris", "desk-07")));
        assert_eq!(parse_subject("calmline.paris.*.events"), None);
        assert_eq!(parse_subject("calmline.paris.a.b.events"), None);
        assert_eq!(parse_subject("other.paris.a.events"), None);
        assert!(!valid_token("a.b"));
        assert!(!valid_token(">"));
        assert!(!valid_token(""));
    }

    #[test]
    fn debug_output_names_no_secret() {
        let a = NatsAuth {
            user: "desk-07".into(),
            password: "hunter2-secret".into(),
            nkey_seed: "SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM".into(),
            credentials: "-----BEGIN NATS USER JWT-----\neyJ0eXAi\n".into(),
        };
        let d = format!("{a:?}");
        assert!(d.contains("desk-07") && d.contains("(set)"), "{d}");
        for secret in ["hunter2", "SUAIO3", "eyJ0"] {
            assert!(!d.contains(secret), "{d}");
        }
    }
}
