//! Settings: the built-in `config/default.toml`, with an optional user file layered on top.
//!
//! The user file only needs the keys it changes; unknown keys are an error so typos surface.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The defaults shipped with calmline, compiled in so the binary works from any directory:
/// analysis settings, coaching rules and wording, and the English phrase lists.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
/// Coaching rules, alerts and cue wording.
pub const COACH_TOML: &str = include_str!("../config/coach.toml");
/// English phrase lists.
pub const PHRASES_EN_TOML: &str = include_str!("../config/phrases.en.toml");

/// Which side of a stereo source carries the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Channel 0.
    Left,
    /// Channel 1.
    Right,
}

impl Side {
    /// Channel index of this side in an interleaved stereo stream.
    pub fn index(self) -> usize {
        match self {
            Side::Left => 0,
            Side::Right => 1,
        }
    }
}

impl std::str::FromStr for Side {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "left" => Ok(Side::Left),
            "right" => Ok(Side::Right),
            _ => Err(Error::Invalid(format!(
                "channel must be left or right, not {s:?}"
            ))),
        }
    }
}

/// The complete configuration. Field docs are in `config/default.toml`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub channels: Channels,
    pub vad: Vad,
    pub pitch: Pitch,
    pub pace: Pace,
    pub baseline: Baseline,
    pub escalation: Escalation,
    pub conversation: Conversation,
    pub transcribe: Transcribe,
    pub report: Report,
    pub privacy: Privacy,
    pub diarise: Diarise,
    pub live: Live,
    pub coach: Coach,
    pub alerts: Alerts,
    pub hub: Hub,
    pub nats: Nats,
    pub cues: std::collections::BTreeMap<String, CueText>,
    pub language: Language,
    pub phrases: std::collections::BTreeMap<String, PhraseSet>,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Live {
    pub period_ms: u32,
    pub device: String,
    pub agent_device: String,
    pub customer_device: String,
}

/// `[hub]`: the supervisors' hub, and how monitors report to it.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hub {
    pub bind: String,
    pub db: String,
    pub retention_days: u32,
    pub silent_after_s: f64,
    pub max_batch_bytes: usize,
    pub max_event_bytes: usize,
    pub session_hours: u32,
    pub login_failures_per_name: u32,
    pub login_failures_per_address: u32,
    pub login_window_s: f64,
    pub login_lock_s: f64,
    pub login_lock_max_s: f64,
    pub url: String,
    pub level_interval_s: f64,
    pub outbox: String,
    pub ca: String,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nats {
    pub url: String,
    pub site: String,
    pub station: String,
    pub user: String,
    pub password: String,
    pub nkey_file: String,
    pub creds_file: String,
    pub consumer: String,
    pub sites: Vec<String>,
    pub job_ack_wait_s: f64,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    pub redact: bool,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coach {
    pub display_s: f32,
    pub max_per_minute: u32,
    pub cooldown_s: f32,
    pub rules: Rules,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub overlap_s: f32,
    pub agent_louder_db: f32,
    pub mirror_hold_s: f32,
    pub agent_faster: f32,
    pub agent_max_wpm: f32,
    pub acknowledge_window_s: f32,
    pub bare_sorry_count: u32,
    pub ownership_after_s: f32,
    pub name_unused_s: f32,
    pub silence_s: f32,
    pub repeat_similarity: f32,
    pub repeat_min_words: usize,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alerts {
    pub share_agent_metrics: bool,
    pub cooldown_s: f32,
    pub escalated_s: f32,
    pub repeat_episodes: u32,
    pub repeat_window_s: f32,
    pub not_resolving_s: f32,
    pub hold_s: f32,
}

/// Wording and priority of one cue kind.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CueText {
    pub priority: u8,
    pub headlines: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    /// Overrides `[coach] cooldown_s` for this kind.
    #[serde(default)]
    pub cooldown_s: Option<f32>,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Language {
    pub phrases: String,
}

/// One language's phrase lists (see config/phrases.en.toml).
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhraseSet {
    pub contractions: Vec<[String; 2]>,
    pub acknowledgement: Vec<String>,
    pub apology: Vec<String>,
    pub specific_markers: Vec<String>,
    /// Words that name nothing after an apology's marker: "sorry for the inconvenience this
    /// may have caused" is made of them only, so it stays bare.
    #[serde(default)]
    pub apology_generic_words: Vec<String>,
    pub ownership: Vec<String>,
    pub blame: Vec<String>,
    pub thanks: Vec<String>,
    pub manager_request: Vec<String>,
    pub threat: Vec<String>,
    pub escalation: Vec<String>,
    pub profanity: Vec<String>,
    /// Insults: profanity, unless said of oneself (`self_reference` just before them).
    #[serde(default)]
    pub insults: Vec<String>,
    /// What a caller says of themselves with: "I feel so stupid" insults no one.
    #[serde(default)]
    pub self_reference: Vec<String>,
    pub closing: Vec<String>,
    pub name_intro: Vec<String>,
    pub not_names: Vec<String>,
    pub digits: Vec<String>,
    /// Named word lists a phrase can refer to: `{feeling}` in a phrase stands for any entry
    /// of `slots.feeling`, after up to two other words ("that sounds {feeling}": "that sounds
    /// really frustrating", not "that sounds good").
    #[serde(default)]
    pub slots: std::collections::BTreeMap<String, Vec<String>>,
    /// Words that negate a phrase just before it in the same clause ("I do not want to
    /// cancel my account"), or in the gap before a slot's word ("I will not refund"). Empty:
    /// no negation.
    #[serde(default)]
    pub negations: Vec<String>,
    /// Words a phrase can start its own clause with ("i will cancel"): a negation before such
    /// a phrase belongs to another clause ("if you don't fix it, I will cancel").
    #[serde(default)]
    pub subjects: Vec<String>,
}

impl PhraseSet {
    /// Every list's phrases, by list name.
    fn lists(&self) -> [(&'static str, &[String]); 13] {
        [
            ("acknowledgement", &self.acknowledgement),
            ("apology", &self.apology),
            ("ownership", &self.ownership),
            ("blame", &self.blame),
            ("thanks", &self.thanks),
            ("manager_request", &self.manager_request),
            ("threat", &self.threat),
            ("escalation", &self.escalation),
            ("profanity", &self.profanity),
            ("insults", &self.insults),
            ("self_reference", &self.self_reference),
            ("closing", &self.closing),
            ("name_intro", &self.name_intro),
        ]
    }

    /// Every phrase has a word to match (an empty phrase, or one of `*` alone, would match
    /// every word of every call), and every `{slot}` it names is in `slots`, and not empty.
    fn check_slots(&self) -> std::result::Result<(), String> {
        for (list, phrases) in self.lists() {
            for phrase in phrases {
                if !phrase
                    .split_whitespace()
                    .any(|w| w != "*" && w.chars().any(char::is_alphanumeric))
                {
                    return Err(format!(
                        "{list}: \"{phrase}\" has no word to match (it would match anything)"
                    ));
                }
                let mut rest = phrase.as_str();
                while let Some(open) = rest.find('{') {
                    let Some(len) = rest[open..].find('}') else {
                        return Err(format!("{list}: \"{phrase}\" has an unclosed {{"));
                    };
                    let name = &rest[open + 1..open + len];
                    if self.slots.get(name).is_none_or(|v| v.is_empty()) {
                        return Err(format!(
                            "{list}: \"{phrase}\" names {{{name}}}, which is not a list in slots"
                        ));
                    }
                    rest = &rest[open + len + 1..];
                }
            }
        }
        Ok(())
    }
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    pub customer: Side,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diarise {
    pub enabled: bool,
    pub models: String,
    pub speakers: usize,
    pub step_s: f32,
    pub same_voice: f32,
    pub agent: AgentRule,
    pub voices: String,
    pub voice_match: f32,
    pub agent_phrases: Vec<String>,
    pub customer_phrases: Vec<String>,
}

/// How the agent is told apart from the customer in a diarised mono call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRule {
    /// The first to speak (the agent answers the call).
    First,
    /// The second to speak (outbound calls: the customer answers).
    Second,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vad {
    pub threshold: f32,
    pub min_level_dbfs: f32,
    pub floor_margin_db: f32,
    pub below_speech_db: f32,
    pub voiced_within_s: f32,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pitch {
    pub min_hz: f32,
    pub max_hz: f32,
    pub clarity: f32,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pace {
    pub peak_db: f32,
    pub window_s: f32,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub min_voiced_s: f32,
    pub warmup_voiced_s: f32,
    pub drift_per_s: f32,
    pub uncertainty_z: f32,
    pub learn_gate_db: f32,
    pub learn_gate_st: f32,
    pub learn_below: f32,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub loudness_unit_db: f32,
    pub loudness_dead_zone_db: f32,
    pub loudness_weight: f32,
    pub pitch_unit_st: f32,
    pub pitch_dead_zone_st: f32,
    pub pitch_weight: f32,
    pub tilt_unit_db: f32,
    pub tilt_dead_zone_db: f32,
    pub tilt_weight: f32,
    pub pace_unit: f32,
    pub pace_dead_zone: f32,
    pub pace_weight: f32,
    pub smoothing_s: f32,
    pub start: f32,
    pub start_hold_s: f32,
    pub start_hold_dips: u32,
    pub fast_smoothing_s: f32,
    pub fast_start: f32,
    pub fast_start_hold_s: f32,
    pub fast_start_margin: f32,
    pub end: f32,
    pub end_hold_s: f32,
    pub silence_hold_s: f32,
    pub silence_decay_s: f32,
    pub turn_gap_s: f32,
    pub turn_window_s: f32,
    pub turn_min_s: f32,
    pub turn_loudness_db: f32,
    pub turn_early_s: f32,
    pub turn_early_db: f32,
    pub turn_pitch_st: f32,
    pub turn_pitch_tilt_db: f32,
    pub turn_rough_pitch_st: f32,
    pub turn_rough_share: f32,
    pub rough_clarity: f32,
    pub turn_motion_pitch_st: f32,
    pub turn_motion_st_s: f32,
    pub pitch_tilt_min_db: f32,
    pub rise: f32,
    pub rise_smoothing_s: f32,
    pub rise_hold_s: f32,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    pub hangover_s: f32,
    pub min_overlap_s: f32,
    pub interrupted_after_s: f32,
    pub interrupt_min_s: f32,
    pub min_silence_s: f32,
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcribe {
    pub model: std::path::PathBuf,
    pub language: String,
    pub live_threads: usize,
    pub review_workers: usize,
    pub max_utterance_s: f32,
    pub end_pause_s: f32,
    pub pre_roll_s: f32,
    pub min_voiced_s: f32,
    pub queue: usize,
    pub max_lag_s: f32,
    pub audio_ctx_margin: i32,
    pub max_compression_ratio: f32,
    pub max_syllables_per_s: f32,
    pub fallback: Vec<FallbackStep>,
    pub live_fallback: Vec<FallbackStep>,
    pub live_fallback_low_confidence: bool,
    pub no_speech_thold: f32,
    pub logprob_thold: f32,
    pub drop_logprob: f32,
}

/// One fallback decode (`[transcribe] fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackStep {
    /// Encoder context beyond the utterance, in frames of 20 ms (-1: the full 30 s window).
    pub ctx_margin: i32,
    /// Beam width (1: greedy).
    #[serde(default = "one")]
    pub beam: u8,
    /// Sampling temperature (0: deterministic).
    #[serde(default)]
    pub temperature: f32,
}

/// calmline's data folder, where it keeps what belongs to its user (the hub's store, a
/// monitor's outbox, enrolled voices): `$XDG_DATA_HOME/calmline`, else
/// `~/.local/share/calmline`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("calmline")
}

/// A path setting of the user's data: as written, or `name` in [`data_dir`] when it is empty
/// (`[hub] db`, `[hub] outbox`, `[diarise] voices`), so it is the same from any folder.
pub fn data_path(setting: &str, name: &str) -> PathBuf {
    if setting.is_empty() {
        data_dir().join(name)
    } else {
        PathBuf::from(setting)
    }
}

/// Where a configured model file or folder points (the Whisper model, the speaker models, the
/// `models` folder): an absolute path as is; a relative one is looked up in the current
/// directory, then beside the calmline executable and in the project it was built in
/// (`target/release/../../`), then in [`data_dir`]. The first that exists wins;
/// otherwise the path as given (and loading it reports how to install a model).
pub fn locate(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        roots.push(dir.to_path_buf());
        roots.extend(dir.ancestors().nth(2).map(Path::to_path_buf));
    }
    roots.push(data_dir());
    roots
        .into_iter()
        .map(|r| r.join(path))
        .find(|p| p.exists())
        .unwrap_or_else(|| path.to_path_buf())
}

fn one() -> u8 {
    1
}

#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub timeline_hop_s: f32,
}

impl Default for Config {
    fn default() -> Self {
        // The built-in file is checked by a unit test; failing here would be a build defect.
        Self::from_layers(None).expect("built-in config/default.toml is valid")
    }
}

impl Config {
    /// The phrase lists of the configured language.
    pub fn phrase_set(&self) -> &PhraseSet {
        // validate() guarantees the entry exists.
        &self.phrases[&self.language.phrases]
    }

    /// Built-in defaults overlaid with the file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_layers(Some((path, &text)))
    }

    /// Built-in defaults overlaid with `text` (attributed to `path` in errors).
    pub fn from_layers(user: Option<(&Path, &str)>) -> Result<Self> {
        let builtin = PathBuf::from("<built-in>");
        let mut base = toml::Table::new();
        for layer in [DEFAULT_TOML, COACH_TOML, PHRASES_EN_TOML] {
            let t: toml::Table = layer.parse().map_err(|e: toml::de::Error| Error::Config {
                path: builtin.clone(),
                message: e.to_string(),
            })?;
            merge(&mut base, t);
        }
        let mut origin = builtin;
        if let Some((path, text)) = user {
            let overlay: toml::Table =
                text.parse().map_err(|e: toml::de::Error| Error::Config {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
            if let Some(key) = non_finite(&overlay, "") {
                return Err(Error::Config {
                    path: path.to_path_buf(),
                    message: format!("{key} must be a number, not nan or inf"),
                });
            }
            merge(&mut base, overlay);
            origin = path.to_path_buf();
        }
        let cfg: Config = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| Error::Config {
                path: origin.clone(),
                message: e.to_string(),
            })?;
        cfg.validate().map_err(|message| Error::Config {
            path: origin,
            message,
        })?;
        Ok(cfg)
    }

    /// Range checks the type system cannot express.
    fn validate(&self) -> std::result::Result<(), String> {
        let p = &self.pitch;
        if !((20.0..=2000.0).contains(&p.min_hz) && p.min_hz < p.max_hz && p.max_hz <= 2000.0) {
            return Err(format!(
                "pitch.min_hz ({}) and pitch.max_hz ({}) must satisfy 20 <= min < max <= 2000",
                p.min_hz, p.max_hz
            ));
        }
        // The pitch window is 40 ms at 8 kHz; lags beyond ~2/3 of it are unreliable.
        if p.min_hz < 50.0 {
            return Err(format!("pitch.min_hz ({}) must be at least 50", p.min_hz));
        }
        let t = &self.transcribe;
        for (name, steps) in [
            ("fallback", &t.fallback),
            ("live_fallback", &t.live_fallback),
        ] {
            for (i, f) in steps.iter().enumerate() {
                if !(1..=8).contains(&f.beam)
                    || !(0.0..=1.0).contains(&f.temperature)
                    || f.ctx_margin < -1
                {
                    return Err(format!(
                        "transcribe.{name}[{i}]: beam must be 1-8, temperature 0-1 and ctx_margin -1 or more"
                    ));
                }
            }
        }
        if !(t.max_compression_ratio > 1.0 && t.max_syllables_per_s > 0.0) {
            return Err(
                "transcribe.max_compression_ratio must be over 1 and max_syllables_per_s over 0"
                    .into(),
            );
        }
        let e = &self.escalation;
        if !(e.fast_start_margin > 0.0 && e.fast_start_margin <= e.fast_start.max(e.start)) {
            return Err(format!(
                "escalation.fast_start_margin ({}) must be over 0 and at most fast_start ({})",
                e.fast_start_margin, e.fast_start
            ));
        }
        for (lang, set) in &self.phrases {
            set.check_slots()
                .map_err(|e| format!("phrases.{lang}: {e}"))?;
        }
        let d = &self.diarise;
        if !((1..=3).contains(&d.speakers)
            && (1.0..=10.0).contains(&d.step_s)
            && (-1.0..=1.0).contains(&d.same_voice))
        {
            return Err(format!(
                "diarise: speakers ({}) must be 1-3, step_s ({}) 1-10 and same_voice ({}) -1 to 1",
                d.speakers, d.step_s, d.same_voice
            ));
        }
        let h = &self.hub;
        if h.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "hub.bind ({:?}) must be an address and port, e.g. \"127.0.0.1:7878\"",
                h.bind
            ));
        }
        let finite = h.silent_after_s.is_finite() && h.level_interval_s.is_finite();
        if !finite
            || h.silent_after_s < 2.0
            || h.level_interval_s <= 0.0
            || h.retention_days == 0
            || h.session_hours == 0
            || h.max_event_bytes < 1024
            || h.max_batch_bytes < h.max_event_bytes
        {
            return Err("hub: silent_after_s must be 2 or more, level_interval_s over 0, retention_days and session_hours 1 or more, max_event_bytes 1024 or more and max_batch_bytes at least max_event_bytes".into());
        }
        let secs = [h.login_window_s, h.login_lock_s, h.login_lock_max_s];
        if h.login_failures_per_name == 0
            || h.login_failures_per_address == 0
            || secs
                .iter()
                .any(|s| !s.is_finite() || *s <= 0.0 || *s > 86_400.0 * 30.0)
            || h.login_lock_max_s < h.login_lock_s
        {
            return Err(format!(
                "hub: login_failures_per_name ({}) and login_failures_per_address ({}) must be 1 or more, login_window_s ({}), login_lock_s ({}) and login_lock_max_s ({}) over 0 and at most 30 days, with login_lock_max_s at least login_lock_s",
                h.login_failures_per_name,
                h.login_failures_per_address,
                h.login_window_s,
                h.login_lock_s,
                h.login_lock_max_s
            ));
        }
        let e = &self.escalation;
        if e.end >= e.start {
            return Err(format!(
                "escalation.end ({}) must be below escalation.start ({})",
                e.end, e.start
            ));
        }
        for (name, v) in [
            ("escalation.loudness_unit_db", e.loudness_unit_db),
            ("escalation.pitch_unit_st", e.pitch_unit_st),
            ("escalation.tilt_unit_db", e.tilt_unit_db),
            ("escalation.pace_unit", e.pace_unit),
            ("escalation.smoothing_s", e.smoothing_s),
            ("escalation.fast_smoothing_s", e.fast_smoothing_s),
            ("escalation.rise_smoothing_s", e.rise_smoothing_s),
            ("escalation.silence_decay_s", e.silence_decay_s),
            ("escalation.turn_pitch_st", e.turn_pitch_st),
            ("escalation.turn_rough_pitch_st", e.turn_rough_pitch_st),
            ("escalation.turn_rough_share", e.turn_rough_share),
            ("escalation.rough_clarity", e.rough_clarity),
            ("escalation.turn_motion_pitch_st", e.turn_motion_pitch_st),
            ("escalation.turn_motion_st_s", e.turn_motion_st_s),
            ("pace.window_s", self.pace.window_s),
            ("report.timeline_hop_s", self.report.timeline_hop_s),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(format!("{name} must be a positive number, not {v}"));
            }
        }
        // Durations and counts that size buffers and threads: past these a value is a typo, and
        // taken literally it would exhaust memory before the call begins.
        let ranges: [(&str, f64, f64, f64); 11] = [
            ("pace.window_s", self.pace.window_s.into(), 0.1, 60.0),
            (
                "transcribe.max_utterance_s",
                t.max_utterance_s.into(),
                1.0,
                28.0,
            ),
            ("transcribe.pre_roll_s", t.pre_roll_s.into(), 0.0, 1.0),
            ("transcribe.end_pause_s", t.end_pause_s.into(), 0.05, 10.0),
            ("transcribe.min_voiced_s", t.min_voiced_s.into(), 0.0, 10.0),
            ("transcribe.max_lag_s", t.max_lag_s.into(), 0.1, 600.0),
            ("transcribe.live_threads", t.live_threads as f64, 1.0, 64.0),
            (
                "transcribe.review_workers",
                t.review_workers as f64,
                0.0,
                64.0,
            ),
            ("transcribe.queue", t.queue as f64, 1.0, 1000.0),
            ("live.period_ms", self.live.period_ms.into(), 1.0, 500.0),
            (
                "nats.job_ack_wait_s",
                self.nats.job_ack_wait_s,
                1.0,
                86_400.0,
            ),
        ];
        for (name, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err(format!("{name} must be {lo} to {hi}, not {v}"));
            }
        }
        if !(0.0..=1.0).contains(&t.no_speech_thold) {
            return Err(format!(
                "transcribe.no_speech_thold is a probability (0 to 1), not {}",
                t.no_speech_thold
            ));
        }
        if self.report.timeline_hop_s < 0.01 {
            return Err("report.timeline_hop_s must be at least 0.01 (the analysis hop)".into());
        }
        if self.baseline.min_voiced_s > self.baseline.warmup_voiced_s {
            return Err("baseline.min_voiced_s must not exceed baseline.warmup_voiced_s".into());
        }
        for kind in crate::events::CueKind::ALL {
            match self.cues.get(kind.name()) {
                Some(c) if !c.headlines.is_empty() => {}
                _ => return Err(format!("cues.{} needs at least one headline", kind.name())),
            }
        }
        if let Some(unknown) = self.cues.keys().find(|k| {
            !crate::events::CueKind::ALL
                .iter()
                .any(|c| c.name() == k.as_str())
        }) {
            return Err(format!("cues.{unknown} is not a cue calmline knows"));
        }
        if !self.phrases.contains_key(&self.language.phrases) {
            return Err(format!(
                "language.phrases = {:?} but there is no [phrases.{}] table",
                self.language.phrases, self.language.phrases
            ));
        }
        Ok(())
    }
}

/// The first key in `t` (dotted, under `prefix`) holding `nan` or `inf`, which TOML allows and
/// no setting means: a threshold of nan is never crossed, a weight of inf scores every call.
fn non_finite(t: &toml::Table, prefix: &str) -> Option<String> {
    fn walk(v: &toml::Value, key: String) -> Option<String> {
        match v {
            toml::Value::Float(f) if !f.is_finite() => Some(key),
            toml::Value::Table(t) => non_finite(t, &key),
            toml::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(v, format!("{key}[{i}]"))),
            _ => None,
        }
    }
    t.iter().find_map(|(k, v)| {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        walk(v, key)
    })
}

/// Overlay `top` onto `base`, table by table.
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_defaults_parse() {
        let c = Config::default();
        assert_eq!(c.channels.customer, Side::Right);
        assert!(c.escalation.end < c.escalation.start);
    }

    #[test]
    fn overlay_changes_only_given_keys() {
        let c = Config::from_layers(Some((
            Path::new("x.toml"),
            "[channels]\ncustomer = \"left\"\n[escalation]\nstart = 1.5\n",
        )))
        .unwrap();
        assert_eq!(c.channels.customer, Side::Left);
        assert_eq!(c.escalation.start, 1.5);
        assert_eq!(c.escalation.end, Config::default().escalation.end);
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_file() {
        let e = Config::from_layers(Some((Path::new("x.toml"), "[vad]\ntreshold = 0.3\n")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("treshold"), "{e}");
    }

    #[test]
    fn a_phrase_naming_a_missing_slot_is_rejected() {
        let e = Config::from_layers(Some((
            Path::new("p.toml"),
            "[phrases.en]\nownership = [\"i will {acton}\"]\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("p.toml") && e.contains("phrases.en: ownership") && e.contains("{acton}"),
            "{e}"
        );
        for bad in ["\"\"", "\"*\"", "\"* *\"", "\"!!\""] {
            let e = Config::from_layers(Some((
                Path::new("p.toml"),
                &format!("[phrases.en]\nthreat = [\"sue you\", {bad}]\n"),
            )))
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("phrases.en: threat") && e.contains("no word"),
                "{e}"
            );
        }
        // A slot of its own is fine.
        let c = Config::from_layers(Some((
            Path::new("p.toml"),
            "[phrases.en]\nownership = [\"i will {act}\"]\n[phrases.en.slots]\nact = [\"ring\"]\n",
        )))
        .unwrap();
        assert_eq!(c.phrase_set().slots["act"], ["ring"]);
    }

    #[test]
    fn sizes_past_reason_and_non_numbers_are_rejected_naming_the_setting() {
        for (text, named) in [
            (
                "[transcribe]\nreview_workers = 1000000000\n",
                "transcribe.review_workers",
            ),
            (
                "[transcribe]\nlive_threads = 0\n",
                "transcribe.live_threads",
            ),
            ("[transcribe]\nmax_lag_s = 1e30\n", "transcribe.max_lag_s"),
            (
                "[transcribe]\nmax_utterance_s = 40.0\n",
                "transcribe.max_utterance_s",
            ),
            (
                "[transcribe]\nno_speech_thold = 2.0\n",
                "transcribe.no_speech_thold",
            ),
            ("[live]\nperiod_ms = 0\n", "live.period_ms"),
            ("[nats]\njob_ack_wait_s = 1e30\n", "nats.job_ack_wait_s"),
            ("[pace]\nwindow_s = 1e9\n", "pace.window_s"),
            (
                "[escalation]\nloudness_weight = nan\n",
                "escalation.loudness_weight",
            ),
            (
                "[transcribe]\nfallback = [{ ctx_margin = 1, temperature = inf }]\n",
                "transcribe.fallback[0].temperature",
            ),
        ] {
            let e = Config::from_layers(Some((Path::new("x.toml"), text)))
                .unwrap_err()
                .to_string();
            assert!(e.contains("x.toml") && e.contains(named), "{text}: {e}");
        }
        // The ends of each range load.
        Config::from_layers(Some((
            Path::new("x.toml"),
            "[transcribe]\nreview_workers = 64\nmax_utterance_s = 28.0\npre_roll_s = 1.0\n[live]\nperiod_ms = 500\n",
        )))
        .unwrap();
    }

    #[test]
    fn inconsistent_thresholds_are_rejected() {
        let e = Config::from_layers(Some((Path::new("y.toml"), "[escalation]\nend = 2.0\n")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("escalation.end"), "{e}");
    }

    #[test]
    fn fallback_steps_are_read_and_checked() {
        let c = Config::from_layers(Some((
            Path::new("f.toml"),
            "[transcribe]\nfallback = [{ ctx_margin = -1, beam = 3 }]\n",
        )))
        .unwrap();
        assert_eq!(
            c.transcribe.fallback,
            [FallbackStep {
                ctx_margin: -1,
                beam: 3,
                temperature: 0.0
            }]
        );
        for bad in [
            "fallback = [{ ctx_margin = 500, beam = 0 }]",
            "live_fallback = [{ ctx_margin = -2 }]",
            "fallback = [{ ctx_margin = 500, temperature = 1.5 }]",
        ] {
            let e = Config::from_layers(Some((
                Path::new("f.toml"),
                &format!("[transcribe]\n{bad}\n"),
            )))
            .unwrap_err()
            .to_string();
            assert!(e.contains("f.toml") && e.contains("fallback"), "{bad}: {e}");
        }
        let e = Config::from_layers(Some((
            Path::new("f.toml"),
            "[transcribe]\nfallback = [{ margin = 500 }]\n",
        )))
        .unwrap_err()
        .to_string();
        assert!(e.contains("margin"), "{e}");
    }
}
