//! The one pipeline: blocks of samples per channel in, events out.
//!
//! Live capture and file review both feed [`Pipeline::push`] with whatever block sizes their
//! source delivers; the pipeline resamples to 16 kHz (8 kHz telephone recordings stay at 8 kHz),
//! cuts 10 ms hops, runs frame analysis per speaker, speaker and conversation state, and emits
//! [`Event`]s through a sink closure. After construction, pushing audio does not allocate (the
//! event sink may, for the rare events).

use crate::analysis::{Conversation, SpeakerState};
use crate::audio::{ANALYSIS_RATE, MAX_RATE, MIN_RATE, Source, StreamResampler};
use crate::config::{Config, Side};
use crate::dsp::{FrameAnalyzer, FrameFeatures, HOP, HOP_S, analysis_rate, hop_len};
use crate::error::{Error, Result};
use crate::events::{Event, EventBody, Levels, Speaker};
use crate::transcribe::{Segmenter, Utterance};

/// Which speaker each channel carries: mono is `mixed`; stereo puts the customer on `customer`.
pub fn channel_map(channels: usize, customer: Side) -> Result<Vec<Speaker>> {
    match channels {
        1 => Ok(vec![Speaker::Mixed]),
        2 => {
            let mut m = vec![Speaker::Agent; 2];
            m[customer.index()] = Speaker::Customer;
            Ok(m)
        }
        n => Err(Error::Invalid(format!(
            "{n} channels: a call is mono (both speakers mixed) or stereo (one speaker per channel)"
        ))),
    }
}

/// Per-speaker accumulation of one timeline step.
struct LevelsAcc {
    pitches: Vec<f32>,
    voiced: u32,
    active: bool,
    hops: u32,
}

/// Counts of suspicious input samples, reported as warnings.
#[derive(Default)]
struct InputGuard {
    samples: u64,
    non_finite: u64,
    out_of_range: u64,
    clipped: u64,
}

/// Largest sample magnitude passed on (+24 dBFS); float audio beyond it is damaged.
const MAX_SAMPLE: f32 = 16.0;

/// One channel's frame analysis with its buffers: owned by the pipeline, lent to the worker
/// thread in batch mode (moving it through a channel allocates nothing).
struct Lane {
    analyzer: FrameAnalyzer,
    /// The hops to analyse, copied from the queue when the lane goes to the worker.
    samples: Vec<f32>,
    feats: Vec<FrameFeatures>,
}

impl Lane {
    fn analyse(&mut self, x: &[f32]) {
        self.feats.clear();
        let hop = self.analyzer.hop_len();
        for h in x.chunks_exact(hop) {
            self.feats.push(self.analyzer.process_hop(h));
        }
    }
}

/// A thread analysing the second channel of a recording while the pipeline's own thread
/// analyses the first: the two are independent until the conversation state joins them.
struct Worker {
    /// `None` once dropping: closing the job channel ends the thread's loop.
    to: Option<crossbeam_channel::Sender<Lane>>,
    from: crossbeam_channel::Receiver<Lane>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    fn start() -> Result<Self> {
        let (to, jobs) = crossbeam_channel::bounded::<Lane>(1);
        let (done, from) = crossbeam_channel::bounded::<Lane>(1);
        let handle = std::thread::Builder::new()
            .name("calmline-channel".into())
            .spawn(move || {
                for mut lane in jobs {
                    let x = std::mem::take(&mut lane.samples);
                    lane.analyse(&x);
                    lane.samples = x;
                    if done.send(lane).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Invalid(format!("cannot start an analysis thread: {e}")))?;
        Ok(Self {
            to: Some(to),
            from,
            handle: Some(handle),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.to = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Hops analysed per batch in batch mode (10 s): waking a thread costs up to a millisecond on
/// these virtual machines, so hand-overs must be rare.
const BATCH_HOPS: usize = 1000;

/// The streaming analysis of one call.
pub struct Pipeline {
    speakers: Vec<Speaker>,
    resampler: StreamResampler,
    /// Samples per hop at the analysis rate.
    hop: usize,
    clean: Vec<Vec<f32>>,
    queues: Vec<Vec<f32>>,
    /// For transcription of audio analysed at 8 kHz: the same audio at 16 kHz, for Whisper.
    wideband: Option<(StreamResampler, Vec<Vec<f32>>)>,
    /// Per channel; `None` only while lent to the worker.
    lanes: Vec<Option<Lane>>,
    worker: Option<Worker>,
    /// Hops gathered before they are analysed: 1 live, [`BATCH_HOPS`] in batch mode.
    batch_hops: usize,
    states: Vec<SpeakerState>,
    conversation: Conversation,
    levels: Vec<LevelsAcc>,
    step_hops: u32,
    hops: u64,
    active: Vec<bool>,
    guard: InputGuard,
    input_rate: u32,
    segmenters: Vec<Segmenter>,
    utterances: Vec<Utterance>,
}

/// Largest block [`Pipeline::push`] handles without growing its buffers (about 1 s at 48 kHz).
const MAX_BLOCK: usize = 48_000;

impl Pipeline {
    /// A pipeline for a source at `input_rate` Hz whose channels carry `speakers`.
    pub fn new(cfg: &Config, speakers: Vec<Speaker>, input_rate: u32) -> Result<Self> {
        let n = speakers.len();
        if n == 0 || n > 2 {
            return Err(Error::Invalid(format!("{n} channels: expected 1 or 2")));
        }
        // The files' range: outside it a device is misreporting, and resampling from a rate
        // like 100 Hz or 399,989 Hz costs far more than the analysis.
        if !(MIN_RATE..=MAX_RATE).contains(&input_rate) {
            return Err(Error::Invalid(format!(
                "sample rate {input_rate} Hz is outside the supported {MIN_RATE}-{MAX_RATE} Hz"
            )));
        }
        let rate = analysis_rate(input_rate);
        let hop = hop_len(rate);
        let resampler = StreamResampler::new(input_rate, rate, n)?;
        let queue_cap = resampler.max_output(MAX_BLOCK) + (BATCH_HOPS + 1) * hop;
        let max_hops = queue_cap / hop + 1;
        let step_hops = (cfg.report.timeline_hop_s as f64 / HOP_S).round().max(1.0) as u32;
        Ok(Self {
            resampler,
            hop,
            clean: vec![Vec::with_capacity(MAX_BLOCK); n],
            queues: vec![Vec::with_capacity(queue_cap); n],
            wideband: None,
            lanes: (0..n)
                .map(|_| {
                    Some(Lane {
                        analyzer: FrameAnalyzer::at_rate(cfg, rate),
                        samples: Vec::with_capacity(queue_cap),
                        feats: Vec::with_capacity(max_hops),
                    })
                })
                .collect(),
            worker: None,
            batch_hops: 1,
            states: speakers
                .iter()
                .map(|&s| SpeakerState::new(s, cfg))
                .collect(),
            conversation: Conversation::new(&speakers, cfg),
            levels: (0..n)
                .map(|_| LevelsAcc {
                    pitches: Vec::with_capacity(step_hops as usize),
                    voiced: 0,
                    active: false,
                    hops: 0,
                })
                .collect(),
            step_hops,
            hops: 0,
            active: vec![false; n],
            guard: InputGuard::default(),
            speakers,
            input_rate,
            segmenters: Vec::new(),
            utterances: Vec::new(),
        })
    }

    /// Also cut each speaker's speech into utterances for transcription; collect them with
    /// [`take_utterances`](Self::take_utterances).
    pub fn with_utterances(mut self, cfg: &Config) -> Result<Self> {
        if self.hop != HOP {
            let n = self.speakers.len();
            let up = StreamResampler::new(self.input_rate, ANALYSIS_RATE, n)?;
            let cap = up.max_output(MAX_BLOCK) + (BATCH_HOPS + 1) * HOP;
            self.wideband = Some((up, vec![Vec::with_capacity(cap); n]));
        }
        self.segmenters = self
            .speakers
            .iter()
            .map(|&s| Segmenter::new(s, &cfg.transcribe))
            .collect();
        Ok(self)
    }

    /// Batch mode, for recordings: hops are analysed a second at a time, and a stereo call's
    /// second channel on a thread of its own. Events are the same as hop by hop, only emitted
    /// up to a second later.
    pub fn batched(mut self) -> Result<Self> {
        self.batch_hops = BATCH_HOPS;
        if self.speakers.len() == 2 {
            self.worker = Some(Worker::start()?);
        }
        Ok(self)
    }

    /// Utterances finished since the last call (empty unless [`with_utterances`](Self::with_utterances)).
    pub fn take_utterances(&mut self) -> Vec<Utterance> {
        std::mem::take(&mut self.utterances)
    }

    /// The speakers, in channel order.
    pub fn speakers(&self) -> &[Speaker] {
        &self.speakers
    }

    /// Call-clock time analysed so far (s).
    pub fn time_s(&self) -> f64 {
        self.hops as f64 * HOP_S
    }

    /// Current escalation score and state of each speaker, in channel order.
    pub fn escalation(&self) -> impl Iterator<Item = (Speaker, f32, bool)> + '_ {
        self.states
            .iter()
            .map(|s| (s.speaker(), s.score(), s.escalated()))
    }

    /// Analyse the first `frames` frames of `input` (one slice per channel at the input rate).
    pub fn push(&mut self, input: &[Vec<f32>], frames: usize, sink: &mut impl FnMut(Event)) {
        let mut offset = 0;
        while offset < frames {
            let take = (frames - offset).min(MAX_BLOCK);
            for (c, x) in self.clean.iter_mut().zip(input) {
                c.clear();
                // Branch-free: this runs on every input sample.
                let (mut bad, mut over, mut clip) = (0u64, 0u64, 0u64);
                c.extend(x[offset..offset + take].iter().map(|&s| {
                    let finite = s.is_finite();
                    bad += u64::from(!finite);
                    let s = if finite { s } else { 0.0 };
                    // Float files can hold absurd values; they would overflow the resampler.
                    over += u64::from(s.abs() > MAX_SAMPLE);
                    clip += u64::from(s.abs() >= 0.999);
                    s.clamp(-MAX_SAMPLE, MAX_SAMPLE)
                }));
                self.guard.non_finite += bad;
                self.guard.out_of_range += over;
                self.guard.clipped += clip;
            }
            self.guard.samples += (take * input.len()) as u64;
            self.resampler.process(&self.clean, take, &mut self.queues);
            if let Some((up, q)) = &mut self.wideband {
                up.process(&self.clean, take, q);
            }
            self.drain_hops(self.batch_hops, sink);
            offset += take;
        }
    }

    /// Frame analysis of the first `hops` hops of every channel, into each lane's `feats`.
    fn analyse(&mut self, hops: usize) {
        let n = hops * self.hop;
        // Only a stereo pipeline has a worker (see `batched`): it takes the second channel.
        let mut lent = false;
        if let (Some(Worker { to: Some(to), .. }), Some(slot)) =
            (&self.worker, self.lanes.get_mut(1))
        {
            let mut lane = slot.take().expect("lane present between batches");
            lane.samples.clear();
            lane.samples.extend_from_slice(&self.queues[1][..n]);
            match to.send(lane) {
                Ok(()) => lent = true,
                // No worker: analyse it here.
                Err(back) => *slot = Some(back.into_inner()),
            }
        }
        for (ch, lane) in self.lanes.iter_mut().enumerate() {
            if let Some(lane) = lane {
                lane.analyse(&self.queues[ch][..n]);
            }
        }
        if let (true, Some(w)) = (lent, &self.worker) {
            // The worker only ends when the pipeline drops it, and analysis does not panic.
            self.lanes[1] = Some(w.from.recv().expect("channel analysis thread"));
        }
    }

    fn drain_hops(&mut self, min_hops: usize, sink: &mut impl FnMut(Event)) {
        let hop = self.hop;
        let mut hops = self.queues.iter().map(Vec::len).min().unwrap_or(0) / hop;
        if let Some((_, q)) = &self.wideband {
            hops = hops.min(q.iter().map(Vec::len).min().unwrap_or(0) / HOP);
        }
        if hops == 0 || hops < min_hops {
            return;
        }
        self.analyse(hops);
        for h in 0..hops {
            self.hops += 1;
            let t = self.time_s();
            for ch in 0..self.speakers.len() {
                let x = &self.queues[ch][h * hop..(h + 1) * hop];
                let f = self.lanes[ch]
                    .as_ref()
                    .expect("lanes back after analysis")
                    .feats[h];
                // Whisper takes 16 kHz audio.
                let wide = match &self.wideband {
                    Some((_, q)) => &q[ch][h * HOP..(h + 1) * HOP],
                    None => x,
                };
                if let Some(seg) = self.segmenters.get_mut(ch)
                    && let Some(u) = seg.push(self.hops, wide, f.active, f.voiced())
                {
                    self.utterances.push(u);
                }
                self.active[ch] = f.active;
                self.states[ch].update(t, &f, sink);
                let acc = &mut self.levels[ch];
                if let Some(hz) = f.pitch_hz {
                    acc.pitches.push(hz);
                    acc.voiced += 1;
                }
                acc.active |= f.active;
                acc.hops += 1;
                if acc.hops == self.step_hops {
                    acc.pitches.sort_unstable_by(f32::total_cmp);
                    let voiced = acc.voiced * 2 >= acc.hops;
                    let pitch_hz = (!acc.pitches.is_empty() && voiced)
                        .then(|| acc.pitches[acc.pitches.len() / 2]);
                    sink(Event {
                        t_s: t,
                        body: EventBody::Levels(Levels {
                            speaker: self.speakers[ch],
                            loudness_db: f.loudness_db,
                            pitch_hz,
                            voiced,
                            active: acc.active,
                            escalation: self.states[ch].score(),
                            escalated: self.states[ch].escalated(),
                            over_baseline: self.states[ch].deviations(),
                        }),
                    });
                    acc.pitches.clear();
                    acc.voiced = 0;
                    acc.active = false;
                    acc.hops = 0;
                }
            }
            self.conversation.update(t, &self.active, sink);
        }
        for q in &mut self.queues {
            q.drain(..hops * hop);
        }
        if let Some((_, qs)) = &mut self.wideband {
            for q in qs {
                q.drain(..hops * HOP);
            }
        }
    }

    /// The stream ended: flush the resampler, close episodes, emit totals and warnings.
    pub fn finish(&mut self, sink: &mut impl FnMut(Event)) {
        self.resampler.flush(&mut self.queues);
        if let Some((up, q)) = &mut self.wideband {
            up.flush(q);
        }
        self.drain_hops(1, sink);
        for seg in &mut self.segmenters {
            self.utterances.extend(seg.flush());
        }
        let t = self.time_s();
        for s in &mut self.states {
            s.finish(t, sink);
        }
        self.conversation.finish(t, sink);
        let mut warn = |message: String| {
            sink(Event {
                t_s: t,
                body: EventBody::Warning { message },
            })
        };
        let g = &self.guard;
        if g.non_finite > 0 {
            warn(format!(
                "{} samples were not finite numbers (NaN or infinity) and were replaced with silence",
                g.non_finite
            ));
        }
        if g.out_of_range > 0 {
            warn(format!(
                "{} samples were far beyond full scale (damaged float audio) and were limited",
                g.out_of_range
            ));
        }
        if g.samples > 0 && g.clipped * 1000 > g.samples {
            warn(format!(
                "{:.1}% of samples are clipped at full scale: loudness is under-estimated where the \
                 recording saturates",
                100.0 * g.clipped as f64 / g.samples as f64
            ));
        }
        if self.input_rate < ANALYSIS_RATE {
            warn(if self.hop == HOP {
                format!(
                    "recorded at {} Hz (telephone band): analysed after resampling to 16 kHz",
                    self.input_rate
                )
            } else {
                format!(
                    "recorded at {} Hz (telephone band): analysed at 8 kHz",
                    self.input_rate
                )
            });
        }
    }
}

/// Frames the decoding thread of [`run_source`] gathers before handing them over (about 2 s at
/// 16 kHz): hand-overs wake a thread, so they should be rare.
const READ_AHEAD_FRAMES: usize = 32_768;

/// Run `source` through a new pipeline to the end, reporting progress as a fraction (0..1) when
/// the source knows its length. The source is decoded on a thread of its own, a block ahead of
/// the analysis: decoding is serial work, and the pipeline's own thread already has the most
/// to do (the first channel and every speaker's state, while the second channel has a thread).
pub fn run_source(
    source: &mut dyn Source,
    cfg: &Config,
    speakers: Vec<Speaker>,
    utterances: bool,
    sink: &mut impl FnMut(Event),
    progress: &mut dyn FnMut(f32),
) -> Result<Pipeline> {
    let mut p = Pipeline::new(cfg, speakers, source.sample_rate())?.batched()?;
    if utterances {
        p = p.with_utterances(cfg)?;
    }
    let channels = source.channels();
    let total = source.total_frames().filter(|&n| n > 0);
    // Two buffers go round: one being decoded into while the other is analysed.
    type Block = (Vec<Vec<f32>>, usize);
    let (full_tx, full) = crossbeam_channel::bounded::<Result<Block>>(1);
    let (empty, empty_rx) = crossbeam_channel::bounded::<Vec<Vec<f32>>>(2);
    for _ in 0..2 {
        let _ = empty.send(vec![Vec::new(); channels]);
    }
    let decoding = &mut *source;
    let read = std::thread::scope(|scope| -> Result<()> {
        let reader = std::thread::Builder::new()
            .name("calmline-decode".into())
            .spawn_scoped(scope, move || {
                let mut part = vec![Vec::new(); channels];
                // Ends when the source ends or fails, or when the analysis stops taking blocks.
                for mut buf in empty_rx.iter() {
                    buf.iter_mut().for_each(Vec::clear);
                    let mut frames = 0;
                    let outcome = loop {
                        match decoding.read(&mut part) {
                            Ok(0) => break Ok(()),
                            Ok(n) => {
                                for (b, x) in buf.iter_mut().zip(&part) {
                                    b.extend_from_slice(&x[..n]);
                                }
                                frames += n;
                                if frames >= READ_AHEAD_FRAMES {
                                    break Ok(());
                                }
                            }
                            Err(e) => break Err(e),
                        }
                    };
                    let last = frames < READ_AHEAD_FRAMES;
                    let sent = match outcome {
                        Ok(()) if frames > 0 => full_tx.send(Ok((buf, frames))),
                        Ok(()) => Ok(()),
                        Err(e) => full_tx.send(Err(e)),
                    };
                    if last || sent.is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Invalid(format!("cannot start the decoding thread: {e}")))?;
        let mut done = 0u64;
        let mut outcome = Ok(());
        for block in full.iter() {
            match block {
                Ok((buf, n)) => {
                    p.push(&buf, n, sink);
                    done += n as u64;
                    if let Some(total) = total {
                        progress((done as f64 / total as f64).min(1.0) as f32);
                    }
                    let _ = empty.send(buf);
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        // Stop the reader if it is still going (after an error), then wait for it.
        drop(full);
        drop(empty);
        let _ = reader.join();
        outcome
    });
    read?;
    for message in source.warnings() {
        sink(Event {
            t_s: p.time_s(),
            body: EventBody::Warning { message },
        });
    }
    p.finish(sink);
    Ok(p)
}

/// The per-hop features of one channel, analysed exactly as [`Pipeline`] analyses each speaker
/// (for fitting and evaluating the escalation detector without re-running the signal analysis).
pub fn analyse_channel(cfg: &Config, rate: u32, x: &[f32]) -> Result<Vec<FrameFeatures>> {
    let to = analysis_rate(rate);
    let mut rs = StreamResampler::new(rate, to, 1)?;
    let mut out = vec![Vec::with_capacity(rs.max_output(x.len()) + HOP)];
    for block in x.chunks(MAX_BLOCK) {
        rs.process(&[block.to_vec()], block.len(), &mut out);
    }
    rs.flush(&mut out);
    let mut a = FrameAnalyzer::at_rate(cfg, to);
    Ok(out[0]
        .chunks_exact(hop_len(to))
        .map(|h| a.process_hop(h))
        .collect())
}
