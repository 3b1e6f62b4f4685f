//! The coach: the playbook as rules over the pipeline's events.
//!
//! It consumes the one event vocabulary (levels, episodes, conversation facts, transcript
//! segments) in time order and emits `phrase` events (what the language analysis found), `cue`
//! events for the agent and `alert` events for supervisors. Cues respect per-kind cooldowns, one
//! cue on screen at a time by priority, a global rate limit, and rotate their wording.
//!
//! Privacy: alerts are built from customer-side state only; agent figures are attached only when
//! `[alerts] share_agent_metrics` is enabled.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::config::{Alerts as AlertCfg, Coach as CoachCfg, Config, CueText};
use crate::events::{
    Alert, AlertKind, Because, Cue, CueKind, Deviations, EpisodeEnd, Event, EventBody, PhraseEvent,
    PhraseKind, Speaker, TranscriptSegment,
};
use crate::language::Analyzer;

/// What the coach knows about the customer (the only input to alerts).
#[derive(Debug, Default, Clone)]
struct CustomerView {
    escalated: bool,
    /// Between an episode's start and end events.
    episode_open: bool,
    episode_start: Option<f64>,
    episode_starts: Vec<f64>,
    dev: Option<Deviations>,
    score: f32,
    /// Recent customer speech (already redacted), for alert snippets.
    recent: VecDeque<(f64, String)>,
    alerted_this_episode: Vec<AlertKind>,
}

/// What the coach knows about the agent (cues only).
#[derive(Debug, Default, Clone)]
struct AgentView {
    dev: Option<Deviations>,
    louder_for: f64,
    faster_for: f64,
    last_ack: Option<f64>,
    bare_sorry: u32,
    last_ownership: Option<f64>,
    thanked: bool,
    /// (end time, words) of recent agent segments, for words per minute.
    speech: VecDeque<(f64, usize)>,
    /// Times of recent 0.1 s steps in which the agent was speaking.
    active: VecDeque<f64>,
}

/// The coaching stage of one call.
pub struct Coach {
    cfg: CoachCfg,
    alerts: AlertCfg,
    texts: BTreeMap<CueKind, CueText>,
    language: Analyzer,
    step: f64,
    rotation: HashMap<CueKind, usize>,
    last_of_kind: HashMap<CueKind, f64>,
    showing: Option<(u8, f64)>,
    recent_cues: VecDeque<f64>,
    last_alert: HashMap<AlertKind, f64>,
    customer: CustomerView,
    agent: AgentView,
    separated: bool,
    last_active: HashMap<Speaker, f64>,
    anyone_spoke: bool,
    silence_cued: bool,
    hold_alerted: bool,
    name_at: Option<f64>,
    name_used: Option<f64>,
    name_cued: Option<f64>,
    /// The customer's name as the call's details give it, when they do.
    name_in_details: Option<String>,
    t: f64,
}

impl Coach {
    /// A coach with the rules, wording and phrase lists of `cfg`.
    pub fn new(cfg: &Config) -> Self {
        let texts = CueKind::ALL
            .iter()
            .filter_map(|k| cfg.cues.get(k.name()).map(|t| (*k, t.clone())))
            .collect();
        Self {
            cfg: cfg.coach.clone(),
            alerts: cfg.alerts.clone(),
            texts,
            language: Analyzer::new(cfg),
            step: cfg.report.timeline_hop_s as f64,
            rotation: HashMap::new(),
            last_of_kind: HashMap::new(),
            showing: None,
            recent_cues: VecDeque::new(),
            last_alert: HashMap::new(),
            customer: CustomerView::default(),
            agent: AgentView::default(),
            separated: true,
            last_active: HashMap::new(),
            anyone_spoke: false,
            silence_cued: false,
            hold_alerted: false,
            name_at: None,
            name_used: None,
            name_cued: None,
            name_in_details: None,
            t: 0.0,
        }
    }

    /// The customer's name from the call's details: known from the start of the call, so
    /// `use_name` counts from there. Ignored when it holds nothing that can be a name.
    pub fn know_customer_name(&mut self, full: &str) {
        if self.language.know_customer_name(full).is_some() {
            self.name_at = Some(0.0);
            self.name_in_details = Some(full.trim().to_string());
        }
    }

    /// Take one event (in time order); cues, alerts and phrases go to `out`.
    pub fn on_event(&mut self, e: &Event, out: &mut impl FnMut(Event)) {
        self.t = self.t.max(e.t_s);
        let t = self.t;
        match &e.body {
            EventBody::Levels(l) => {
                if l.active {
                    self.last_active.insert(l.speaker, t);
                    self.anyone_spoke = true;
                }
                match l.speaker {
                    Speaker::Agent => {
                        self.agent.dev = l.over_baseline;
                        if l.active {
                            self.agent.active.push_back(t);
                        }
                        while self
                            .agent
                            .active
                            .front()
                            .is_some_and(|a| t - a > WPM_WINDOW_S)
                        {
                            self.agent.active.pop_front();
                        }
                        self.mirroring(t, l.voiced, out);
                    }
                    Speaker::Customer | Speaker::Mixed => {
                        self.separated = l.speaker == Speaker::Customer;
                        self.customer.dev = l.over_baseline;
                        self.customer.score = l.escalation;
                        self.customer.escalated = l.escalated;
                        if !l.escalated {
                            self.customer.episode_start = None;
                        }
                        self.escalation_timers(t, out);
                    }
                }
                self.silence(t, out);
            }
            EventBody::EpisodeStart {
                speaker: Speaker::Customer | Speaker::Mixed,
                start_s,
                evidence,
            } => {
                // A new escalation after the customer had calmed down is acknowledged again,
                // whatever the cue's cooldown: the first cue may have answered a livelier
                // neutral sentence (a false episode), and an agent who said nothing to it still
                // has the real anger to answer. (An agent who acknowledged in the last
                // `acknowledge_window_s` gets no cue; the screen and rate limit still apply.)
                if !self.customer.episode_open && !self.customer.episode_starts.is_empty() {
                    self.last_of_kind.remove(&CueKind::Acknowledge);
                }
                self.customer.episode_open = true;
                self.customer.escalated = true;
                self.customer.episode_start = Some(*start_s);
                self.customer.episode_starts.push(*start_s);
                self.customer.alerted_this_episode.clear();
                let mut figures = BTreeMap::new();
                figures.insert("customer_loudness_db".into(), evidence.loudness_db as f64);
                figures.insert("customer_pitch_st".into(), evidence.pitch_st as f64);
                if let (Some(now), Some(calm)) =
                    (evidence.clear_voiced_pct, evidence.calm_clear_voiced_pct)
                {
                    figures.insert("customer_clear_voiced_pct".into(), now as f64);
                    figures.insert("customer_calm_clear_voiced_pct".into(), calm as f64);
                }
                if let (Some(now), Some(calm)) =
                    (evidence.pitch_motion_st_s, evidence.calm_pitch_motion_st_s)
                {
                    figures.insert("customer_pitch_motion_st_s".into(), now as f64);
                    figures.insert("customer_calm_pitch_motion_st_s".into(), calm as f64);
                }
                self.acknowledge(
                    t,
                    Because {
                        figures,
                        moments: vec![*start_s],
                        sentence: format!("escalation started: {}", evidence.sentence),
                    },
                    out,
                );
                self.repeat_alert(t, out);
            }
            // An episode "ended" by the end of the call leaves the customer escalated.
            EventBody::EpisodeEnd(ep)
                if ep.speaker != Speaker::Agent && ep.ended_by != EpisodeEnd::CallEnded =>
            {
                self.customer.escalated = false;
                self.customer.episode_open = false;
                self.customer.episode_start = None;
            }
            EventBody::Interruption {
                by: Speaker::Agent,
                of: Speaker::Customer,
                start_s,
            } => {
                let mut figures = BTreeMap::new();
                figures.insert("agent_talked_over_s".into(), t - start_s);
                self.cue(
                    t,
                    CueKind::LetThemFinish,
                    Because {
                        figures,
                        moments: vec![*start_s],
                        sentence: format!(
                            "you started talking at {} while the customer was mid-sentence and kept going",
                            clock(*start_s)
                        ),
                    },
                    out,
                );
            }
            EventBody::Overlap { start_s, end_s }
                if end_s - start_s >= self.cfg.rules.overlap_s as f64 && self.separated =>
            {
                let mut figures = BTreeMap::new();
                figures.insert("overlap_s".into(), end_s - start_s);
                self.cue(
                    t,
                    CueKind::LetThemFinish,
                    Because {
                        figures,
                        moments: vec![*start_s],
                        sentence: format!("you both talked at once for {:.1} s", end_s - start_s),
                    },
                    out,
                );
            }
            EventBody::Transcript(seg) => self.transcript(t, seg, out),
            _ => {}
        }
    }

    /// The call ended at `t`: the closing cue if the call ended calm and nobody thanked.
    pub fn finish(&mut self, t: f64, out: &mut impl FnMut(Event)) {
        self.t = self.t.max(t);
        if self.anyone_spoke && !self.agent.thanked && !self.customer.escalated && self.separated {
            self.cue(
                self.t,
                CueKind::Thank,
                Because {
                    figures: BTreeMap::new(),
                    moments: vec![self.t],
                    sentence: "the call is ending calm and no thanks or appreciation was said"
                        .into(),
                },
                out,
            );
        }
    }

    fn transcript(&mut self, t: f64, seg: &TranscriptSegment, out: &mut impl FnMut(Event)) {
        let phrases = self.language.analyse(seg);
        if seg.speaker != Speaker::Agent {
            self.customer
                .recent
                .push_back((seg.end_s, seg.text.clone()));
            while self.customer.recent.len() > 3 {
                self.customer.recent.pop_front();
            }
        }
        if seg.speaker == Speaker::Agent {
            let words = seg.text.split_whitespace().count();
            self.agent.speech.push_back((seg.end_s, words));
            while self
                .agent
                .speech
                .front()
                .is_some_and(|(e, _)| t - e > WPM_WINDOW_S)
            {
                self.agent.speech.pop_front();
            }
            self.pace_from_words(t, out);
            self.name_check(t, out);
        }
        for p in phrases {
            out(Event {
                t_s: t,
                body: EventBody::Phrase(p.clone()),
            });
            self.phrase(t, &p, out);
        }
    }

    fn phrase(&mut self, t: f64, p: &PhraseEvent, out: &mut impl FnMut(Event)) {
        let because = |sentence: String| Because {
            figures: BTreeMap::new(),
            moments: vec![p.start_s],
            sentence,
        };
        match p.kind {
            PhraseKind::Acknowledgement => self.agent.last_ack = Some(t),
            PhraseKind::Ownership => self.agent.last_ownership = Some(t),
            PhraseKind::Thanks if p.speaker != Speaker::Customer => self.agent.thanked = true,
            PhraseKind::BareApology => {
                self.agent.bare_sorry += 1;
                if self.agent.bare_sorry >= self.cfg.rules.bare_sorry_count {
                    let n = self.agent.bare_sorry;
                    let mut b = because(format!(
                        "you have said a bare \"sorry\" {n} times without saying what for"
                    ));
                    b.figures.insert("bare_apologies".into(), n as f64);
                    if self.cue(t, CueKind::SpecificApology, b, out) {
                        self.agent.bare_sorry = 0;
                    }
                }
            }
            PhraseKind::Blame => {
                self.cue(
                    t,
                    CueKind::NoBlame,
                    because(format!("you said \"{}\"", p.text)),
                    out,
                );
            }
            PhraseKind::RepeatedLine => {
                let earlier = p.detail.as_deref().and_then(|d| d.parse::<f64>().ok());
                let mut b = because(format!(
                    "you said nearly the same sentence at {}: \"{}\"",
                    earlier.map_or("earlier".into(), clock),
                    p.text
                ));
                if let Some(e) = earlier {
                    b.moments.insert(0, e);
                }
                self.cue(t, CueKind::VaryResponse, b, out);
            }
            PhraseKind::NameGiven => self.name_at = Some(p.start_s),
            PhraseKind::NameUsed => self.name_used = Some(t),
            PhraseKind::ManagerRequest => {
                self.cue(
                    t,
                    CueKind::OfferHelp,
                    because(format!("the customer asked: \"{}\"", p.text)),
                    out,
                );
                self.alert(
                    t,
                    AlertKind::ManagerRequest,
                    format!("customer asked for \"{}\"", p.text),
                    p.start_s,
                    out,
                );
            }
            PhraseKind::Profanity => {
                self.alert(
                    t,
                    AlertKind::AbusiveCaller,
                    format!("customer used \"{}\"", p.text),
                    p.start_s,
                    out,
                );
            }
            PhraseKind::Threat | PhraseKind::EscalationWords => {
                // Escalation in words, before (or without) the voice.
                self.acknowledge(t, because(format!("the customer said \"{}\"", p.text)), out);
            }
            PhraseKind::Closing if !self.agent.thanked && !self.customer.escalated => {
                self.cue(
                    t,
                    CueKind::Thank,
                    because("the customer is closing the call and no thanks was said".into()),
                    out,
                );
            }
            _ => {}
        }
    }

    fn acknowledge(&mut self, t: f64, because: Because, out: &mut impl FnMut(Event)) {
        let window = self.cfg.rules.acknowledge_window_s as f64;
        if self.agent.last_ack.is_some_and(|a| t - a <= window) {
            return;
        }
        self.cue(t, CueKind::Acknowledge, because, out);
    }

    /// Agent louder or faster than their baseline while the customer is escalated.
    fn mirroring(&mut self, t: f64, voiced: bool, out: &mut impl FnMut(Event)) {
        let r = &self.cfg.rules;
        let (Some(dev), true) = (self.agent.dev, self.customer.escalated && self.separated) else {
            self.agent.louder_for = 0.0;
            self.agent.faster_for = 0.0;
            return;
        };
        if dev.loudness_db > r.agent_louder_db {
            if voiced {
                self.agent.louder_for += self.step;
            }
        } else {
            self.agent.louder_for = 0.0;
        }
        if dev.pace_pct > r.agent_faster * 100.0 {
            if voiced {
                self.agent.faster_for += self.step;
            }
        } else {
            self.agent.faster_for = 0.0;
        }
        let hold = r.mirror_hold_s as f64;
        if self.agent.louder_for >= hold {
            let mut figures = BTreeMap::new();
            figures.insert("agent_loudness_db".into(), dev.loudness_db as f64);
            let b = Because {
                figures,
                moments: vec![t - self.agent.louder_for],
                sentence: format!(
                    "your voice is {:+.1} dB over your baseline while the customer is escalated",
                    dev.loudness_db
                ),
            };
            if self.cue(t, CueKind::LowerVoice, b, out) {
                self.agent.louder_for = 0.0;
            }
        }
        if self.agent.faster_for >= hold {
            let mut figures = BTreeMap::new();
            figures.insert("agent_pace_pct".into(), dev.pace_pct as f64);
            let b = Because {
                figures,
                moments: vec![t - self.agent.faster_for],
                sentence: format!(
                    "you are speaking {:+.0}% faster than your baseline while the customer is escalated",
                    dev.pace_pct
                ),
            };
            if self.cue(t, CueKind::SlowDown, b, out) {
                self.agent.faster_for = 0.0;
            }
        }
    }

    fn pace_from_words(&mut self, t: f64, out: &mut impl FnMut(Event)) {
        if !self.customer.escalated || !self.separated || self.cfg.rules.agent_max_wpm <= 0.0 {
            return;
        }
        // Words per minute of speaking time (voice activity; pauses excluded).
        let words: usize = self.agent.speech.iter().map(|(_, n)| n).sum();
        let secs = self.agent.active.len() as f64 * self.step;
        if secs < 5.0 {
            return;
        }
        let wpm = words as f64 / secs * 60.0;
        if wpm > self.cfg.rules.agent_max_wpm as f64 {
            let mut figures = BTreeMap::new();
            figures.insert("agent_wpm".into(), wpm.round());
            let b = Because {
                figures,
                moments: self.agent.speech.iter().map(|(e, _)| *e).take(1).collect(),
                sentence: format!(
                    "you are speaking at {wpm:.0} words per minute of speaking time while the customer is escalated"
                ),
            };
            self.cue(t, CueKind::SlowDown, b, out);
        }
    }

    fn name_check(&mut self, t: f64, out: &mut impl FnMut(Event)) {
        let Some(given) = self.name_at else { return };
        let since = self
            .name_used
            .unwrap_or(given)
            .max(self.name_cued.unwrap_or(f64::MIN));
        if t - since > self.cfg.rules.name_unused_s as f64 {
            let name = self
                .language
                .customer_name()
                .unwrap_or("the customer")
                .to_string();
            let sentence = match (&self.name_in_details, self.name_at) {
                (Some(full), Some(0.0)) => format!(
                    "the customer's name is {full} (the call's details) and it has not been used for {:.0} s",
                    t - since
                ),
                _ => format!(
                    "the customer gave their name ({name}) at {} and it has not been used for {:.0} s",
                    clock(given),
                    t - since
                ),
            };
            let b = Because {
                figures: BTreeMap::new(),
                moments: vec![given],
                sentence,
            };
            if self.cue(t, CueKind::UseName, b, out) {
                self.name_cued = Some(t);
            }
        }
    }

    /// Timers that run while the customer is escalated: ownership cue, escalation alerts.
    fn escalation_timers(&mut self, t: f64, out: &mut impl FnMut(Event)) {
        let Some(start) = self
            .customer
            .episode_start
            .filter(|_| self.customer.escalated)
        else {
            return;
        };
        let long = t - start;
        if long > self.cfg.rules.ownership_after_s as f64
            && self.agent.last_ownership.is_none_or(|o| o < start)
            && self.separated
        {
            let mut figures = BTreeMap::new();
            figures.insert("escalated_s".into(), long);
            let b = Because {
                figures,
                moments: vec![start],
                sentence: format!(
                    "the customer has been escalated for {long:.0} s and no next step has been stated"
                ),
            };
            if self.cue(t, CueKind::TakeOwnership, b, out) {
                // Do not nag: wait for the next episode or a stated step.
                self.agent.last_ownership = Some(t);
            }
        }
        if long > self.alerts.escalated_s as f64
            && !self
                .customer
                .alerted_this_episode
                .contains(&AlertKind::EscalatedCall)
        {
            let sentence = self.customer_sentence(format!("customer escalated for {long:.0} s"));
            if self.alert(t, AlertKind::EscalatedCall, sentence, start, out) {
                self.customer
                    .alerted_this_episode
                    .push(AlertKind::EscalatedCall);
            }
        }
        if long > self.alerts.not_resolving_s as f64
            && !self
                .customer
                .alerted_this_episode
                .contains(&AlertKind::NotResolving)
        {
            let sentence =
                self.customer_sentence(format!("customer still escalated after {long:.0} s"));
            if self.alert(t, AlertKind::NotResolving, sentence, start, out) {
                self.customer
                    .alerted_this_episode
                    .push(AlertKind::NotResolving);
            }
        }
    }

    fn repeat_alert(&mut self, t: f64, out: &mut impl FnMut(Event)) {
        let window = self.alerts.repeat_window_s as f64;
        let recent: Vec<f64> = self
            .customer
            .episode_starts
            .iter()
            .copied()
            .filter(|s| t - s <= window)
            .collect();
        if recent.len() as u32 >= self.alerts.repeat_episodes.max(2) {
            let sentence = self.customer_sentence(format!(
                "customer escalated {} times in {:.0} min",
                recent.len(),
                window / 60.0
            ));
            if self.alert(t, AlertKind::EscalatedCall, sentence, recent[0], out) {
                self.customer
                    .alerted_this_episode
                    .push(AlertKind::EscalatedCall);
            }
        }
    }

    fn silence(&mut self, t: f64, out: &mut impl FnMut(Event)) {
        if !self.anyone_spoke {
            return;
        }
        let last = self.last_active.values().copied().fold(f64::MIN, f64::max);
        let quiet = t - last;
        if quiet < self.step * 1.5 {
            self.silence_cued = false;
            self.hold_alerted = false;
            return;
        }
        if quiet > self.cfg.rules.silence_s as f64 && !self.silence_cued {
            let mut figures = BTreeMap::new();
            figures.insert("silence_s".into(), quiet);
            let b = Because {
                figures,
                moments: vec![last],
                sentence: format!("nobody has spoken for {quiet:.0} s"),
            };
            self.silence_cued = self.cue(t, CueKind::ExplainSilence, b, out);
        }
        if quiet > self.alerts.hold_s as f64 && !self.hold_alerted {
            self.hold_alerted = self.alert(
                t,
                AlertKind::LongHold,
                format!("silence on both sides for {quiet:.0} s"),
                last,
                out,
            );
        }
    }

    /// Customer-side evidence sentence (the only kind an alert carries by default).
    fn customer_sentence(&self, lead: String) -> String {
        match self.customer.dev {
            Some(d) => format!(
                "{lead}: {:+.1} dB, {:+.1} semitones over their baseline (score {:.2})",
                d.loudness_db, d.pitch_st, self.customer.score
            ),
            None => lead,
        }
    }

    fn alert(
        &mut self,
        t: f64,
        kind: AlertKind,
        sentence: String,
        moment: f64,
        out: &mut impl FnMut(Event),
    ) -> bool {
        let cooldown = self.alerts.cooldown_s as f64;
        if self.last_alert.get(&kind).is_some_and(|l| t - l < cooldown) {
            return false;
        }
        self.last_alert.insert(kind, t);
        let mut figures = BTreeMap::new();
        if let Some(d) = self.customer.dev {
            figures.insert("customer_loudness_db".into(), d.loudness_db as f64);
            figures.insert("customer_pitch_st".into(), d.pitch_st as f64);
        }
        figures.insert(
            "customer_escalation".into(),
            (self.customer.score as f64 * 100.0).round() / 100.0,
        );
        let snippet = self
            .customer
            .recent
            .iter()
            .rev()
            .find(|(end, _)| t - end <= 30.0)
            .map(|(_, text)| text.clone());
        let agent = self.alerts.share_agent_metrics.then(|| {
            let mut a = BTreeMap::new();
            if let Some(d) = self.agent.dev {
                a.insert("agent_loudness_db".into(), d.loudness_db as f64);
                a.insert("agent_pace_pct".into(), d.pace_pct as f64);
            }
            a
        });
        let (headline, priority) = match kind {
            AlertKind::AbusiveCaller => ("Abusive caller: support the agent", 1),
            AlertKind::ManagerRequest => ("Customer asks for a manager", 2),
            AlertKind::NotResolving => ("Escalation not resolving", 2),
            AlertKind::EscalatedCall => ("Customer escalated", 3),
            AlertKind::LongHold => ("Long hold: nobody speaking", 4),
            AlertKind::StationSilent => ("Monitor stopped: call not analysed", 2),
        };
        out(Event {
            t_s: t,
            body: EventBody::Alert(Alert {
                kind,
                headline: headline.into(),
                priority,
                evidence: Because {
                    figures,
                    moments: vec![moment],
                    sentence,
                },
                snippet,
                agent,
            }),
        });
        true
    }

    /// Show a cue if the cooldown, the screen and the rate limit allow. Returns whether it was
    /// shown.
    fn cue(
        &mut self,
        t: f64,
        kind: CueKind,
        because: Because,
        out: &mut impl FnMut(Event),
    ) -> bool {
        let Some(text) = self.texts.get(&kind) else {
            return false;
        };
        let cooldown = text.cooldown_s.unwrap_or(self.cfg.cooldown_s) as f64;
        if self
            .last_of_kind
            .get(&kind)
            .is_some_and(|l| t - l < cooldown)
        {
            return false;
        }
        if let Some((shown, until)) = self.showing
            && t < until
            && shown <= text.priority
        {
            return false;
        }
        while self.recent_cues.front().is_some_and(|c| t - c >= 60.0) {
            self.recent_cues.pop_front();
        }
        if self.recent_cues.len() as u32 >= self.cfg.max_per_minute {
            return false;
        }
        // Rotate the wording: never the same text twice in a row for a kind.
        let n = self.rotation.entry(kind).or_insert(0);
        let headline = text.headlines[*n % text.headlines.len()].clone();
        let example =
            (!text.examples.is_empty()).then(|| text.examples[*n % text.examples.len()].clone());
        *n += 1;
        self.last_of_kind.insert(kind, t);
        self.showing = Some((text.priority, t + self.cfg.display_s as f64));
        self.recent_cues.push_back(t);
        out(Event {
            t_s: t,
            body: EventBody::Cue(Cue {
                kind,
                headline,
                example,
                priority: text.priority,
                evidence: because,
            }),
        });
        true
    }
}

/// Window over which the agent's words per minute are measured.
const WPM_WINDOW_S: f64 = 30.0;

/// mm:ss for sentences.
fn clock(t: f64) -> String {
    let s = t.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests;
