//! `calmline review` end to end: outputs, schema, formats, options.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calmline"))
        .args(args)
        .output()
        .expect("run calmline")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// `calmline review FILE --out DIR --format json --no-transcribe`, which must succeed; its report.
fn reviewed_json(p: &Path, out: &Path) -> serde_json::Value {
    let o = run(&[
        "review",
        s(p),
        "--out",
        s(out),
        "--format",
        "json",
        "--no-transcribe",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stem = p.file_stem().unwrap().to_str().unwrap();
    json(&out.join(format!("{stem}.json")))
}

#[test]
fn review_writes_json_and_self_contained_html() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "review",
        s(&call("scenario_escalating_a01.wav")),
        "--out",
        s(out.path()),
        "--vtt",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout);
    assert!(
        line.contains("1 customer episode"),
        "one-line summary: {line}"
    );
    let v = json(&out.path().join("scenario_escalating_a01.json"));
    assert_eq!(v["schema"], "calmline.review/1");
    assert_eq!(v["sample_rate"], 16000);
    assert_eq!(v["speaker_separation"], true);
    assert_eq!(v["channels"][0]["position"], "left");
    assert_eq!(v["channels"][0]["speaker"], "agent");
    assert_eq!(v["channels"][1]["speaker"], "customer");
    // Timeline arrays: equal length, covering the call at hop_s.
    let hop = v["timeline"]["hop_s"].as_f64().unwrap();
    let n = (v["duration_s"].as_f64().unwrap() / hop).round() as i64;
    for sp in ["agent", "customer"] {
        let t = &v["timeline"][sp];
        for key in [
            "loudness_db",
            "pitch_hz",
            "voiced",
            "escalation",
            "escalated",
        ] {
            let len = t[key].as_array().unwrap().len() as i64;
            assert!((len - n).abs() <= 1, "{sp}.{key}: {len} vs {n}");
        }
    }
    // The customer's episode, with evidence in numbers and words.
    let ep = &v["episodes"][0];
    assert_eq!(ep["speaker"], "customer");
    assert!(ep["evidence"]["loudness_db"].as_f64().unwrap() > 5.0);
    let sentence = ep["evidence"]["sentence"].as_str().unwrap();
    assert!(
        sentence.starts_with("customer +") && sentence.contains("over baseline for"),
        "{sentence}"
    );
    assert!(
        v["speakers"]["customer"]["baseline"]["pitch_hz"]
            .as_f64()
            .unwrap()
            > 60.0
    );
    assert!(v["conversation"]["talk_ratio_agent"].as_f64().is_some());
    for key in ["overlaps", "interruptions", "silences"] {
        assert!(v["conversation"][key].is_array(), "{key}");
    }

    // The transcript: both speakers, in time order, in JSON, HTML and WebVTT.
    let t = v["transcript"].as_array().unwrap();
    assert!(
        t.iter().any(|s| s["speaker"] == "agent") && t.iter().any(|s| s["speaker"] == "customer")
    );
    let starts: Vec<f64> = t.iter().map(|s| s["start_s"].as_f64().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    let first = t[0]["text"].as_str().unwrap().to_string();
    let vtt = std::fs::read_to_string(out.path().join("scenario_escalating_a01.vtt")).unwrap();
    assert!(
        vtt.starts_with("WEBVTT\n\n1\n00:00:") && vtt.contains(&format!("<v agent>{first}")),
        "{vtt}"
    );

    let html = std::fs::read_to_string(out.path().join("scenario_escalating_a01.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Escalation episodes"));
    assert!(html.contains("<h2>Transcript</h2>"));
    let first_word = first.split_whitespace().next().unwrap();
    assert!(html.contains(first_word), "{first_word}");
    assert!(
        html.contains(sentence),
        "episode evidence shown in the report"
    );
    for external in ["http://", "https://", "<link", "@import", "url("] {
        assert!(
            !html.contains(external),
            "HTML must be self-contained: found {external}"
        );
    }
    // Its one script is the player, and the one thing it loads is the recording, by a path
    // relative to the report.
    assert_eq!(html.matches("<script").count(), 1);
    assert_eq!(html.matches("src=").count(), 1);
    assert!(
        html.contains(r#"<audio id="call" controls preload="metadata" src="../"#),
        "the recording, relative"
    );
}

#[test]
fn json_to_stdout() {
    let o = run(&[
        "review",
        s(&call("scenario_calm_a04.wav")),
        "--out",
        "-",
        "--format",
        "json",
        "--no-transcribe",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], "calmline.review/1");
    assert_eq!(v["speakers"]["customer"]["episodes"], 0);
    // stdout is only the JSON; the summary line goes to stderr.
    assert!(String::from_utf8_lossy(&o.stderr).contains("customer episode"));

    let o = run(&["review", s(&call("scenario_calm_a04.wav")), "--out", "-"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format json"));
}

#[test]
fn every_supported_format_decodes_to_the_same_call() {
    let d = tempfile::tempdir().unwrap();
    let src = call("scenario_escalating_a04.wav");
    // sox writes most; AAC and ALAC come from ffmpeg's encoders (PyAV); "pyav" marks them.
    let variants: [(&str, &[&str]); 12] = [
        ("aac.m4a", &["pyav", "aac"]),
        ("alac.m4a", &["pyav", "alac"]),
        ("adts.aac", &["pyav", "aac"]),
        ("flac.flac", &[]),
        ("aiff.aiff", &[]),
        ("ima_adpcm.wav", &["-e", "ima-adpcm"]),
        ("mp3.mp3", &[]),
        ("vorbis.ogg", &[]),
        ("alaw.wav", &["-r", "8000", "-e", "a-law"]),
        ("pcm24.wav", &["-b", "24"]),
        ("float.wav", &["-e", "floating-point", "-b", "32"]),
        ("pcm8_44k.wav", &["-b", "8", "-r", "44100"]),
    ];
    let reference = review(&src, &calmline::Config::default());
    for (name, args) in variants {
        let p = d.path().join(name);
        match args {
            ["pyav", codec] => pyav(&src, &p, codec),
            _ => sox(&src, &p, args),
        }
        let out = tempfile::tempdir().unwrap();
        let o = run(&[
            "review",
            s(&p),
            "--out",
            s(out.path()),
            "--format",
            "json",
            "--no-transcribe",
        ]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let stem = p.file_stem().unwrap().to_str().unwrap();
        let v = json(&out.path().join(format!("{stem}.json")));
        let dur = v["duration_s"].as_f64().unwrap();
        assert!(
            (dur - reference.duration_s).abs() < 0.2,
            "{name}: duration {dur}"
        );
        // The same escalation: it starts at the same moment and lasts about as long (whether
        // it is cut into one or two episodes may differ at a borderline lull).
        let reference_customer = &reference.speakers[&calmline::events::Speaker::Customer];
        let first = |eps: &serde_json::Value| {
            eps.as_array()
                .unwrap()
                .iter()
                .find(|e| e["speaker"] == "customer")
                .map(|e| e["start_s"].as_f64().unwrap())
        };
        let ref_first = reference
            .episodes
            .iter()
            .find(|e| e.speaker == calmline::events::Speaker::Customer)
            .map(|e| e.start_s);
        let (a, b) = (first(&v["episodes"]).unwrap(), ref_first.unwrap());
        if name.starts_with("pcm8") {
            // 8-bit samples bury this quiet recording (-46 dBFS speech) in quantisation noise:
            // the escalation is still found, later.
            continue;
        }
        assert!(
            (a - b).abs() < 2.0,
            "{name}: escalation starts at {a}, original {b}"
        );
        let esc = v["speakers"]["customer"]["escalated_s"].as_f64().unwrap();
        let ref_esc = reference_customer.escalated_s as f64;
        assert!(
            (esc - ref_esc).abs() < 0.15 * ref_esc,
            "{name}: escalated {esc} s, original {ref_esc} s"
        );
    }
}

/// Lossy encoders put silence before the first sample (AAC 1024 samples, MP3 576 and more) and
/// the file says how much: the decoded call starts where the original did, to a few samples,
/// so every time in the review is the original's.
#[test]
fn lossy_recordings_start_where_the_original_did() {
    let d = tempfile::tempdir().unwrap();
    let src = call("scenario_escalating_a04.wav");
    let decode = |p: &Path| {
        let mut f = calmline::audio::FileSource::open(p).unwrap();
        calmline::audio::read_all(&mut f).unwrap().remove(0)
    };
    let original = decode(&src);
    // 2 s of the agent's first turn, matched against the decoded file at lags up to 2,400
    // samples (150 ms) either way.
    let seg = &original[16_000..48_000];
    let lag_of = |x: &[f32]| {
        (-2400i64..=2400)
            .max_by(|&a, &b| {
                let c = |lag: i64| -> f64 {
                    seg.iter()
                        .enumerate()
                        .map(|(i, &v)| {
                            let j = 16_000 + i as i64 + lag;
                            f64::from(v) * f64::from(x[j as usize])
                        })
                        .sum()
                };
                c(a).total_cmp(&c(b))
            })
            .unwrap()
    };
    assert_eq!(lag_of(&original), 0);
    // ffmpeg's encoders, as phones, Teams, Zoom and recorders use them: AAC states its priming
    // in the MP4's edit list, LAME in its MP3 header. (sox's MP3 has no such header: it starts
    // about 1,100 samples late, and nothing in the file says so.)
    for (name, codec) in [
        ("aac.m4a", "aac"),
        ("alac.m4a", "alac"),
        ("lame.mp3", "libmp3lame"),
    ] {
        let p = d.path().join(name);
        pyav(&src, &p, codec);
        let lag = lag_of(&decode(&p));
        assert!(lag.abs() <= 8, "{name}: starts {lag} samples late");
    }
}

/// Run from a folder of recordings, not the project: both the speaker models and the Whisper
/// model are found where they were installed (beside the build).
#[test]
fn mono_is_diarised_into_agent_and_customer() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_calmline"))
        .current_dir(out.path())
        .args(["review", s(&call("pyannote_sample.wav")), "--out", "."])
        .output()
        .expect("run calmline");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = json(&out.path().join("pyannote_sample.json"));
    assert_eq!(v["speaker_separation"], true);
    assert_eq!(v["diarisation"]["method"], "diarisation");
    assert_eq!(v["diarisation"]["speakers_found"], 2);
    assert_eq!(v["channels"][0]["position"], "diarised");
    assert!(v["speakers"]["agent"]["talk_s"].as_f64().unwrap() > 3.0);
    assert!(v["speakers"]["customer"]["talk_s"].as_f64().unwrap() > 3.0);
    let html = std::fs::read_to_string(out.path().join("pyannote_sample.html")).unwrap();
    assert!(html.contains("separated by diarisation"));
    // Each party's words are attributed to them.
    let t = v["transcript"].as_array().unwrap();
    for who in ["agent", "customer"] {
        assert!(t.iter().any(|x| x["speaker"] == who), "{who}: {t:?}");
    }
}

/// An enrolled voice decides which speaker of a mono call is the agent, and one enrolment serves
/// reviews run from any folder: the voice enrolled here speaks second, so the first-to-speak
/// rule alone would take the other one.
#[test]
fn an_enrolled_voice_makes_its_speaker_the_agent() {
    let home = tempfile::tempdir().unwrap();
    let (here, there) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let calmline = |dir: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_calmline"))
            .current_dir(dir)
            .env("HOME", home.path())
            .env_remove("XDG_DATA_HOME")
            .env_remove("CALMLINE_CONFIG")
            .args(args)
            .output()
            .expect("run calmline")
    };
    let mono = call("pyannote_sample.wav");
    let agent_of = |dir: &Path| {
        let o = calmline(dir, &["review", "--no-transcribe", s(&mono), "--out", "."]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        json(&dir.join("pyannote_sample.json"))["diarisation"].clone()
    };
    let before = agent_of(there.path());
    assert_eq!(before["agent_decided_by"], "first to speak", "{before}");
    // The whole call holds two voices: which one would be the agent's is anyone's guess.
    let o = calmline(here.path(), &["enroll", "SAM", s(&mono)]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("pyannote_sample.wav") && stderr.contains("two voices"),
        "{stderr}"
    );
    assert!(!home.path().join(".local/share/calmline/voices").exists());
    // The second voice alone (pyannote_sample.rttm: speaker91, 21.78-27.85 s).
    let sample = here.path().join("second_alone.wav");
    sox_fx(&mono, &sample, &[], &["trim", "21.78", "=27.85"]);
    let o = calmline(here.path(), &["enroll", "SAM", "second_alone.wav"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        home.path()
            .join(".local/share/calmline/voices/SAM.json")
            .is_file()
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("replacing"));
    // Enrolling again replaces the voice, and says so.
    let o = calmline(here.path(), &["enroll", "SAM", "second_alone.wav"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("replacing the voice enrolled before"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let after = agent_of(there.path());
    assert_eq!(after["agent_decided_by"], "enrolled voice", "{after}");
    assert_ne!(after["agent_voice"], before["agent_voice"], "{after}");
}

#[test]
fn mono_without_speaker_models_is_one_mixed_speaker_and_says_so() {
    let out = tempfile::tempdir().unwrap();
    let cfg = out.path().join("nomodels.toml");
    std::fs::write(&cfg, "[diarise]\nmodels = \"/nonexistent\"\n").unwrap();
    let o = run(&[
        "review",
        s(&call("pyannote_sample.wav")),
        "--out",
        s(out.path()),
        "--config",
        s(&cfg),
    ]);
    assert!(o.status.success());
    let v = json(&out.path().join("pyannote_sample.json"));
    assert_eq!(v["speaker_separation"], false);
    assert_eq!(v["channels"][0]["speaker"], "mixed");
    assert!(v["speakers"]["mixed"]["talk_s"].as_f64().unwrap() > 10.0);
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("speaker separation unavailable"),
        "{warnings}"
    );
    assert!(
        warnings.contains("not split into speakers") && warnings.contains("install-diarisation"),
        "{warnings}"
    );
    let html = std::fs::read_to_string(out.path().join("pyannote_sample.html")).unwrap();
    assert!(html.contains("speaker separation unavailable"));
    // The mixed channel is transcribed as one speaker.
    let t = v["transcript"].as_array().unwrap();
    assert!(
        t.len() >= 3 && t.iter().all(|s| s["speaker"] == "mixed"),
        "{t:?}"
    );
}

#[test]
fn customer_channel_and_config_overrides() {
    let out = tempfile::tempdir().unwrap();
    // Swapping the channels puts the escalation on the "agent".
    let o = run(&[
        "review",
        s(&call("scenario_escalating_a01.wav")),
        "--out",
        "-",
        "--format",
        "json",
        "--customer-channel",
        "left",
        "--no-transcribe",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["channels"][0]["speaker"], "customer");
    assert_eq!(v["speakers"]["customer"]["episodes"], 0);
    assert!(v["speakers"]["agent"]["episodes"].as_u64().unwrap() >= 1);

    // A config file that only raises the start thresholds (hold and turn paths; the outburst
    // path is never below the hold path's) out of reach: no episodes.
    let cfg = out.path().join("strict.toml");
    std::fs::write(
        &cfg,
        "[escalation]\nstart = 50.0\nturn_loudness_db = 100.0\nturn_pitch_st = 100.0\n\
         turn_rough_pitch_st = 100.0\nturn_motion_pitch_st = 100.0\n",
    )
    .unwrap();
    let o = run(&[
        "review",
        s(&call("scenario_escalating_a01.wav")),
        "--out",
        "-",
        "--format",
        "json",
        "--config",
        s(&cfg),
        "--no-transcribe",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["episodes"].as_array().unwrap().len(), 0);

    // A typo in the config is an error naming the file and the key.
    std::fs::write(&cfg, "[escalation]\nstrat = 2.0\n").unwrap();
    let o = run(&[
        "review",
        s(&call("scenario_calm_a01.wav")),
        "--config",
        s(&cfg),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("strict.toml") && err.contains("strat"),
        "{err}"
    );
}

#[test]
fn folder_review_writes_per_call_files_and_summary() {
    let d = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    for name in ["scenario_escalating_a04", "scenario_calm_a01"] {
        std::fs::copy(
            call(&format!("{name}.wav")),
            d.path().join(format!("{name}.wav")),
        )
        .unwrap();
    }
    // Same stem, different format: both reviewed, neither report overwritten.
    sox(
        &call("scenario_calm_a01.wav"),
        &d.path().join("scenario_calm_a01.flac"),
        &[],
    );
    let o = run(&[
        "review",
        s(d.path()),
        "--out",
        s(out.path()),
        "--jobs",
        "2",
        "--no-transcribe",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.path().join("summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], calmline::report::csv::HEADER.join(","));
    assert_eq!(lines.len(), 4, "{csv}");
    let esc = lines
        .iter()
        .find(|l| l.starts_with("scenario_escalating_a04.wav"))
        .unwrap();
    let cells: Vec<&str> = esc.split(',').collect();
    let col = |name: &str| {
        let i = calmline::report::csv::HEADER
            .iter()
            .position(|h| *h == name)
            .unwrap();
        cells[i]
    };
    assert!(
        col("customer_episodes").parse::<u32>().unwrap() >= 1,
        "a customer episode: {esc}"
    );
    assert!(
        col("customer_escalated_s").parse::<f64>().unwrap() > 20.0,
        "escalated seconds: {esc}"
    );
    assert_eq!(col("agent"), "", "no details, no agent: {esc}");
    for f in [
        "scenario_escalating_a04.json",
        "scenario_calm_a01.wav.json",
        "scenario_calm_a01.flac.html",
    ] {
        assert!(out.path().join(f).is_file(), "{f}");
    }
}

/// Run every night over the same folder with `--skip-reviewed`: only calls that are new,
/// replaced, damaged in their report, given other details or other settings are reviewed
/// again; the others keep their reports, and the summary lists every call all the same.
#[test]
fn skip_reviewed_reviews_only_what_changed() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let calls = d.path().join("calls");
    std::fs::create_dir(&calls).unwrap();
    for (k, name) in ["a", "b", "c"].iter().enumerate() {
        sox_fx(
            &call("scenario_calm_a01.wav"),
            &calls.join(format!("{name}.wav")),
            &[],
            &["trim", &(k * 10).to_string(), "10"],
        );
    }
    let review = |extra: &[&str]| {
        let mut args = vec![
            "review",
            s(&calls),
            "--out",
            s(&out),
            "--no-transcribe",
            "--skip-reviewed",
        ];
        args.extend_from_slice(extra);
        let o = run(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let written = |name: &str| {
        std::fs::metadata(out.join(format!("{name}.json")))
            .and_then(|m| m.modified())
            .unwrap()
    };
    let said = review(&[]);
    assert!(said.contains("reviewed 3 of 3 file(s)"), "{said}");
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    let before: Vec<_> = ["a", "b", "c"].iter().map(|n| written(n)).collect();
    // Nothing changed: every report kept, the same summary and index.
    let said = review(&[]);
    assert!(
        said.contains("reviewed 0 of 3 file(s)") && said.contains("kept the reports of 3"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        summary
    );
    assert_eq!(
        std::fs::read_to_string(out.join("index.html")).unwrap(),
        index
    );
    assert_eq!(written("a"), before[0]);
    // b replaced by a newer recording: b alone is reviewed again.
    std::fs::File::options()
        .write(true)
        .open(calls.join("b.wav"))
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let said = review(&[]);
    assert!(said.contains("reviewed 1 of 3 file(s)"), "{said}");
    assert!(said.contains("b.wav: "), "{said}");
    assert_ne!(written("b"), before[1]);
    assert_eq!(written("a"), before[0]);
    // c now has an agent in the call details: c alone again, with its agent in the summary.
    let details = d.path().join("details.csv");
    std::fs::write(&details, "file,agent\nc.wav,Ann Lee\n").unwrap();
    let said = review(&["--call-details", s(&details)]);
    assert!(
        said.contains("reviewed 1 of 3 file(s)") && said.contains("c.wav: "),
        "{said}"
    );
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(summary.contains("\nc.wav,Ann Lee,"), "{summary}");
    // a's report damaged: reviewed again, not an error.
    std::fs::write(out.join("a.json"), "{").unwrap();
    let said = review(&["--call-details", s(&details)]);
    assert!(
        said.contains("reviewed 1 of 3 file(s)") && said.contains("a.wav: "),
        "{said}"
    );
    assert_eq!(json(&out.join("a.json"))["schema"], "calmline.review/1");
    // Other settings: every call again.
    let cfg = d.path().join("cfg.toml");
    std::fs::write(&cfg, "[coach]\nmax_per_minute = 3\n").unwrap();
    let said = review(&["--call-details", s(&details), "--config", s(&cfg)]);
    assert!(said.contains("reviewed 3 of 3 file(s)"), "{said}");
    // One call: kept too.
    let o = run(&[
        "review",
        s(&calls.join("a.wav")),
        "--out",
        s(&out),
        "--no-transcribe",
        "--skip-reviewed",
        "--config",
        s(&cfg),
    ]);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && said.contains("reviewed before with these settings"),
        "{said}"
    );
    // Only the JSON report can be read back.
    let o = run(&[
        "review",
        s(&calls),
        "--out",
        s(&out),
        "--skip-reviewed",
        "--format",
        "html",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--format all or json"));
}

/// QA listens where the report points: the HTML report's player plays the recording (linked,
/// not copied) from any time clicked, marks the line being said, and says so when the
/// recording has moved. In a real browser (headless chromium).
#[test]
fn the_report_plays_the_call_from_any_time_clicked() {
    let Some(mut b) = common::browser::Browser::start() else {
        // scripts/install-deps.sh installs chromium; without it this test cannot run.
        assert!(std::env::var_os("CI").is_none(), "chromium is needed");
        eprintln!("skipped: no chromium");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let calls = d.path().join("calls");
    std::fs::create_dir(&calls).unwrap();
    // A name a URL must encode.
    let rec = calls.join("call #1.flac");
    sox(&call("scenario_escalating_a01.wav"), &rec, &[]);
    let out = d.path().join("reviews");
    let o = run(&["review", s(&rec), "--out", s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = out.join("call #1.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(r#"src="../calls/call%20%231.flac""#),
        "the link"
    );
    let url = format!("file://{}", page.display())
        .replace(' ', "%20")
        .replace('#', "%23");
    b.goto(&url);
    b.wait_for(
        "document.body.classList.contains('play')",
        std::time::Duration::from_secs(10),
    );
    // The first cue's time in the cue table: the call plays from there.
    let t: f64 = b
        .eval("document.querySelector('#cues tbody a[data-t]').dataset.t")
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    b.eval("document.querySelector('#cues tbody a[data-t]').click(); true");
    b.wait_for(
        "!document.getElementById('call').paused && document.getElementById('call').currentTime > 0",
        std::time::Duration::from_secs(10),
    );
    let now = b
        .eval("document.getElementById('call').currentTime")
        .as_f64()
        .unwrap();
    assert!((t..t + 3.0).contains(&now), "clicked {t}, playing at {now}");
    // The transcript line being said is marked, the last one begun.
    b.wait_for(
        "document.querySelector('tr.now')",
        std::time::Duration::from_secs(5),
    );
    let marked = b.eval(
        "[+document.querySelector('tr.now').dataset.start, document.getElementById('call').currentTime]",
    );
    let (start, at) = (marked[0].as_f64().unwrap(), marked[1].as_f64().unwrap());
    assert!(start <= at + 0.05 && at - start < 15.0, "{marked}");
    // A click halfway along a chart's time axis plays from halfway, and the charts show where
    // the call is.
    let half = b.eval(
        "(async () => { const a = document.getElementById('call'), svg = document.querySelector('svg.tl');
           svg.scrollIntoView(); const r = svg.getBoundingClientRect(), d = svg.dataset;
           const x = r.left + r.width * (+d.x0 + +d.w / 2) / svg.viewBox.baseVal.width;
           svg.dispatchEvent(new MouseEvent('click', {clientX: x, clientY: r.top + r.height / 2, bubbles: true}));
           await new Promise(ok => setTimeout(ok, 500));
           return [a.currentTime, +d.dur, +svg.querySelector('.ph').getAttribute('x1'), +d.x0 + +d.w / 2]; })()",
    );
    let [now, dur, head, mid] = [0, 1, 2, 3].map(|i| half[i].as_f64().unwrap());
    assert!((now - dur / 2.0).abs() < 2.0, "{half}");
    assert!((head - mid).abs() < 20.0, "the playhead: {half}");
    // The recording moved away: the page says so and hides the player.
    std::fs::rename(&rec, d.path().join("moved.flac")).unwrap();
    b.goto(&url);
    b.wait_for(
        "document.getElementById('call').hidden && document.getElementById('playnote').textContent.includes('cannot be played here')",
        std::time::Duration::from_secs(10),
    );
}

/// A recorder's tree of day folders, reviewed in one go: the reports mirror the tree, the
/// summary names each call by its path, the call details match by path or by file name, and a
/// hidden folder (a trash can) is left alone.
#[test]
fn recursive_review_mirrors_the_day_folders() {
    let d = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let (d6, d7) = (d.path().join("2026/12/06"), d.path().join("2026/12/07"));
    for dir in [&d6, &d7, &d.path().join(".trash")] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // The same file name on two days: two reports, neither overwritten.
    std::fs::copy(call("scenario_calm_a01.wav"), d6.join("call.wav")).unwrap();
    std::fs::copy(call("scenario_escalating_a04.wav"), d7.join("call.wav")).unwrap();
    std::fs::copy(call("scenario_calm_a04.wav"), d.path().join("top.wav")).unwrap();
    std::fs::copy(
        call("scenario_calm_a04.wav"),
        d.path().join(".trash/old.wav"),
    )
    .unwrap();
    let details = d.path().join("details.csv");
    std::fs::write(
        &details,
        "file,customer_name,agent\n2026/12/07/call.wav,Sarah Johnson,Ann Lee\n\
         top.wav,Ada Lovelace,\n2026/12/06/call.wav,,Bob Ray\n",
    )
    .unwrap();
    let o = run(&[
        "review",
        s(d.path()),
        "--recursive",
        "--out",
        s(out.path()),
        "--call-details",
        s(&details),
        "--no-transcribe",
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        !stderr.contains("not in"),
        "every details row matched: {stderr}"
    );
    let csv = std::fs::read_to_string(out.path().join("summary.csv")).unwrap();
    // The file and agent columns, the agent from the details.
    let files: Vec<(&str, &str)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let mut cells = l.split(',');
            (cells.next().unwrap(), cells.next().unwrap())
        })
        .collect();
    assert_eq!(
        files,
        [
            ("2026/12/06/call.wav", "Bob Ray"),
            ("2026/12/07/call.wav", "Ann Lee"),
            ("top.wav", "")
        ],
        "{csv}"
    );
    let day7 = json(&out.path().join("2026/12/07/call.json"));
    assert_eq!(day7["customer_name"], "Sarah Johnson");
    assert_eq!(day7["agent_name"], "Ann Lee");
    let html = std::fs::read_to_string(out.path().join("2026/12/07/call.html")).unwrap();
    assert!(
        html.contains("Agent: Ann Lee · Customer: Sarah Johnson"),
        "the report names both"
    );
    assert!(day7["speakers"]["customer"]["episodes"].as_u64().unwrap() >= 1);
    let day6 = json(&out.path().join("2026/12/06/call.json"));
    assert!(day6.get("customer_name").is_none());
    assert_eq!(day6["agent_name"], "Bob Ray");
    assert_eq!(
        json(&out.path().join("top.json"))["customer_name"],
        "Ada Lovelace"
    );
    assert!(out.path().join("2026/12/06/call.html").is_file());
    assert!(!out.path().join(".trash").exists());
    // The folder's index page links every call's report, where it was written.
    let index = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    let links: Vec<&str> = index
        .split("<a href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        links,
        ["2026/12/06/call.html", "2026/12/07/call.html", "top.html"],
        "{index}"
    );
    for l in links {
        assert!(out.path().join(l).is_file(), "{l}");
    }
    assert!(index.contains("3 call(s): 1 with the customer escalated, 0 not reviewed"));
    // Each named agent heads a row of the table by agent, which filters the calls.
    for agent in ["Ann Lee", "Bob Ray"] {
        assert!(
            index.contains(&format!(r#"class="agent" data-agent="{agent}">{agent}<"#)),
            "{agent}: {index}"
        );
    }
}

/// A folder whose recorder has the customer on the left, reviewed at the default sides with
/// transcription: the call's own warning (terminal, summary.csv) and one line for the folder.
#[test]
fn folder_review_says_once_when_the_sides_look_swapped() {
    let d = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::copy(
        call("spokenwoz_MUL1011_8k_stereo.wav"),
        d.path().join("woz.wav"),
    )
    .unwrap();
    let o = run(&["review", s(d.path()), "--out", s(out.path()), "--jobs", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    println!("{stdout}");
    assert!(
        stdout.contains(&format!(
            "1 of 1 call(s): {}",
            calmline::report::SIDES_SWAPPED
        )) && stdout.contains("review again with --customer-channel left"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(out.path().join("summary.csv")).unwrap();
    assert!(csv.contains(calmline::report::SIDES_SWAPPED), "{csv}");
}

/// `calmline devices` with no sound server: the sound libraries' own logging (alsa-lib, its
/// OSS/PulseAudio/JACK plugins, libjack) stays off the console; calmline says what is missing.
#[test]
fn devices_without_a_sound_server_prints_only_calmlines_lines() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_calmline"))
        .arg("devices")
        .env("XDG_RUNTIME_DIR", dir.path())
        .env(
            "PULSE_SERVER",
            format!("unix:{}/none", dir.path().display()),
        )
        .env_remove("JACK_DEFAULT_SERVER")
        .output()
        .expect("run calmline devices");
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.trim().is_empty(), "library noise on stderr: {err}");
    let out = String::from_utf8_lossy(&o.stdout);
    println!("{out}");
    // Every line is a heading of ours or an indented entry of ours.
    for line in out.lines() {
        let ours = line.starts_with("  ")
            || matches!(line, "ALSA:" | "PulseAudio:" | "not available:")
            || line.starts_with("no input devices found");
        assert!(ours, "not calmline's line: {line:?}\n{out}");
        assert!(
            !line.contains("ALSA lib") && !line.contains("Jack"),
            "{line}"
        );
    }
    // The missing server is named once, in calmline's words.
    let unavailable = out.split("not available:").nth(1).unwrap_or("");
    let hosts = unavailable
        .lines()
        .filter(|l| l.trim_start().starts_with("PulseAudio "))
        .count();
    assert_eq!(
        hosts, 1,
        "the PulseAudio host named once as unavailable:\n{out}"
    );
}

/// GSM 06.10, as call recorders and Asterisk's `wav49` and `gsm` store calls: calmline's decoder
/// gives the reference implementation's samples exactly (sox decodes GSM with libgsm), across
/// both halves of every 65-byte WAV block and the filters' state from block to block.
#[test]
fn gsm_decodes_exactly_as_the_reference_decoder() {
    let d = tempfile::tempdir().unwrap();
    let gsm = d.path().join("call.wav");
    let pcm = d.path().join("reference.wav");
    sox(
        &call("scenario_escalating_a04.wav"),
        &gsm,
        &["-r", "8000", "-c", "1", "-e", "gsm-full-rate"],
    );
    sox(&gsm, &pcm, &["-e", "signed", "-b", "16"]);
    let read = |p: &Path| {
        use calmline::audio::Source;
        let mut f = calmline::audio::FileSource::open(p).unwrap();
        assert_eq!((f.sample_rate(), f.channels()), (8000, 1));
        calmline::audio::read_all(&mut f).unwrap().remove(0)
    };
    let (ours, reference) = (read(&gsm), read(&pcm));
    assert!(reference.len() > 8000 * 100, "{}", reference.len());
    assert_eq!(ours.len(), reference.len());
    let differ = ours.iter().zip(&reference).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{differ} of {} samples differ", ours.len());
    // Not silence decoded as silence: the call's speech is there.
    assert!(ours.iter().any(|x| x.abs() > 0.05));
    // Raw frames as Asterisk's `gsm` format writes them (no header; known by the extension).
    let raw = d.path().join("call.gsm");
    let raw_pcm = d.path().join("raw-reference.wav");
    sox(&gsm, &raw, &[]);
    sox(&raw, &raw_pcm, &["-e", "signed", "-b", "16"]);
    let (ours, reference) = (read(&raw), read(&raw_pcm));
    assert_eq!(ours.len(), reference.len());
    assert!(ours == reference, "raw GSM differs from the reference");
    // And the review of the call reads it: the escalation is there.
    let out = tempfile::tempdir().unwrap();
    let reviewed = |p: &Path| reviewed_json(p, out.path());
    let v = reviewed(&raw);
    assert!((v["duration_s"].as_f64().unwrap() - ours.len() as f64 / 8000.0).abs() < 0.05);
    assert!(
        v["speakers"]["customer"]["episodes"].as_u64().unwrap() >= 1,
        "{v}"
    );
    // A recording cut off mid-call (the recorder stopped): reviewed up to the cut, and the
    // report says so, also when the mono call is split into its speakers by voice.
    let bytes = std::fs::read(&gsm).unwrap();
    let cut = d.path().join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let v = reviewed(&cut);
    let dur = v["duration_s"].as_f64().unwrap();
    // Half the file: half the call.
    assert!(
        (dur - ours.len() as f64 / 8000.0 / 2.0).abs() < 1.0,
        "{dur}"
    );
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("ends early")),
        "{}",
        v["warnings"]
    );
}

/// Opus, as contact-centre platforms export calls (Ogg Opus `.opus`, WebM) and as Opus in MP4:
/// decoded by libopus to what ffmpeg's decoder gives from the Ogg file, aligned to the sample
/// (the encoder's pre-skip dropped), and reviewed with the call's escalation. The encoder is
/// deterministic, so the three files hold the same packets; ffmpeg's own decoding of the MP4
/// starts 208 samples late, so its decoding of the Ogg file is the reference for all three.
/// A call recorded at 16 or 8 kHz is decoded at that rate (ffmpeg always gives 48 kHz), so it
/// is checked against the original call instead.
#[test]
fn opus_calls_decode_as_ffmpeg_decodes_them() {
    use calmline::audio::{FileSource, Source, read_all};
    let d = tempfile::tempdir().unwrap();
    let src = call("scenario_escalating_a04.wav");
    let read_at = |p: &Path, rate: u32| {
        let mut f = FileSource::open(p).unwrap();
        assert_eq!(
            (f.sample_rate(), f.channels()),
            (rate, 2),
            "{}",
            p.display()
        );
        read_all(&mut f).unwrap()
    };
    let read = |p: &Path| read_at(p, 48_000);
    // Recorded at 48 kHz (OpusHead's input rate), the rate ffmpeg decodes at.
    let wide = d.path().join("48k.wav");
    sox(&src, &wide, &["-r", "48000"]);
    let ogg = d.path().join("call.opus");
    pyav(&wide, &ogg, "libopus");
    let reference = d.path().join("reference.wav");
    pyav_decode(&ogg, &reference);
    let theirs = read(&reference);
    let original = read_all(&mut FileSource::open(&src).unwrap()).unwrap();
    assert_eq!(theirs[0].len(), original[0].len() * 3);
    let out = tempfile::tempdir().unwrap();
    let reviewed = |p: &Path| reviewed_json(p, out.path());
    for name in ["call.opus", "call.webm", "call-opus.mp4"] {
        let opus = d.path().join(name);
        if !opus.exists() {
            pyav(&wide, &opus, "libopus");
        }
        for (a, b) in read(&opus).iter().zip(&theirs) {
            // Ogg's last page says where the call ends; symphonia's Matroska and MP4 readers
            // keep the padding of the last frame (under 20 ms).
            let padding = a.len() as i64 - b.len() as i64;
            let most = if name.ends_with(".opus") { 0 } else { 959 };
            assert!(
                (0..=most).contains(&padding),
                "{name}: {padding} samples more than ffmpeg's"
            );
            let signal: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum();
            let noise: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| f64::from(x - y).powi(2))
                .sum();
            let snr = 10.0 * (signal / noise.max(1e-30)).log10();
            println!("{name}: {snr:.1} dB");
            assert!(
                snr > 50.0,
                "{name}: ours and ffmpeg's differ, SNR {snr:.1} dB"
            );
        }
        let v = reviewed(&opus);
        assert!(
            v["speakers"]["customer"]["episodes"].as_u64().unwrap() >= 1,
            "{name}: {v}"
        );
    }
    // A copy cut off half way (the WebM's Segment then states more bytes than the file has):
    // reviewed up to the cut, and the report says so.
    for name in ["call.opus", "call.webm"] {
        let bytes = std::fs::read(d.path().join(name)).unwrap();
        let cut = d.path().join(format!("cut-{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let v = reviewed(&cut);
        let part = v["duration_s"].as_f64().unwrap() / (theirs[0].len() as f64 / 48_000.0);
        assert!((0.4..0.6).contains(&part), "{name}: {part} of the call");
        let warned = v["warnings"].as_array().unwrap().iter();
        assert!(
            warned
                .map(|w| w.as_str().unwrap())
                .any(|w| w.contains("ends early")),
            "{name}: {}",
            v["warnings"]
        );
    }
    // Recorded at 16 kHz: decoded at 16 kHz, to the original's length and in time with it (the
    // pre-skip and the end trimmed at this rate too).
    for name in ["16k.opus", "16k.webm", "16k-opus.mp4"] {
        let narrow = d.path().join(name);
        pyav(&src, &narrow, "libopus");
        for (a, b) in read_at(&narrow, 16_000).iter().zip(&original) {
            // As above: the Ogg to the sample, the others with the last frame's padding.
            let padding = a.len() as i64 - b.len() as i64;
            let most = if name.ends_with(".opus") { 0 } else { 319 };
            assert!(
                (0..=most).contains(&padding),
                "{name}: {padding} samples more"
            );
            let lag = (-40..=40)
                .max_by(|&x: &i64, &y| {
                    let c = |l: i64| -> f64 {
                        (16_000..176_000i64)
                            .map(|i| f64::from(a[(i + l) as usize]) * f64::from(b[i as usize]))
                            .sum()
                    };
                    c(x).total_cmp(&c(y))
                })
                .unwrap();
            assert_eq!(lag, 0, "{name}: {lag} samples off the original");
        }
    }
    // Recorded at 8 kHz: a telephone-band call, analysed at 8 kHz as its WAV would be.
    let phone = d.path().join("8k.wav");
    sox(&src, &phone, &["-r", "8000"]);
    let phone_opus = d.path().join("8k.opus");
    pyav(&phone, &phone_opus, "libopus");
    let phone_len = read_all(&mut FileSource::open(&phone).unwrap()).unwrap()[0].len();
    assert_eq!(read_at(&phone_opus, 8000)[0].len(), phone_len);
    let v = reviewed(&phone_opus);
    assert!(
        v["warnings"].to_string().contains("analysed at 8 kHz"),
        "{}",
        v["warnings"]
    );
    assert!(v["speakers"]["customer"]["episodes"].as_u64().unwrap() >= 1);
}

/// Asterisk's headerless recordings (`.ul`, `.al`, `.sln`, `.sln16`): mono at the rate the
/// extension implies, decoded to the samples sox decodes, and reviewed like any call.
#[test]
fn headerless_asterisk_recordings_decode_as_sox_reads_them() {
    use calmline::audio::Source;
    let d = tempfile::tempdir().unwrap();
    let src = call("scenario_escalating_a04.wav");
    for (name, sox_type, rate) in [
        ("call.ul", "ul", 8000),
        ("call.al", "al", 8000),
        ("call.sln", "s16", 8000),
        ("call.sln16", "s16", 16000),
    ] {
        let raw = d.path().join(name);
        let pcm = d.path().join(format!("{name}.wav"));
        let r = rate.to_string();
        sox(&src, &raw, &["-r", &r, "-c", "1", "-t", sox_type]);
        let status = Command::new("sox")
            .args(["-t", sox_type, "-r", &r, "-c", "1"])
            .arg(&raw)
            .args(["-e", "signed", "-b", "16"])
            .arg(&pcm)
            .status()
            .unwrap();
        assert!(status.success());
        let mut ours = calmline::audio::FileSource::open(&raw).unwrap();
        assert_eq!((ours.sample_rate(), ours.channels()), (rate, 1), "{name}");
        let ours = calmline::audio::read_all(&mut ours).unwrap().remove(0);
        let mut reference = calmline::audio::FileSource::open(&pcm).unwrap();
        let reference = calmline::audio::read_all(&mut reference).unwrap().remove(0);
        assert!(reference.len() > rate as usize * 100, "{name}");
        assert!(
            ours == reference,
            "{name}: decoded samples differ from sox's"
        );
    }
    // A folder of them is reviewed (an escalation in each), none refused.
    let out = tempfile::tempdir().unwrap();
    let o = run(&[
        "review",
        s(d.path()),
        "--out",
        s(out.path()),
        "--format",
        "json",
        "--no-transcribe",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.path().join("summary.csv")).unwrap();
    for name in ["call.ul", "call.al", "call.sln", "call.sln16"] {
        let row = csv
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap_or_else(|| panic!("{name} not in {csv}"));
        assert!(row.ends_with(','), "{name} has an error: {row}");
        let episodes: u32 = row.split(',').nth(4).unwrap().parse().unwrap();
        assert!(episodes >= 1, "{name}: {row}");
    }
}
