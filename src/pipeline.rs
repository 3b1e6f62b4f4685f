//! The one pipeline: blocks of samples per channel in, events out.
//!
//! Live capture and file review both feed [`Pipeline::push`] with whatever block sizes their
//! source delivers; the pipeline resamples to 16 kHz, cuts 10 ms hops, runs frame analysis per
//! speaker, speaker and conversation state, and emits [`Event`]s through a sink closure. After
//! construction, pushing audio does not allocate (the event sink may, for the rare events).

use crate::analysis::{Conversation, SpeakerState};
use crate::audio::{ANALYSIS_RATE, Source, StreamResampler};
use crate::config::{Config, Side};
use crate::dsp::{FrameAnalyzer, FrameFeatures, HOP, HOP_S};
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

/// The streaming analysis of one call.
pub struct Pipeline {
    speakers: Vec<Speaker>,
    resampler: StreamResampler,
    clean: Vec<Vec<f32>>,
    queues: Vec<Vec<f32>>,
    analyzers: Vec<FrameAnalyzer>,
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
        let resampler = StreamResampler::new(input_rate, ANALYSIS_RATE, n)?;
        let queue_cap = resampler.max_output(MAX_BLOCK) + HOP;
        let step_hops = (cfg.report.timeline_hop_s as f64 / HOP_S).round().max(1.0) as u32;
        Ok(Self {
            resampler,
            clean: vec![Vec::with_capacity(MAX_BLOCK); n],
            queues: vec![Vec::with_capacity(queue_cap); n],
            analyzers: (0..n).map(|_| FrameAnalyzer::new(cfg)).collect(),
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
    pub fn with_utterances(mut self, cfg: &Config) -> Self {
        self.segmenters = self
            .speakers
            .iter()
            .map(|&s| Segmenter::new(s, &cfg.transcribe))
            .collect();
        self
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
                for &s in &x[offset..offset + take] {
                    let s = if !s.is_finite() {
                        self.guard.non_finite += 1;
                        0.0
                    } else if s.abs() > MAX_SAMPLE {
                        // Float files can hold absurd values; they would overflow the resampler.
                        self.guard.out_of_range += 1;
                        s.clamp(-MAX_SAMPLE, MAX_SAMPLE)
                    } else {
                        s
                    };
                    if s.abs() >= 0.999 {
                        self.guard.clipped += 1;
                    }
                    c.push(s);
                }
            }
            self.guard.samples += (take * input.len()) as u64;
            self.resampler.process(&self.clean, take, &mut self.queues);
            self.drain_hops(sink);
            offset += take;
        }
    }

    fn drain_hops(&mut self, sink: &mut impl FnMut(Event)) {
        let available = self.queues.iter().map(Vec::len).min().unwrap_or(0);
        let hops = available / HOP;
        for h in 0..hops {
            self.hops += 1;
            let t = self.time_s();
            for ch in 0..self.speakers.len() {
                let x = &self.queues[ch][h * HOP..(h + 1) * HOP];
                let f = self.analyzers[ch].process_hop(x);
                if let Some(seg) = self.segmenters.get_mut(ch)
                    && let Some(u) = seg.push(self.hops, x, f.active, f.voiced())
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
        let used = hops * HOP;
        for q in &mut self.queues {
            q.drain(..used);
        }
    }

    /// The stream ended: flush the resampler, close episodes, emit totals and warnings.
    pub fn finish(&mut self, sink: &mut impl FnMut(Event)) {
        self.resampler.flush(&mut self.queues);
        self.drain_hops(sink);
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
            warn(format!(
                "recorded at {} Hz (telephone band): analysed after resampling to 16 kHz",
                self.input_rate
            ));
        }
    }
}

/// Run `source` through a new pipeline to the end, reporting progress as a fraction (0..1) when
/// the source knows its length.
pub fn run_source(
    source: &mut dyn Source,
    cfg: &Config,
    speakers: Vec<Speaker>,
    utterances: bool,
    sink: &mut impl FnMut(Event),
    progress: &mut dyn FnMut(f32),
) -> Result<Pipeline> {
    let mut p = Pipeline::new(cfg, speakers, source.sample_rate())?;
    if utterances {
        p = p.with_utterances(cfg);
    }
    let mut block = vec![Vec::new(); source.channels()];
    let total = source.total_frames().filter(|&n| n > 0);
    let mut done = 0u64;
    loop {
        let n = source.read(&mut block)?;
        if n == 0 {
            break;
        }
        p.push(&block, n, sink);
        done += n as u64;
        if let Some(total) = total {
            progress((done as f64 / total as f64).min(1.0) as f32);
        }
    }
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
    let mut rs = StreamResampler::new(rate, ANALYSIS_RATE, 1)?;
    let mut out = vec![Vec::with_capacity(rs.max_output(x.len()) + HOP)];
    for block in x.chunks(MAX_BLOCK) {
        rs.process(&[block.to_vec()], block.len(), &mut out);
    }
    rs.flush(&mut out);
    let mut a = FrameAnalyzer::new(cfg);
    Ok(out[0].chunks_exact(HOP).map(|h| a.process_hop(h)).collect())
}
