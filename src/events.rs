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
    /// The other party (`Mixed` stays `Mixed`).
    pub fn other(self) -> Speaker {
        match self {
            Speaker::Agent => Speaker::Customer,
            Speaker::Customer => Speaker::Agent,
            Speaker::Mixed => Speaker::Mixed,
        }
    }

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
    /// A speaker's voice moved well over their baseline; an episode may follow (`t_s` is when
    /// it was seen). The first signal of escalation, within a fraction of a second; provisional,
    /// so it starts no cue, alert or episode, and comes at most once per turn.
    Rising {
        /// Whose voice.
        speaker: Speaker,
        /// When the score first crossed the rise threshold.
        start_s: f64,
        /// Deviations over baseline at that moment.
        evidence: Evidence,
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
    /// Something said that matters for coaching (an acknowledgement, a bare apology, a request
    /// for a manager, the customer's name, ...), found in the transcript.
    Phrase(PhraseEvent),
    /// Coaching for the agent (on the agent's screen only).
    Cue(Cue),
    /// A floor alert for supervisors (customer-side evidence only, unless configured).
    Alert(Alert),
    /// Live capture health, about once a second.
    Status(Status),
    /// Something about the input a reader of the results should know.
    Warning {
        /// Plain-language description.
        message: String,
    },
    /// A live call began (the first event a monitor sends its hub).
    CallStart {
        /// The agent on the call, as the monitor names them.
        agent: String,
    },
    /// A live call ended.
    CallEnd {
        /// Its length (s).
        duration_s: f64,
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
    /// Smoothed deviations over the speaker's baseline, once a baseline is known.
    pub over_baseline: Option<Deviations>,
}

/// How far a speaker currently is from their baseline (smoothed over their recent speech).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Deviations {
    /// Loudness (dB).
    pub loudness_db: f32,
    /// Pitch (semitones).
    pub pitch_st: f32,
    /// Spectral tilt (dB).
    pub tilt_db: f32,
    /// Pace (percent).
    pub pace_pct: f32,
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
    /// How uncertain the loudness median still is (dB, one standard error); the score's dead
    /// zone is widened by `[baseline] uncertainty_z` times this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loudness_uncertainty_db: Option<f32>,
    /// The same for pitch (semitones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitch_uncertainty_st: Option<f32>,
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
    /// When a rougher voice was part of what confirmed the episode: the percent of the turn's
    /// speech that was clearly voiced, and of the speaker's calm turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_voiced_pct: Option<f32>,
    /// See `clear_voiced_pct`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calm_clear_voiced_pct: Option<f32>,
    /// When a restless pitch was part of what confirmed the episode: how fast the turn's pitch
    /// moved (semitones per second between consecutive voiced 10 ms steps), and in the
    /// speaker's calm turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pitch_motion_st_s: Option<f32>,
    /// See `pitch_motion_st_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calm_pitch_motion_st_s: Option<f32>,
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
    /// Present when the recogniser's first decode failed a guard and it decoded again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// Extra copies of a phrase repeated back to back, more than the audio could hold, were
    /// removed from this segment's text (the recogniser looped and no fallback decode fixed it).
    #[serde(default)]
    pub repaired: bool,
}

impl TranscriptSegment {
    /// A segment known only by its text (no word timings, a confident decode): for tools and
    /// tests that write transcripts by hand.
    pub fn from_text(speaker: Speaker, start_s: f64, end_s: f64, text: &str) -> Self {
        TranscriptSegment {
            speaker,
            start_s,
            end_s,
            text: text.into(),
            words: Vec::new(),
            avg_logprob: -0.2,
            no_speech_prob: 0.0,
            fallback: None,
            repaired: false,
        }
    }
}

/// Why and how a segment was decoded again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fallback {
    /// What was wrong with the first decode ("a 6-word phrase repeated 4.5 times back to back").
    pub reason: String,
    /// Decodes made in all, the first included.
    pub decodes: u32,
    /// The decode kept ("greedy, 12.2 s context").
    pub kept: String,
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
            clear_voiced_pct: None,
            calm_clear_voiced_pct: None,
            pitch_motion_st_s: None,
            calm_pitch_motion_st_s: None,
        }
    }

    /// The same evidence naming a rougher voice too: `pct` of the turn's speech clearly voiced
    /// against `calm_pct` of the speaker's calm turns.
    pub fn with_clear_voicing(mut self, pct: f32, calm_pct: f32) -> Self {
        let (pct, calm_pct) = (pct.round(), calm_pct.round());
        self.sentence.push_str(&format!(
            "; a rougher voice, {pct:.0}% clearly voiced against {calm_pct:.0}% when calm"
        ));
        self.clear_voiced_pct = Some(pct);
        self.calm_clear_voiced_pct = Some(calm_pct);
        self
    }

    /// The same evidence naming a restless pitch too: moving `st_s` semitones a second against
    /// `calm_st_s` in the speaker's calm turns.
    pub fn with_pitch_motion(mut self, st_s: f32, calm_st_s: f32) -> Self {
        let (st_s, calm_st_s) = (st_s.round(), calm_st_s.round());
        self.sentence.push_str(&format!(
            "; a restless pitch, moving {st_s:.0} semitones a second against {calm_st_s:.0} when calm"
        ));
        self.pitch_motion_st_s = Some(st_s);
        self.calm_pitch_motion_st_s = Some(calm_st_s);
        self
    }
}

/// What a [`PhraseEvent`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhraseKind {
    /// "I can see why this is frustrating".
    Acknowledgement,
    /// "Sorry" with nothing said about what for.
    BareApology,
    /// "I apologise for the delay with your order".
    SpecificApology,
    /// "I will", "let me": a next step.
    Ownership,
    /// "That's not our fault", "as I already said".
    Blame,
    /// "Thank you".
    Thanks,
    /// "I want to speak to a manager".
    ManagerRequest,
    /// "I'll cancel", "I'll complain".
    Threat,
    /// "Ridiculous", "unacceptable", "third time".
    EscalationWords,
    /// Profanity or insults.
    Profanity,
    /// "Bye", "that's all".
    Closing,
    /// The customer said their name (`detail`).
    NameGiven,
    /// The agent used the customer's name.
    NameUsed,
    /// The agent repeated a near-identical sentence (`detail`: the earlier time).
    RepeatedLine,
}

/// A phrase found in what someone said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhraseEvent {
    /// Who said it.
    pub speaker: Speaker,
    /// What kind of phrase.
    pub kind: PhraseKind,
    /// Start of the transcript segment it was found in.
    pub start_s: f64,
    /// End of that segment.
    pub end_s: f64,
    /// The matched words.
    pub text: String,
    /// Extra: the name, or the time of the earlier sentence for a repeat.
    pub detail: Option<String>,
}

/// The playbook's agent cues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CueKind {
    /// The agent talked over the customer.
    LetThemFinish,
    /// The agent's voice rises with the customer's (mirroring).
    LowerVoice,
    /// The agent speeds up while the customer is escalated.
    SlowDown,
    /// Escalation started and feelings were not acknowledged.
    Acknowledge,
    /// Several bare "sorry"s.
    SpecificApology,
    /// Long escalation and no next step stated.
    TakeOwnership,
    /// The customer asked for someone else.
    OfferHelp,
    /// The agent repeats themselves.
    VaryResponse,
    /// The customer's name is known but unused.
    UseName,
    /// Blaming or arguing phrases.
    NoBlame,
    /// Dead air.
    ExplainSilence,
    /// No thanks near the end.
    Thank,
}

impl CueKind {
    /// Every cue kind.
    pub const ALL: [CueKind; 12] = [
        CueKind::LetThemFinish,
        CueKind::LowerVoice,
        CueKind::SlowDown,
        CueKind::Acknowledge,
        CueKind::SpecificApology,
        CueKind::TakeOwnership,
        CueKind::OfferHelp,
        CueKind::VaryResponse,
        CueKind::UseName,
        CueKind::NoBlame,
        CueKind::ExplainSilence,
        CueKind::Thank,
    ];

    /// The playbook's (and the configuration's) name.
    pub fn name(self) -> &'static str {
        match self {
            CueKind::LetThemFinish => "let_them_finish",
            CueKind::LowerVoice => "lower_voice",
            CueKind::SlowDown => "slow_down",
            CueKind::Acknowledge => "acknowledge",
            CueKind::SpecificApology => "specific_apology",
            CueKind::TakeOwnership => "take_ownership",
            CueKind::OfferHelp => "offer_help",
            CueKind::VaryResponse => "vary_response",
            CueKind::UseName => "use_name",
            CueKind::NoBlame => "no_blame",
            CueKind::ExplainSilence => "explain_silence",
            CueKind::Thank => "thank",
        }
    }
}

/// The evidence behind a cue or alert: numbers, the moments they come from, and a sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Because {
    /// The figures, by name (e.g. `customer_loudness_db`).
    pub figures: std::collections::BTreeMap<String, f64>,
    /// Call-clock times of the moments that produced it.
    pub moments: Vec<f64>,
    /// The reason in one sentence.
    pub sentence: String,
}

/// A coaching cue for the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    /// Which cue.
    pub kind: CueKind,
    /// What to do, in one glance.
    pub headline: String,
    /// An example phrase, when the cue has them.
    pub example: Option<String>,
    /// 1 is the highest.
    pub priority: u8,
    /// Why it fired.
    pub evidence: Because,
}

/// The playbook's supervisor alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The customer has been escalated for a while, or repeatedly.
    EscalatedCall,
    /// The customer asked for a manager or supervisor.
    ManagerRequest,
    /// Profanity or insults from the caller: the agent deserves support.
    AbusiveCaller,
    /// Still escalated after a long time.
    NotResolving,
    /// Silence on both sides for a long time.
    LongHold,
    /// Raised by the hub: a monitor stopped delivering audio or events mid-call, so the call is
    /// no longer analysed.
    StationSilent,
}

impl AlertKind {
    /// The playbook's name.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::EscalatedCall => "escalated_call",
            AlertKind::ManagerRequest => "manager_request",
            AlertKind::AbusiveCaller => "abusive_caller",
            AlertKind::NotResolving => "not_resolving",
            AlertKind::LongHold => "long_hold",
            AlertKind::StationSilent => "station_silent",
        }
    }

    /// Every kind, in the playbook's order.
    pub const ALL: [AlertKind; 6] = [
        AlertKind::EscalatedCall,
        AlertKind::ManagerRequest,
        AlertKind::AbusiveCaller,
        AlertKind::NotResolving,
        AlertKind::LongHold,
        AlertKind::StationSilent,
    ];
}

/// A floor alert for supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Which alert.
    pub kind: AlertKind,
    /// One line for the floor view.
    pub headline: String,
    /// 1 is the most urgent.
    pub priority: u8,
    /// Customer-side evidence.
    pub evidence: Because,
    /// What the customer said around then (redacted like every transcript).
    pub snippet: Option<String>,
    /// Agent-side figures: only when `[alerts] share_agent_metrics` is enabled.
    pub agent: Option<std::collections::BTreeMap<String, f64>>,
}

/// Live capture health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The devices captured, and whether each is delivering audio.
    pub devices: Vec<DeviceStatus>,
    /// Samples dropped since the start because the analysis fell behind the devices.
    pub dropped_samples: u64,
    /// Clock drift between two devices (parts per million; 0 with one device).
    pub drift_ppm: f32,
    /// Drift corrections made so far (each skips a few ms of the faster device).
    pub drift_corrections: u32,
    /// Latest lag from the end of an utterance to its text (s).
    pub transcript_lag_s: Option<f32>,
    /// Utterances not transcribed because the recogniser was behind.
    pub transcripts_skipped: u32,
    /// The model used for transcription, if any.
    pub model: Option<String>,
    /// Events waiting in the monitor's outbox for the hub (set by the uplink).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<u64>,
}

/// One capture device's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// Device name.
    pub name: String,
    /// Whose voice it carries ("agent", "customer", or "agent+customer").
    pub carries: String,
    /// Delivering audio now.
    pub connected: bool,
    /// How long audio waits in the device and sound server before calmline gets it (ms), as
    /// the host reports it.
    #[serde(default)]
    pub delay_ms: Option<f32>,
}

/// One event of one live call on its way from a monitor to the hub. `id` is unique per event
/// (the call's id and the event's number in it), so the hub can acknowledge exactly what it has
/// stored and ignore what it already has when the monitor sends it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// `CALL/SEQ`.
    pub id: String,
    /// The call (chosen by the monitor when the call starts).
    pub call: String,
    /// The event's number within the call, from 0.
    pub seq: u64,
    /// Wall-clock time the monitor emitted it (ms since the Unix epoch).
    pub sent_ms: i64,
    /// The event.
    pub event: Event,
}
