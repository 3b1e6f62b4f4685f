//! Load on the supervisors' hub, on loopback: N simulated monitors (default 200) each sending
//! 10 events a second (the customer's levels, the monitor's status, transcript snippets, and an
//! alert every few seconds) to a real `calmline hub` process, while a supervisor's live stream
//! (the page's Server-Sent Events) is read. Prints event-to-page latency (an alert's
//! monitor-side timestamp to its arrival on the stream) p50/p99, the events stored per second,
//! and the hub's CPU and peak memory.
//!
//! `cargo bench --bench hub` runs 30 s; `CALMLINE_HUB_MONITORS`, `CALMLINE_HUB_SECONDS` and
//! `CALMLINE_HUB_BATCH_MS` (how often each monitor sends what it has, default 100 ms) change
//! it. `cargo test --benches` runs a 3 s smoke test with 20 monitors.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use calmline::hub::{Store, auth};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

/// user+system CPU seconds and peak resident MB of a process.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = 100.0; // USER_HZ
    let cpu = (f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        / tick;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0;
    (cpu, hwm)
}

fn main() {
    let quick = std::env::args().all(|a| a != "--bench");
    let monitors: usize = env_or("CALMLINE_HUB_MONITORS", if quick { 20 } else { 200 });
    let seconds: f64 = env_or("CALMLINE_HUB_SECONDS", if quick { 3.0 } else { 30.0 });
    let batch_ms: u64 = env_or("CALMLINE_HUB_BATCH_MS", 100);
    let rate = 10.0; // events per second per monitor

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.sqlite");
    let tokens: Vec<String> = {
        let store = Store::open(&db).unwrap();
        (0..monitors)
            .map(|i| {
                let t = auth::secret("clst_").unwrap();
                store
                    .add_station(&format!("desk-{i}"), "floor", &auth::digest(&t))
                    .unwrap();
                t
            })
            .collect()
    };
    {
        let store = Store::open(&db).unwrap();
        store
            .put_user(
                "sup",
                &["floor".to_string()],
                false,
                &auth::hash_password("bench-password").unwrap(),
            )
            .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut hub = std::process::Command::new(env!("CARGO_BIN_EXE_calmline"))
        .args(["hub", "--db", db.to_str().unwrap(), "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .env("XDG_DATA_HOME", dir.path())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while ureq::get(&format!("{base}/healthz")).call().is_err() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    let no_redirect: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let r = no_redirect
        .post(&format!("{base}/login"))
        .send_form([("username", "sup"), ("password", "bench-password")])
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    // The supervisor's stream: alert latencies from the monitor's stamp in the headline.
    let stop = Arc::new(AtomicBool::new(false));
    let lat = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let updates = Arc::new(AtomicU64::new(0));
    let reader = {
        let (lat, updates, stop) = (lat.clone(), updates.clone(), stop.clone());
        let url = format!("{base}/api/stream");
        let cookie = cookie.clone();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(None)
                .build()
                .into();
            let mut resp = agent.get(&url).header("Cookie", &cookie).call().unwrap();
            let rd = BufReader::new(resp.body_mut().as_reader());
            for line in rd.lines() {
                let Ok(line) = line else { break };
                let Some(data) = line.strip_prefix("data: ") else {
                    continue;
                };
                let now = now_ms();
                updates.fetch_add(1, Ordering::Relaxed);
                if let Some(i) = data.find("load-t=") {
                    let t: String = data[i + 7..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let Ok(t) = t.parse::<i64>() {
                        lat.lock().unwrap().push(now - t);
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    let (cpu0, _) = usage(hub.id());
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let workers: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let (sent, errors) = (sent.clone(), errors.clone());
            let url = format!("{base}/api/ingest");
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                let call = format!("load-{i}-{}", now_ms());
                let auth = format!("Bearer {token}");
                let mut seq = 0u64;
                // Spread the monitors over the first batch period.
                std::thread::sleep(Duration::from_millis(
                    (i as u64 * batch_ms) / monitors.max(1) as u64,
                ));
                let start = Instant::now();
                let mut due = 0.0f64;
                while start.elapsed().as_secs_f64() < seconds {
                    let t_s = start.elapsed().as_secs_f64();
                    let mut events = Vec::new();
                    while due <= t_s * rate {
                        let body = match seq {
                            0 => serde_json::json!({"type": "call_start", "agent": format!("agent {i}")}),
                            s if s % 50 == 25 => serde_json::json!({
                                "type": "alert", "kind": "escalated_call",
                                "headline": format!("Customer escalated load-t={}", now_ms()),
                                "priority": 3,
                                "evidence": {"figures": {}, "moments": [t_s], "sentence": "customer escalated for 20 s"},
                                "snippet": "this is the third time I am calling", "agent": null}),
                            s if s % 10 == 5 => serde_json::json!({
                                "type": "transcript", "speaker": "customer", "start_s": t_s - 1.0, "end_s": t_s,
                                "text": "I have been waiting for weeks", "words": [],
                                "avg_logprob": -0.2, "no_speech_prob": 0.01}),
                            s if s % 10 == 9 => serde_json::json!({
                                "type": "status", "devices": [{"name": "sim", "carries": "agent+customer", "connected": true}],
                                "dropped_samples": 0, "drift_ppm": 0.0, "drift_corrections": 0,
                                "transcript_lag_s": null, "transcripts_skipped": 0, "model": null}),
                            _ => serde_json::json!({
                                "type": "levels", "speaker": "customer", "loudness_db": -23.0, "pitch_hz": 180.0,
                                "voiced": true, "active": true, "escalation": ((seq % 30) as f32) / 20.0,
                                "escalated": seq % 30 > 20, "over_baseline": null}),
                        };
                        let mut event = serde_json::json!({"t_s": t_s});
                        for (k, v) in body.as_object().unwrap() {
                            event[k] = v.clone();
                        }
                        events.push(serde_json::json!({
                            "id": format!("{call}/{seq}"), "call": call, "seq": seq,
                            "sent_ms": now_ms(), "event": event}));
                        seq += 1;
                        due += 1.0;
                    }
                    let n = events.len() as u64;
                    let body = serde_json::json!({ "events": events }).to_string();
                    match agent
                        .post(&url)
                        .header("Authorization", &auth)
                        .content_type("application/json")
                        .send(body.as_bytes())
                    {
                        Ok(mut r) if r.status().as_u16() == 200 => {
                            let text = r.body_mut().read_to_string().unwrap_or_default();
                            let v: serde_json::Value =
                                serde_json::from_str(&text).unwrap_or_default();
                            let acked = v["acked"].as_array().map_or(0, |a| a.len() as u64);
                            if acked != n {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                            sent.fetch_add(acked, Ordering::Relaxed);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(batch_ms));
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let wall = began.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let (cpu1, hwm) = usage(hub.id());
    stop.store(true, Ordering::Relaxed);
    let _ = hub.kill();
    let _ = hub.wait();
    let _ = reader.join();
    let mut l = lat.lock().unwrap().clone();
    l.sort_unstable();
    let pct = |p: f64| {
        if l.is_empty() {
            -1
        } else {
            l[((l.len() - 1) as f64 * p).round() as usize]
        }
    };
    let stored = sent.load(Ordering::Relaxed);
    println!(
        "hub load: {monitors} monitors x {rate} events/s, each sending every {batch_ms} ms, {wall:.1} s"
    );
    println!(
        "  events acknowledged {stored} ({:.0}/s), request errors {}, stream updates {}",
        stored as f64 / wall,
        errors.load(Ordering::Relaxed),
        updates.load(Ordering::Relaxed)
    );
    println!(
        "  alert: monitor stamp -> supervisor's stream p50 {} ms, p99 {} ms, max {} ms ({} alerts)",
        pct(0.5),
        pct(0.99),
        l.last().copied().unwrap_or(-1),
        l.len()
    );
    println!(
        "  hub CPU {:.0}% of one core, peak resident {:.0} MB",
        100.0 * (cpu1 - cpu0) / wall,
        hwm
    );
    assert!(stored > 0 && !l.is_empty(), "the hub took no load");
}
