//! Live calls: capture both sides from sound devices and run the same pipeline, coach and
//! transcription as a review, in real time.
//!
//! Threads: each device's cpal callback only converts and pushes into a lock-free ring; this
//! module's loop (the analysis thread) drains the rings every 10 ms, resamples to 16 kHz, keeps
//! the two speakers aligned (start offset and clock drift), and feeds the pipeline; the
//! recogniser runs on its own worker behind a bounded queue. Events go to an [`EventSink`] (the
//! terminal view, JSON lines, plain text): no stage here knows which.

pub mod capture;
pub mod devices;
pub mod pulse;
pub mod quiet;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::audio::{ANALYSIS_RATE, StreamResampler};
use crate::coach::Coach;
use crate::config::{Config, Side};
use crate::error::{Error, Result};
use crate::events::{DeviceStatus, Event, EventBody, Speaker, Status};
use crate::language::RoleVotes;
use crate::pipeline::{Pipeline, channel_map};
use crate::transcribe::{LiveTranscriber, Model};
use capture::Capture;

/// Receives every event of a live call, as it happens.
pub trait EventSink {
    /// One event.
    fn event(&mut self, e: &Event);
    /// Called about every 100 ms, to redraw.
    fn tick(&mut self) {}
    /// Whether the user asked to end the call (a key in the terminal view).
    fn wants_stop(&self) -> bool {
        false
    }
}

/// Where the two sides of the call come from.
#[derive(Debug, Clone)]
pub enum Layout {
    /// One device with one speaker per channel (softphone or USB call recorder).
    Stereo {
        /// Device name or number (`None`: the default input).
        device: Option<String>,
        /// Which channel is the customer.
        customer: Side,
    },
    /// The agent's microphone and the customer's audio (an output's monitor) separately.
    TwoDevices {
        /// Agent microphone.
        agent: Option<String>,
        /// Customer audio.
        customer: Option<String>,
    },
    /// A stereo recording played on the wall clock as if it came from the devices (training,
    /// demos, and testing the hub without sound devices).
    File {
        /// The recording (one speaker per channel).
        path: PathBuf,
        /// Which channel is the customer.
        customer: Side,
        /// Playback speed (1 = real time).
        speed: f64,
    },
}

/// A recording fed to the live loop at the pace of the wall clock (times `speed`).
struct FilePlayer {
    name: String,
    src: crate::audio::FileSource,
    resampler: StreamResampler,
    block: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
    speed: f64,
    start: Instant,
    /// 16 kHz frames handed to the loop so far.
    fed: u64,
    done: bool,
}

impl FilePlayer {
    fn open(path: &std::path::Path, speed: f64) -> Result<Self> {
        use crate::audio::Source;
        // Below 0.1 the first capture period takes longer than the wait for any audio at all.
        if !(0.1..=100.0).contains(&speed) {
            return Err(Error::Invalid(format!(
                "--speed must be 0.1 to 100, not {speed}"
            )));
        }
        let src = crate::audio::FileSource::open(path)?;
        if src.channels() != 2 {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "has {} channel(s): a live call needs one speaker per channel (a stereo recording)",
                    src.channels()
                ),
            });
        }
        let resampler = StreamResampler::new(src.sample_rate(), ANALYSIS_RATE, 2)?;
        Ok(Self {
            name: path.display().to_string(),
            src,
            resampler,
            block: vec![Vec::new(), Vec::new()],
            out: vec![Vec::new(), Vec::new()],
            speed,
            start: Instant::now(),
            fed: 0,
            done: false,
        })
    }

    /// Hand the loop what the wall clock says has been "captured" by now.
    fn pump(&mut self, queues: &mut [VecDeque<f32>; 2]) -> Result<()> {
        use crate::audio::Source;
        let due = (self.start.elapsed().as_secs_f64() * self.speed * ANALYSIS_RATE as f64) as u64;
        while !self.done && self.fed < due {
            let n = self.src.read(&mut self.block)?;
            if n == 0 {
                self.resampler.flush(&mut self.out);
                self.done = true;
            } else {
                self.resampler.process(&self.block, n, &mut self.out);
            }
            let got = self.out[0].len().min(self.out[1].len());
            for (q, o) in queues.iter_mut().zip(self.out.iter_mut()) {
                q.extend(o.drain(..got));
                o.clear();
            }
            self.fed += got as u64;
        }
        Ok(())
    }
}

/// How to run a live call.
pub struct LiveOptions {
    /// The devices.
    pub layout: Layout,
    /// Transcribe with this model (`None`: acoustic cues only).
    pub model: Option<Model>,
    /// Also write the call as a stereo 16 kHz WAV (agent left, customer right).
    pub record: Option<PathBuf>,
    /// Stop after this many seconds (scripts, tests); otherwise on Ctrl-C.
    pub duration: Option<f64>,
    /// Set to stop the call (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    /// The customer's name from the call's details (`--customer-name`), known from the start.
    pub customer_name: Option<String>,
}

/// What a live call ended with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveSummary {
    /// Call duration (s).
    pub duration_s: f64,
    /// Samples dropped by capture overflow.
    pub dropped_samples: u64,
    /// Drift between the two devices (ppm).
    pub drift_ppm: f32,
    /// Cues shown, by kind.
    pub cues: std::collections::BTreeMap<String, u32>,
    /// Alerts raised, by kind.
    pub alerts: std::collections::BTreeMap<String, u32>,
    /// Customer escalation episodes.
    pub customer_episodes: u32,
    /// Transcription lag p50 / p95 (s), when transcribing.
    pub transcript_lag_p50_s: Option<f32>,
    /// See above.
    pub transcript_lag_p95_s: Option<f32>,
    /// Utterances not transcribed because the recogniser was behind.
    pub transcripts_skipped: u32,
    /// The recording, if one was made.
    pub recording: Option<PathBuf>,
}

/// One capture device and where its channels go.
struct Input {
    /// Name to reopen it by after a loss.
    name: String,
    capture: Option<Capture>,
    /// Channel of the device feeding each speaker slot (None: mix all channels).
    routes: Vec<(usize, Option<usize>)>,
    resampler: Option<StreamResampler>,
    /// Deinterleaved scratch at the device rate, one per routed speaker.
    scratch: Vec<Vec<f32>>,
    /// Resampled output at 16 kHz, one per routed speaker.
    out: Vec<Vec<f32>>,
    last_retry: Instant,
    carries: String,
    /// When the device last delivered audio (a stalled device counts as lost).
    last_data: Instant,
    last_count: u64,
    /// When the device first delivered audio, and how many samples it had then: the rate check
    /// starts there (a monitor of an idle sink delivers nothing until something plays).
    first_data: Option<(Instant, u64)>,
}

/// A device that delivers nothing for this long is treated as lost (some backends stall rather
/// than report an error when a device disappears).
const STALL: Duration = Duration::from_secs(2);

impl Input {
    fn open(
        name: Option<&str>,
        routes: Vec<(usize, Option<usize>)>,
        carries: &str,
        period_ms: u32,
    ) -> Result<Self> {
        let found = devices::find(name)?;
        let capture = Capture::open(&found, period_ms).map_err(|e| match (name, e) {
            // The system's default input was taken because nothing was named: say how to name.
            (None, Error::Invalid(m)) => Error::Invalid(format!(
                "{m} (this is the system's default input: choose a device with --device, or \
                 --agent-device and --customer-device; `calmline devices` lists them)"
            )),
            (_, e) => e,
        })?;
        let mut me = Self {
            name: found.name,
            capture: None,
            routes,
            resampler: None,
            scratch: Vec::new(),
            out: Vec::new(),
            last_retry: Instant::now(),
            carries: carries.into(),
            last_data: Instant::now(),
            last_count: 0,
            first_data: None,
        };
        me.attach(capture)?;
        Ok(me)
    }

    fn attach(&mut self, c: Capture) -> Result<()> {
        for (_, ch) in &self.routes {
            if let Some(ch) = ch
                && *ch >= c.channels
            {
                return Err(Error::Invalid(format!(
                    "{} has {} channel(s): it cannot carry one speaker per channel; use \
                     --agent-device and --customer-device",
                    c.name, c.channels
                )));
            }
        }
        let n = self.routes.len();
        self.resampler = Some(StreamResampler::new(c.rate, ANALYSIS_RATE, n)?);
        self.scratch = vec![Vec::with_capacity(c.rate as usize); n];
        self.out = vec![Vec::with_capacity(ANALYSIS_RATE as usize * 2); n];
        self.capture = Some(c);
        self.last_data = Instant::now();
        self.last_count = 0;
        self.first_data = None;
        Ok(())
    }

    /// Move what the device delivered into `out` (16 kHz, per routed speaker).
    fn drain(&mut self) {
        let (Some(c), Some(rs)) = (self.capture.as_mut(), self.resampler.as_mut()) else {
            return;
        };
        let ch = c.channels;
        let frames = c.ring.slots() / ch;
        if frames == 0 {
            return;
        }
        let Ok(chunk) = c.ring.read_chunk(frames * ch) else {
            return;
        };
        let (a, b) = chunk.as_slices();
        let at = |i: usize| if i < a.len() { a[i] } else { b[i - a.len()] };
        for s in &mut self.scratch {
            s.clear();
        }
        for f in 0..frames {
            for (slot, (_, route)) in self.scratch.iter_mut().zip(&self.routes) {
                slot.push(match route {
                    Some(k) => at(f * ch + k),
                    None => (0..ch).map(|k| at(f * ch + k)).sum::<f32>() / ch as f32,
                });
            }
        }
        chunk.commit_all();
        rs.process(&self.scratch, frames, &mut self.out);
    }

    /// The host's reported delay of the latest period (ms), when it reports one.
    fn delay_ms(&self) -> Option<f32> {
        let us = self
            .capture
            .as_ref()?
            .health
            .delay_us
            .load(Ordering::Relaxed);
        (us > 0).then_some(us as f32 / 1000.0)
    }

    fn lost(&mut self) -> bool {
        let Some(c) = self.capture.as_ref() else {
            return true;
        };
        let count = c.health.captured.load(Ordering::Relaxed);
        if count != self.last_count {
            if self.first_data.is_none() {
                self.first_data = Some((Instant::now(), count));
            }
            self.last_count = count;
            self.last_data = Instant::now();
        }
        c.health.lost.load(Ordering::Relaxed) || self.last_data.elapsed() > STALL
    }
}

/// Run a live call until Ctrl-C, the duration, or the sink asks to stop.
pub fn run(cfg: &Config, opts: LiveOptions, sink: &mut dyn EventSink) -> Result<LiveSummary> {
    if let Some(d) = opts.duration.filter(|d| !(*d > 0.0 && d.is_finite())) {
        return Err(Error::Invalid(format!(
            "--duration must be a number of seconds over 0, not {d}"
        )));
    }
    let period = cfg.live.period_ms;
    // Speaker slots: 0 and 1 in channel order (agent/customer per the layout).
    let (mut inputs, speakers) = match &opts.layout {
        Layout::Stereo { device, customer } => {
            let speakers = channel_map(2, *customer)?;
            let routes = vec![(0, Some(0)), (1, Some(1))];
            (
                vec![Input::open(
                    device.as_deref(),
                    routes,
                    "agent+customer",
                    period,
                )?],
                speakers,
            )
        }
        Layout::TwoDevices { agent, customer } => (
            vec![
                Input::open(agent.as_deref(), vec![(0, None)], "agent", period)?,
                Input::open(customer.as_deref(), vec![(1, None)], "customer", period)?,
            ],
            vec![Speaker::Agent, Speaker::Customer],
        ),
        Layout::File { customer, .. } => (Vec::new(), channel_map(2, *customer)?),
    };
    let mut player = match &opts.layout {
        Layout::File { path, speed, .. } => Some(FilePlayer::open(path, *speed)?),
        _ => None,
    };
    let mut pipeline = Pipeline::new(cfg, speakers.clone(), ANALYSIS_RATE)?.with_utterances(cfg)?;
    let mut coach = Coach::new(cfg);
    if let Some(name) = &opts.customer_name {
        coach.know_customer_name(name);
    }
    let mut transcriber = match &opts.model {
        Some(m) => Some(LiveTranscriber::start(m, cfg)?),
        None => None,
    };
    let mut record_failed: Option<String> = None;
    // A recording never replaces an earlier one: the next free name (call-2.wav, ...) is taken
    // and the agent told, since stopping a call's monitor over a file name would be worse.
    let (record_path, mut recorder) = match &opts.record {
        Some(p) => {
            let (path, w) = create_recording(p)?;
            (Some(path), Some(w))
        }
        None => (None, None),
    };
    // Where each slot's audio comes from, and how to swap them, for the warning when the words
    // say the agent and the customer are the other way round (the agent's own voice would then
    // be measured and reported as the customer's).
    let (slot_names, swap_fix) = match &opts.layout {
        Layout::TwoDevices { .. } => (
            [0, 1].map(|i| format!("the {} device ({})", speakers[i], inputs[i].name)),
            format!(
                "restart with the devices the other way round: --agent-device \"{}\" \
                 --customer-device \"{}\"",
                inputs[1].name, inputs[0].name
            ),
        ),
        Layout::Stereo { .. } | Layout::File { .. } => {
            let to = if speakers[0] == Speaker::Agent {
                "left"
            } else {
                "right"
            };
            (
                [
                    "the left channel".to_string(),
                    "the right channel".to_string(),
                ],
                format!("restart with --customer-channel {to}"),
            )
        }
    };
    let mut roles = RoleVotes::default();
    let mut sides_warned = false;
    // The recording keeps agent left, customer right, whatever the device layout.
    let agent_slot = speakers
        .iter()
        .position(|s| *s == Speaker::Agent)
        .unwrap_or(0);

    let mut queues: [VecDeque<f32>; 2] = [VecDeque::new(), VecDeque::new()];
    let mut block = vec![Vec::new(), Vec::new()];
    let mut summary = LiveSummary {
        duration_s: 0.0,
        dropped_samples: 0,
        drift_ppm: 0.0,
        cues: Default::default(),
        alerts: Default::default(),
        customer_episodes: 0,
        transcript_lag_p50_s: None,
        transcript_lag_p95_s: None,
        transcripts_skipped: 0,
        recording: record_path.clone(),
    };
    let mut lags: Vec<f32> = Vec::new();
    let mut drift_corrections = 0u32;
    let mut skews: VecDeque<(Instant, i64)> = VecDeque::new();
    let mut drift_samples = 0i64;
    let mut started: Option<Instant> = None;
    let mut under_warned = false;
    let mut last_status = Instant::now();
    let mut last_tick = Instant::now();
    let began = Instant::now();
    let emit = |e: Event,
                coach: &mut Coach,
                sink: &mut dyn EventSink,
                summary: &mut LiveSummary,
                lags: &mut Vec<f32>| {
        match &e.body {
            EventBody::Cue(c) => *summary.cues.entry(c.kind.name().into()).or_default() += 1,
            EventBody::Alert(a) => *summary.alerts.entry(a.kind.name().into()).or_default() += 1,
            EventBody::EpisodeStart {
                speaker: Speaker::Customer,
                ..
            } => summary.customer_episodes += 1,
            EventBody::Transcript(s) => lags.push((e.t_s - s.end_s) as f32),
            EventBody::TranscriptSkipped { .. } => summary.transcripts_skipped += 1,
            _ => {}
        }
        sink.event(&e);
        let mut coached = Vec::new();
        coach.on_event(&e, &mut |c| coached.push(c));
        for c in coached {
            if let EventBody::Cue(k) = &c.body {
                *summary.cues.entry(k.kind.name().into()).or_default() += 1;
            }
            if let EventBody::Alert(a) = &c.body {
                *summary.alerts.entry(a.kind.name().into()).or_default() += 1;
            }
            sink.event(&c);
        }
    };
    if let (Some(wanted), Some(path)) = (&opts.record, &record_path)
        && wanted != path
    {
        let message = format!(
            "{} exists already: recording this call to {}",
            wanted.display(),
            path.display()
        );
        let w = Event {
            t_s: 0.0,
            body: EventBody::Warning { message },
        };
        emit(w, &mut coach, sink, &mut summary, &mut lags);
    }

    loop {
        if opts.stop.load(Ordering::Relaxed) || sink.wants_stop() {
            break;
        }
        if let (Some(d), Some(s)) = (opts.duration, started)
            && s.elapsed().as_secs_f64() >= d
        {
            break;
        }
        // 1. Drain the devices, reopen lost ones (or play the recording on).
        if let Some(p) = player.as_mut() {
            p.pump(&mut queues)?;
            if p.done && queues.iter().all(|q| q.is_empty()) {
                break;
            }
        }
        for input in inputs.iter_mut() {
            if input.lost() {
                if input.capture.take().is_some() {
                    let t = pipeline.time_s();
                    emit(
                        Event {
                            t_s: t,
                            body: EventBody::Warning {
                                message: format!(
                                    "device {} stopped delivering audio; reconnecting",
                                    input.name
                                ),
                            },
                        },
                        &mut coach,
                        sink,
                        &mut summary,
                        &mut lags,
                    );
                }
                if input.last_retry.elapsed() > Duration::from_secs(1) {
                    input.last_retry = Instant::now();
                    if let Ok(found) = devices::find(Some(&input.name))
                        && let Ok(c) = Capture::open(&found, period)
                        && input.attach(c).is_ok()
                    {
                        let name = found.name;
                        emit(
                            Event {
                                t_s: pipeline.time_s(),
                                body: EventBody::Warning {
                                    message: format!("device {name} is back"),
                                },
                            },
                            &mut coach,
                            sink,
                            &mut summary,
                            &mut lags,
                        );
                    }
                }
                continue;
            }
            input.drain();
            for ((slot, _), out) in input.routes.iter().zip(input.out.iter_mut()) {
                queues[*slot].extend(out.drain(..));
            }
        }
        // 2. Align the speakers. Nothing is analysed until every device has delivered audio;
        // then the earlier one's head start is dropped, and later drift (the faster clock's
        // queue growing) is corrected by skipping a few ms of it.
        let up: Vec<bool> = inputs.iter_mut().map(|i| !i.lost()).collect();
        let live: Vec<bool> = (0..2)
            .map(|slot| {
                inputs
                    .iter()
                    .zip(&up)
                    .any(|(i, u)| *u && i.routes.iter().any(|(s, _)| *s == slot))
            })
            .collect();
        if started.is_none() {
            if queues.iter().all(|q| !q.is_empty()) {
                let n = queues[0].len().min(queues[1].len());
                for q in &mut queues {
                    let extra = q.len() - n;
                    q.drain(..extra);
                }
                started = Some(Instant::now());
            } else {
                if began.elapsed() > Duration::from_secs(10) {
                    return Err(Error::Invalid(
                        "no audio arrived from the capture device(s) within 10 s".into(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        }
        // A lost side is filled with silence so the call clock and the other side go on.
        for slot in 0..2 {
            if !live[slot] && live[1 - slot] && queues[slot].len() < queues[1 - slot].len() {
                let gap = queues[1 - slot].len() - queues[slot].len();
                queues[slot].extend(std::iter::repeat_n(0.0, gap));
            }
        }
        if !live[0] && !live[1] && player.is_none() {
            // Nothing captured at all: keep the clock running on silence.
            let due = (started.map_or(0.0, |s| s.elapsed().as_secs_f64()) * ANALYSIS_RATE as f64)
                as usize;
            let have = (pipeline.time_s() * ANALYSIS_RATE as f64) as usize + queues[0].len();
            if due > have {
                for q in &mut queues {
                    q.extend(std::iter::repeat_n(0.0, due - have));
                }
            }
        }
        // Drift: devices deliver in bursts, so only a skew that persists over a few seconds is
        // clock drift; then the faster side's excess is skipped.
        if inputs.len() == 2 && live[0] && live[1] {
            let skew = queues[0].len() as i64 - queues[1].len() as i64;
            skews.push_back((Instant::now(), skew));
            while skews
                .front()
                .is_some_and(|(t, _)| t.elapsed() > Duration::from_secs(3))
            {
                skews.pop_front();
            }
            let window_full = skews
                .front()
                .is_some_and(|(t, _)| t.elapsed() > Duration::from_millis(2500));
            let (lo, hi) = skews.iter().fold((i64::MAX, i64::MIN), |(lo, hi), (_, s)| {
                (lo.min(*s), hi.max(*s))
            });
            let limit = (ANALYSIS_RATE / 10) as i64; // 100 ms
            let keep = (ANALYSIS_RATE / 50) as i64; // 20 ms
            let persistent = if lo > limit {
                lo - keep
            } else if hi < -limit {
                hi + keep
            } else {
                0
            };
            if window_full && persistent != 0 {
                let faster = if persistent > 0 { 0 } else { 1 };
                let cut = (persistent.unsigned_abs() as usize).min(queues[faster].len());
                queues[faster].drain(..cut);
                drift_corrections += 1;
                drift_samples += if faster == 1 {
                    cut as i64
                } else {
                    -(cut as i64)
                };
                skews.clear();
            }
        }
        // 3. Analyse what both sides have.
        let n = queues[0].len().min(queues[1].len());
        if n > 0 {
            for (b, q) in block.iter_mut().zip(queues.iter_mut()) {
                b.clear();
                b.extend(q.drain(..n));
            }
            if let (Some(w), Some(path)) = (recorder.as_mut(), &record_path) {
                let (agent, customer) = (&block[agent_slot], &block[1 - agent_slot]);
                let written = agent
                    .iter()
                    .zip(customer)
                    .flat_map(|(a, c)| [a, c])
                    .try_for_each(|&x| w.write_sample(pcm16(x)));
                if let Err(e) = written {
                    // The call goes on being analysed; the user learns at once that the
                    // recording stopped, and what is on disk so far stays a valid WAV.
                    let message = format!("recording to {} stopped: {e}", path.display());
                    if let Some(w) = recorder.take() {
                        let _ = w.finalize();
                    }
                    record_failed = Some(format!(
                        "the recording stopped at {:.1} s: {e}",
                        pipeline.time_s()
                    ));
                    let w = Event {
                        t_s: pipeline.time_s(),
                        body: EventBody::Warning { message },
                    };
                    emit(w, &mut coach, sink, &mut summary, &mut lags);
                }
            }
            let mut evs = Vec::new();
            pipeline.push(&block, n, &mut |e| evs.push(e));
            for e in evs {
                emit(e, &mut coach, sink, &mut summary, &mut lags);
            }
            for u in pipeline.take_utterances() {
                if let Some(t) = &transcriber {
                    t.submit(u);
                }
            }
        }
        if let Some(t) = &transcriber {
            let evs: Vec<Event> = t.events().try_iter().collect();
            for mut e in evs {
                // The worker stamps text with the utterance end plus its own lag; on the live
                // call clock that is when it arrived.
                e.t_s = e.t_s.max(pipeline.time_s());
                if let EventBody::Transcript(seg) = &e.body {
                    roles.add(seg, cfg);
                }
                emit(e, &mut coach, sink, &mut summary, &mut lags);
                if !sides_warned && roles.clearly_swapped() {
                    sides_warned = true;
                    let slot = |who: Speaker| usize::from(speakers[0] != who);
                    let message = roles.warning(&|who| slot_names[slot(who)].clone(), &swap_fix);
                    let t_s = pipeline.time_s();
                    let w = Event {
                        t_s,
                        body: EventBody::Warning { message },
                    };
                    emit(w, &mut coach, sink, &mut summary, &mut lags);
                }
            }
        }
        // 4. Status once a second.
        if last_status.elapsed() >= Duration::from_secs(1) {
            last_status = Instant::now();
            let dropped: u64 = inputs
                .iter()
                .filter_map(|i| i.capture.as_ref())
                .map(|c| c.health.dropped.load(Ordering::Relaxed))
                .sum();
            summary.dropped_samples = summary.dropped_samples.max(dropped);
            // Audio lost before it reaches us (server overruns) shows as a device delivering
            // less than real time.
            for input in &inputs {
                if let (Some(c), Some(_), Some((first, at_first)), true) = (
                    &input.capture,
                    started,
                    input.first_data,
                    input.last_data.elapsed() < Duration::from_millis(500),
                ) {
                    let secs = first.elapsed().as_secs_f64();
                    let got = (c.health.captured.load(Ordering::Relaxed) - at_first) as f64
                        / (c.rate as f64 * c.channels as f64);
                    if secs > 5.0 && got < 0.9 * secs && !under_warned {
                        under_warned = true;
                        sink.event(&Event {
                            t_s: pipeline.time_s(),
                            body: EventBody::Warning {
                                message: format!(
                                    "{} delivers {:.0}% of real time: audio is lost before calmline sees it; raise [live] period_ms",
                                    c.name,
                                    100.0 * got / secs
                                ),
                            },
                        });
                    }
                }
            }
            let elapsed = started.map_or(1.0, |s| s.elapsed().as_secs_f64()).max(1.0);
            summary.drift_ppm =
                (drift_samples as f64 / (elapsed * ANALYSIS_RATE as f64) * 1e6) as f32;
            let status = Status {
                devices: inputs
                    .iter()
                    .zip(&up)
                    .map(|(i, u)| DeviceStatus {
                        name: i.name.clone(),
                        carries: i.carries.clone(),
                        connected: *u,
                        delay_ms: i.delay_ms(),
                    })
                    .chain(player.as_ref().map(|p| DeviceStatus {
                        name: p.name.clone(),
                        carries: "agent+customer".into(),
                        connected: true,
                        delay_ms: None,
                    }))
                    .collect(),
                dropped_samples: summary.dropped_samples,
                drift_ppm: summary.drift_ppm,
                drift_corrections,
                transcript_lag_s: lags.last().copied(),
                transcripts_skipped: summary.transcripts_skipped,
                model: opts.model.as_ref().map(|m| m.path().display().to_string()),
                // The uplink fills in its backlog when it forwards this.
                outbox: None,
            };
            sink.event(&Event {
                t_s: pipeline.time_s(),
                body: EventBody::Status(status),
            });
        }
        if last_tick.elapsed() >= Duration::from_millis(100) {
            last_tick = Instant::now();
            sink.tick();
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    // End of call: analyse what is left, close episodes, finish transcription.
    let mut evs = Vec::new();
    pipeline.finish(&mut |e| evs.push(e));
    for e in evs {
        emit(e, &mut coach, sink, &mut summary, &mut lags);
    }
    if let Some(mut t) = transcriber.take() {
        for u in pipeline.take_utterances() {
            t.submit(u);
        }
        t.finish();
        let evs: Vec<Event> = t.events().try_iter().collect();
        for e in evs {
            emit(e, &mut coach, sink, &mut summary, &mut lags);
        }
    }
    let mut evs = Vec::new();
    coach.finish(pipeline.time_s(), &mut |e| evs.push(e));
    for e in evs {
        if let EventBody::Cue(k) = &e.body {
            *summary.cues.entry(k.kind.name().into()).or_default() += 1;
        }
        sink.event(&e);
    }
    if let (Some(w), Some(p)) = (recorder, &record_path) {
        w.finalize().map_err(|e| Error::Write {
            path: p.clone(),
            source: std::io::Error::other(e),
        })?;
    }
    if let (Some(message), Some(p)) = (record_failed, &record_path) {
        return Err(Error::Write {
            path: p.clone(),
            source: std::io::Error::other(message),
        });
    }
    summary.duration_s = (pipeline.time_s() * 100.0).round() / 100.0;
    if !lags.is_empty() {
        let mut l = lags.clone();
        l.sort_by(f32::total_cmp);
        summary.transcript_lag_p50_s = Some(l[l.len() / 2]);
        summary.transcript_lag_p95_s = Some(l[((l.len() - 1) as f32 * 0.95).round() as usize]);
    }
    sink.tick();
    Ok(summary)
}

type Recorder = hound::WavWriter<std::io::BufWriter<std::fs::File>>;

/// Create the call's recording at `wanted`, or where that exists at the first free
/// `STEM-N.EXT` beside it (N from 2): the path used and its writer.
fn create_recording(wanted: &Path) -> Result<(PathBuf, Recorder)> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: ANALYSIS_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let write_err = |path: &Path, e: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        source: e,
    };
    let stem = wanted.file_stem().unwrap_or_default().to_string_lossy();
    let ext = wanted.extension().map(|e| e.to_string_lossy());
    for n in 1..10_000 {
        let path = if n == 1 {
            wanted.to_path_buf()
        } else {
            let name = match &ext {
                Some(ext) => format!("{stem}-{n}.{ext}"),
                None => format!("{stem}-{n}"),
            };
            wanted.with_file_name(name)
        };
        // create_new: two monitors started at once cannot take the same name either.
        match std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                let w = hound::WavWriter::new(std::io::BufWriter::new(f), spec)
                    .map_err(|e| write_err(&path, std::io::Error::other(e)))?;
                return Ok((path, w));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(write_err(&path, e)),
        }
    }
    Err(write_err(
        wanted,
        std::io::Error::other("it and 9,998 numbered names beside it exist already"),
    ))
}

/// A float sample as 16-bit PCM, rounded to the nearest step: audio that came from 16-bit PCM
/// (k / 32768) is written back bit for bit, so a recording reviews as the call was analysed.
fn pcm16(x: f32) -> i16 {
    // `as` saturates, and maps NaN to 0.
    (x * 32768.0).round() as i16
}

#[cfg(test)]
mod tests {
    use super::{create_recording, pcm16};

    #[test]
    fn a_recording_never_replaces_an_earlier_one() {
        let d = tempfile::tempdir().unwrap();
        let wanted = d.path().join("call.wav");
        std::fs::write(&wanted, b"yesterday's call").unwrap();
        let (first, w) = create_recording(&wanted).unwrap();
        w.finalize().unwrap();
        let (second, _w) = create_recording(&wanted).unwrap();
        assert_eq!(first, d.path().join("call-2.wav"));
        assert_eq!(second, d.path().join("call-3.wav"));
        assert_eq!(std::fs::read(&wanted).unwrap(), b"yesterday's call");
        let fresh = d.path().join("new.wav");
        assert_eq!(create_recording(&fresh).unwrap().0, fresh);
    }

    #[test]
    fn recorded_samples_of_16_bit_audio_come_back_bit_for_bit() {
        for k in i16::MIN..=i16::MAX {
            assert_eq!(pcm16(k as f32 / 32768.0), k);
        }
        assert_eq!(pcm16(1.5), i16::MAX);
        assert_eq!(pcm16(-1.5), i16::MIN);
        assert_eq!(pcm16(f32::NAN), 0);
    }
}
