//! Diarisation speed: every call in ../shared/data/calls mixed down to mono and joined into one
//! 9.9-minute recording (16 kHz), diarised with the default settings on all cores.
//!
//! `cargo bench --bench diarise` prints seconds per 10 minutes of call and the multiple of real
//! time (best of 3), and how long segmentation and embedding took. Run as a test (`cargo test --benches`) it diarises the first
//! minute once. Needs the speaker models (scripts/install-diarisation.sh).
//! `CALMLINE_BENCH_STEP=2.5` times windows every 2.5 s instead of the default 5 s.

use std::path::{Path, PathBuf};
use std::time::Instant;

use calmline::diarise::{Diariser, Options, load_mono};

fn main() {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { calmline::diarise::prepare_process() };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let quick = !std::env::args().any(|a| a == "--bench");
    let step: f32 = std::env::var("CALMLINE_BENCH_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5.0);
    let d = match Diariser::load(
        &root.join("models"),
        Options {
            step_s: step,
            ..Options::default()
        },
    ) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("diarise bench: {e}");
            std::process::exit(1);
        }
    };
    let calls = root.join("../shared/data/calls");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&calls)
        .expect("../shared/data/calls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    names.sort();
    let mut audio = Vec::new();
    for p in &names {
        audio.extend(load_mono(Path::new(p)).expect("decodable call"));
    }
    if quick {
        audio.truncate(60 * 16_000);
    }
    let secs = audio.len() as f64 / 16_000.0;
    let runs = if quick { 1 } else { 3 };
    // (total, segmentation) seconds of the fastest run; segmentation ends at progress 0.8.
    let best = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let seg_done = std::sync::Mutex::new(None::<f64>);
            let out = d
                .run(&audio, &|f| {
                    let mut s = seg_done.lock().unwrap_or_else(|e| e.into_inner());
                    if f >= 0.8 && s.is_none() {
                        *s = Some(t.elapsed().as_secs_f64());
                    }
                })
                .expect("diarisation");
            assert!(out.speakers >= 1);
            let total = t.elapsed().as_secs_f64();
            let seg = seg_done.into_inner().ok().flatten().unwrap_or(total);
            (total, seg)
        })
        .fold((f64::MAX, 0.0), |a, b| if b.0 < a.0 { b } else { a });
    let (total, seg) = best;
    println!(
        "diarise  {secs:.0} s of mono calls in {total:.2} s (segmentation {seg:.2} s, embedding and clustering {:.2} s): {:.0}x real time, {:.1} s per 10 minutes ({} threads{})",
        total - seg,
        secs / total,
        600.0 * total / secs,
        rayon::current_num_threads(),
        if quick { ", quick pass" } else { ", best of 3" }
    );
}
