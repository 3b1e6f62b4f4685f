//! Coaching on real recordings: cues, alerts, the scorecard, --explain and redaction through the
//! whole review (acoustics, transcription with the default model, language, coach).

mod common;

use std::path::Path;
use std::process::Command;

use calmline::Config;
use calmline::config::Side;
use calmline::events::{AlertKind, CueKind, PhraseKind};
use calmline::report::Review;
use calmline::review::{ReviewOptions, review_file_with};
use calmline::transcribe::Model;
use common::*;

fn model() -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(Config::default().transcribe.model);
    Model::load(&path).expect("tiny.en installed: run scripts/install-model.sh")
}

fn review_with(path: &Path, cfg: &Config, m: &Model) -> Review {
    review_file_with(
        path,
        cfg,
        ReviewOptions {
            model: Some(m),
            workers: 2,
            ..Default::default()
        },
        &|_| {},
    )
    .unwrap()
}

/// Cues that respond to the customer escalating.
const ESCALATION_CUES: [CueKind; 4] = [
    CueKind::Acknowledge,
    CueKind::LowerVoice,
    CueKind::SlowDown,
    CueKind::TakeOwnership,
];

#[test]
fn escalating_calls_get_acknowledge_within_3_s_and_an_alert() {
    let m = model();
    let cfg = Config::default();
    for name in ["scenario_escalating_a01", "scenario_escalating_a04"] {
        let r = review_with(&call(&format!("{name}.wav")), &cfg, &m);
        let first = turns(&call(&format!("{name}.turns.csv")))
            .into_iter()
            .find(|t| t.escalated)
            .unwrap();
        let ack = r
            .cues
            .iter()
            .find(|c| c.cue.kind == CueKind::Acknowledge)
            .expect("acknowledge cue");
        let delay = ack.t_s - first.start_s;
        println!(
            "{name}: acknowledge {:.2} s after the first angry turn began: {}",
            delay, ack.cue.evidence.sentence
        );
        assert!(
            (0.0..=3.0).contains(&delay),
            "{name}: acknowledge at {} for a turn at {}",
            ack.t_s,
            first.start_s
        );
        assert!(
            ack.cue.evidence.sentence.contains("customer +"),
            "evidence: {}",
            ack.cue.evidence.sentence
        );
        let alert = r
            .alerts
            .iter()
            .find(|a| a.alert.kind == AlertKind::EscalatedCall)
            .expect("escalated_call alert");
        println!(
            "{name}: escalated_call at {:.1} s: {}",
            alert.t_s, alert.alert.evidence.sentence
        );
        assert!(alert.alert.agent.is_none());
        // The scorecard links the episode to its moment.
        let eps = &r.scorecard.customer["escalation_episodes"];
        assert!(eps.value.as_u64().unwrap() >= 1);
        assert_eq!(eps.value, serde_json::json!(eps.moments.len()));
    }
}

#[test]
fn calm_calls_get_no_escalation_cues_or_alerts() {
    let m = model();
    let mut calls = vec![
        (call("scenario_calm_a01.wav"), Config::default()),
        (call("scenario_calm_a04.wav"), Config::default()),
    ];
    let mut woz = Config::default();
    woz.channels.customer = Side::Left;
    calls.push((call("spokenwoz_MUL1011_8k_stereo.wav"), woz));
    for (path, cfg) in calls {
        let r = review_with(&path, &cfg, &m);
        let kinds: Vec<CueKind> = r.cues.iter().map(|c| c.cue.kind).collect();
        println!(
            "{}: cues {kinds:?}, alerts {}",
            path.display(),
            r.alerts.len()
        );
        assert!(
            kinds.iter().all(|k| !ESCALATION_CUES.contains(k)),
            "{}: {kinds:?}",
            path.display()
        );
        assert!(r.alerts.is_empty(), "{}: {:?}", path.display(), r.alerts);
    }
}

#[test]
fn real_call_language_and_scorecard() {
    let m = model();
    let mut cfg = Config::default();
    cfg.channels.customer = Side::Left;
    let r = review_with(&call("spokenwoz_MUL1011_8k_stereo.wav"), &cfg, &m);
    let kinds: Vec<(PhraseKind, String)> = r
        .phrases
        .iter()
        .map(|p| (p.kind, p.speaker.to_string()))
        .collect();
    println!("spokenwoz phrases: {kinds:?}");
    // Thanks are said in this booking call, and the scorecard counts the agent's with moments.
    assert!(r.phrases.iter().any(|p| p.kind == PhraseKind::Thanks));
    let card = &r.scorecard.agent;
    for item in [
        "acknowledgements",
        "bare_apologies",
        "specific_apologies",
        "ownership_statements",
        "thanks",
        "name_uses",
        "interruptions",
        "talk_ratio",
    ] {
        assert!(
            card.contains_key(item),
            "scorecard lacks {item}: {:?}",
            card.keys()
        );
    }
    let thanks = &card["thanks"];
    assert_eq!(thanks.value, serde_json::json!(thanks.moments.len()));
    // Every moment is inside the call.
    for (name, item) in card.iter().chain(&r.scorecard.customer) {
        assert!(
            item.moments
                .iter()
                .all(|t| (0.0..=r.duration_s + 0.01).contains(t)),
            "{name}: {:?}",
            item.moments
        );
    }
}

#[test]
fn explain_prints_why_each_cue_fired() {
    let o = Command::new(env!("CARGO_BIN_EXE_calmline"))
        .args([
            "review",
            call("scenario_escalating_a01.wav").to_str().unwrap(),
            "--out",
            "-",
            "--format",
            "json",
            "--no-transcribe",
            "--explain",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("acknowledge"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("because escalation started: customer +"),
        "{line}"
    );
    assert!(err.contains("alert escalated_call"), "{err}");
    // In the order they happened, cues and alerts together: read against the recording.
    let times: Vec<u64> = err
        .lines()
        .filter(|l| l.contains("  cue  ") || l.contains("  alert "))
        .map(|l| {
            let (m, s) = l
                .split_whitespace()
                .next()
                .unwrap()
                .split_once(':')
                .unwrap();
            m.parse::<u64>().unwrap() * 60 + s.parse::<u64>().unwrap()
        })
        .collect();
    assert!(times.len() >= 2, "{err}");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{err}");
    // The same cues are in the JSON, and the HTML marks them.
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["cues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "acknowledge")
    );
}

#[test]
fn spoken_and_written_numbers_are_redacted_in_every_output() {
    let d = tempfile::tempdir().unwrap();
    let raw = d.path().join("raw.wav");
    let call16 = d.path().join("card_call.wav");
    // A real recogniser on a synthetic voice (espeak-ng) reading personal numbers aloud.
    let status = Command::new("espeak-ng")
        .args(["-s", "150", "-w", raw.to_str().unwrap()])
        .arg("Hello, my account number is 1 2 3 4 5 6 7 8. My card number is 4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1. Thank you.")
        .status()
        .expect("espeak-ng is installed (see scripts/install-deps.sh)");
    assert!(status.success());
    sox(&raw, &call16, &["-r", "16000"]);
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_calmline"))
        .args([
            "review",
            call16.to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
            "--vtt",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let digits_run = |s: &str| {
        let mut run = 0;
        s.chars().any(|c| {
            run = if c.is_ascii_digit() {
                run + 1
            } else if c == ' ' || c == '-' || c == ',' {
                run
            } else {
                0
            };
            run >= 6
        })
    };
    let json = std::fs::read_to_string(out.path().join("card_call.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let text: Vec<String> = v["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect();
    println!("redacted transcript: {text:?}");
    assert!(
        text.iter()
            .any(|t| t.contains("[number]") || t.contains("[card]")),
        "{text:?}"
    );
    for f in ["card_call.json", "card_call.html", "card_call.vtt"] {
        let s = std::fs::read_to_string(out.path().join(f)).unwrap();
        // The plots and timeline arrays are full of numbers; what matters is the words.
        let transcript_part = if f.ends_with(".json") {
            text.join(" ")
        } else if f.ends_with(".html") {
            let a = s.find(r#"<section id="transcript">"#).unwrap();
            let section = &s[a..a + s[a..].find("</section>").unwrap()];
            // The text only, without tags (colours like #555555 are not numbers said).
            let mut text = String::new();
            let mut in_tag = false;
            for c in section.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => {
                        in_tag = false;
                        text.push(' ');
                    }
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text
        } else {
            s.clone()
        };
        assert!(
            !digits_run(&transcript_part),
            "{f} leaks a number: {transcript_part}"
        );
        assert!(
            !s.contains("12345678") && !s.contains("4111"),
            "{f} leaks a number"
        );
    }
    // With redaction switched off the digits are kept (the switch works).
    let cfg = d.path().join("keep.toml");
    std::fs::write(&cfg, "[privacy]\nredact = false\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_calmline"))
        .args([
            "review",
            call16.to_str().unwrap(),
            "--out",
            "-",
            "--format",
            "json",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text: String = v["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    // 24 digits were read out. A digit string is not a loop to the guards, yet it must not run
    // away either ("4-1-1-1-1-1-..." to the token budget, 48 digits, before the fallback
    // decoded it again on the whole window).
    let digits = text.chars().filter(char::is_ascii_digit).count();
    assert!((20..=32).contains(&digits), "{digits} digits: {text}");
}

/// The acknowledge cue on calls assembled from all eight RAVDESS actors (acoustics and coach,
/// without transcription): within 3 s of the first angry turn in every escalating call, and no
/// escalation cue in any calm one.
#[test]
fn assembled_calls_acknowledge_the_first_angry_turn_within_3_s() {
    let cfg = Config::default();
    let clips = ravdess();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut on_time, mut escalating, mut calm_with_cue, mut calm) = (0, 0, 0, 0);
    let mut early = 0;
    let mut delays = Vec::new();
    for customer in 1..=8u32 {
        for k in 0..4u32 {
            let is_escalating = k % 2 == 0;
            let mut agent = (customer + k) % 8 + 1;
            if agent == customer {
                agent = customer % 8 + 1;
            }
            let (chans, turns) = assemble(&clips, customer, agent, is_escalating, &mut rng);
            let wav = dir.path().join(format!("a{customer:02}_{k}.wav"));
            write_wav(&wav, 16000, &chans);
            let r = review(&wav, &cfg);
            let kinds: Vec<(f64, CueKind)> = r.cues.iter().map(|c| (c.t_s, c.cue.kind)).collect();
            if is_escalating {
                escalating += 1;
                let first = turns.iter().find(|t| t.escalated).unwrap().start_s;
                let acks: Vec<f64> = kinds
                    .iter()
                    .filter(|(_, k)| *k == CueKind::Acknowledge)
                    .map(|(t, _)| t - first)
                    .collect();
                // The cue that answers the first angry turn, and any escalation cue before it
                // (a false episode on a calm or neutral turn), counted on their own.
                let ack = acks.iter().copied().find(|d| *d >= 0.0);
                match ack {
                    Some(d) if d <= 3.0 => on_time += 1,
                    _ => println!(
                        "a{customer:02}_{k}: acknowledge {acks:?} s after the first angry turn"
                    ),
                }
                if kinds
                    .iter()
                    .any(|(t, k)| *t < first && ESCALATION_CUES.contains(k))
                {
                    early += 1;
                    println!(
                        "a{customer:02}_{k}: an escalation cue before the first angry turn: {acks:?}"
                    );
                }
                delays.extend(ack);
            } else {
                calm += 1;
                if kinds.iter().any(|(_, k)| ESCALATION_CUES.contains(k)) {
                    calm_with_cue += 1;
                    println!("a{customer:02}_{k} (calm): {kinds:?}");
                }
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "acknowledge within 3 s of the first angry turn: {on_time}/{escalating} (median delay {:.2} s); escalating calls with an escalation cue before it: {early}/{escalating}; calm calls with an escalation cue: {calm_with_cue}/{calm}",
        delays.get(delays.len() / 2).copied().unwrap_or(f64::NAN)
    );
    // Measured: 14/16 on time (median 1.33 s), 3 of 16 escalating calls with a cue before the
    // first angry turn (a false episode on a calm or neutral turn: actors 3, 6 and 7; a new
    // episode after the customer calmed down is acknowledged again, so the real anger still
    // gets its cue; before that it counted as late), 1 of 16 calm calls with an escalation cue.
    // The misses: actor 3's quiet normal-intensity anger (acknowledged at the strong turns) and
    // actor 5 once (9.8 s late). The goal is 16/16 and 0/16 (see the README's limits).
    assert!(on_time >= 14, "{on_time}/{escalating}");
    assert!(early <= 3, "{early}/{escalating}");
    assert!(calm_with_cue <= 1, "{calm_with_cue}/{calm}");
}

/// espeak-ng reading `text` into a 16 kHz mono WAV, after `lead_s` of silence.
fn spoken(dir: &Path, name: &str, voice: &str, text: &str, lead_s: f64) -> std::path::PathBuf {
    let raw = dir.join(format!("{name}.raw.wav"));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w", raw.to_str().unwrap(), text])
        .status()
        .expect("espeak-ng is installed (see scripts/install-deps.sh)");
    assert!(status.success());
    let out = dir.join(format!("{name}.wav"));
    sox_fx(
        &raw,
        &out,
        &["-r", "16000"],
        &["pad", &lead_s.to_string(), "0"],
    );
    out
}

/// A stereo call (agent left, customer right) in which the agent says the customer's surname
/// once, early, and then speaks again 3 minutes later without it.
fn call_with_a_name(dir: &Path) -> std::path::PathBuf {
    let first = spoken(
        dir,
        "agent1",
        "en",
        "Good morning Mrs Johnson, let me look at your order.",
        1.0,
    );
    let later = spoken(
        dir,
        "agent2",
        "en",
        "Thank you for waiting, I have found it now.",
        185.0,
    );
    let agent = dir.join("agent.wav");
    let status = Command::new("sox")
        .args([&first, &later, &agent])
        .status()
        .unwrap();
    assert!(status.success());
    let customer = spoken(
        dir,
        "customer",
        "en+f3",
        "Hello, I am calling about my order.",
        5.0,
    );
    stereo(dir, &agent, &customer)
}

/// `agent` on the left and `customer` on the right of a stereo call.
fn stereo(dir: &Path, agent: &Path, customer: &Path) -> std::path::PathBuf {
    let call = dir.join("call.wav");
    let status = Command::new("sox")
        .arg("-M")
        .args([agent, customer, &call])
        .status()
        .unwrap();
    assert!(status.success());
    call
}

fn review_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_calmline"))
        .arg("review")
        .args(args)
        .output()
        .unwrap()
}

/// `calmline review CALL --out OUT --format json EXTRA...`, and the review it wrote.
fn review_json(call: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        call.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend(extra);
    let o = review_cli(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stem = call.file_stem().unwrap().to_str().unwrap();
    let json = std::fs::read_to_string(out.join(format!("{stem}.json"))).unwrap();
    serde_json::from_str(&json).unwrap()
}

#[test]
fn a_name_from_the_call_details_counts_its_uses_and_cues_when_unused() {
    let d = tempfile::tempdir().unwrap();
    let call = call_with_a_name(d.path());
    let v = review_json(
        &call,
        &d.path().join("out"),
        &["--customer-name", "Sarah Johnson", "--agent", "Ann Lee"],
    );
    assert_eq!(v["agent_name"], "Ann Lee");
    let said: Vec<&str> = v["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(v["customer_name"], "Sarah Johnson");
    // "Mrs Johnson" at the start is a use of the name...
    let uses = &v["scorecard"]["agent"]["name_uses"];
    assert_eq!(uses["value"], 1, "{uses} {said:?}");
    assert!(uses["moments"][0].as_f64().unwrap() < 10.0, "{uses}");
    assert_eq!(
        uses["note"],
        "the call's details give the name: Sarah Johnson"
    );
    // ...and 3 minutes on without it, the agent is reminded, saying where the name came from.
    let cue = v["cues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "use_name")
        .unwrap_or_else(|| panic!("no use_name cue: {said:?}"));
    let why = cue["evidence"]["sentence"].as_str().unwrap();
    assert!(why.contains("Sarah Johnson (the call's details)"), "{why}");
    assert!(cue["t_s"].as_f64().unwrap() > 180.0, "{cue}");

    // The same call without the details: no name, no use, no cue.
    let v = review_json(&call, &d.path().join("plain"), &[]);
    assert!(v.get("customer_name").is_none());
    assert_eq!(v["scorecard"]["agent"]["name_uses"]["value"], 0);
    assert!(
        !v["cues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "use_name")
    );
}

#[test]
fn a_folder_takes_its_names_from_a_details_csv_and_a_bad_one_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let calls = d.path().join("calls");
    std::fs::create_dir(&calls).unwrap();
    std::fs::copy(call_with_a_name(d.path()), calls.join("c1.wav")).unwrap();
    let details = d.path().join("details.csv");
    std::fs::write(
        &details,
        "agent,file,customer_name\nann,c1.wav,\"Johnson, Sarah\"\nbob,c9.wav,Ada Lovelace\n",
    )
    .unwrap();
    let out = d.path().join("out");
    let o = review_cli(&[
        calls.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--call-details",
        details.to_str().unwrap(),
        "--format",
        "json",
        "--no-transcribe",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // A row for a file that is not there is pointed out, not fatal.
    assert!(
        err.contains("list 1 file(s) not in") && err.contains("c9.wav"),
        "{err}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("c1.json")).unwrap()).unwrap();
    assert_eq!(v["customer_name"], "Johnson, Sarah");
    assert_eq!(v["agent_name"], "ann");

    // Without the two columns: a clear error naming the file, and nothing written.
    std::fs::write(&details, "recording,name\nc1.wav,Sarah\n").unwrap();
    let none = d.path().join("none");
    let o = review_cli(&[
        calls.to_str().unwrap(),
        "--out",
        none.to_str().unwrap(),
        "--call-details",
        details.to_str().unwrap(),
        "--no-transcribe",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("details.csv")
            && err.contains("need the columns file and customer_name or agent"),
        "{err}"
    );
    assert!(!none.exists());
    // --customer-name is for one call.
    let o = review_cli(&[
        calls.to_str().unwrap(),
        "--customer-name",
        "Sarah",
        "--no-transcribe",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--call-details"));
}

/// A stereo call: the agent (left) and the customer (right) each say `lines` in turn, with
/// `gap_s` of silence before each line.
fn dialogue(dir: &Path, agent: &[&str], customer: &[&str], gap_s: f64) -> std::path::PathBuf {
    let side = |name: &str, voice: &str, lines: &[&str], first_lead: f64| {
        let parts: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let lead = if i == 0 { first_lead } else { gap_s };
                spoken(dir, &format!("{name}{i}"), voice, l, lead)
            })
            .collect();
        let out = dir.join(format!("{name}.wav"));
        let status = Command::new("sox").args(&parts).arg(&out).status().unwrap();
        assert!(status.success());
        out
    };
    let a = side("agent", "en", agent, 1.0);
    let c = side("customer", "en+f3", customer, 1.0 + gap_s);
    stereo(dir, &a, &c)
}

#[test]
fn phrases_that_are_negated_or_name_nothing_do_not_count() {
    let d = tempfile::tempdir().unwrap();
    let call = dialogue(
        d.path(),
        &[
            "Hello, how can I help you today?",
            "I won't be able to refund that today, but I will send you a new bill.",
            "I am sorry for the inconvenience.",
            "That must be the old address. Let me check.",
            "I am so sorry to hear that.",
        ],
        &[
            "I don't want to cancel my account, and I do not need a manager. I just want my bill fixed.",
            "If it is not fixed by Friday, I will cancel.",
        ],
        3.0,
    );
    let v = review_json(&call, &d.path().join("out"), &[]);
    let said: Vec<String> = v["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}: {}", s["speaker"], s["text"]))
        .collect();
    let all = said.join(" ").to_lowercase();
    // The recogniser heard what the test is about; otherwise the verdicts below mean nothing.
    for w in ["cancel", "manager", "refund", "send", "friday"] {
        assert!(all.contains(w), "{w} not heard: {said:?}");
    }
    let phrases: Vec<(String, String)> = v["phrases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let of = |k: &str| -> Vec<&str> {
        phrases
            .iter()
            .filter(|(kind, _)| kind == k)
            .map(|(_, t)| t.as_str())
            .collect()
    };
    // "I don't want to cancel my account" is not a threat; "if it is not fixed ..., I will cancel" is.
    assert_eq!(of("threat"), ["i will cancel"], "{phrases:?} {said:?}");
    // "I do not need a manager" asks for no one: no cue, no floor alert.
    assert!(of("manager_request").is_empty(), "{phrases:?} {said:?}");
    let alerts: Vec<&str> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(!alerts.contains(&"manager_request"), "{alerts:?}");
    // "I won't be able to" promises nothing; "..., but I will send" and "let me check" do.
    assert_eq!(
        of("ownership"),
        ["i will send", "let me check"],
        "{phrases:?} {said:?}"
    );
    // "Sorry for the inconvenience" names nothing.
    assert!(all.contains("inconvenience"), "{said:?}");
    assert_eq!(of("bare_apology"), ["sorry"], "{phrases:?} {said:?}");
    assert!(of("specific_apology").is_empty(), "{phrases:?} {said:?}");
    // "That must be the old address" acknowledges no feeling; "sorry to hear that" does, and is
    // no apology.
    assert!(all.contains("must be the old"), "{said:?}");
    assert_eq!(
        of("acknowledgement"),
        ["sorry to hear"],
        "{phrases:?} {said:?}"
    );
}
