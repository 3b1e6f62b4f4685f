//! Reviews: the `calmline.review/1` JSON document, its HTML rendering and the folder CSV.
//!
//! A [`Review`] is built only from pipeline [`Event`]s, so a review shows exactly what the live
//! view would have shown for the same audio.

pub mod csv;
pub mod html;
pub mod index;
pub mod scorecard;
pub mod vtt;
pub mod write;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::events::{
    Alert, ConversationSummary, Cue, Episode, Event, EventBody, PhraseEvent, Speaker,
    SpeakerSummary, TranscriptSegment,
};
pub use crate::language::roles::SIDES_SWAPPED;
pub use scorecard::Scorecard;

/// Schema identifier written into every review.
pub const SCHEMA: &str = "calmline.review/1";

/// One reviewed call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The reviewed file, as given.
    pub file: String,
    /// Duration analysed (s).
    pub duration_s: f64,
    /// Sample rate of the file (Hz); analysis runs at 16 kHz.
    pub sample_rate: u32,
    /// Which channel is which speaker.
    pub channels: Vec<ChannelInfo>,
    /// The escalation score thresholds the episodes were cut with.
    pub thresholds: Thresholds,
    /// False for mono recordings: both parties in one channel, analysed as `mixed`.
    pub speaker_separation: bool,
    /// For a mono call split into speakers by voice: what diarisation decided (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diarisation: Option<DiarisationReport>,
    /// Per speaker: baseline, talk time, summary statistics.
    pub speakers: BTreeMap<Speaker, SpeakerSummary>,
    /// Per-speaker arrays at `hop_s` steps.
    pub timeline: Timeline,
    /// Escalation episodes of all speakers, in time order.
    pub episodes: Vec<Episode>,
    /// Overlaps, interruptions, silences and totals.
    pub conversation: ConversationReport,
    /// What each speaker said, in time order; `null` when the call was not transcribed.
    pub transcript: Option<Vec<TranscriptSegment>>,
    /// Coaching cues the agent would have seen, with why.
    pub cues: Vec<TimedCue>,
    /// Supervisor alerts the call would have raised.
    pub alerts: Vec<TimedAlert>,
    /// Phrases found in the transcript (acknowledgements, apologies, requests, ...).
    pub phrases: Vec<PhraseEvent>,
    /// The customer's name from the call's details (`--customer-name`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// The agent's name from the call's details (`--agent`, the `agent` column of
    /// `--call-details`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// What the review was made with besides the recording ([`crate::review::settings_id`]):
    /// `review --skip-reviewed` keeps a report only when this matches today's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// The QA scorecard, every item with the moments that produced it.
    pub scorecard: Scorecard,
    /// Things a reader should know about the input or the analysis.
    pub warnings: Vec<String>,
    /// Non-fatal failures of parts of the analysis.
    pub errors: Vec<String>,
}

/// What diarisation decided for a mono call, as written into the review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiarisationReport {
    /// Always "diarisation": the speakers were separated by voice, not by channel.
    pub method: String,
    /// Voices found (the call is split when there are two or more).
    pub speakers_found: usize,
    /// What picked the agent: "enrolled voice", or the `[diarise] agent` rule ("first to
    /// speak", "second to speak").
    pub agent_decided_by: String,
    /// The enrolled agent whose voice matched, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// Which voice (0 = first to speak) was taken for the agent.
    pub agent_voice: usize,
    /// How sure the role decision is, 0.5 (a guess) to 1. By speaking order: the first
    /// speaker's lead before the other started, 2 s or more counting as certain. By voice:
    /// 0.5 plus the matched voice's similarity margin over the other voice.
    pub role_confidence: f32,
    /// Seconds each role spoke, as diarised: [agent, customer].
    pub speech_s: [f64; 2],
    /// Seconds in which both spoke at once.
    pub overlap_s: f64,
}

/// A cue with the call-clock time it was shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedCue {
    /// When.
    pub t_s: f64,
    /// The cue.
    #[serde(flatten)]
    pub cue: Cue,
}

/// An alert with the call-clock time it was raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedAlert {
    /// When.
    pub t_s: f64,
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
}

/// Escalation score thresholds (from the configuration used).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Thresholds {
    /// An episode starts when the score holds at or above this.
    pub start: f32,
    /// An episode ends when the score holds below this.
    pub end: f32,
}

/// One input channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// 0-based channel index in the file.
    pub index: usize,
    /// "left", "right", "mono", or "diarised" (a mono file split into speakers by voice).
    pub position: String,
    /// Who speaks on it.
    pub speaker: Speaker,
}

/// Per-speaker timeline arrays, all the same length.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeline {
    /// Seconds between entries.
    pub hop_s: f32,
    /// Arrays per speaker.
    #[serde(flatten)]
    pub speakers: BTreeMap<Speaker, Track>,
}

/// One speaker's timeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Track {
    /// K-weighted momentary loudness (LUFS).
    pub loudness_db: Vec<f32>,
    /// Median pitch of the step, null when unvoiced.
    pub pitch_hz: Vec<Option<f32>>,
    /// The step was mostly voiced speech.
    pub voiced: Vec<bool>,
    /// Escalation score.
    pub escalation: Vec<f32>,
    /// Inside an escalation episode.
    pub escalated: Vec<bool>,
}

/// Conversation facts with the moments that produced them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationReport {
    /// Totals.
    #[serde(flatten)]
    pub summary: ConversationSummary,
    /// Stretches of both talking at once.
    pub overlaps: Vec<Span>,
    /// Who cut in on whom, and when.
    pub interruptions: Vec<Interruption>,
    /// Dead air.
    pub silences: Vec<Span>,
}

/// A time span (s).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Start (s).
    pub start_s: f64,
    /// End (s).
    pub end_s: f64,
}

/// One interruption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    /// When the interrupter started (s).
    pub start_s: f64,
    /// Who cut in.
    pub by: Speaker,
    /// Who was cut off.
    pub of: Speaker,
}

fn round(x: f32, step: f32) -> f32 {
    (x / step).round() * step
}

fn round_t(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Collects pipeline events into a [`Review`].
pub struct ReviewBuilder {
    review: Review,
    summary: Option<ConversationSummary>,
}

impl ReviewBuilder {
    /// A builder for `file` at `sample_rate` whose channels carry `speakers`.
    pub fn new(file: &str, sample_rate: u32, speakers: &[Speaker], cfg: &Config) -> Self {
        let hop_s = cfg.report.timeline_hop_s;
        let mono = speakers.len() == 1;
        let channels = speakers
            .iter()
            .enumerate()
            .map(|(index, &speaker)| ChannelInfo {
                index,
                position: match (mono, index) {
                    (true, _) => "mono",
                    (false, 0) => "left",
                    _ => "right",
                }
                .into(),
                speaker,
            })
            .collect();
        let mut warnings = Vec::new();
        if mono {
            warnings.push(
                "mono recording: speaker separation unavailable, both parties analysed together \
                 as `mixed` (no talk ratio, overlaps or interruptions)"
                    .into(),
            );
        }
        Self {
            review: Review {
                schema: SCHEMA.into(),
                file: file.into(),
                duration_s: 0.0,
                sample_rate,
                channels,
                thresholds: Thresholds {
                    start: cfg.escalation.start,
                    end: cfg.escalation.end,
                },
                speaker_separation: !mono,
                diarisation: None,
                speakers: BTreeMap::new(),
                timeline: Timeline {
                    hop_s,
                    speakers: speakers.iter().map(|&s| (s, Track::default())).collect(),
                },
                episodes: Vec::new(),
                conversation: ConversationReport {
                    summary: ConversationSummary {
                        duration_s: 0.0,
                        talk_ratio_agent: None,
                        overlap_s: 0.0,
                        agent_interruptions: 0,
                        customer_interruptions: 0,
                        longest_silence_s: 0.0,
                        silence_s: 0.0,
                        longest_monologue: None,
                    },
                    overlaps: Vec::new(),
                    interruptions: Vec::new(),
                    silences: Vec::new(),
                },
                transcript: None,
                cues: Vec::new(),
                alerts: Vec::new(),
                phrases: Vec::new(),
                customer_name: None,
                agent_name: None,
                settings: None,
                scorecard: Scorecard::default(),
                warnings,
                errors: Vec::new(),
            },
            summary: None,
        }
    }

    /// Take one event into the review.
    pub fn on_event(&mut self, e: &Event) {
        let r = &mut self.review;
        match &e.body {
            EventBody::Levels(l) => {
                let t = r.timeline.speakers.entry(l.speaker).or_default();
                t.loudness_db.push(round(l.loudness_db, 0.1));
                t.pitch_hz.push(l.pitch_hz.map(|p| round(p, 0.1)));
                t.voiced.push(l.voiced);
                t.escalation.push(round(l.escalation, 0.01));
                t.escalated.push(l.escalated);
            }
            EventBody::EpisodeEnd(ep) => {
                let mut ep = ep.clone();
                ep.start_s = round_t(ep.start_s);
                ep.end_s = round_t(ep.end_s);
                ep.peak_s = round_t(ep.peak_s);
                ep.peak = round(ep.peak, 0.01);
                r.episodes.push(ep);
            }
            EventBody::Overlap { start_s, end_s } => r.conversation.overlaps.push(Span {
                start_s: round_t(*start_s),
                end_s: round_t(*end_s),
            }),
            EventBody::Silence { start_s, end_s } => r.conversation.silences.push(Span {
                start_s: round_t(*start_s),
                end_s: round_t(*end_s),
            }),
            EventBody::Interruption { by, of, start_s } => {
                r.conversation.interruptions.push(Interruption {
                    start_s: round_t(*start_s),
                    by: *by,
                    of: *of,
                })
            }
            EventBody::SpeakerSummary(s) => {
                r.speakers.insert(s.speaker, s.clone());
            }
            EventBody::ConversationSummary(s) => self.summary = Some(s.clone()),
            EventBody::Warning { message } => r.warnings.push(message.clone()),
            // Live-call bookkeeping for the hub; a report has its own duration.
            EventBody::CallStart { .. } | EventBody::CallEnd { .. } => {}
            EventBody::EpisodeStart {
                speaker, start_s, ..
            } => {
                // The episode is dated from when the score crossed the threshold; the steps
                // between that and the confirmation belong to it too.
                let hop = r.timeline.hop_s as f64;
                if let Some(t) = r.timeline.speakers.get_mut(speaker) {
                    for (i, e) in t.escalated.iter_mut().enumerate() {
                        if (i + 1) as f64 * hop > *start_s + 1e-9 {
                            *e = true;
                        }
                    }
                }
            }
            EventBody::Transcript(seg) => {
                r.transcript.get_or_insert_with(Vec::new).push(seg.clone())
            }
            EventBody::TranscriptSkipped {
                speaker,
                start_s,
                end_s,
                reason,
            } => r.errors.push(format!(
                "{speaker} {start_s:.1}-{end_s:.1} s not transcribed: {reason}"
            )),
            // A report shows confirmed episodes; the live first signal is the agent's.
            EventBody::Baseline { .. } | EventBody::Status(_) | EventBody::Rising { .. } => {}
            EventBody::Phrase(p) => r.phrases.push(p.clone()),
            EventBody::Cue(c) => r.cues.push(TimedCue {
                t_s: round_t(e.t_s),
                cue: c.clone(),
            }),
            EventBody::Alert(a) => r.alerts.push(TimedAlert {
                t_s: round_t(e.t_s),
                alert: a.clone(),
            }),
        }
    }

    /// The call was transcribed (an empty transcript then means nothing intelligible was said).
    pub fn transcribed(&mut self) {
        self.review.transcript.get_or_insert_with(Vec::new);
    }

    /// The customer's name as the call's details give it.
    pub fn customer_name(&mut self, name: &str) {
        self.review.customer_name = Some(name.trim().to_string()).filter(|n| !n.is_empty());
    }

    /// The agent's name as the call's details give it.
    pub fn agent_name(&mut self, name: &str) {
        self.review.agent_name = Some(name.trim().to_string()).filter(|n| !n.is_empty());
    }

    /// The file was mono and its speakers were separated by voice: the channels are the
    /// diarised speakers, not the file's channels.
    pub fn diarised(&mut self, report: DiarisationReport) {
        for c in &mut self.review.channels {
            c.position = "diarised".into();
        }
        self.review.diarisation = Some(report);
    }

    /// Add a warning about the input.
    pub fn warn(&mut self, message: String) {
        self.review.warnings.push(message);
    }

    /// Record a non-fatal error of some part of the analysis.
    pub fn error(&mut self, message: String) {
        self.review.errors.push(message);
    }

    /// The finished review.
    pub fn finish(mut self) -> Review {
        if let Some(s) = self.summary.take() {
            self.review.duration_s = round_t(s.duration_s);
            self.review.conversation.summary = s;
        }
        let r = &mut self.review;
        r.episodes.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        let talked = r.speakers.values().any(|s| s.talk_s > 0.0);
        if !talked && r.duration_s > 0.0 {
            r.warnings.push(
                "no speech was detected: the recording is silent or contains no voice".into(),
            );
        } else if r.speaker_separation {
            for s in r.speakers.values() {
                if s.talk_s == 0.0 {
                    r.warnings.push(format!(
                        "the {} channel has no speech: check which channel carries whom \
                         (--customer-channel)",
                        s.speaker
                    ));
                }
            }
        }
        if let Some(t) = r.transcript.as_mut() {
            t.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        }
        r.scorecard = scorecard::build(r);
        self.review
    }
}

impl Review {
    /// The customer's (or, in mono, the mixed speaker's) summary.
    pub fn caller(&self) -> Option<&SpeakerSummary> {
        self.speakers
            .get(&Speaker::Customer)
            .or_else(|| self.speakers.get(&Speaker::Mixed))
    }

    /// The agent's name: as the call's details give it, else the enrolled voice diarisation
    /// matched in a mono call.
    pub fn agent(&self) -> Option<&str> {
        self.agent_name
            .as_deref()
            .or_else(|| self.diarisation.as_ref()?.agent_name.as_deref())
    }

    /// One line for the terminal.
    pub fn one_line(&self) -> String {
        let c = self.caller();
        let eps = c.map_or(0, |c| c.episodes);
        let esc = c.map_or(0.0, |c| c.escalated_s);
        let ratio = self
            .conversation
            .summary
            .talk_ratio_agent
            .map_or("n/a".to_string(), |r| format!("{:.0}%", r * 100.0));
        format!(
            "{}: {:.1} s, agent talk {}, {} customer episode(s) ({:.1} s escalated), {} interruption(s), longest dead air {:.1} s{}",
            self.file,
            self.duration_s,
            ratio,
            eps,
            esc,
            self.conversation.interruptions.len(),
            self.conversation.summary.longest_silence_s,
            if self.warnings.is_empty() {
                String::new()
            } else {
                format!(", {} warning(s)", self.warnings.len())
            }
        )
    }
}
