//! Shared helpers for the integration tests: the real recordings in ../shared/data, turn labels,
//! turn-level verdicts, sox conversions and calls assembled from RAVDESS utterances.
#![allow(dead_code)]

pub mod browser;
pub mod escalation;
pub mod jwt;
pub mod supervisor;

use std::path::{Path, PathBuf};
use std::process::Command;

use calmline::Config;
use calmline::audio::{FileSource, Source};
use calmline::events::Speaker;
use calmline::pipeline::Pipeline;
use calmline::report::{Review, ReviewBuilder};

/// ../shared/data, next to the project.
pub fn data() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(p.is_dir(), "test data not found at {}", p.display());
    p
}

pub fn call(name: &str) -> PathBuf {
    data().join("calls").join(name)
}

/// One labelled customer turn.
#[derive(Debug, Clone)]
pub struct Turn {
    pub start_s: f64,
    pub end_s: f64,
    pub label: String,
    pub escalated: bool,
}

pub fn turns(csv: &Path) -> Vec<Turn> {
    let text = std::fs::read_to_string(csv).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Turn {
                start_s: f[0].parse().unwrap(),
                end_s: f[1].parse().unwrap(),
                label: format!("{} {}", f[2], f[3]),
                escalated: f[4].trim() == "1",
            }
        })
        .collect()
}

/// A turn is flagged when most of its voiced timeline steps are inside a customer escalation
/// episode (all its steps when none is voiced). Same rule as scripts/turns.py.
pub fn flagged(review: &Review, turn: &Turn) -> bool {
    let tl = &review.timeline;
    let tr = &tl.speakers[&Speaker::Customer];
    steps_flagged(&tr.voiced, &tr.escalated, tl.hop_s as f64, turn)
}

/// [`flagged`] on bare per-step arrays (`hop` seconds per step).
pub fn steps_flagged(voiced: &[bool], escalated: &[bool], hop: f64, turn: &Turn) -> bool {
    let a = (turn.start_s / hop) as usize;
    let b = ((turn.end_s / hop) as usize).min(voiced.len());
    let mut idx: Vec<usize> = (a..b).filter(|&i| voiced[i]).collect();
    if idx.is_empty() {
        idx = (a..b).collect();
    }
    let esc = idx.iter().filter(|&&i| escalated[i]).count();
    !idx.is_empty() && esc * 2 >= idx.len()
}

/// Confusion counts over turns: (true pos, false neg, true neg, false pos).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub tp: usize,
    pub fnn: usize,
    pub tn: usize,
    pub fp: usize,
}

impl Counts {
    pub fn add(&mut self, truth: bool, flag: bool) {
        match (truth, flag) {
            (true, true) => self.tp += 1,
            (true, false) => self.fnn += 1,
            (false, false) => self.tn += 1,
            (false, true) => self.fp += 1,
        }
    }
    pub fn balanced_accuracy(&self) -> f64 {
        let tpr = self.tp as f64 / (self.tp + self.fnn).max(1) as f64;
        let tnr = self.tn as f64 / (self.tn + self.fp).max(1) as f64;
        if self.tp + self.fnn == 0 {
            return tnr;
        }
        (tpr + tnr) / 2.0
    }
}

pub fn review(path: &Path, cfg: &Config) -> Review {
    calmline::review::review_file(path, cfg, &|_| {}).unwrap()
}

/// `sox IN [args before OUT] OUT`: converts with the real tool, as a user would.
pub fn sox(input: &Path, out: &Path, args: &[&str]) {
    let status = Command::new("sox")
        .arg("-R")
        .arg(input)
        .args(args)
        .arg(out)
        .status()
        .expect("sox is installed (see .ci/run)");
    assert!(status.success(), "sox failed on {}", input.display());
}

/// Encode with `codec` through PyAV (`scripts/encode.py`), for the formats sox cannot write
/// (AAC, ALAC, Opus); the container follows `out`'s extension.
pub fn pyav(input: &Path, out: &Path, codec: &str) {
    pyav_script(
        "encode.py",
        &[input.as_os_str(), out.as_os_str(), codec.as_ref()],
    );
}

/// Decode with ffmpeg's decoders through PyAV (`scripts/decode.py`) into a float WAV at the
/// stream's own rate: a reference for the codecs sox cannot read (Opus).
pub fn pyav_decode(input: &Path, out: &Path) {
    pyav_script("decode.py", &[input.as_os_str(), out.as_os_str()]);
}

fn pyav_script(script: &str, args: &[&std::ffi::OsStr]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let status = Command::new("python3")
        .arg(&script)
        .args(args)
        .status()
        .expect("python3 runs");
    assert!(
        status.success(),
        "{} failed on {:?} (PyAV is installed by scripts/install-deps.sh)",
        script.display(),
        args.first()
    );
}

/// `sox IN [format args] OUT [effects]`: format options before the output, effects after.
pub fn sox_fx(input: &Path, out: &Path, format: &[&str], effects: &[&str]) {
    let status = Command::new("sox")
        .arg("-R")
        .arg(input)
        .args(format)
        .arg(out)
        .args(effects)
        .status()
        .expect("sox is installed (see .ci/run)");
    assert!(status.success(), "sox failed on {}", input.display());
}

/// Decode a whole file to planar f32.
pub fn decode(path: &Path) -> (u32, Vec<Vec<f32>>) {
    let mut src = FileSource::open(path).unwrap();
    let mut all = vec![Vec::new(); src.channels()];
    let mut block = Vec::new();
    while src.read(&mut block).unwrap() > 0 {
        for (a, b) in all.iter_mut().zip(&block) {
            a.extend_from_slice(b);
        }
    }
    (src.sample_rate(), all)
}

/// Run planar audio through the pipeline into a review, in blocks as a source would deliver.
pub fn review_samples(name: &str, rate: u32, chans: &[Vec<f32>], cfg: &Config) -> Review {
    let speakers = calmline::pipeline::channel_map(chans.len(), cfg.channels.customer).unwrap();
    let mut b = ReviewBuilder::new(name, rate, &speakers, cfg);
    let mut p = Pipeline::new(cfg, speakers, rate).unwrap();
    let n = chans[0].len();
    let mut block = vec![Vec::new(); chans.len()];
    let mut i = 0;
    while i < n {
        let k = 1024.min(n - i);
        for (bl, c) in block.iter_mut().zip(chans) {
            bl.clear();
            bl.extend_from_slice(&c[i..i + k]);
        }
        p.push(&block, k, &mut |e| b.on_event(&e));
        i += k;
    }
    p.finish(&mut |e| b.on_event(&e));
    b.finish()
}

/// RAVDESS label row.
#[derive(Debug, Clone)]
pub struct Clip {
    pub file: PathBuf,
    pub actor: u32,
    pub emotion: String,
    pub intensity: String,
}

pub fn ravdess() -> Vec<Clip> {
    let dir = data().join("emotion/ravdess");
    let text = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Clip {
                file: dir.join(f[0]),
                actor: f[1].parse().unwrap(),
                emotion: f[3].into(),
                intensity: f[4].into(),
            }
        })
        .collect()
}

/// A deterministic pseudo-random sequence (xorshift), so assembled calls are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    /// `k` distinct items of `v`.
    pub fn sample<T: Clone>(&mut self, v: &[T], k: usize) -> Vec<T> {
        let mut v = v.to_vec();
        let mut out = Vec::new();
        for _ in 0..k.min(v.len()) {
            let i = self.below(v.len());
            out.push(v.swap_remove(i));
        }
        out
    }
}

/// A stereo call (left agent, right customer, 16 kHz) assembled the way the scenario calls in
/// ../shared/data were: agent utterance, 0.4 s gap, customer utterance, 0.4 s gap, repeated.
/// Escalating calls: six calm/neutral customer turns, then three angry (normal) and four angry
/// (strong); calm calls: ten calm/neutral turns. The agent is another actor, calm.
pub fn assemble(
    clips: &[Clip],
    customer: u32,
    agent: u32,
    escalating: bool,
    rng: &mut Rng,
) -> (Vec<Vec<f32>>, Vec<Turn>) {
    let calm = |a: u32| -> Vec<Clip> {
        clips
            .iter()
            .filter(|c| c.actor == a && (c.emotion == "neutral" || c.emotion == "calm"))
            .cloned()
            .collect()
    };
    let angry = |a: u32, i: &str| -> Vec<Clip> {
        clips
            .iter()
            .filter(|c| c.actor == a && c.emotion == "angry" && c.intensity == i)
            .cloned()
            .collect()
    };
    let mut seq: Vec<(Clip, bool)> = Vec::new();
    if escalating {
        seq.extend(
            rng.sample(&calm(customer), 6)
                .into_iter()
                .map(|c| (c, false)),
        );
        seq.extend(
            rng.sample(&angry(customer, "normal"), 3)
                .into_iter()
                .map(|c| (c, true)),
        );
        seq.extend(
            rng.sample(&angry(customer, "strong"), 4)
                .into_iter()
                .map(|c| (c, true)),
        );
    } else {
        seq.extend(
            rng.sample(&calm(customer), 10)
                .into_iter()
                .map(|c| (c, false)),
        );
    }
    let agent_clips = calm(agent);
    let gap = vec![0.0f32; 6400];
    let (mut l, mut r) = (Vec::new(), Vec::new());
    let mut turns = Vec::new();
    let mono = |p: &Path| decode(p).1.swap_remove(0);
    for (clip, esc) in seq {
        let a = mono(&agent_clips[rng.below(agent_clips.len())].file);
        r.extend(std::iter::repeat_n(0.0, a.len()));
        l.extend(a);
        l.extend(&gap);
        r.extend(&gap);
        let c = mono(&clip.file);
        let start = r.len() as f64 / 16000.0;
        l.extend(std::iter::repeat_n(0.0, c.len()));
        r.extend(c);
        turns.push(Turn {
            start_s: start,
            end_s: r.len() as f64 / 16000.0,
            label: format!("a{:02} {} {}", customer, clip.emotion, clip.intensity),
            escalated: esc,
        });
        l.extend(&gap);
        r.extend(&gap);
    }
    (vec![l, r], turns)
}

/// Write 16-bit PCM WAV (for feeding files to sox and the CLI).
pub fn write_wav(path: &Path, rate: u32, chans: &[Vec<f32>]) {
    let spec = hound::WavSpec {
        channels: chans.len() as u16,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..chans[0].len() {
        for c in chans {
            w.write_sample((c[i].clamp(-1.0, 1.0) * 32767.0) as i16)
                .unwrap();
        }
    }
    w.finalize().unwrap();
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `calmline live` playing the call `file` at `speed` without transcription, JSON lines out,
/// with a config at `cfg` that sends hub events to the outbox folder `outbox`; the caller adds
/// where the events go (`--hub` or `--nats`).
pub fn live_file(bin: &str, file: &str, speed: f64, cfg: &Path, outbox: &Path) -> Command {
    std::fs::write(
        cfg,
        format!("[hub]\noutbox = {:?}\n", outbox.to_str().unwrap()),
    )
    .unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["live", "--file"])
        .arg(call(file))
        .args([
            "--speed",
            &speed.to_string(),
            "--no-transcribe",
            "--ui",
            "json",
        ])
        .args(["--agent", "ann", "--config"])
        .arg(cfg);
    cmd
}

/// A `calmline live` monitor process and the thread reading its JSON lines (read as they come:
/// a full pipe would stall the monitor's loop, as a terminal that stops reading would).
pub struct Monitor {
    child: std::process::Child,
    out: std::thread::JoinHandle<Vec<String>>,
}

impl Monitor {
    /// Start `cmd` with its stdout read line by line.
    pub fn spawn(cmd: &mut Command) -> Self {
        use std::io::BufRead;
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let out = std::thread::spawn(move || {
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect()
        });
        Monitor { child, out }
    }

    /// Wait for a successful end; its JSON lines.
    pub fn lines(mut self) -> Vec<serde_json::Value> {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the monitor failed");
        self.out
            .join()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
