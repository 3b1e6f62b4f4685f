//! The supervisors' hub, end to end: a real `calmline hub` process with its SQLite store, real
//! monitors (`calmline live --file` playing ../shared/data recordings on the wall clock), the
//! HTTP API as the page uses it, and a real browser (Debian's chromium, headless, driven over
//! the DevTools protocol).

mod common;

use common::Monitor;
use common::browser::Browser;
use common::supervisor::{Supervisor, agent};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_calmline");

/// A hub process on a private store; killed when dropped.
struct Hub {
    child: Child,
    port: u16,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Hub {
    fn new() -> Self {
        Self::with_config("")
    }

    /// A hub with this configuration (TOML) over the defaults.
    fn with_config(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if !toml.is_empty() {
            std::fs::write(dir.path().join("hub.toml"), toml).unwrap();
        }
        let db = dir.path().join("hub.sqlite");
        let port = common::free_port();
        let child = spawn_hub(&db, port, dir.path());
        Hub {
            child,
            port,
            db,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str], stdin: &str) -> String {
        let mut c = Command::new(BIN)
            .args(["hub"])
            .args(args)
            .args(["--db", self.db.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "hub {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }

    fn token(&self, name: &str, team: &str) -> String {
        self.cli(&["token", "add", name, "--team", team], "")
    }

    fn user(&self, name: &str, team: &str) {
        let mut args = vec!["user", "add", name];
        if team == "admin" {
            args.push("--admin");
        } else {
            args.extend(["--team", team]);
        }
        self.cli(&args, &format!("pw-{name}-secret\n"));
    }

    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_hub(&self.db, self.port, self._dir.path());
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_hub(db: &Path, port: u16, home: &Path) -> Child {
    let config = home.join("hub.toml");
    let child = Command::new(BIN)
        .args([
            "hub",
            "--db",
            db.to_str().unwrap(),
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .args(
            config
                .exists()
                .then(|| ["--config".to_string(), config.display().to_string()])
                .into_iter()
                .flatten(),
        )
        .env("XDG_DATA_HOME", home)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
        .call()
        .is_err()
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the hub did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Play a recording through a live monitor reporting to `hub`.
fn monitor(hub: &Hub, token: &str, file: &str, speed: f64, outbox: &Path) -> Monitor {
    let cfg = outbox.join("monitor.toml");
    Monitor::spawn(
        common::live_file(BIN, file, speed, &cfg, &outbox.join("outbox")).args([
            "--hub",
            &hub.url(),
            "--token",
            token,
        ]),
    )
}

fn summary(lines: &[Value]) -> &Value {
    lines.iter().find(|l| l["type"] == "summary").unwrap()
}

#[test]
fn a_monitor_reports_and_supervisors_see_only_their_team_claim_and_resolve() {
    let hub = Hub::new();
    let token = hub.token("desk-1", "red");
    for (u, t) in [("alice", "red"), ("carol", "red"), ("bob", "blue")] {
        hub.user(u, t);
    }
    let dir = tempfile::tempdir().unwrap();
    let out = monitor(&hub, &token, "scenario_escalating_a04.wav", 8.0, dir.path()).lines();
    let s = summary(&out);
    let sent = &s["hub"];
    assert_eq!(sent["pending"], 0, "{s}");
    assert_eq!(sent["dropped"], 0, "{s}");
    assert_eq!(sent["acked"], sent["queued"], "{s}");
    let call = sent["call"].as_str().unwrap().to_string();
    let emitted: Vec<&Value> = out.iter().filter(|l| l["type"] == "alert").collect();
    assert!(
        emitted.iter().any(|a| a["kind"] == "escalated_call"),
        "the monitor raised no escalated_call"
    );
    // The outbox is empty once everything is acknowledged.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");

    let alice = Supervisor::login(&hub.url(), "alice");
    let carol = Supervisor::login(&hub.url(), "carol");
    let bob = Supervisor::login(&hub.url(), "bob");
    let alerts = alice.get("/api/alerts");
    let alerts = alerts["alerts"].as_array().unwrap();
    let a = alerts
        .iter()
        .find(|a| a["kind"] == "escalated_call" && a["call"] == call.as_str())
        .unwrap_or_else(|| panic!("{alerts:?}"));
    assert_eq!(a["agent"], "ann");
    assert_eq!(a["team"], "red");
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .contains("over their baseline")
    );
    let id = a["id"].as_i64().unwrap();
    // Another team's supervisor sees neither the call nor the alert, and cannot act on it.
    assert_eq!(bob.get("/api/alerts")["alerts"], json!([]));
    assert_eq!(bob.get("/api/calls")["calls"], json!([]));
    assert_eq!(
        bob.post(&format!("/api/alerts/{id}/claim"), "", true).0,
        404
    );
    // A state change without the CSRF token is refused.
    assert_eq!(
        alice.post(&format!("/api/alerts/{id}/claim"), "", false).0,
        403
    );
    let (st, body) = alice.post(&format!("/api/alerts/{id}/claim"), "", true);
    assert_eq!(st, 200, "{body}");
    let seen = carol.get("/api/alerts?state=claimed");
    assert_eq!(seen["alerts"][0]["claimed_by"], "alice", "{seen}");
    let (st, body) = carol.post(
        &format!("/api/alerts/{id}/resolve"),
        r#"{"note": "called back, refund agreed"}"#,
        true,
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        alice.post(&format!("/api/alerts/{id}/claim"), "", true).0,
        409,
        "a resolved alert cannot be claimed"
    );
    let audit = alice.get(&format!("/api/alerts/{id}/audit"));
    let steps: Vec<(String, String)> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(steps[0], ("station:desk-1".into(), "raised".into()));
    assert!(
        steps.contains(&("alice".into(), "claimed".into())),
        "{steps:?}"
    );
    assert_eq!(
        steps.last().unwrap(),
        &("carol".to_string(), "resolved".to_string())
    );
    // History: filters and CSV export.
    let h = alice.get("/api/alerts?kind=escalated_call&q=refund");
    assert_eq!(h["alerts"].as_array().unwrap().len(), 1, "{h}");
    assert_eq!(alice.get("/api/alerts?kind=long_hold")["alerts"], json!([]));
    let (st, csv) = alice.get_text("/api/alerts?format=csv");
    assert_eq!(st, 200);
    assert!(
        csv.lines().count() >= 2 && csv.contains("refund agreed") && csv.contains("\"carol\""),
        "{csv}"
    );
    assert_eq!(alice.get("/api/calls?active=true")["calls"], json!([]));
    let st = alice.get("/api/stations");
    assert_eq!(st["stations"][0]["name"], "desk-1", "{st}");
    assert!(st["stations"][0]["last_ms"].is_i64(), "{st}");
    assert_eq!(bob.get("/api/stations")["stations"], json!([]));
    assert_eq!(
        alice.get("/api/alerts?limit=1&state=resolved&from=2000-01-01")["alerts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(alice.get_text("/api/alerts?limit=many").0, 400);
    let calls = alice.get("/api/calls?limit=5&active=false");
    let c = &calls["calls"][0];
    assert_eq!(c["id"], call.as_str());
    assert!(c["ended_ms"].is_i64(), "the call ended: {c}");
    assert!(c["peak"].as_f64().unwrap() > 1.0, "{c}");
    assert!(
        c["trend"].as_array().unwrap().len() >= 50,
        "one level a second: {c}"
    );
}

/// One sign-in attempt: the status, `Retry-After`, where it sends the browser and the page.
fn sign_in(hub: &Hub, name: &str, password: &str) -> (u16, Option<u64>, String, String) {
    let mut r = agent()
        .post(&format!("{}/login", hub.url()))
        .send_form([("username", name), ("password", password)])
        .unwrap();
    let header = |h: &str| {
        r.headers()
            .get(h)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let retry = header("retry-after").parse().ok();
    let location = header("location");
    (
        r.status().as_u16(),
        retry,
        location,
        r.body_mut().read_to_string().unwrap(),
    )
}

#[test]
fn guessed_passwords_lock_the_name_then_the_address_and_say_when_to_try_again() {
    let hub = Hub::with_config(
        "[hub]\nlogin_failures_per_name = 3\nlogin_failures_per_address = 7\nlogin_lock_s = 2.0\nlogin_lock_max_s = 60.0\n",
    );
    for (name, team) in [("alice", "red"), ("carol", "red"), ("root", "admin")] {
        hub.user(name, team);
    }
    let root = Supervisor::login(&hub.url(), "root");
    let right = |name: &str| format!("pw-{name}-secret");

    // Two wrong passwords: the usual answer.
    for _ in 0..2 {
        let (status, retry, to, _) = sign_in(&hub, "alice", "guess");
        assert_eq!((status, retry, to.as_str()), (303, None, "/login?failed"));
    }
    // The third locks the name, and says for how long.
    let (status, retry, _, page) = sign_in(&hub, "alice", "guess");
    assert_eq!((status, retry), (429, Some(2)), "{page}");
    assert!(
        page.contains("Too many failed sign-ins") && page.contains("Try again in 2 seconds"),
        "{page}"
    );
    assert!(
        page.contains("name=\"password\""),
        "the form is still there: {page}"
    );
    // While locked, the right password is refused too (it is not even checked)...
    let (status, retry, _, _) = sign_in(&hub, "alice", &right("alice"));
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| (1..=2).contains(&s)), "{retry:?}");
    // ...a name that does not exist is locked the same way, telling nothing about which are real...
    for _ in 0..2 {
        assert_eq!(sign_in(&hub, "nobody", "guess").0, 303);
    }
    assert_eq!(sign_in(&hub, "nobody", "guess").0, 429);
    // ...and another supervisor at the same computer signs in.
    assert_eq!(sign_in(&hub, "carol", &right("carol")).0, 303);
    // After the lock, the right password works.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(sign_in(&hub, "alice", &right("alice")).0, 303);

    // The address has 6 failures now (alice's 3, nobody's 3): one more, on any name, locks it
    // for every name.
    let (status, _, _, _) = sign_in(&hub, "bob", "guess");
    assert_eq!(status, 429);
    assert_eq!(sign_in(&hub, "carol", &right("carol")).0, 429);

    // Counted for the operators, and audited once per lock.
    let stats = root.get("/api/stats");
    let c = &stats["counters"];
    assert_eq!(c["login_failed"], 7, "{stats}");
    assert_eq!(c["login_locked"], 3, "{stats}");
    assert_eq!(c["login_locked_out"], 2, "{stats}");
    let db = rusqlite::Connection::open(&hub.db).unwrap();
    let locks: Vec<(String, String)> = db
        .prepare("SELECT actor, detail FROM audit WHERE action = 'login_locked' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let actors: Vec<&str> = locks.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actors, ["alice", "nobody", "bob"], "{locks:?}");
    assert!(
        locks[0].1.contains("127.0.0.1") && locks[0].1.contains("2 s"),
        "{locks:?}"
    );
}

fn post_events(hub: &Hub, token: Option<&str>, body: &str) -> (u16, String) {
    let mut req = agent()
        .post(&format!("{}/api/ingest", hub.url()))
        .content_type("application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.send(body).unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn envelope(call: &str, seq: u64, body: Value) -> Value {
    let mut event = json!({"t_s": seq as f64});
    for (k, v) in body.as_object().unwrap() {
        event[k] = v.clone();
    }
    json!({"id": format!("{call}/{seq}"), "call": call, "seq": seq, "sent_ms": 0, "event": event})
}

#[test]
fn bad_tokens_oversized_malformed_and_replayed_events_are_refused_and_counted() {
    let hub = Hub::new();
    let t1 = hub.token("desk-1", "red");
    let t2 = hub.token("desk-2", "red");
    hub.user("root", "admin");
    let start = envelope("call-a", 0, json!({"type": "call_start", "agent": "ann"}));
    let batch = json!({"events": [start]}).to_string();
    assert_eq!(post_events(&hub, None, &batch).0, 401);
    assert_eq!(post_events(&hub, Some("clst_nonsense"), &batch).0, 401);
    let (st, body) = post_events(&hub, Some(&t1), &batch);
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["acked"], json!(["call-a/0"]));
    assert_eq!(v["duplicates"], 0);
    // The same id again: acknowledged (so the monitor forgets it), stored once.
    let (_, body) = post_events(&hub, Some(&t1), &batch);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["acked"], json!(["call-a/0"]));
    assert_eq!(v["duplicates"], 1);
    // Not JSON, and not a batch.
    let (st, body) = post_events(&hub, Some(&t1), "{\"events\": [");
    assert_eq!(st, 400);
    assert!(body.contains("not a batch"), "{body}");
    // Events that are not events, or whose id does not match, are rejected one by one.
    let bad = json!({"events": [
        {"id": "call-a/1", "call": "call-a", "seq": 1, "sent_ms": 0, "event": {"t_s": 1.0, "type": "no_such_event"}},
        envelope("call-a", 2, json!({"type": "warning", "message": "x"})),
        {"id": "call-a/9", "call": "call-a", "seq": 3, "sent_ms": 0, "event": {"t_s": 1.0, "type": "warning", "message": "x"}},
        {"id": "../x/1", "call": "../x", "seq": 1, "sent_ms": 0, "event": {"t_s": 1.0, "type": "warning", "message": "x"}},
    ]});
    let (st, body) = post_events(&hub, Some(&t1), &bad.to_string());
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["acked"], json!(["call-a/2"]), "{v}");
    assert_eq!(v["rejected"].as_array().unwrap().len(), 3, "{v}");
    // One event too large, and a request too large.
    let big = "x".repeat(70_000);
    let one =
        json!({"events": [envelope("call-a", 4, json!({"type": "warning", "message": big}))]});
    let (_, body) = post_events(&hub, Some(&t1), &one.to_string());
    assert!(body.contains("over 65536"), "{body}");
    let huge = json!({"events": (0..20).map(|i| envelope("call-a", 10 + i, json!({"type": "warning", "message": "y".repeat(60_000)}))).collect::<Vec<_>>()});
    assert_eq!(post_events(&hub, Some(&t1), &huge.to_string()).0, 413);
    // Another station cannot write into this station's call.
    let (_, body) = post_events(
        &hub,
        Some(&t2),
        &json!({"events": [envelope("call-a", 5, json!({"type": "warning", "message": "x"}))]})
            .to_string(),
    );
    assert!(body.contains("another station"), "{body}");
    // A revoked token is refused within a quarter of a second (the hub polls the stations).
    hub.cli(&["token", "revoke", "desk-1"], "");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(post_events(&hub, Some(&t1), &batch).0, 401);
    let root = Supervisor::login(&hub.url(), "root");
    let c = &root.get("/api/stats")["counters"];
    assert_eq!(c["refused_no_token"], 1, "{c}");
    assert_eq!(c["refused_bad_token"], 2, "{c}");
    assert_eq!(c["refused_malformed"], 1, "{c}");
    assert_eq!(c["refused_oversized"], 1, "{c}");
    assert_eq!(c["rejected_malformed_event"], 3, "{c}");
    assert_eq!(c["rejected_oversized_event"], 1, "{c}");
    assert_eq!(c["rejected_foreign_call"], 1, "{c}");
    assert_eq!(c["duplicates_ignored"], 1, "{c}");
    assert_eq!(c["events_stored"], 2, "{c}");
    // A supervisor who is not an admin does not see the counters.
    hub.user("alice", "red");
    let alice = Supervisor::login(&hub.url(), "alice");
    assert_eq!(alice.get_text("/api/stats").0, 403);
}

#[test]
fn a_hub_restart_mid_call_loses_no_alert_and_duplicates_none() {
    let mut hub = Hub::new();
    let token = hub.token("desk-1", "red");
    let dir = tempfile::tempdir().unwrap();
    // 107 s of call at 4x: about 27 s. The hub is killed (no clean shutdown) 2 s after the
    // call reached it, before the first alert, and comes back 4 s later on the same store.
    let m = monitor(&hub, &token, "scenario_escalating_a04.wav", 4.0, dir.path());
    let t = Instant::now();
    while calmline::hub::Store::open(&hub.db)
        .unwrap()
        .calls(&Default::default())
        .unwrap()
        .is_empty()
    {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the call never reached the hub"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let _ = hub.child.kill();
    let _ = hub.child.wait();
    std::thread::sleep(Duration::from_secs(4));
    hub.restart();
    let out = m.lines();
    let s = summary(&out);
    assert_eq!(s["hub"]["pending"], 0, "{s}");
    assert!(
        s["hub"]["failures"].as_u64().unwrap() >= 1,
        "the outage was seen: {s}"
    );
    let call = s["hub"]["call"].as_str().unwrap();
    // Every event the monitor queued is in the store exactly once (ids are unique there).
    let store = calmline::hub::Store::open(&hub.db).unwrap();
    let emitted = out.iter().filter(|l| l["type"] == "alert").count();
    assert!(emitted >= 1);
    let stored = store.event_ids(call, "alert").unwrap();
    assert_eq!(stored.len(), emitted, "{stored:?}");
    let mut all = 0;
    for kind in [
        "call_start",
        "call_end",
        "levels",
        "alert",
        "status",
        "episode_start",
        "episode_end",
        "baseline",
        "speaker_summary",
        "warning",
    ] {
        all += store.event_ids(call, kind).unwrap().len() as u64;
    }
    assert_eq!(all, s["hub"]["queued"].as_u64().unwrap(), "{s}");
    let alerts = store
        .alerts(&calmline::hub::store::Filter::default())
        .unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == "escalated_call" && a.call == call),
        "{alerts:?}"
    );
}

/// Signing in to a hub's page as a supervisor of the test hub.
trait SignIn {
    fn login(&mut self, hub: &Hub, name: &str);
}

impl SignIn for Browser {
    fn login(&mut self, hub: &Hub, name: &str) {
        self.goto(&format!("{}/login", hub.url()));
        self.eval(&format!(
            "document.getElementById('username').value = '{name}';
             document.getElementById('password').value = 'pw-{name}-secret';
             document.querySelector('form').submit(); true"
        ));
        std::thread::sleep(Duration::from_millis(300));
        self.wait_for(
            "location.pathname === '/' && document.readyState === 'complete' && window.calmline",
            Duration::from_secs(10),
        );
        // The page is live once its stream is open.
        self.wait_for(
            "document.getElementById('conn').textContent === 'live'",
            Duration::from_secs(10),
        );
    }
}

#[test]
fn the_floor_view_shows_the_alert_live_and_a_claim_to_every_supervisor() {
    let Some(mut a) = Browser::start() else {
        // scripts/install-deps.sh installs chromium; without it this test cannot run.
        if std::env::var_os("CI").is_some() {
            panic!("chromium is needed for the floor view test (scripts/install-deps.sh)");
        }
        eprintln!("skipped: no chromium");
        return;
    };
    let mut b = Browser::start().unwrap();
    let mut other = Browser::start().unwrap();
    let hub = Hub::new();
    let token = hub.token("desk-1", "red");
    for (u, t) in [("alice", "red"), ("carol", "red"), ("bob", "blue")] {
        hub.user(u, t);
    }
    a.login(&hub, "alice");
    b.login(&hub, "carol");
    other.login(&hub, "bob");
    let dir = tempfile::tempdir().unwrap();
    let m = monitor(&hub, &token, "scenario_escalating_a04.wav", 4.0, dir.path());
    // The call's tile appears, then the alert.
    a.wait_for(
        "document.querySelector('[data-call]')",
        Duration::from_secs(10),
    );
    let t = Instant::now();
    while a.eval("!!document.querySelector('[data-alert][data-kind=escalated_call]')")
        != json!(true)
    {
        if t.elapsed() > Duration::from_secs(40) {
            let state = a.eval("JSON.stringify({alerts: [...alerts.values()], calls: calls.size, html: document.getElementById('tiles').innerHTML.slice(0, 2000)})");
            panic!("no alert on the page: {state}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let id =
        a.eval("document.querySelector('[data-alert][data-kind=escalated_call]').dataset.alert");
    let id: i64 = id.as_str().unwrap().parse().unwrap();
    let seen_ms = a
        .eval(&format!("window.calmline.seen[{id}]"))
        .as_i64()
        .unwrap();
    // When the monitor emitted it: the envelope's wall-clock stamp, in the store.
    let store = calmline::hub::Store::open(&hub.db).unwrap();
    let alert = store.alert(id).unwrap().unwrap();
    let sent_ms = store
        .event_sent_ms(alert.event_id.as_deref().unwrap())
        .unwrap()
        .unwrap();
    let latency = seen_ms - sent_ms;
    println!("alert {id}: emitted by the monitor -> on the page: {latency} ms");
    assert!(
        (0..=200).contains(&latency),
        "the alert reached the page {latency} ms after the monitor emitted it"
    );
    // It arrived with a sound and a flash.
    assert!(a.eval("window.calmline.beeps").as_i64().unwrap() >= 1);
    assert_eq!(
        a.eval(&format!(
            "!!document.querySelector('[data-alert=\"{id}\"].flash')"
        )),
        json!(true)
    );
    b.wait_for(
        &format!("document.querySelector('[data-alert=\"{id}\"]')"),
        Duration::from_secs(2),
    );
    // Alice claims it; Carol's page shows who has it, at once.
    a.eval(&format!(
        "document.querySelector('[data-alert=\"{id}\"] button.claim').click(); true"
    ));
    let took = b.wait_for(
        &format!("document.querySelector('[data-alert=\"{id}\"] [data-claimed-by=\"alice\"]')"),
        Duration::from_secs(2),
    );
    println!(
        "claim seen on the other supervisor's page after {} ms",
        took.as_millis()
    );
    // A monitor whose sides look swapped (its warning) marks its call's tile.
    let doubt = json!({"events": [
        envelope("call-sides", 0, json!({"type": "call_start", "agent": "dan"})),
        envelope("call-sides", 1, json!({"type": "warning", "message": format!(
            "{} (3 phrases against 0): the customer looks to be on the left channel",
            calmline::report::SIDES_SWAPPED
        )})),
    ]});
    let (st, body) = post_events(&hub, Some(&token), &doubt.to_string());
    assert_eq!(st, 200, "{body}");
    b.wait_for(
        "[...document.querySelectorAll('[data-call=\"call-sides\"] .health')].some(h => h.textContent.startsWith('Sides in doubt'))",
        Duration::from_secs(5),
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hub-floor.png");
    a.screenshot(&shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    println!("screenshot: {}", shot.display());
    let _ = m.lines();
    // The call has ended with its alert still claimed: it stays on the floor under the ended
    // calls, saying whose call it was and when it started (one agent has many calls a day).
    b.wait_for(
        &format!("document.querySelector('[data-call-ended] [data-alert=\"{id}\"]')"),
        Duration::from_secs(10),
    );
    let ended = b.eval(&format!(
        "document.querySelector('[data-alert=\"{id}\"]').parentElement.textContent"
    ));
    let ended = ended.as_str().unwrap();
    // The call's own start, not the alert's time less its call clock (a call played at 4x).
    let started_ms = store.call(&alert.call).unwrap().unwrap().started_ms;
    let started = b.eval(&format!("new Date({started_ms}).toLocaleString()"));
    let label = format!("ann (red), call started {}: ", started.as_str().unwrap());
    assert!(
        ended.starts_with(&label) && ended.contains("Claimed by alice"),
        "{ended:?} should start with {label:?}"
    );
    // History: the alert is there, claimed by Alice; the stations tab shows the desk.
    a.eval("document.querySelector('[data-tab=history]').click(); true");
    a.wait_for(
        &format!("document.querySelector('#halerts tr[data-alert=\"{id}\"]')"),
        Duration::from_secs(5),
    );
    let row = a.eval(&format!(
        "document.querySelector('#halerts tr[data-alert=\"{id}\"]').textContent"
    ));
    assert!(row.as_str().unwrap().contains("alice"), "{row}");
    // Its trail opens under the row: raised by the station, then Alice's claim, in order.
    a.eval(&format!(
        "document.querySelector('#halerts tr[data-alert=\"{id}\"] button.trail').click(); true"
    ));
    a.wait_for(
        &format!("document.querySelector('#halerts tr[data-trail-of=\"{id}\"] li[data-action=\"claimed\"][data-actor=\"alice\"]')"),
        Duration::from_secs(5),
    );
    let steps = a.eval(&format!(
        "[...document.querySelectorAll('#halerts tr[data-trail-of=\"{id}\"] li')].map(l => l.dataset.action)"
    ));
    let steps: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(steps.first(), Some(&"raised"), "{steps:?}");
    assert!(
        steps
            .windows(2)
            .all(|w| !(w[0] == "repeated" && w[1] == "repeated")),
        "repeats in a row are one line: {steps:?}"
    );
    assert_eq!(steps.last(), Some(&"claimed"), "{steps:?}");
    a.screenshot(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("hub-history.png"));
    a.eval("document.querySelector('[data-tab=stations]').click(); true");
    a.wait_for(
        "document.querySelector('#hstations tr[data-station=\"desk-1\"]')",
        Duration::from_secs(5),
    );
    // The supervisor of another team never saw the call or its alert.
    assert_eq!(
        other.eval("document.querySelectorAll('[data-call], [data-alert]').length"),
        json!(0)
    );
    assert_eq!(
        other.eval("Object.keys(window.calmline.seen).length"),
        json!(0)
    );
}

#[test]
fn the_hub_serves_https_and_monitors_trust_the_centres_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A private CA and a certificate for 127.0.0.1 signed by it.
    let sh = |cmd: &str| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=calmline-test-ca 2>/dev/null",
    );
    sh(
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout hub.key -out hub.csr -subj /CN=127.0.0.1 2>/dev/null",
    );
    sh(
        "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in hub.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out hub.pem -days 2 -extfile san.ext 2>/dev/null",
    );
    let db = d.join("hub.sqlite");
    let port = common::free_port();
    let mut child = Command::new(BIN)
        .args(["hub", "--db", db.to_str().unwrap(), "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--tls-cert", d.join("hub.pem").to_str().unwrap()])
        .args(["--tls-key", d.join("hub.key").to_str().unwrap()])
        .env("XDG_DATA_HOME", d)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ca = std::fs::read(d.join("ca.pem")).unwrap();
    let roots = ureq::tls::RootCerts::from([ureq::tls::Certificate::from_pem(&ca).unwrap()]);
    let trusting: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build()
        .into();
    let url = format!("https://127.0.0.1:{port}");
    let t = Instant::now();
    while trusting.get(&format!("{url}/healthz")).call().is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "no HTTPS hub");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Plain HTTP and clients that do not trust the CA get nowhere.
    assert!(ureq::get(&format!("{url}/healthz")).call().is_err());
    assert!(
        ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
            .call()
            .is_err()
    );
    // A monitor configured with the CA reports over HTTPS.
    let store = calmline::hub::Store::open(&db).unwrap();
    let token = calmline::hub::auth::secret("clst_").unwrap();
    store
        .add_station("desk-1", "red", &calmline::hub::auth::digest(&token))
        .unwrap();
    std::fs::write(
        d.join("monitor.toml"),
        format!(
            "[hub]\noutbox = {:?}\nca = {:?}\n",
            d.join("outbox").to_str().unwrap(),
            d.join("ca.pem").to_str().unwrap()
        ),
    )
    .unwrap();
    let o = Command::new(BIN)
        .args(["live", "--file"])
        .arg(common::call("scenario_calm_a01.wav"))
        .args([
            "--speed",
            "16",
            "--no-transcribe",
            "--ui",
            "json",
            "--hub",
            &url,
        ])
        .args([
            "--token",
            &token,
            "--config",
            d.join("monitor.toml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let last: Value =
        serde_json::from_str(String::from_utf8(o.stdout).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["hub"]["pending"], 0, "{last}");
    assert_eq!(last["hub"]["failures"], 0, "{last}");
    assert_eq!(last["hub"]["acked"], last["hub"]["queued"], "{last}");
}

#[test]
fn a_monitor_whose_output_nobody_reads_still_analyses_and_reports_the_whole_call() {
    let hub = Hub::new();
    let token = hub.token("desk-1", "red");
    hub.user("alice", "red");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("monitor.toml");
    std::fs::write(
        &cfg,
        format!("[hub]\noutbox = {:?}\n", dir.path().join("outbox")),
    )
    .unwrap();
    // `--ui json` into a pipe nobody reads: it fills after 64 KB, and every write would block.
    let mut child = Command::new(BIN)
        .args(["live", "--file"])
        .arg(common::call("scenario_escalating_a04.wav"))
        .args(["--speed", "16", "--no-transcribe", "--ui", "json"])
        .args(["--hub", &hub.url(), "--token", &token, "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the monitor stalled behind its unread output");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("the output was not read fast enough"), "{err}");
    // What was written is whole JSON lines, oldest first.
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(out.len() >= 60_000, "{} bytes", out.len());
    let whole = out.rfind('\n').map_or("", |i| &out[..i]);
    for l in whole.lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    // The hub has the whole call: ended, with its escalation alert.
    let alice = Supervisor::login(&hub.url(), "alice");
    let calls = alice.get("/api/calls");
    let call = &calls["calls"][0];
    assert!(call["ended_ms"].as_i64().is_some(), "{calls}");
    let alerts = alice.get("/api/alerts");
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "escalated_call"),
        "{alerts}"
    );
}

#[test]
fn a_call_made_while_the_hub_is_down_waits_in_the_outbox_and_arrives_with_the_next() {
    let mut hub = Hub::new();
    let token = hub.token("desk-1", "red");
    let _ = hub.child.kill();
    let _ = hub.child.wait();
    let dir = tempfile::tempdir().unwrap();
    // The first call: nobody to report to. It runs all the same and keeps its events on disk.
    let first = monitor(&hub, &token, "scenario_calm_a01.wav", 16.0, dir.path()).lines();
    let s1 = summary(&first)["hub"].clone();
    assert!(s1["pending"].as_u64().unwrap() > 0, "{s1}");
    assert_eq!(s1["acked"], 0, "{s1}");
    let outbox: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    // The hub is back; the next call sends the first one's events too.
    hub.restart();
    let second = monitor(&hub, &token, "scenario_calm_a04.wav", 16.0, dir.path()).lines();
    let s2 = summary(&second)["hub"].clone();
    assert_eq!(s2["pending"], 0, "{s2}");
    let store = calmline::hub::Store::open(&hub.db).unwrap();
    let calls = store.calls(&Default::default()).unwrap();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let first_call = s1["call"].as_str().unwrap();
    let c = store.call(first_call).unwrap().unwrap();
    assert!(c.ended_ms.is_some(), "the first call's end arrived: {c:?}");
    assert_eq!(
        store.event_ids(first_call, "call_end").unwrap().len(),
        1,
        "stored once"
    );
    assert!(
        std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .next()
            .is_none(),
        "the outbox is empty once the hub has everything"
    );
}

/// Listing, revoking or removing from a store that is not there (a mistyped `--db`) is an error
/// naming the path, and creates nothing; before, it created an empty store and listed nothing,
/// as if every station and supervisor were gone.
#[test]
fn managing_a_store_that_is_not_there_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo").join("hub.sqlite");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("hub")
            .args(args)
            .args(["--db", db.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for args in [
        &["token", "list"][..],
        &["token", "revoke", "desk-1"],
        &["user", "list"],
        &["user", "remove", "maria"],
    ] {
        let o = run(args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no hub store at") && stderr.contains(db.to_str().unwrap()),
            "{args:?}: {stderr}"
        );
    }
    assert!(!dir.path().join("typo").exists());
    // Adding creates it; an empty list then says what it looked at.
    assert!(
        run(&["token", "add", "desk-1", "--team", "red"])
            .status
            .success()
    );
    let o = run(&["user", "list"]);
    assert!(o.status.success() && o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no supervisors in"));
    let o = run(&["token", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "desk-1\tteam red"
    );
}
