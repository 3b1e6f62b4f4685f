#![cfg(feature = "diarise")]
//! Diarisation of mono calls against real references: pyannote's telephone sample (its RTTM) and
//! the stereo calls of ../shared/data mixed down to mono (each channel's voice activity is the
//! reference). Needs the speaker models (scripts/install-diarisation.sh).

mod common;

use std::path::Path;

use calmline::Config;
use calmline::diarise::split::heard_twice;
use calmline::diarise::{Diariser, Options, der, load_mono};
use calmline::review::{ReviewOptions, review_file_with};
use calmline::transcribe::Model;

fn diariser() -> Diariser {
    Diariser::load(Path::new("models"), Options::default())
        .expect("speaker models (run scripts/install-diarisation.sh)")
}

#[test]
fn pyannote_sample_der() {
    let d = diariser();
    let path = common::data().join("calls/pyannote_sample.wav");
    let audio = load_mono(&path).unwrap();
    let out = d.run(&audio, &|_| {}).unwrap();
    let reference = der::read_rttm(&path.with_extension("rttm")).unwrap();
    let hyp = out.grid(der::STEP_S, audio.len() as f64 / 16000.0);
    let s = der::score(&reference, &hyp);
    println!(
        "pyannote_sample: {} speakers, DER {:.3} ({s:?}); one speaker attributed right {:.1}%",
        out.speakers,
        s.der(),
        100.0 * s.attribution()
    );
    assert_eq!(out.speakers, 2);
    // Measured: 7.4% (9.8% before the frame centre was corrected and the windows weighted).
    assert!(s.der() <= 0.085, "DER {:.3}", s.der());
    assert!(s.attribution() >= 0.95, "{:.3}", s.attribution());
}

/// The runs of `value` in `on`, as half-open index ranges.
fn runs(on: &[bool], value: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < on.len() {
        if on[i] == value {
            let a = i;
            while i < on.len() && on[i] == value {
                i += 1;
            }
            out.push((a, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Each channel's voice activity on the DER grid: 10 ms frames within 35 dB of the channel's
/// loud speech (its 99th percentile) and above -55 dBFS, pauses under 0.3 s bridged, blips under
/// 0.1 s dropped (the way hand-made references mark turns).
fn channel_activity(x: &[f32], rate: u32) -> Vec<bool> {
    let hop = (rate as f64 * der::STEP_S) as usize;
    let db: Vec<f32> = x
        .chunks(hop)
        .map(|c| 10.0 * (c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32 + 1e-12).log10())
        .collect();
    let mut sorted = db.clone();
    sorted.sort_by(f32::total_cmp);
    let loud = sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)];
    let floor = (loud - 35.0).max(-55.0);
    let mut on: Vec<bool> = db.iter().map(|&d| d > floor).collect();
    for (a, b) in runs(&on, false) {
        if b - a < 30 && a > 0 && b < on.len() {
            on[a..b].iter_mut().for_each(|v| *v = true);
        }
    }
    for (a, b) in runs(&on, true) {
        if b - a < 10 {
            on[a..b].iter_mut().for_each(|v| *v = false);
        }
    }
    on
}

/// [`channel_activity`] without the stretches that hold under 50 ms of voiced speech (10 ms
/// hops where calmline's own analysis finds a pitch). On the real phone call, the level-only
/// reference marks line clicks and breaths as talk (4.7 s of its 141 s, e.g. the 50 ms bursts on
/// the right channel at 0:07.2-0:08.3, before the caller's first word): this keeps the talk.
fn channel_voice_activity(x: &[f32], rate: u32) -> Vec<bool> {
    let mut on = channel_activity(x, rate);
    let cfg = Config::default();
    let mut frames = calmline::dsp::FrameAnalyzer::at_rate(&cfg, rate);
    let voiced: Vec<bool> = x
        .chunks_exact(frames.hop_len())
        .map(|h| frames.process_hop(h).voiced())
        .collect();
    for (a, b) in runs(&on, true) {
        let heard = voiced
            .get(a..b.min(voiced.len()))
            .map_or(0, |v| v.iter().filter(|&&v| v).count());
        if heard < 5 {
            on[a..b].iter_mut().for_each(|v| *v = false);
        }
    }
    on
}

fn print_score(what: &str, speakers: usize, s: &der::Score) {
    println!(
        "{what}: {speakers} speakers, DER {:.3} (missed {:.1} s, false alarm {:.1} s, confusion {:.1} s of {:.1} s); one speaker attributed right {:.1}% of {:.1} s",
        s.der(),
        s.missed,
        s.false_alarm,
        s.confusion,
        s.reference,
        100.0 * s.attribution(),
        s.single
    );
}

/// Mix a stereo call down to mono, diarise it, score it against its channels: the level-only
/// reference, then the voiced one.
fn mixed_down(name: &str) -> (der::Score, der::Score, calmline::diarise::Diarisation) {
    let path = common::call(name);
    let (rate, channels) = common::decode(&path);
    let reference: Vec<Vec<bool>> = channels.iter().map(|c| channel_activity(c, rate)).collect();
    let voiced: Vec<Vec<bool>> = channels
        .iter()
        .map(|c| channel_voice_activity(c, rate))
        .collect();
    let audio = load_mono(&path).unwrap();
    let out = diariser().run(&audio, &|_| {}).unwrap();
    let hyp = out.grid(der::STEP_S, audio.len() as f64 / 16000.0);
    let s = der::score(&reference, &hyp);
    let v = der::score(&voiced, &hyp);
    print_score(name, out.speakers, &s);
    print_score(&format!("{name}, voiced reference"), out.speakers, &v);
    (s, v, out)
}

/// The stereo calls of ../shared/data/calls and which channel carries the agent.
const CALLS: [(&str, usize); 5] = [
    ("scenario_calm_a01.wav", 0),
    ("scenario_calm_a04.wav", 0),
    ("scenario_escalating_a01.wav", 0),
    ("scenario_escalating_a04.wav", 0),
    ("spokenwoz_MUL1011_8k_stereo.wav", 1),
];

#[test]
fn mixed_down_calls_der() {
    let (mut total, mut total_voiced) = (der::Score::default(), der::Score::default());
    for (name, _) in CALLS {
        let (s, v, out) = mixed_down(name);
        total_voiced.add(&v);
        assert_eq!(out.speakers, 2, "{name}");
        // Measured: 7.4-10.5% on the assembled calls, 12.6% on the real phone call (most of it
        // speech the reference marks and the segmentation misses, 0.4 s confused).
        let limit = if name.starts_with("spokenwoz") {
            0.14
        } else {
            0.12
        };
        assert!(s.der() <= limit, "{name}: DER {:.3}", s.der());
        // Where one person speaks, attributed to them alone: measured 95.9-100% on the
        // assembled calls, 92.0% on the real phone call (missed quiet speech counts as wrong).
        let attribution = if name.starts_with("spokenwoz") {
            0.90
        } else {
            0.93
        };
        assert!(
            s.attribution() >= attribution,
            "{name}: attribution {:.3}",
            s.attribution()
        );
        total.add(&s);
    }
    println!(
        "all mixed-down calls: DER {:.3}; one speaker attributed right {:.1}%",
        total.der(),
        100.0 * total.attribution()
    );
    // Measured: 10.6%, 95.2%.
    assert!(total.der() <= 0.115, "DER {:.3}", total.der());
    assert!(total.attribution() >= 0.93, "{:.3}", total.attribution());
    // Measured with the voiced reference: 9.5%, 95.8% (the phone call 10.9%, 92.7%: what is
    // left missed there is mostly talk under the other side's, e.g. the right channel's -30 dB
    // voice at 1:48.6-1:49.5 while the agent speaks, which the segmentation hears as one voice).
    print_score("all mixed-down calls, voiced reference", 2, &total_voiced);
    assert!(total_voiced.der() <= 0.105, "DER {:.3}", total_voiced.der());
    assert!(total_voiced.der() <= total.der() + 1e-9);
}

fn mixed_down_reference(name: &str) -> Vec<Vec<bool>> {
    let (rate, channels) = common::decode(&common::call(name));
    channels.iter().map(|c| channel_activity(c, rate)).collect()
}

fn out_duration(name: &str) -> f64 {
    let (rate, channels) = common::decode(&common::call(name));
    channels[0].len() as f64 / rate as f64
}

/// The mono file of a stereo call (both channels summed), in a temporary folder.
fn mono_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    common::sox_fx(&common::call(name), &out, &[], &["remix", "1,2"]);
    out
}

fn model() -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(Config::default().transcribe.model);
    Model::load(&path).expect("tiny.en installed: run scripts/install-model.sh")
}

/// Every mixed-down call: the voice reviewed as the agent is the one that talks when the
/// agent's channel does; the scenario calls by speaking order, the SpokenWOZ call (whose caller
/// speaks first) by what each side says.
#[test]
fn roles_right_on_every_mixed_down_call() {
    let dir = std::env::temp_dir().join(format!("calmline-roles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = diariser();
    let m = model();
    let cfg = Config::default();
    for (name, agent_channel) in CALLS {
        let mono = mono_file(&dir, name);
        let out = d.run(&load_mono(&mono).unwrap(), &|_| {}).unwrap();
        let reference = mixed_down_reference(name);
        let hyp = out.grid(der::STEP_S, out_duration(name));
        // The voice that talks most while the agent's channel does.
        let co = |v: usize| {
            (0..reference[agent_channel].len().min(hyp[v].len()))
                .filter(|&t| reference[agent_channel][t] && hyp[v][t])
                .count()
        };
        let truth = if co(0) >= co(1) { 0 } else { 1 };
        let transcribe = name.starts_with("spokenwoz");
        let r = review_file_with(
            &mono,
            &cfg,
            ReviewOptions {
                model: transcribe.then_some(&m),
                workers: 2,
                diariser: Some(&d),
                ..Default::default()
            },
            &|_| {},
        )
        .unwrap();
        let dz = r.diarisation.as_ref().expect("diarised");
        println!(
            "{name}: agent voice {} by {} (confidence {:.2}), truth {truth}",
            dz.agent_voice, dz.agent_decided_by, dz.role_confidence
        );
        assert_eq!(dz.agent_voice, truth, "{name}");
        assert!(r.speaker_separation && r.channels.iter().all(|c| c.position == "diarised"));
        // Where both are on, both split channels carry the mix: no speech may be transcribed
        // on both sides (measured: one sentence at 0:08 on the SpokenWOZ call was, before).
        let transcript = r.transcript.as_deref().unwrap_or_default();
        assert_eq!(transcript.is_empty(), !transcribe, "{name}");
        for (i, a) in transcript.iter().enumerate() {
            for b in &transcript[i + 1..] {
                assert!(
                    !heard_twice(a, b),
                    "{name}: {:?} at {:.1} s and {:?} at {:.1} s",
                    a.text,
                    a.start_s,
                    b.text,
                    b.start_s
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Turn-level escalation on the mixed-down scenario calls, against the same calls in stereo.
#[test]
fn escalation_on_mixed_down_calls_matches_stereo() {
    let dir = std::env::temp_dir().join(format!("calmline-esc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = diariser();
    let cfg = Config::default();
    let (mut stereo, mut mono) = (common::Counts::default(), common::Counts::default());
    for (name, _) in &CALLS[..4] {
        let turns = common::turns(&common::call(name).with_extension("turns.csv"));
        let s = common::review(&common::call(name), &cfg);
        let path = mono_file(&dir, name);
        let m = review_file_with(
            &path,
            &cfg,
            ReviewOptions {
                diariser: Some(&d),
                ..Default::default()
            },
            &|_| {},
        )
        .unwrap();
        assert!(m.diarisation.is_some(), "{name}");
        for t in &turns {
            stereo.add(t.escalated, common::flagged(&s, t));
            mono.add(t.escalated, common::flagged(&m, t));
        }
        if name.contains("calm") {
            assert!(
                m.episodes
                    .iter()
                    .all(|e| e.speaker != calmline::events::Speaker::Customer),
                "{name}: a customer episode in a calm call, mixed down"
            );
        }
    }
    let (bs, bm) = (stereo.balanced_accuracy(), mono.balanced_accuracy());
    println!("turn-level balanced accuracy: stereo {bs:.3}, mixed down to mono {bm:.3}");
    assert!((bs - bm).abs() <= 0.03, "stereo {bs:.3} vs mono {bm:.3}");
    std::fs::remove_dir_all(&dir).ok();
}
