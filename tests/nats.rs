//! Many sites and hubs over NATS JetStream, end to end: a real `nats-server` (JetStream, file
//! storage, loopback, per-station users whose permissions allow only their own subject) started
//! by the test, real `calmline hub --nats` processes with their SQLite stores, and real monitors
//! (`calmline live --file ... --nats`) playing ../shared/data recordings on the wall clock.

mod common;

use common::Monitor;
use common::supervisor::Supervisor;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_calmline");

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A nats-server with JetStream on a private store; killed when dropped.
struct Nats {
    child: Option<Child>,
    port: u16,
    conf: PathBuf,
    /// The seed of station desk-3, which signs in with an nkey (no password).
    desk3_seed: String,
    _dir: tempfile::TempDir,
}

impl Nats {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let conf = dir.path().join("nats.conf");
        let desk3 = nkeys::KeyPair::new_user();
        // Hubs may use the JetStream API and acknowledge; each station may publish only to its
        // own subject (and receive its publish acknowledgements).
        std::fs::write(
            &conf,
            format!(
                r#"listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{}" }}
accounts {{
  CALMLINE: {{
    jetstream: enabled
    users: [
      {{ user: hub, password: hub-secret, permissions: {{ publish: ["$JS.API.>", "$JS.ACK.>", "calmline.floor.steps"], subscribe: ["_INBOX.>"] }} }}
      {{ user: desk-1, password: desk-1-secret, permissions: {{ publish: ["calmline.lyon.desk-1.events"], subscribe: ["_INBOX.>"] }} }}
      {{ user: desk-2, password: desk-2-secret, permissions: {{ publish: ["calmline.lyon.desk-2.events"], subscribe: ["_INBOX.>"] }} }}
      {{ nkey: {}, permissions: {{ publish: ["calmline.lyon.desk-3.events"], subscribe: ["_INBOX.>"] }} }}
      {{ user: qa, password: qa-secret }}
    ]
  }}
}}
"#,
                dir.path().join("js").display(),
                desk3.public_key()
            ),
        )
        .unwrap();
        let mut n = Nats {
            child: None,
            port,
            conf,
            desk3_seed: desk3.seed().unwrap(),
            _dir: dir,
        };
        n.spawn();
        n
    }

    /// A server in operator mode (decentralised authentication): it trusts `operator` and
    /// knows the accounts in `accounts` (preloaded into its memory resolver, with a system
    /// account of its own); users are whoever those accounts sign a JWT for.
    fn start_operator(
        operator: &common::jwt::Operator,
        accounts: &[&common::jwt::Account],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let conf = dir.path().join("nats.conf");
        let system = operator.system_account();
        let preload: String = accounts
            .iter()
            .chain([&&system])
            .map(|a| format!("  {}: \"{}\"\n", a.public_key(), a.jwt))
            .collect();
        std::fs::write(
            &conf,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\noperator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n{preload}}}\n",
                dir.path().join("js").display(),
                operator.jwt,
                system.public_key()
            ),
        )
        .unwrap();
        let mut n = Nats {
            child: None,
            port,
            conf,
            desk3_seed: String::new(),
            _dir: dir,
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        // Debian puts it in /usr/sbin, which a user's PATH may lack.
        let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nats-server");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (scripts/install-deps.sh installs it)");
        self.child = Some(child);
        let port = self.port;
        wait_for("nats-server listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no clean shutdown.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A hub process following the stream through its own durable consumer; killed when dropped.
struct Hub {
    child: Option<Child>,
    db: PathBuf,
    port: u16,
    consumer: String,
    nats: String,
    /// How it signs in: the flags, and the password in the environment.
    sign_in: Vec<String>,
    dir: tempfile::TempDir,
}

impl Hub {
    fn start(nats: &Nats, consumer: &str) -> Self {
        Self::signed_in(nats, consumer, &["--nats-user", "hub"])
    }

    fn signed_in(nats: &Nats, consumer: &str, sign_in: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Hub {
            child: None,
            db: dir.path().join("hub.sqlite"),
            port: common::free_port(),
            consumer: consumer.into(),
            nats: nats.url(),
            sign_in: sign_in.iter().map(|a| a.to_string()).collect(),
            dir,
        };
        h.spawn();
        h
    }

    fn spawn(&mut self) {
        let child = Command::new(BIN)
            .args(["hub", "--db"])
            .arg(&self.db)
            .args(["--bind", &format!("127.0.0.1:{}", self.port)])
            .args(["--nats", &self.nats])
            .args(&self.sign_in)
            .args(["--consumer", &self.consumer])
            .env("CALMLINE_NATS_PASSWORD", "hub-secret")
            .env("XDG_DATA_HOME", self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_for("the hub listening", Duration::from_secs(10), || {
            ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
                .call()
                .is_ok()
        });
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its operations figures (`/metrics`, Prometheus text).
    fn metrics(&self) -> String {
        ureq::get(&format!("{}/metrics", self.url()))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }

    /// A supervisor who sees every team, with the password `pw-NAME-secret`.
    fn admin(&self, name: &str) {
        use std::io::Write;
        let mut c = Command::new(BIN)
            .args(["hub", "user", "add", name, "--admin", "--db"])
            .arg(&self.db)
            .env("XDG_DATA_HOME", self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(format!("pw-{name}-secret\n").as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// The call's `escalated_call` alert, once this hub has it.
    fn escalation(&self) -> Option<calmline::hub::store::AlertRow> {
        self.store()
            .alerts(&Default::default())
            .unwrap()
            .into_iter()
            .find(|a| a.kind == "escalated_call")
    }

    fn store(&self) -> calmline::hub::Store {
        calmline::hub::Store::open(&self.db).unwrap()
    }

    /// Every stored event of `call`, by kind.
    fn events(&self, call: &str) -> std::collections::BTreeMap<&'static str, Vec<String>> {
        let store = self.store();
        KINDS
            .iter()
            .map(|k| (*k, store.event_ids(call, k).unwrap()))
            .collect()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
    }
}

const KINDS: [&str; 10] = [
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
];

/// `calmline live` playing `file` at `speed` as station `station` of site lyon, publishing to
/// `nats` (its configuration and outbox in `dir`, named after `name`); not signed in yet.
fn station_command(
    nats: &Nats,
    dir: &Path,
    name: &str,
    station: &str,
    file: &str,
    speed: f64,
) -> Command {
    let cfg = dir.join(format!("{name}.toml"));
    let outbox = dir.join(format!("outbox-{name}"));
    let mut cmd = common::live_file(BIN, file, speed, &cfg, &outbox);
    cmd.args([
        "--nats",
        &nats.url(),
        "--site",
        "lyon",
        "--station",
        station,
    ]);
    cmd
}

fn monitor(nats: &Nats, station: &str, file: &str, speed: f64, dir: &Path) -> Monitor {
    Monitor::spawn(
        station_command(nats, dir, station, station, file, speed)
            .args(["--nats-user", station])
            .env("CALMLINE_NATS_PASSWORD", format!("{station}-secret")),
    )
}

/// Two hubs follow one stream while a call escalates; one hub is killed (-9) and restarted
/// mid-call, then the NATS server itself. Both hubs end with every event of the call exactly
/// once, the same alerts, and the call's station as `lyon.desk-1` in team `lyon`.
#[test]
fn two_hubs_see_every_alert_once_through_hub_and_server_kills() {
    let mut nats = Nats::start();
    let mut a = Hub::start(&nats, "hub-a");
    let b = Hub::start(&nats, "hub-b");
    let dir = tempfile::tempdir().unwrap();
    // 107 s of call at 4x: about 27 s.
    let m = monitor(
        &nats,
        "desk-1",
        "scenario_escalating_a04.wav",
        4.0,
        dir.path(),
    );
    wait_for("the call at hub a", Duration::from_secs(20), || {
        !a.store().calls(&Default::default()).unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    a.kill();
    std::thread::sleep(Duration::from_secs(3));
    a.spawn();
    std::thread::sleep(Duration::from_secs(3));
    // Longer than a publish acknowledgement's timeout (5 s): the monitor sees failures and its
    // outbox sends again.
    nats.kill();
    std::thread::sleep(Duration::from_secs(7));
    nats.spawn();
    let out = m.lines();
    let s = out.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(s["hub"]["pending"], 0, "{s}");
    assert_eq!(s["hub"]["rejected"], 0, "{s}");
    assert!(
        s["hub"]["failures"].as_u64().unwrap() >= 1,
        "the server's outage was seen: {s}"
    );
    let call = s["hub"]["call"].as_str().unwrap();
    let queued = s["hub"]["queued"].as_u64().unwrap();
    let emitted = out.iter().filter(|l| l["type"] == "alert").count();
    assert!(emitted >= 1, "the call raised no alert");
    for hub in [&a, &b] {
        wait_for(
            &format!("every event at {}", hub.consumer),
            Duration::from_secs(60),
            || {
                hub.events(call)
                    .values()
                    .map(|v| v.len() as u64)
                    .sum::<u64>()
                    >= queued
            },
        );
        // Ids are unique in the store: the count is the number of distinct events.
        let events = hub.events(call);
        let total: u64 = events.values().map(|v| v.len() as u64).sum();
        assert_eq!(total, queued, "{}: {events:?}", hub.consumer);
        assert_eq!(events["alert"].len(), emitted, "{}", hub.consumer);
        let store = hub.store();
        let c = store.call(call).unwrap().expect("the call");
        assert_eq!(
            (c.station.as_str(), c.team.as_str()),
            ("lyon.desk-1", "lyon")
        );
        let alerts: Vec<String> = store
            .alerts(&Default::default())
            .unwrap()
            .into_iter()
            .map(|a| a.kind)
            .collect();
        assert!(
            alerts.iter().any(|k| k == "escalated_call"),
            "{}: {alerts:?}",
            hub.consumer
        );
    }
    // Operations figures (Prometheus text): events, alerts, the consumer's backlog (drained).
    let metrics = b.metrics();
    for line in [
        "calmline_hub_alerts{kind=\"escalated_call\",state=\"open\"} 1",
        "calmline_hub_nats_consumer_unacked{consumer=\"hub-b\"} 0",
        "calmline_hub_monitor_outbox_events ",
        "calmline_hub_event_lag_seconds_count ",
        "calmline_hub_sqlite_commit_seconds_bucket{le=\"+Inf\"} ",
    ] {
        assert!(metrics.contains(line), "{line} not in /metrics:\n{metrics}");
    }
    let stored: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("calmline_hub_events_stored_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(stored, queued, "{metrics}");
    // Both hubs hold the same alerts.
    let kinds = |h: &Hub| {
        let mut k: Vec<String> = h
            .store()
            .alerts(&Default::default())
            .unwrap()
            .into_iter()
            .map(|a| a.kind)
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(&a), kinds(&b));
}

/// Supervisors on two hubs work one floor: a claim taken on one hub shows on the other, the
/// latest claim wins on both, and a resolution taken while the other hub is down reaches it
/// when it is back, note included. A hub started after all of it gets the steps along with
/// the events, whichever of the two arrives first.
#[test]
fn a_claim_or_a_resolution_on_one_hub_reaches_every_hub_of_the_floor() {
    let nats = Nats::start();
    let a = Hub::start(&nats, "hub-a");
    let mut b = Hub::start(&nats, "hub-b");
    for h in [&a, &b] {
        h.admin("sue");
        h.admin("tom");
    }
    let dir = tempfile::tempdir().unwrap();
    let m = monitor(
        &nats,
        "desk-1",
        "scenario_escalating_a04.wav",
        8.0,
        dir.path(),
    );
    // The whole call first: later events cannot open a second alert after the resolution.
    let _ = m.lines();
    for h in [&a, &b] {
        wait_for("the escalation alert", Duration::from_secs(60), || {
            h.escalation().is_some()
        });
    }
    let (at_a, at_b) = (a.escalation().unwrap().id, b.escalation().unwrap().id);
    let sue = Supervisor::login(&a.url(), "sue");
    let tom = Supervisor::login(&b.url(), "tom");

    // Sue takes it on hub a: hub b shows it taken by her.
    let (status, body) = sue.post(&format!("/api/alerts/{at_a}/claim"), "", true);
    assert_eq!(status, 200, "{body}");
    wait_for("sue's claim at hub b", Duration::from_secs(10), || {
        let e = b.escalation().unwrap();
        e.state == "claimed" && e.claimed_by.as_deref() == Some("sue")
    });
    let trail = b.store().audit_of(at_b).unwrap();
    assert!(
        trail.iter().any(|r| r.action == "claimed"
            && r.actor == "sue"
            && r.detail.as_deref() == Some("on hub hub-a")),
        "{trail:?}"
    );
    // Tom takes it over on hub b: the latest claim wins on both hubs.
    let (status, body) = tom.post(&format!("/api/alerts/{at_b}/claim"), "", true);
    assert_eq!(status, 200, "{body}");
    wait_for("tom's claim at hub a", Duration::from_secs(10), || {
        a.escalation().unwrap().claimed_by.as_deref() == Some("tom")
    });
    assert_eq!(b.escalation().unwrap().claimed_by.as_deref(), Some("tom"));

    // Hub b is down while sue resolves it; back, it catches up.
    b.kill();
    let (status, body) = sue.post(
        &format!("/api/alerts/{at_a}/resolve"),
        r#"{"note":"called the customer back"}"#,
        true,
    );
    assert_eq!(status, 200, "{body}");
    b.spawn();
    wait_for("the resolution at hub b", Duration::from_secs(20), || {
        b.escalation().unwrap().state == "resolved"
    });
    let e = b.escalation().unwrap();
    assert_eq!(
        (
            e.resolved_by.as_deref(),
            e.note.as_deref(),
            e.claimed_by.as_deref()
        ),
        (Some("sue"), Some("called the customer back"), Some("tom"))
    );
    // Resolved on both, so a claim now is refused on either.
    let (status, _) = tom.post(&format!("/api/alerts/{at_b}/claim"), "", true);
    assert_eq!(status, 409);

    // A hub that starts now reads a stream of events and one of steps; the steps may come
    // first and wait for their alert.
    let c = Hub::start(&nats, "hub-c");
    wait_for(
        "the resolved alert at hub c",
        Duration::from_secs(60),
        || {
            c.escalation()
                .is_some_and(|e| e.state == "resolved" && e.claimed_by.as_deref() == Some("tom"))
        },
    );
    let e = c.escalation().unwrap();
    assert_eq!(
        (e.resolved_by.as_deref(), e.note.as_deref()),
        (Some("sue"), Some("called the customer back"))
    );
    // Nothing left to share or to wait for, on any hub.
    for h in [&a, &b, &c] {
        let m = h.metrics();
        for line in [
            "calmline_hub_floor_steps_unshared 0\n",
            "calmline_hub_floor_steps_waiting 0\n",
        ] {
            assert!(m.contains(line), "{}: {line} not in\n{m}", h.consumer);
        }
    }
}

/// A hub started after the calls catches up from the stream; a station's user can publish only
/// to its own subject.
#[test]
fn a_late_hub_catches_up_and_a_station_cannot_publish_as_another() {
    let nats = Nats::start();
    // A hub creates the stream.
    let first = Hub::start(&nats, "hub-a");
    let dir = tempfile::tempdir().unwrap();
    let out = monitor(&nats, "desk-2", "scenario_calm_a01.wav", 16.0, dir.path()).lines();
    let s = out.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(s["hub"]["pending"], 0, "{s}");
    let call = s["hub"]["call"].as_str().unwrap().to_string();
    let queued = s["hub"]["queued"].as_u64().unwrap();
    let late = Hub::start(&nats, "hub-late");
    for hub in [&first, &late] {
        wait_for(
            &format!("every event at {}", hub.consumer),
            Duration::from_secs(30),
            || {
                hub.events(&call)
                    .values()
                    .map(|v| v.len() as u64)
                    .sum::<u64>()
                    == queued
            },
        );
    }
    // desk-1's user tries to publish an event as desk-2: the server refuses it, and no hub
    // stores it.
    let url = nats.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (own, foreign) = rt.block_on(async {
        let client = async_nats::ConnectOptions::with_user_and_password(
            "desk-1".into(),
            "desk-1-secret".into(),
        )
        .connect(url.as_str())
        .await
        .unwrap();
        let mut js = async_nats::jetstream::new(client);
        js.set_timeout(Duration::from_secs(2));
        let env = |call: &str| {
            serde_json::json!({"id": format!("{call}/0"), "call": call, "seq": 0, "sent_ms": 0,
                "event": {"t_s": 0.0, "type": "call_start", "agent": "mallory"}})
            .to_string()
        };
        let foreign = match js
            .publish("calmline.lyon.desk-2.events", env("forged-1").into())
            .await
        {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let own = js
            .publish("calmline.lyon.desk-1.events", env("genuine-1").into())
            .await
            .unwrap()
            .await
            .map(|_| ());
        (own, foreign)
    });
    assert!(own.is_ok(), "{own:?}");
    assert!(foreign.is_err(), "a station published as another");
    wait_for("the genuine event", Duration::from_secs(10), || {
        first.store().call("genuine-1").unwrap().is_some()
    });
    assert!(first.store().call("forged-1").unwrap().is_none());
    assert!(late.store().call("forged-1").unwrap().is_none());
}

/// Lines of a child's stdout, as they come.
fn line_channel(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

fn worker(nats: &Nats, name: &str, cfg: &Path) -> Child {
    Command::new(BIN)
        .args([
            "worker",
            "--nats",
            &nats.url(),
            "--nats-user",
            "qa",
            "--name",
            name,
        ])
        .arg("--config")
        .arg(cfg)
        .env("CALMLINE_NATS_PASSWORD", "qa-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `review INPUT --queue --out OUT` as the QA user (stdout piped).
fn enqueuer(nats: &Nats, input: &Path, out: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("review")
        .arg(input)
        .args([
            "--queue",
            "--nats",
            &nats.url(),
            "--nats-user",
            "qa",
            "--out",
        ])
        .arg(out)
        .env("CALMLINE_NATS_PASSWORD", "qa-secret")
        .stdout(Stdio::piped());
    c
}

/// QA review at scale: 40 recordings queued with their call details, two worker processes with
/// transcription, one killed (-9) in the middle of a job. Every file ends up in summary.csv
/// exactly once, the killed worker's job is reviewed again by the other, no report is
/// half-written, and each report has its customer's name from the details.
#[test]
fn review_workers_survive_a_killed_worker_and_review_every_file_once() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("calls");
    let out = dir.path().join("reviews");
    std::fs::create_dir_all(&input).unwrap();
    let calls = [
        "scenario_calm_a01",
        "scenario_calm_a04",
        "scenario_escalating_a01",
        "scenario_escalating_a04",
    ];
    for k in 0..40 {
        let call = calls[k % 4];
        let start = (k / 4 * 8).to_string();
        common::sox_fx(
            &common::call(&format!("{call}.wav")),
            &input.join(format!("{call}_{k:02}.wav")),
            &[],
            &["trim", &start, "8"],
        );
    }
    // The call details name the customer of every even-numbered call; each job carries it.
    let details = dir.path().join("details.csv");
    let mut csv = String::from("file,customer_name\n");
    for k in (0..40).step_by(2) {
        csv.push_str(&format!("{}_{k:02}.wav,Customer {k}\n", calls[k % 4]));
    }
    std::fs::write(&details, csv).unwrap();
    // Jobs of a silent worker go to another after 3 s (30 s by default).
    let cfg = dir.path().join("worker.toml");
    std::fs::write(&cfg, "[nats]\njob_ack_wait_s = 3.0\n").unwrap();
    let mut a = worker(&nats, "wa", &cfg);
    let mut b = worker(&nats, "wb", &cfg);
    let (la, lb) = (line_channel(&mut a), line_channel(&mut b));
    let mut review = enqueuer(&nats, &input, &out)
        .arg("--call-details")
        .arg(&details)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lr = line_channel(&mut review);
    // Kill worker a in the middle of its third job (a job takes over a second: transcription).
    let mut started = 0;
    let killed_on = loop {
        let l = la
            .recv_timeout(Duration::from_secs(120))
            .expect("worker a took no third job");
        if l.contains(": reviewing ") {
            started += 1;
            if started == 3 {
                let _ = a.kill();
                let _ = a.wait();
                break l;
            }
        }
    };
    let status = review.wait().unwrap();
    // Everything it printed: read to the end of its output (the reader thread may still hold
    // the last lines when the process has exited).
    let enqueuer: Vec<String> = lr.iter().collect();
    assert!(status.success(), "review --queue failed: {enqueuer:?}");
    let _ = b.kill();
    let _ = b.wait();
    let b_lines: Vec<String> = lb.iter().collect();
    // The job worker a died with was reviewed again, by b.
    let file = killed_on
        .split(": reviewing ")
        .nth(1)
        .unwrap()
        .split(" (")
        .next()
        .unwrap()
        .to_string();
    assert!(
        b_lines
            .iter()
            .any(|l| l.contains(&format!("reviewing {file} ")) && l.contains("delivery 2")),
        "{file} was not redelivered to b: {b_lines:?}"
    );
    // Every file exactly once in the summary, none failed.
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let rows: Vec<&str> = summary.lines().skip(1).collect();
    assert_eq!(rows.len(), 40, "{summary}");
    let mut names: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 40);
    assert!(
        rows.iter().all(|r| r.ends_with(',')),
        "a failure: {summary}"
    );
    // Complete reports only: every JSON parses, every HTML is whole, no partial file is left.
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.contains(".partial-"), "left behind: {name}");
        if name.ends_with(".json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            assert!(v["transcript"].is_array(), "{name}");
            let k: usize = name
                .trim_end_matches(".json")
                .rsplit('_')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let expected = k.is_multiple_of(2).then(|| format!("Customer {k}"));
            assert_eq!(v["customer_name"].as_str(), expected.as_deref(), "{name}");
        } else if name.ends_with(".html") {
            let t = std::fs::read_to_string(&p).unwrap();
            assert!(t.trim_end().ends_with("</html>"), "{name}");
        }
    }
    let jsons = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(jsons, 40);
    assert!(
        enqueuer
            .iter()
            .any(|l| l.starts_with("reviewed 40 of 40 file(s) by 2 worker(s)")),
        "{enqueuer:?}"
    );
}

/// An enqueuer stopped while it follows its batch leaves `.calmline-batch.json` in the output
/// folder; run again with the same folder and settings, it follows that batch instead of
/// queuing it twice: every file is reviewed once, and the summary is written. The calls sit in
/// day folders (`--recursive`): the reports mirror them.
#[test]
fn a_stopped_enqueuer_run_again_follows_its_batch_to_the_end() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("calls");
    let out = dir.path().join("reviews");
    for k in 0..6 {
        let day = input.join(format!("day{}", k % 2));
        std::fs::create_dir_all(&day).unwrap();
        common::sox_fx(
            &common::call("scenario_calm_a01.wav"),
            &day.join(format!("call_{k}.wav")),
            &[],
            &["trim", &(k * 8).to_string(), "8"],
        );
    }
    // The agents by path under the folder, carried by the jobs into the summary.
    let details = dir.path().join("details.csv");
    std::fs::write(
        &details,
        "file,agent\nday0/call_0.wav,Ann\nday1/call_5.wav,Bob\n",
    )
    .unwrap();
    let enqueue = || {
        enqueuer(&nats, &input, &out)
            .args(["--no-transcribe", "--recursive", "--call-details"])
            .arg(&details)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // No worker yet: the batch is queued, and its enqueuer is stopped while it waits.
    let mut first = enqueue();
    let manifest = out.join(".calmline-batch.json");
    wait_for("the batch queued", Duration::from_secs(20), || {
        std::fs::read(&manifest)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|m| m["all_queued"] == true)
    });
    let _ = first.kill();
    let _ = first.wait();
    let cfg = dir.path().join("worker.toml");
    std::fs::write(&cfg, "[nats]\njob_ack_wait_s = 3.0\n").unwrap();
    let mut w = worker(&nats, "w1", &cfg);
    let lw = line_channel(&mut w);
    let second = enqueue().wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{said}");
    assert!(said.contains("was not followed to its end"), "{said}");
    assert!(!said.contains("queued 6 file(s)"), "queued again: {said}");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 7, "{summary}");
    for k in 0..6 {
        let name = format!("day{}/call_{k}", k % 2);
        let agent = [(0, "Ann"), (5, "Bob")]
            .iter()
            .find(|(j, _)| *j == k)
            .map_or("", |(_, a)| a);
        assert!(
            summary.contains(&format!("\n{name}.wav,{agent},")),
            "{name}: {summary}"
        );
        assert!(out.join(format!("{name}.json")).is_file(), "{name}.json");
    }
    assert!(!manifest.exists(), "the finished batch's manifest is left");
    // The next night: one recording replaced since. --skip-reviewed queues only that one and
    // keeps the other five reports, and the summary still lists all six.
    let replaced = input.join("day1/call_3.wav");
    std::fs::File::options()
        .write(true)
        .open(&replaced)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let skip = || {
        enqueuer(&nats, &input, &out)
            .args(["--no-transcribe", "--recursive", "--skip-reviewed"])
            .arg("--call-details")
            .arg(&details)
            .output()
            .unwrap()
    };
    let third = skip();
    let said = String::from_utf8_lossy(&third.stdout);
    assert!(third.status.success(), "{said}");
    assert!(
        said.contains("reviewed 1 of 6 file(s)")
            && said.contains("kept the reports of 5 reviewed before"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        summary
    );
    // Nothing changed since: nothing is queued, and no worker is needed.
    let _ = w.kill();
    let _ = w.wait();
    let fourth = skip();
    let said = String::from_utf8_lossy(&fourth.stdout);
    assert!(fourth.status.success(), "{said}");
    assert!(
        said.contains("all 6 file(s) were reviewed before"),
        "{said}"
    );
    let reviewed: Vec<String> = lw
        .try_iter()
        .filter(|l| l.contains(": reviewing "))
        .collect();
    assert_eq!(reviewed.len(), 7, "{reviewed:?}");
    assert!(reviewed.last().unwrap().contains("call_3"), "{reviewed:?}");
}

/// `station` plays its call to the end with every event published, and the call is at `hub`
/// under `name`.
fn reaches_the_hub(hub: &Hub, station: &mut Command, name: &str) {
    let out = Monitor::spawn(station).lines();
    let s = out.iter().find(|l| l["type"] == "summary").unwrap();
    assert_eq!(s["hub"]["pending"], 0, "{s}");
    let call = s["hub"]["call"].as_str().unwrap().to_string();
    wait_for("the call at the hub", Duration::from_secs(20), || {
        hub.store().call(&call).unwrap().is_some()
    });
    assert_eq!(hub.store().call(&call).unwrap().unwrap().station, name);
}

/// The server refuses `station`: it publishes nothing, says so, and keeps its events.
fn is_refused_and_keeps_its_events(station: &mut Command) {
    let out = Monitor::spawn(station).lines();
    let s = out.iter().find(|l| l["type"] == "summary").unwrap();
    assert!(s["hub"]["pending"].as_u64().unwrap() > 0, "{s}");
    assert!(s["hub"]["failures"].as_u64().unwrap() >= 1, "{s}");
}

/// Station `station` of site lyon playing a calm call at 8x speed, signed in to NATS with `flag
/// file` and no password.
fn signed_in_station(
    nats: &Nats,
    dir: &Path,
    name: &str,
    station: &str,
    flag: &str,
    file: &Path,
) -> Command {
    let mut cmd = station_command(nats, dir, name, station, "scenario_calm_a01.wav", 8.0);
    cmd.arg(flag).arg(file).env_remove("CALMLINE_NATS_PASSWORD");
    cmd
}

/// A station signs in with an nkey seed instead of a password (nsc's file layout: comments
/// around the seed); a seed the server does not know gets nowhere, and the monitor keeps the
/// call's events in its outbox; a file with no seed is refused at once, naming the file.
#[test]
fn a_station_signs_in_with_an_nkey_and_an_unknown_one_is_refused() {
    let nats = Nats::start();
    let hub = Hub::start(&nats, "hub-n");
    let dir = tempfile::tempdir().unwrap();
    let play = |seed_file: &Path, name: &str| {
        signed_in_station(&nats, dir.path(), name, "desk-3", "--nats-nkey", seed_file)
    };
    let good = dir.path().join("desk-3.nk");
    std::fs::write(
        &good,
        format!(
            "-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            nats.desk3_seed
        ),
    )
    .unwrap();
    reaches_the_hub(&hub, &mut play(&good, "good"), "lyon.desk-3");

    // A key the server does not know: nothing is published, nothing is lost.
    let stranger = dir.path().join("stranger.nk");
    std::fs::write(&stranger, nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    is_refused_and_keeps_its_events(&mut play(&stranger, "stranger"));

    // Not a seed at all.
    let wrong = dir.path().join("not-a-seed.txt");
    std::fs::write(&wrong, "hello\n").unwrap();
    let o = play(&wrong, "wrong").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not-a-seed.txt") && err.contains("no NATS user seed"),
        "{err}"
    );
}

/// Decentralised authentication: the server trusts an operator, not a list of users. A hub and
/// a station sign in with the credentials files their account signed (user JWT and seed, as
/// `nsc generate creds` writes them), and the station's call reaches the hub; a station whose
/// account the server does not trust gets nowhere and keeps its events; a file that is not a
/// credentials file is refused at start, naming it.
#[test]
fn a_hub_and_a_station_sign_in_with_credentials_files_of_a_trusted_account() {
    use common::jwt::Operator;
    let operator = Operator::new("calmline-test");
    let account = operator.account("CALLCENTRE");
    let nats = Nats::start_operator(&operator, &[&account]);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        f
    };
    let hub_creds = write(
        "hub.creds",
        &account.creds("hub", &["$JS.API.>", "$JS.ACK.>", "calmline.floor.steps"]),
    );
    let hub = Hub::signed_in(
        &nats,
        "hub-jwt",
        &["--nats-creds", hub_creds.to_str().unwrap()],
    );
    let play = |creds: &Path, name: &str| {
        signed_in_station(&nats, dir.path(), name, "desk-5", "--nats-creds", creds)
    };
    let desk = write(
        "desk-5.creds",
        &account.creds("desk-5", &["calmline.lyon.desk-5.events"]),
    );
    reaches_the_hub(&hub, &mut play(&desk, "desk"), "lyon.desk-5");

    // Signed by an account of another operator: the server refuses it, nothing is lost.
    let stranger = Operator::new("elsewhere").account("CALLCENTRE");
    let foreign = write(
        "foreign.creds",
        &stranger.creds("desk-5", &["calmline.lyon.desk-5.events"]),
    );
    is_refused_and_keeps_its_events(&mut play(&foreign, "foreign"));

    // A bare seed is not a credentials file.
    let seed_only = write(
        "seed-only.creds",
        &nkeys::KeyPair::new_user().seed().unwrap(),
    );
    let o = play(&seed_only, "seed-only").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("seed-only.creds") && err.contains("not a NATS credentials file"),
        "{err}"
    );
}
