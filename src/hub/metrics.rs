//! The hub's `/metrics` in the Prometheus text format: what an operations team watches (how
//! many stations and calls, events per second, alerts by kind and state, how late events
//! arrive, how long SQLite commits take, monitors' outbox backlog, NATS consumer lag).
//!
//! Only aggregates: no agent, station or customer is named, so the endpoint needs no sign-in
//! (put it behind the network's own controls like any metrics port).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A histogram with fixed bucket bounds (seconds), lock-free to observe.
pub(super) struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Count one observation of `secs`.
    pub(super) fn observe(&self, secs: f64) {
        let secs = secs.max(0.0);
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            cum += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Live figures the hub keeps in memory (the rest is read from the store when scraped).
pub(super) struct Metrics {
    /// From a monitor emitting an event to the hub committing it.
    pub(super) event_lag: Histogram,
    /// One SQLite transaction of the writer (a batch of requests).
    pub(super) commit: Histogram,
    /// Events committed (not duplicates).
    pub(super) stored: AtomicU64,
    /// Events committed per second over the last 10 s (ticked by the housekeeping).
    rate: Mutex<(u64, Vec<u64>)>,
    /// Each call's outbox backlog as its monitor last reported it, and when.
    outbox: Mutex<HashMap<String, (u64, Instant)>>,
    /// Per NATS consumer: messages not yet delivered, and delivered but not acknowledged.
    nats: Mutex<BTreeMap<String, (u64, u64)>>,
}

/// A monitor's outbox report older than this no longer counts (its call ended or it is gone).
const OUTBOX_STALE: Duration = Duration::from_secs(60);

impl Metrics {
    pub(super) fn new() -> Self {
        Self {
            event_lag: Histogram::new(&[0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0]),
            commit: Histogram::new(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
            stored: AtomicU64::new(0),
            rate: Mutex::new((0, Vec::new())),
            outbox: Mutex::new(HashMap::new()),
            nats: Mutex::new(BTreeMap::new()),
        }
    }

    /// Once a second: the stored-events counter's step into the 10 s window.
    pub(super) fn tick(&self) {
        let now = self.stored.load(Ordering::Relaxed);
        let mut r = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        let step = now - r.0.min(now);
        r.0 = now;
        r.1.push(step);
        if r.1.len() > 10 {
            r.1.remove(0);
        }
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (_, at)| at.elapsed() < OUTBOX_STALE);
    }

    /// A monitor reported its outbox backlog for `call`.
    pub(super) fn outbox(&self, call: &str, pending: u64) {
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(call.to_string(), (pending, Instant::now()));
    }

    /// A NATS consumer's backlog.
    pub(super) fn nats(&self, consumer: &str, pending: u64, unacked: u64) {
        self.nats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(consumer.to_string(), (pending, unacked));
    }
}

/// What the store says at scrape time.
pub(super) struct FromStore {
    pub(super) stations: i64,
    pub(super) stations_connected: i64,
    pub(super) active_calls: i64,
    pub(super) alerts: Vec<(String, String, i64)>,
    pub(super) counters: BTreeMap<String, i64>,
    /// Supervisors' steps not yet shared with the other hubs; other hubs' steps waiting here
    /// for their alert.
    pub(super) floor: (i64, i64),
}

/// The whole page.
pub(super) fn render(m: &Metrics, s: &FromStore) -> String {
    let mut o = String::with_capacity(4096);
    let gauge = |o: &mut String, name: &str, help: &str, v: f64| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    };
    gauge(
        &mut o,
        "calmline_hub_stations",
        "Stations registered and not revoked.",
        s.stations as f64,
    );
    gauge(
        &mut o,
        "calmline_hub_stations_connected",
        "Stations heard from within the silence timeout.",
        s.stations_connected as f64,
    );
    gauge(
        &mut o,
        "calmline_hub_active_calls",
        "Calls in progress whose monitor is reporting.",
        s.active_calls as f64,
    );
    let rate = {
        let r = m.rate.lock().unwrap_or_else(|p| p.into_inner());
        if r.1.is_empty() {
            0.0
        } else {
            r.1.iter().sum::<u64>() as f64 / r.1.len() as f64
        }
    };
    gauge(
        &mut o,
        "calmline_hub_events_per_second",
        "Events stored per second over the last 10 s.",
        rate,
    );
    let _ = writeln!(
        o,
        "# HELP calmline_hub_events_stored_total Events stored since the hub started.\n# TYPE calmline_hub_events_stored_total counter\ncalmline_hub_events_stored_total {}",
        m.stored.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "# HELP calmline_hub_alerts Alerts in the store by kind and state.\n# TYPE calmline_hub_alerts gauge"
    );
    for (kind, state, n) in &s.alerts {
        let _ = writeln!(
            o,
            "calmline_hub_alerts{{kind=\"{kind}\",state=\"{state}\"}} {n}"
        );
    }
    m.event_lag.render(
        "calmline_hub_event_lag_seconds",
        "From a monitor emitting an event to the hub committing it.",
        &mut o,
    );
    m.commit.render(
        "calmline_hub_sqlite_commit_seconds",
        "One SQLite transaction of the hub's writer.",
        &mut o,
    );
    let (calls, total) = {
        let ob = m.outbox.lock().unwrap_or_else(|p| p.into_inner());
        (ob.len(), ob.values().map(|(n, _)| n).sum::<u64>())
    };
    gauge(
        &mut o,
        "calmline_hub_monitor_outbox_events",
        "Events waiting in monitors' outboxes, as last reported (reporting monitors only).",
        total as f64,
    );
    gauge(
        &mut o,
        "calmline_hub_monitors_reporting_outbox",
        "Monitors whose outbox report is under a minute old.",
        calls as f64,
    );
    gauge(
        &mut o,
        "calmline_hub_floor_steps_unshared",
        "Supervisors' claims and resolutions not yet published to the other hubs (NATS).",
        s.floor.0 as f64,
    );
    gauge(
        &mut o,
        "calmline_hub_floor_steps_waiting",
        "Other hubs' steps waiting for their alert to reach this hub.",
        s.floor.1 as f64,
    );
    let nats = m.nats.lock().unwrap_or_else(|p| p.into_inner());
    if !nats.is_empty() {
        let _ = writeln!(
            o,
            "# HELP calmline_hub_nats_consumer_pending Stream messages not yet delivered to this hub's consumer.\n# TYPE calmline_hub_nats_consumer_pending gauge"
        );
        for (c, (p, _)) in nats.iter() {
            let _ = writeln!(
                o,
                "calmline_hub_nats_consumer_pending{{consumer=\"{c}\"}} {p}"
            );
        }
        let _ = writeln!(
            o,
            "# HELP calmline_hub_nats_consumer_unacked Messages delivered to this hub's consumer and not yet acknowledged.\n# TYPE calmline_hub_nats_consumer_unacked gauge"
        );
        for (c, (_, u)) in nats.iter() {
            let _ = writeln!(
                o,
                "calmline_hub_nats_consumer_unacked{{consumer=\"{c}\"}} {u}"
            );
        }
    }
    let _ = writeln!(
        o,
        "# HELP calmline_hub_requests_total Requests and events refused, rejected or ignored, by reason (kept in the store across restarts).\n# TYPE calmline_hub_requests_total counter"
    );
    for (k, v) in &s.counters {
        let _ = writeln!(o, "calmline_hub_requests_total{{what=\"{k}\"}} {v}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counted() {
        let m = Metrics::new();
        for s in [0.01, 0.15, 0.15, 3.0, 100.0] {
            m.event_lag.observe(s);
        }
        let mut o = String::new();
        m.event_lag.render("x", "h", &mut o);
        assert!(o.contains("x_bucket{le=\"0.05\"} 1\n"), "{o}");
        assert!(o.contains("x_bucket{le=\"0.2\"} 3\n"), "{o}");
        assert!(o.contains("x_bucket{le=\"5\"} 4\n"), "{o}");
        assert!(o.contains("x_bucket{le=\"+Inf\"} 5\n"), "{o}");
        assert!(o.contains("x_count 5\n"), "{o}");
        assert!(o.contains("x_sum 103.31"), "{o}");
    }
}
