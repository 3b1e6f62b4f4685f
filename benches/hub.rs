//! Load on the supervisors' hub, on loopback: N simulated monitors (default 5,000), each on its
//! own keep-alive connection sending the customer's level once a second, with a transcript
//! snippet and a status every 10 s and an alert every 30 s, to a real `calmline hub` process,
//! while a supervisor's live stream (the page's Server-Sent Events) is read. Prints
//! event-to-page latency (an alert's monitor-side timestamp to its arrival on the stream)
//! p50/p99, the events stored per second, and the hub's CPU, peak memory and memory per
//! connection.
//!
//! `cargo bench --bench hub` runs 30 s; `CALMLINE_HUB_MONITORS`, `CALMLINE_HUB_SECONDS`,
//! `CALMLINE_HUB_RATE` (events per second per monitor, default 1), `CALMLINE_HUB_BATCH_MS` (how
//! often each monitor sends what it has, default 1000 ms) and `CALMLINE_HUB_ALERT_EVERY` (an
//! alert every this many events, default 30) change it. `cargo test --benches` runs a 3 s smoke
//! test with 50 monitors.

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

/// One monitor event: the call's start, then mostly the customer's levels, with a transcript
/// snippet and a status every 10th event and an alert every `alert_every`th (stamped with the
/// wall clock in its headline, to time its way to the supervisor's stream).
fn event(call: &str, seq: u64, t_s: f64, i: usize, alert_every: u64) -> serde_json::Value {
    let body = match seq {
        0 => serde_json::json!({"type": "call_start", "agent": format!("agent {i}")}),
        s if s % alert_every == alert_every / 2 => serde_json::json!({
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
    serde_json::json!({"id": format!("{call}/{seq}"), "call": call, "seq": seq,
        "sent_ms": now_ms(), "event": event})
}

/// One HTTP/1.1 request on a keep-alive connection (what a monitor's HTTP client does, minus
/// the client library): the status and body of the answer.
async fn post(conn: &mut tokio::net::TcpStream, token: &str, body: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!(
        "POST /api/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))?
        .trim()
        .parse()
        .ok()?;
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
    ))
}

fn main() {
    let quick = std::env::args().all(|a| a != "--bench");
    let monitors: usize = env_or("CALMLINE_HUB_MONITORS", if quick { 50 } else { 5000 });
    let seconds: f64 = env_or("CALMLINE_HUB_SECONDS", if quick { 3.0 } else { 30.0 });
    // The smoke test packs more into its 3 s: 5 events a second, an alert every 10.
    let rate: f64 = env_or("CALMLINE_HUB_RATE", if quick { 5.0 } else { 1.0 });
    let batch_ms: u64 = env_or("CALMLINE_HUB_BATCH_MS", if quick { 200 } else { 1000 });
    let alert_every: u64 = env_or("CALMLINE_HUB_ALERT_EVERY", if quick { 10 } else { 30 });

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

    let (cpu0, idle_mb) = usage(hub.id());
    let sent = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    // The monitors: one keep-alive connection each, all on one tokio runtime (a monitor is
    // mostly idle, as on a real floor).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, token) in tokens.into_iter().enumerate() {
            let (sent, errors) = (sent.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                // Spread the monitors over the first batch period.
                tokio::time::sleep(Duration::from_millis(
                    (i as u64 * batch_ms) / monitors.max(1) as u64,
                ))
                .await;
                let Ok(mut conn) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let _ = conn.set_nodelay(true);
                let call = format!("load-{i}-{}", now_ms());
                let mut seq = 0u64;
                let start = Instant::now();
                let mut due = 0.0f64;
                let mut tick = tokio::time::interval(Duration::from_millis(batch_ms));
                while start.elapsed().as_secs_f64() < seconds {
                    tick.tick().await;
                    let t_s = start.elapsed().as_secs_f64();
                    let mut events = Vec::new();
                    while due <= t_s * rate {
                        events.push(event(&call, seq, t_s, i, alert_every));
                        seq += 1;
                        due += 1.0;
                    }
                    if events.is_empty() {
                        continue;
                    }
                    let n = events.len() as u64;
                    let body = serde_json::json!({ "events": events }).to_string();
                    match post(&mut conn, &token, &body).await {
                        Some((200, text)) => {
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
                            match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                                Ok(c) => conn = c,
                                Err(_) => return,
                            }
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let wall = began.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let (cpu1, hwm) = usage(hub.id());
    // The hub's own view (/metrics): SQLite commits and the events' lag to commit.
    let metrics = ureq::get(&format!("{base}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let figure = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let commits = figure("calmline_hub_sqlite_commit_seconds_count");
    let commit_ms = 1000.0 * figure("calmline_hub_sqlite_commit_seconds_sum") / commits;
    let lag_ms = 1000.0 * figure("calmline_hub_event_lag_seconds_sum")
        / figure("calmline_hub_event_lag_seconds_count");
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
        "hub load: {monitors} monitors x {rate} events/s, each sending every {batch_ms} ms, an alert every {alert_every} events, {wall:.1} s"
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
        "  hub CPU {:.0}% of one core, peak resident {:.0} MB ({:.0} MB idle: {:.1} KB per monitor)",
        100.0 * (cpu1 - cpu0) / wall,
        hwm,
        idle_mb,
        (hwm - idle_mb) * 1024.0 / monitors.max(1) as f64
    );
    println!(
        "  hub /metrics: {commits:.0} SQLite commits, mean {commit_ms:.2} ms; event emitted -> committed mean {lag_ms:.0} ms"
    );
    assert!(stored > 0 && !l.is_empty(), "the hub took no load");
}
