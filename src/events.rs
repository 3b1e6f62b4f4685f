//! The one event vocabulary shared by the live view, the hub, the store and reports.
//!
//! Every event carries `t_s` on the call clock (seconds since the start of the call) and a `type`
//! tag when serialised, so a JSON-lines stream of these is self-describing.

use serde::{Deserialize, Serialize};

/// Who is speaking on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The call-centre agent (the person running calmline).
    Agent,
    /// The caller.
    Customer,
    /// Both parties mixed in one channel: no speaker separation.
    Mixed,
}

impl Speaker {
    /// Lower-case name used in files and UIs.
    pub fn name(self) -> &'static str {
        match self {
            Speaker::Agent => "agent",
            Speaker::Customer => "customer",
            Speaker::Mixed => "mixed",
        }
    }
}

impl std::fmt::Display for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One event on the call clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the start of the call at which the event was known.
    pub t_s: f64,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

/// The kinds of event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventBody {
    /// A speaker's levels over the last timeline step (meters, plots, the timeline arrays).
    Levels(Levels),
    /// A speaker's baseline became usable (or was finalised at the end of warm-up).
    Baseline {
        /// Whose baseline.
        speaker: Speaker,
        /// The values.
        baseline: BaselineValues,
    },
    /// A speaker's escalation episode began (`t_s` is when it was confirmed).
    EpisodeStart {
        /// Who escalated.
        speaker: Speaker,
        /// When the score first crossed the start threshold.
        start_s: f64,
        /// Deviations over baseline at the moment of confirmation.
        evidence: Evidence,
    },
    /// A speaker's escalation episode ended.
    EpisodeEnd(Episode),
    /// Both speakers talked at once for a while.
    Overlap {
        /// Start of the overlap.
        start_s: f64,
        /// End of the overlap.
        end_s: f64,
    },
    /// One speaker cut in while the other was mid-utterance and kept talking.
    Interruption {
        /// Who cut in.
        by: Speaker,
        /// Who was cut off.
        of: Speaker,
        /// When the interrupter started.
        start_s: f64,
    },
    /// Nobody spoke for a while (dead air).
    Silence {
        /// Start of the silence.
        start_s: f64,
        /// End of the silence.
        end_s: f64,
    },
    /// A speaker's totals for the call so far (sent when the call or recording ends).
    SpeakerSummary(SpeakerSummary),
    /// The conversation's totals (sent when the call or recording ends).
    ConversationSummary(ConversationSummary),
    /// A speaker's words, with their timing.
    Transcript(TranscriptSegment),
    /// An utterance that was not transcribed, and why (the recogniser fell behind, or failed).
    TranscriptSkipped {
        /// Whose speech.
        speaker: Speaker,
        /// Start of the skipped utterance.
        start_s: f64,
        /// End of the skipped utterance.
        end_s: f64,
        /// Why.
        reason: String,
    },
    /// Something about the input a reader of the results should know.
    Warning {
        /// Plain-language description.
        message: String,
    },
}

/// Per-speaker measurements over one timeline step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    /// Whose levels.
    pub speaker: Speaker,
    /// K-weighted loudness over the last 400 ms (LUFS, i.e. dB relative to full scale).
    pub loudness_db: f32,
    /// Median fundamental frequency of the voiced frames in the step; `None` when unvoiced.
    pub pitch_hz: Option<f32>,
    /// At least half the step was voiced speech.
    pub voiced: bool,
    /// Any frame in the step was speech (voice activity).
    pub active: bool,
    /// Escalation score (0 = at baseline, 1 = the default start threshold).
    pub escalation: f32,
    /// Inside an escalation episode.
    pub escalated: bool,
}

/// A speaker's baseline: medians of their early, calm speech.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaselineValues {
    /// Median K-weighted level of voiced 10 ms frames (dB).
    pub loudness_db: f32,
    /// Median pitch (Hz).
    pub pitch_hz: f32,
    /// Median spectral tilt, energy 1-3.4 kHz over 60 Hz-1 kHz (dB).
    pub tilt_db: f32,
    /// Median speaking pace (syllables per second of speech).
    pub pace_sps: f32,
    /// Seconds of voiced speech the baseline was learnt from.
    pub voiced_s: f32,
}

/// How far a speaker is from their own baseline, and the sentence that says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Loudness over baseline (dB).
    pub loudness_db: f32,
    /// Pitch over baseline (semitones).
    pub pitch_st: f32,
    /// Spectral tilt over baseline (dB; positive = harsher, more vocal effort).
    pub tilt_db: f32,
    /// Pace over baseline (percent; positive = faster).
    pub pace_pct: f32,
    /// Over how many seconds the figures were measured.
    pub duration_s: f32,
    /// The figures in one readable sentence.
    pub sentence: String,
}

/// A finished escalation episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Who escalated.
    pub speaker: Speaker,
    /// When the score first crossed the start threshold.
    pub start_s: f64,
    /// When the score fell below the end threshold for good (or the call ended).
    pub end_s: f64,
    /// Highest score during the episode.
    pub peak: f32,
    /// Call-clock time of the peak.
    pub peak_s: f64,
    /// How it ended.
    pub ended_by: EpisodeEnd,
    /// Mean deviations over baseline during the episode's voiced speech.
    pub evidence: Evidence,
}

/// A transcribed stretch of one speaker's speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSegment {
    /// Who said it.
    pub speaker: Speaker,
    /// Start on the call clock (s).
    pub start_s: f64,
    /// End on the call clock (s).
    pub end_s: f64,
    /// The words as text.
    pub text: String,
    /// Word timings (from whisper's token timestamps: approximate).
    pub words: Vec<Word>,
    /// Mean log-probability of the tokens (confidence; closer to 0 is surer).
    pub avg_logprob: f32,
    /// Whisper's probability that the audio held no speech.
    pub no_speech_prob: f32,
}

/// One word with its timing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    /// The word (with attached punctuation).
    pub word: String,
    /// Start on the call clock (s).
    pub start_s: f64,
    /// End on the call clock (s).
    pub end_s: f64,
    /// Lowest token probability in the word.
    pub p: f32,
}

/// One speaker's totals over a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerSummary {
    /// Whose totals.
    pub speaker: Speaker,
    /// Seconds of speech (voice activity).
    pub talk_s: f32,
    /// Seconds of voiced speech (with a pitch).
    pub voiced_s: f32,
    /// Median K-weighted level of voiced speech (dB).
    pub loudness_median_db: Option<f32>,
    /// 90th percentile of that level (dB): how loud the loud parts were.
    pub loudness_p90_db: Option<f32>,
    /// Median pitch (Hz).
    pub pitch_median_hz: Option<f32>,
    /// Pitch range, 10th to 90th percentile (semitones).
    pub pitch_range_st: Option<f32>,
    /// Median pace (syllables per second of speech).
    pub pace_median_sps: Option<f32>,
    /// The baseline escalation was measured against, when one was learnt.
    pub baseline: Option<BaselineValues>,
    /// Number of escalation episodes.
    pub episodes: u32,
    /// Seconds spent escalated.
    pub escalated_s: f32,
    /// Highest escalation score reached.
    pub peak_escalation: f32,
}

/// The conversation's totals over a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// Call duration (s).
    pub duration_s: f64,
    /// Agent talk time over total talk time (0..1); `None` without speaker separation.
    pub talk_ratio_agent: Option<f32>,
    /// Seconds when both spoke at once.
    pub overlap_s: f32,
    /// Interruptions by the agent.
    pub agent_interruptions: u32,
    /// Interruptions by the customer.
    pub customer_interruptions: u32,
    /// Longest dead air (s).
    pub longest_silence_s: f32,
    /// Total dead air (s).
    pub silence_s: f32,
    /// Longest stretch one speaker held the floor.
    pub longest_monologue: Option<Monologue>,
}

/// A stretch where one speaker held the floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monologue {
    /// Who.
    pub speaker: Speaker,
    /// Start (s).
    pub start_s: f64,
    /// End (s).
    pub end_s: f64,
}

/// How an escalation episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeEnd {
    /// The speaker came back toward their baseline (de-escalation: the outcome we want).
    Calmed,
    /// The speaker stopped talking for a long time.
    WentQuiet,
    /// The call (or recording) ended while still escalated.
    CallEnded,
}

impl Evidence {
    /// Evidence from deviations over baseline, with its sentence, e.g.
    /// "customer +9.2 dB, +3.1 semitones over baseline for 6.4 s".
    pub fn new(
        speaker: Speaker,
        loudness_db: f32,
        pitch_st: f32,
        tilt_db: f32,
        pace_pct: f32,
        duration_s: f32,
    ) -> Self {
        let mut parts = vec![
            format!("{loudness_db:+.1} dB"),
            format!("{pitch_st:+.1} semitones"),
        ];
        // Tilt and pace are mentioned when they add to the picture.
        if tilt_db.abs() >= 2.0 {
            parts.push(format!("{tilt_db:+.1} dB spectral tilt"));
        }
        if pace_pct.abs() >= 10.0 {
            parts.push(format!("{pace_pct:+.0}% pace"));
        }
        let sentence = format!(
            "{speaker} {} over baseline for {duration_s:.1} s",
            parts.join(", ")
        );
        Self {
            loudness_db,
            pitch_st,
            tilt_db,
            pace_pct,
            duration_s,
            sentence,
        }
    }
}
