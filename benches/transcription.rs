//! Transcription speed and live lag, with the real model on real recordings.
//!
//! `cargo bench --bench transcription` prints:
//! - review mode: the asr and telephony sets (the same audio the faster-whisper reference was
//!   measured on) through the whole review (VAD utterances, two recogniser workers), as a
//!   multiple of real time, with the WER, for the f16 model and its q8_0 import;
//! - live mode: the SpokenWOZ call played in real time through the pipeline and the live worker
//!   (one recogniser thread, bounded queue): lag from the end of each transcribed stretch of
//!   speech to its text, p50/p95, in the first and second half of the call (it must not grow),
//!   and how many utterances were skipped. `CALMLINE_LIVE_REPEAT=N` plays the call N times;
//! - the guards against invented text (`-- guards` for these alone): WER, segments decoded
//!   again, repaired and still looping, and speed, on all 160 RAVDESS clips at 16 kHz and as
//!   8 kHz mu-law, and on asr + telephony, for the first pass alone, with the wider-context
//!   fallback, and with the 30 s greedy and beam decodes too (the default); and the time of the
//!   checks.
//!
//! Needs models/ggml-tiny.en.bin (scripts/install-model.sh); the q8_0 figures also need the
//! CTranslate2 download cached by that script.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use calmline::Config;
use calmline::audio::{FileSource, Source};
use calmline::config::Side;
use calmline::events::EventBody;
use calmline::pipeline::{Pipeline, channel_map};
use calmline::review::{ReviewOptions, review_file_with};
use calmline::transcribe::{LiveTranscriber, Model, guard, import, wer};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data(p: &str) -> PathBuf {
    root().join("../shared/data").join(p)
}

/// Best of three passes (the least disturbed by other work on the machine).
fn review_speed(label: &str, model: &Model) {
    let runs: Vec<(f64, f64, f64)> = (0..3).map(|_| review_pass(model)).collect();
    let (audio, secs, w) =
        runs.iter().copied().fold(
            (0.0, f64::MAX, 0.0),
            |best, r| if r.1 < best.1 { r } else { best },
        );
    println!(
        "review   {label:<28} {:>6.1}x real time ({audio:.0} s of audio in {secs:.1} s, best of 3), WER {:.1}%",
        audio / secs,
        100.0 * w
    );
}

fn review_pass(model: &Model) -> (f64, f64, f64) {
    let cfg = Config::default();
    let (mut audio, mut secs, mut edits, mut words) = (0.0, 0.0, 0, 0);
    for set in ["asr", "telephony"] {
        let dir = data(set);
        let tsv = std::fs::read_to_string(dir.join("transcripts.tsv")).unwrap();
        for line in tsv.lines().skip(1) {
            let (file, reference) = line.split_once('\t').unwrap();
            let start = Instant::now();
            let r = review_file_with(
                &dir.join(file),
                &cfg,
                ReviewOptions {
                    model: Some(model),
                    workers: 2,
                    ..Default::default()
                },
                &|_| {},
            )
            .unwrap();
            secs += start.elapsed().as_secs_f64();
            audio += r.duration_s;
            let hyp: Vec<&str> = r
                .transcript
                .iter()
                .flatten()
                .map(|s| s.text.as_str())
                .collect();
            let (rn, hn) = (wer::normalise(reference), wer::normalise(&hyp.join(" ")));
            edits += wer::edits(&rn, &hn);
            words += rn.len();
        }
    }
    (audio, secs, edits as f64 / words as f64)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn live_lag(model: &Model) {
    let mut cfg = Config::default();
    cfg.channels.customer = Side::Left;
    let repeat: usize = std::env::var("CALMLINE_LIVE_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let path = data("calls/spokenwoz_MUL1011_8k_stereo.wav");
    let mut src = FileSource::open(&path).unwrap();
    let rate = src.sample_rate();
    let mut chans: Vec<Vec<f32>> = vec![Vec::new(); src.channels()];
    let mut block = Vec::new();
    while src.read(&mut block).unwrap() > 0 {
        for (c, b) in chans.iter_mut().zip(&block) {
            c.extend_from_slice(b);
        }
    }
    for c in &mut chans {
        let once = c.clone();
        for _ in 1..repeat {
            c.extend_from_slice(&once);
        }
    }
    let total = chans[0].len();
    let call_s = total as f64 / rate as f64;
    let speakers = channel_map(chans.len(), cfg.channels.customer).unwrap();
    let mut p = Pipeline::new(&cfg, speakers, rate)
        .unwrap()
        .with_utterances(&cfg)
        .unwrap();
    let mut live = LiveTranscriber::start(model, &cfg).unwrap();
    // Real time: 20 ms blocks, each pushed when its audio would have arrived.
    let step = rate as usize / 50;
    let start = Instant::now();
    let mut lags: Vec<(f64, f64)> = Vec::new();
    let mut skipped = 0;
    let collect = |live: &LiveTranscriber, lags: &mut Vec<(f64, f64)>, skipped: &mut usize| {
        let now = start.elapsed().as_secs_f64();
        for e in live.events().try_iter() {
            match e.body {
                EventBody::Transcript(seg) => lags.push((seg.end_s, now - seg.end_s)),
                EventBody::TranscriptSkipped { .. } => *skipped += 1,
                _ => {}
            }
        }
    };
    let mut i = 0;
    let mut buf = vec![Vec::with_capacity(step); chans.len()];
    while i < total {
        let k = step.min(total - i);
        let due = Duration::from_secs_f64((i + k) as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        for (b, c) in buf.iter_mut().zip(&chans) {
            b.clear();
            b.extend_from_slice(&c[i..i + k]);
        }
        p.push(&buf, k, &mut |_| {});
        for u in p.take_utterances() {
            live.submit(u);
        }
        collect(&live, &mut lags, &mut skipped);
        i += k;
    }
    p.finish(&mut |_| {});
    for u in p.take_utterances() {
        live.submit(u);
    }
    live.finish();
    collect(&live, &mut lags, &mut skipped);
    let half = call_s / 2.0;
    let mut first: Vec<f64> = lags
        .iter()
        .filter(|(t, _)| *t < half)
        .map(|x| x.1)
        .collect();
    let mut second: Vec<f64> = lags
        .iter()
        .filter(|(t, _)| *t >= half)
        .map(|x| x.1)
        .collect();
    let mut all: Vec<f64> = lags.iter().map(|x| x.1).collect();
    println!(
        "live     {call_s:.0} s call in real time, 1 recogniser thread: lag from end of speech to text p50 {:.2} s, p95 {:.2} s (first half p95 {:.2} s, second half p95 {:.2} s), {} segments, {skipped} utterances skipped",
        percentile(&mut all, 0.5),
        percentile(&mut all, 0.95),
        percentile(&mut first, 0.95),
        percentile(&mut second, 0.95),
        lags.len()
    );
}

/// CPU seconds this process has used (user + system), from /proc (Linux): steadier than the wall
/// clock on a shared machine. `None` elsewhere.
fn cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// One labelled set: (file, reference transcript), from transcripts.tsv or RAVDESS's labels.csv.
fn labelled(set: &str) -> Vec<(PathBuf, String)> {
    let dir = data(set);
    if dir.join("labels.csv").is_file() {
        let t = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
        t.lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (dir.join(f[0]), f[5].to_string())
            })
            .collect()
    } else {
        let t = std::fs::read_to_string(dir.join("transcripts.tsv")).unwrap();
        t.lines()
            .skip(1)
            .filter_map(|l| l.split_once('\t'))
            .map(|(f, r)| (dir.join(f), r.to_string()))
            .collect()
    }
}

/// What the guards cost and buy. Every variant reviews the same files: the first pass alone (a
/// loop is then only collapsed by the last guard), plus the wider-context greedy decode, plus the
/// 30 s beam search (the default). Also the time of the checks themselves.
fn guards(model: &Model) {
    let tmp = std::env::temp_dir().join("calmline-bench-mulaw");
    std::fs::create_dir_all(&tmp).unwrap();
    let ravdess = labelled("emotion/ravdess");
    let mulaw: Vec<(PathBuf, String)> = ravdess
        .iter()
        .enumerate()
        .map(|(i, (p, r))| {
            let out = tmp.join(format!("{i}.wav"));
            let ok = std::process::Command::new("sox")
                .arg(p)
                .args(["-D", "-r", "8000", "-e", "mu-law"])
                .arg(&out)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "sox is needed for the mu-law set (scripts/install-deps.sh)"
            );
            (out, r.clone())
        })
        .collect();
    let mut read = labelled("asr");
    read.extend(labelled("telephony"));
    let sets: [(&str, &[(PathBuf, String)]); 3] = [
        ("RAVDESS 160 clips, 16 kHz", &ravdess),
        ("RAVDESS 160 clips, 8 kHz mu-law", &mulaw),
        ("asr + telephony, 48 files", &read),
    ];
    let default = Config::default();
    let variants: Vec<(&str, Vec<calmline::config::FallbackStep>)> = vec![
        ("first pass + last guard", Vec::new()),
        ("+ wider context", default.transcribe.fallback[..1].to_vec()),
        (
            "+ 30 s greedy, then beam 5 (default)",
            default.transcribe.fallback.clone(),
        ),
    ];
    let mut texts: Vec<String> = Vec::new();
    for (set, files) in sets {
        for (label, steps) in &variants {
            let mut cfg = Config::default();
            cfg.transcribe.fallback = steps.clone();
            let (mut audio, mut secs, mut edits, mut words) = (0.0, 0.0, 0, 0);
            let (mut segs, mut again, mut repaired, mut loops) = (0, 0, 0, 0);
            let cpu0 = cpu_s();
            for (path, reference) in files {
                let start = Instant::now();
                let r = review_file_with(
                    path,
                    &cfg,
                    ReviewOptions {
                        model: Some(model),
                        workers: 2,
                        ..Default::default()
                    },
                    &|_| {},
                )
                .unwrap();
                secs += start.elapsed().as_secs_f64();
                audio += r.duration_s;
                let t = r.transcript.unwrap_or_default();
                for s in &t {
                    segs += 1;
                    again += s.fallback.is_some() as usize;
                    repaired += s.repaired as usize;
                    let k = guard::keys(&s.text);
                    loops += guard::find_repeat(&k).is_some_and(|r| r.period >= 3) as usize;
                    texts.push(s.text.clone());
                }
                let hyp: Vec<&str> = t.iter().map(|s| s.text.as_str()).collect();
                let (rn, hn) = (wer::normalise(reference), wer::normalise(&hyp.join(" ")));
                edits += wer::edits(&rn, &hn);
                words += rn.len();
            }
            let cpu = cpu_s().zip(cpu0).map_or(f64::NAN, |(b, a)| b - a);
            println!(
                "guards   {set:<32} {label:<26} WER {:>5.2}%, {again:>2} of {segs} segments decoded again, {repaired:>2} repaired, {loops} looped; {:>5.1}x real time, {:.3} CPU s per s of audio",
                100.0 * edits as f64 / words.max(1) as f64,
                audio / secs,
                cpu / audio
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    // The checks themselves, on every segment text seen above plus a long loop.
    texts.push("Dogs are sitting by the door. ".repeat(6));
    let limits = guard::Limits {
        max_compression_ratio: default.transcribe.max_compression_ratio,
        max_syllables_per_s: default.transcribe.max_syllables_per_s,
        min_avg_logprob: default.transcribe.logprob_thold,
    };
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        for t in &texts {
            std::hint::black_box(guard::check(t, true, -0.3, 2.0, &limits));
        }
    }
    let per = start.elapsed().as_secs_f64() / (rounds * texts.len()) as f64;
    println!(
        "guards   checks on one decoded segment (loop search, zlib ratio, syllables): {:.1} us",
        per * 1e6
    );
}

fn main() {
    let quick = std::env::args().all(|a| a != "--bench");
    let f16 = root().join("models/ggml-tiny.en.bin");
    if !f16.is_file() {
        println!(
            "transcription bench skipped: no {} (run scripts/install-model.sh)",
            f16.display()
        );
        return;
    }
    let model = Model::load(&f16).unwrap();
    if quick {
        // `cargo test --benches`: one file, to keep the bench compiling and running.
        let r = review_file_with(
            &data("asr/arctic_a0007.wav"),
            &Config::default(),
            ReviewOptions {
                model: Some(&model),
                workers: 1,
                ..Default::default()
            },
            &|_| {},
        )
        .unwrap();
        println!(
            "transcription bench (quick): {:?}",
            r.transcript
                .unwrap_or_default()
                .iter()
                .map(|s| s.text.clone())
                .collect::<Vec<_>>()
        );
        return;
    }
    println!(
        "calmline transcription benches ({} cores)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    // The default model is the q8_0 import; the installed models/ggml-tiny.en-q8_0.bin is used
    // for it, else it is imported here from the cached CTranslate2 download.
    let installed = root().join("models/ggml-tiny.en-q8_0.bin");
    let ct2 = std::env::var("HOME")
        .map(|h| Path::new(&h).join(".cache/calmline/tiny.en-ct2"))
        .ok();
    let tmp = std::env::temp_dir().join("calmline-bench-tiny.en-q8_0.bin");
    let q8 = if installed.is_file() {
        Some(Model::load(&installed).unwrap())
    } else if let Some(dir) = ct2.filter(|d| d.join("model.bin").is_file()) {
        import::import(&dir, &tmp, import::Quantization::Q8_0).unwrap();
        Some(Model::load(&tmp).unwrap())
    } else {
        None
    };
    let default = q8.as_ref().unwrap_or(&model);
    if std::env::args().any(|a| a == "guards") {
        // `cargo bench --bench transcription -- guards`: only the guard figures (about 6 min).
        guards(default);
        return;
    }
    review_speed("tiny.en f16", &model);
    if let Some(q8) = &q8 {
        review_speed("tiny.en q8_0", q8);
    }
    live_lag(default);
    guards(default);
    let _ = std::fs::remove_file(&tmp);
}
