//! Speed and allocation figures of the analysis, on real recordings from ../shared/data.
//!
//! `cargo bench --bench frame_analysis` prints:
//! - frame analysis alone (K-weighting, VAD, decimation, pitch/tilt, pace) of one channel at
//!   16 kHz and at 8 kHz, as a multiple of real time on one core;
//! - the whole review per call, per channel (channel-seconds per second): decode to report
//!   as `calmline review` runs it (batch mode: the second channel on a second thread), the
//!   pipeline alone in batch mode, and hop by hop on one thread as live; 16 kHz stereo, 8 kHz
//!   stereo phone calls (3 and 30 minutes) and 16 kHz mono;
//! - heap allocations per 10 ms frame after start-up (budget 0), counted by a wrapping
//!   global allocator.
//!
//! Each figure is the best of several runs (the least disturbed by other work on the machine).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use calmline::Config;
use calmline::audio::{FileSource, Source, StreamResampler};
use calmline::dsp::{FrameAnalyzer, HOP};
use calmline::events::Speaker;
use calmline::pipeline::Pipeline;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(p)
}

fn decode16k(path: &Path) -> Vec<Vec<f32>> {
    let mut src = FileSource::open(path).unwrap();
    let n = src.channels();
    let mut rs = StreamResampler::new(src.sample_rate(), 16000, n).unwrap();
    let (mut block, mut out) = (Vec::new(), vec![Vec::new(); n]);
    while src.read(&mut block).unwrap() > 0 {
        let k = block[0].len();
        rs.process(&block, k, &mut out);
    }
    rs.flush(&mut out);
    out
}

fn best_of<F: FnMut() -> f64>(runs: usize, mut f: F) -> f64 {
    (0..runs).map(|_| f()).fold(f64::MAX, f64::min)
}

fn frame_analysis(name: &str, samples: &[f32]) {
    frame_analysis_at(name, samples, 16_000)
}

/// Frame analysis alone of one channel at `rate` (16 kHz, or 8 kHz as phone calls are analysed).
fn frame_analysis_at(name: &str, samples: &[f32], rate: u32) {
    let cfg = Config::default();
    let hop_len = FrameAnalyzer::at_rate(&cfg, rate).hop_len();
    let secs = samples.len() as f64 / rate as f64;
    let t = best_of(7, || {
        let mut a = FrameAnalyzer::at_rate(&cfg, rate);
        let start = Instant::now();
        let mut voiced = 0usize;
        for hop in samples.chunks_exact(hop_len) {
            voiced += a.process_hop(hop).voiced() as usize;
        }
        std::hint::black_box(voiced);
        start.elapsed().as_secs_f64()
    });
    // Allocations after start-up: warm up on the first 2 s, then count over the rest.
    let mut a = FrameAnalyzer::at_rate(&cfg, rate);
    let warm = 200 * hop_len;
    for hop in samples[..warm].chunks_exact(hop_len) {
        a.process_hop(hop);
    }
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut frames = 0;
    for hop in samples[warm..].chunks_exact(hop_len) {
        a.process_hop(hop);
        frames += 1;
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    println!(
        "frame analysis   {name:<38} {:>8.0}x real time per channel  ({:.2} us per 10 ms frame; {allocs} allocations in {frames} frames after start-up)",
        secs / t,
        t / (samples.len() / hop_len) as f64 * 1e6
    );
}

/// The SpokenWOZ call repeated to 30 minutes, written once to the temporary directory (the
/// length of a long support call; the speed target is set on it).
fn phone_call_30min() -> PathBuf {
    let out = std::env::temp_dir().join("calmline-bench-spokenwoz-30min.wav");
    if out.exists() {
        return out;
    }
    let mut r = hound::WavReader::open(data("calls/spokenwoz_MUL1011_8k_stereo.wav")).unwrap();
    let spec = r.spec();
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let tmp = out.with_extension("part");
    let mut w = hound::WavWriter::create(&tmp, spec).unwrap();
    let target = 30 * 60 * spec.sample_rate as usize * spec.channels as usize;
    for &s in samples.iter().cycle().take(target) {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    std::fs::rename(&tmp, &out).unwrap();
    out
}

fn pipeline(name: &str, path: &Path) {
    let cfg = Config::default();
    let mut src = FileSource::open(path).unwrap();
    let rate = src.sample_rate();
    let chans = src.channels();
    let mut blocks = Vec::new();
    let mut block = Vec::new();
    while src.read(&mut block).unwrap() > 0 {
        blocks.push(block.clone());
    }
    let frames: usize = blocks.iter().map(|b| b[0].len()).sum();
    let secs = frames as f64 / rate as f64;
    let speakers = calmline::pipeline::channel_map(chans, cfg.channels.customer).unwrap();
    // Decode included: the end-to-end figure a reviewer sees.
    let t_total = best_of(5, || {
        let start = Instant::now();
        let r = calmline::review::review_file(path, &cfg, &|_| {}).unwrap();
        std::hint::black_box(r);
        start.elapsed().as_secs_f64()
    });
    // Pipeline only (blocks already decoded), hop by hop on one thread as live, and in batch
    // mode as a review runs it; then batch mode's allocations per frame after start-up.
    let pipe = |batched: bool| {
        best_of(5, || {
            let mut p = Pipeline::new(&cfg, speakers.clone(), rate).unwrap();
            if batched {
                p = p.batched().unwrap();
            }
            let start = Instant::now();
            let mut n = 0usize;
            for b in &blocks {
                p.push(b, b[0].len(), &mut |_| n += 1);
            }
            p.finish(&mut |_| n += 1);
            std::hint::black_box(n);
            start.elapsed().as_secs_f64()
        })
    };
    let (t_live, t_batch) = (pipe(false), pipe(true));
    let mut p = Pipeline::new(&cfg, speakers.clone(), rate)
        .unwrap()
        .batched()
        .unwrap();
    let warm = blocks.len() / 10;
    let mut events = Vec::with_capacity(100_000);
    for b in &blocks[..warm] {
        p.push(b, b[0].len(), &mut |e| events.push(e));
    }
    events.clear();
    let before = ALLOCS.load(Ordering::Relaxed);
    let mut discrete = 0;
    for b in &blocks[warm..] {
        p.push(b, b[0].len(), &mut |e| {
            if !matches!(e.body, calmline::events::EventBody::Levels(_)) {
                discrete += 1;
            }
            events.push(e)
        });
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    let hops = (p.time_s() * 100.0) as usize;
    let ch = speakers.len() as f64;
    println!(
        "review pipeline  {name:<38} per channel: {:>6.0}x real time end to end (decode to report), {:>6.0}x batch mode, {:>6.0}x hop by hop on one thread  ({allocs} allocations over ~{hops} frames x {} channels after start-up, {discrete} discrete events)",
        ch * secs / t_total,
        ch * secs / t_batch,
        ch * secs / t_live,
        speakers.len()
    );
    let _ = Speaker::Agent;
}

/// Acoustic cue latency on calls assembled from RAVDESS: each actor's twelve calm and neutral
/// takes as the customer's first turns (their baseline), then one angry take; every angry take
/// of actors 1-8 (32 normal, 32 strong). Measured from the moment the customer's level rises
/// (their K-weighted level over the last 100 ms first reaches 6 dB over their own baseline) to
/// the `acknowledge` cue, through the whole pipeline and the coach. A live call adds up to one
/// capture period ([live] period_ms).
fn cue_latency() {
    use calmline::coach::Coach;
    use calmline::events::{CueKind, EventBody};
    const RISE_DB: f64 = 6.0;
    let cfg = Config::default();
    let dir = data("emotion/ravdess");
    let labels = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
    let rows: Vec<Vec<String>> = labels
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let clip = |f: &str| decode16k(&dir.join(f)).swap_remove(0);
    for intensity in ["normal", "strong"] {
        let (mut lat, mut cue_lat, mut missed) = (Vec::new(), Vec::new(), 0);
        let (mut first_lat, mut onset_lat) = (Vec::new(), Vec::new());
        for actor in 1..=8 {
            let a = actor.to_string();
            let mut calm = Vec::new();
            for r in rows
                .iter()
                .filter(|r| r[1] == a && (r[3] == "calm" || r[3] == "neutral"))
            {
                calm.extend(std::iter::repeat_n(0.0, 8000));
                calm.extend(clip(&r[0]));
            }
            calm.extend(std::iter::repeat_n(0.0, 8000));
            for angry in rows
                .iter()
                .filter(|r| r[1] == a && r[3] == "angry" && r[4] == intensity)
            {
                let mut cust = calm.clone();
                cust.extend(clip(&angry[0]));
                cust.extend(std::iter::repeat_n(0.0, 8000));
                let agent = vec![0.0; cust.len()];
                let mut p =
                    Pipeline::new(&cfg, vec![Speaker::Agent, Speaker::Customer], 16000).unwrap();
                let mut coach = Coach::new(&cfg);
                let (mut baseline, mut cue, mut episode) = (None, None, None);
                let mut first: Option<f64> = None;
                let angry_from = calm.len() as f64 / 16000.0;
                for (a, b) in agent.chunks(1600).zip(cust.chunks(1600)) {
                    let mut evs = Vec::new();
                    p.push(&[a.to_vec(), b.to_vec()], a.len(), &mut |e| evs.push(e));
                    for e in evs {
                        if let EventBody::Baseline {
                            speaker,
                            baseline: b,
                        } = &e.body
                            && *speaker == Speaker::Customer
                        {
                            baseline = Some(b.loudness_db as f64);
                        }
                        if let EventBody::EpisodeStart { speaker, .. } = &e.body
                            && *speaker == Speaker::Customer
                            && e.t_s >= angry_from
                            && episode.is_none()
                        {
                            episode = Some(e.t_s);
                        }
                        if let EventBody::Rising { speaker, .. }
                        | EventBody::EpisodeStart { speaker, .. } = &e.body
                            && *speaker == Speaker::Customer
                            && e.t_s >= angry_from
                            && first.is_none()
                        {
                            first = Some(e.t_s);
                        }
                        coach.on_event(&e, &mut |c| {
                            if let EventBody::Cue(k) = &c.body
                                && k.kind == CueKind::Acknowledge
                                && c.t_s >= angry_from
                                && cue.is_none()
                            {
                                cue = Some(c.t_s);
                            }
                        });
                    }
                }
                // The same frame analysis, for the customer's level hop by hop.
                let mut fa = FrameAnalyzer::new(&cfg);
                let mut ring = [0.0f64; 10];
                let (mut rise, mut onset) = (None, None);
                for (i, hop) in cust.chunks_exact(HOP).enumerate() {
                    let f = fa.process_hop(hop);
                    if i * HOP >= calm.len() && onset.is_none() && f.active {
                        onset = Some(i as f64 * 0.01);
                    }
                    ring[i % 10] = 10f64.powf(f.level_db as f64 / 10.0);
                    let level = 10.0 * (ring.iter().sum::<f64>() / 10.0).log10();
                    if i * HOP >= calm.len()
                        && rise.is_none()
                        && baseline.is_some_and(|b| level >= b + RISE_DB)
                    {
                        rise = Some((i + 1) as f64 * 0.01);
                    }
                }
                match (rise, episode) {
                    (Some(r), Some(e)) => lat.push(e - r),
                    _ => missed += 1,
                }
                if let (Some(r), Some(c)) = (rise, cue) {
                    cue_lat.push(c - r);
                }
                if let (Some(r), Some(f)) = (rise, first) {
                    first_lat.push(f - r);
                }
                if let (Some(o), Some(f)) = (onset, first) {
                    onset_lat.push(f - o);
                }
            }
        }
        lat.sort_by(f64::total_cmp);
        cue_lat.sort_by(f64::total_cmp);
        let n = lat.len();
        if n == 0 {
            println!("cue latency      angry ({intensity}): no escalation in 32 calls");
            continue;
        }
        let within = lat.iter().filter(|&&l| l <= 0.25).count();
        println!(
            "cue latency      angry ({intensity}), level +{RISE_DB:.0} dB to escalation: median {:.2} s, p90 {:.2} s, min {:.2} s, {within}/{n} within 0.25 s ({missed}/32 not escalated)",
            lat[n / 2],
            lat[n * 9 / 10],
            lat[0]
        );
        for (what, v) in [
            ("level +6 dB", &mut first_lat),
            ("speech onset", &mut onset_lat),
        ] {
            v.sort_by(f64::total_cmp);
            if let Some(&m) = v.get(v.len() / 2) {
                println!(
                    "                 first signal (rising or episode) from the {what}: median {m:.2} s, p90 {:.2} s, {}/{} within 0.25 s",
                    v[v.len() * 9 / 10],
                    v.iter().filter(|&&l| l <= 0.25).count(),
                    v.len()
                );
            }
        }
        if let Some(&m) = cue_lat.get(cue_lat.len() / 2) {
            println!(
                "                 ... to the acknowledge cue: median {m:.2} s in {} of those {n} calls; + up to one capture period live",
                cue_lat.len()
            );
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: keep that quick.
    let quick = std::env::args().all(|a| a != "--bench");
    let call = data("calls/scenario_escalating_a01.wav");
    let chans = decode16k(&call);
    if quick {
        frame_analysis(
            "scenario_escalating_a01 (customer, 10 s)",
            &chans[1][..160_000],
        );
        return;
    }
    println!(
        "calmline benches on {} (one core per measurement)\n",
        std::env::consts::ARCH
    );
    frame_analysis("scenario_escalating_a01 customer ch.", &chans[1]);
    frame_analysis("scenario_escalating_a01 agent ch.", &chans[0]);
    let woz = decode16k(&data("calls/spokenwoz_MUL1011_8k_stereo.wav"));
    frame_analysis("spokenwoz_MUL1011 customer ch. at 16 kHz", &woz[0]);
    let mut src = FileSource::open(&data("calls/spokenwoz_MUL1011_8k_stereo.wav")).unwrap();
    let (mut block, mut woz8) = (Vec::new(), Vec::new());
    while src.read(&mut block).unwrap() > 0 {
        woz8.extend_from_slice(&block[0]);
    }
    frame_analysis_at("spokenwoz_MUL1011 customer ch. at 8 kHz", &woz8, 8_000);
    let silence = vec![0.0f32; 16000 * 60];
    frame_analysis("60 s of digital silence", &silence);
    let mut seed = 1u32;
    let noise: Vec<f32> = (0..16000 * 60)
        .map(|_| {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.5
        })
        .collect();
    frame_analysis("60 s of loud white noise (worst case)", &noise);
    println!();
    pipeline("scenario_escalating_a01 (16 kHz stereo)", &call);
    pipeline(
        "spokenwoz_MUL1011 (8 kHz stereo)",
        &data("calls/spokenwoz_MUL1011_8k_stereo.wav"),
    );
    pipeline("spokenwoz x10, 30 min (8 kHz stereo)", &phone_call_30min());
    pipeline(
        "pyannote_sample (16 kHz mono)",
        &data("calls/pyannote_sample.wav"),
    );
    println!();
    cue_latency();
}
