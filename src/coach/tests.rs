//! Rules with scripted event streams: each cue fires when it should, respects cooldown and
//! priority, and stays silent otherwise.

use super::*;
use crate::events::{Evidence, Levels};

struct Script {
    coach: Coach,
    out: Vec<Event>,
    t: f64,
}

fn dev(loud: f32, pace: f32) -> Deviations {
    Deviations {
        loudness_db: loud,
        pitch_st: 0.0,
        tilt_db: 0.0,
        pace_pct: pace,
    }
}

impl Script {
    fn new() -> Self {
        Self::with(Config::default())
    }
    fn with(cfg: Config) -> Self {
        Self {
            coach: Coach::new(&cfg),
            out: Vec::new(),
            t: 0.0,
        }
    }
    fn send(&mut self, body: EventBody) {
        let e = Event { t_s: self.t, body };
        let out = &mut self.out;
        self.coach.on_event(&e, &mut |x| out.push(x));
    }
    /// `secs` of 0.1 s level steps for both speakers.
    fn talk(
        &mut self,
        secs: f64,
        agent: Option<Deviations>,
        customer_escalated: bool,
        agent_active: bool,
        customer_active: bool,
    ) {
        for _ in 0..(secs * 10.0).round() as usize {
            self.t += 0.1;
            for (speaker, active, esc, d) in [
                (Speaker::Agent, agent_active, false, agent),
                (
                    Speaker::Customer,
                    customer_active,
                    customer_escalated,
                    Some(dev(if customer_escalated { 9.0 } else { 0.0 }, 0.0)),
                ),
            ] {
                self.send(EventBody::Levels(Levels {
                    speaker,
                    loudness_db: -30.0,
                    pitch_hz: None,
                    voiced: active,
                    active,
                    escalation: if esc { 1.5 } else { 0.0 },
                    escalated: esc,
                    over_baseline: d,
                }));
            }
        }
    }
    fn episode_start(&mut self) {
        self.send(EventBody::EpisodeStart {
            speaker: Speaker::Customer,
            start_s: self.t - 0.5,
            evidence: Evidence::new(Speaker::Customer, 9.0, 3.0, 2.0, 0.0, 0.5),
        });
    }
    fn say(&mut self, speaker: Speaker, text: &str) {
        let seg = TranscriptSegment::from_text(speaker, self.t - 1.5, self.t, text);
        self.send(EventBody::Transcript(seg));
    }
    fn cues(&self) -> Vec<(f64, CueKind, String)> {
        self.out
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Cue(c) => Some((e.t_s, c.kind, c.headline.clone())),
                _ => None,
            })
            .collect()
    }
    fn kinds(&self) -> Vec<CueKind> {
        self.cues().into_iter().map(|c| c.1).collect()
    }
    fn alerts(&self) -> Vec<Alert> {
        self.out
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Alert(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn acknowledge_on_escalation_unless_already_acknowledged_and_with_cooldown() {
    let mut s = Script::new();
    s.talk(10.0, None, false, true, true);
    assert!(s.kinds().is_empty(), "calm talk: no cue");
    s.episode_start();
    assert_eq!(s.kinds(), [CueKind::Acknowledge]);
    let cue = s.out.iter().find_map(|e| match &e.body {
        EventBody::Cue(c) => Some(c.clone()),
        _ => None,
    });
    let cue = cue.unwrap();
    assert!(
        cue.evidence.sentence.contains("+9.0 dB"),
        "{}",
        cue.evidence.sentence
    );
    assert_eq!(
        cue.example.as_deref(),
        Some("I can see why this is frustrating.")
    );
    // A second start 20 s later within the same escalation is inside the cooldown.
    s.talk(20.0, None, false, true, true);
    s.episode_start();
    assert_eq!(s.kinds().len(), 1);
    // Once the customer has calmed down, a new escalation is acknowledged again, cooldown or not.
    let (t, evidence) = (
        s.t,
        Evidence::new(Speaker::Customer, 9.0, 3.0, 2.0, 0.0, 0.5),
    );
    s.send(EventBody::EpisodeEnd(crate::events::Episode {
        speaker: Speaker::Customer,
        start_s: t - 20.5,
        end_s: t,
        peak: 1.5,
        peak_s: t - 10.0,
        ended_by: crate::events::EpisodeEnd::Calmed,
        evidence,
    }));
    s.talk(10.0, None, false, true, true);
    s.episode_start();
    assert_eq!(s.kinds(), [CueKind::Acknowledge, CueKind::Acknowledge]);

    // An agent who acknowledged feelings in the last 30 s gets no cue.
    let mut s = Script::new();
    s.talk(10.0, None, false, true, true);
    s.say(Speaker::Agent, "I can see why that's frustrating for you.");
    s.talk(5.0, None, false, true, true);
    s.episode_start();
    assert!(
        !s.kinds().contains(&CueKind::Acknowledge),
        "{:?}",
        s.kinds()
    );
}

#[test]
fn let_them_finish_only_when_the_agent_cuts_in() {
    let mut s = Script::new();
    s.talk(5.0, None, false, true, true);
    s.send(EventBody::Interruption {
        by: Speaker::Customer,
        of: Speaker::Agent,
        start_s: 3.0,
    });
    assert!(s.kinds().is_empty());
    s.send(EventBody::Interruption {
        by: Speaker::Agent,
        of: Speaker::Customer,
        start_s: 4.0,
    });
    assert_eq!(s.kinds(), [CueKind::LetThemFinish]);
}

#[test]
fn lower_voice_when_the_agent_mirrors_an_escalated_customer() {
    // Agent +5 dB but the customer is calm: nothing.
    let mut s = Script::new();
    s.talk(5.0, Some(dev(5.0, 0.0)), false, true, false);
    assert!(s.kinds().is_empty());
    // Customer escalated, agent only +3 dB: nothing.
    let mut s = Script::new();
    s.talk(5.0, Some(dev(3.0, 0.0)), true, true, false);
    assert!(!s.kinds().contains(&CueKind::LowerVoice));
    // Customer escalated and the agent +5 dB for a second of speech: lower_voice.
    let mut s = Script::new();
    s.talk(0.5, Some(dev(5.0, 0.0)), true, true, false);
    assert!(!s.kinds().contains(&CueKind::LowerVoice), "held only 0.5 s");
    s.talk(0.6, Some(dev(5.0, 0.0)), true, true, false);
    assert_eq!(s.kinds(), [CueKind::LowerVoice]);
    // And slow_down when the agent is 30% faster.
    let mut s = Script::new();
    s.talk(2.0, Some(dev(0.0, 30.0)), true, true, false);
    assert_eq!(s.kinds(), [CueKind::SlowDown]);
}

#[test]
fn one_cue_at_a_time_by_priority_and_a_rate_limit() {
    let mut s = Script::new();
    s.talk(2.0, Some(dev(6.0, 0.0)), true, true, false);
    assert_eq!(s.kinds(), [CueKind::LowerVoice]);
    // Acknowledge (priority 4) while lower_voice (2) shows: suppressed.
    s.episode_start();
    assert_eq!(s.kinds(), [CueKind::LowerVoice]);
    // let_them_finish (1) replaces it.
    s.send(EventBody::Interruption {
        by: Speaker::Agent,
        of: Speaker::Customer,
        start_s: s.t - 1.0,
    });
    assert_eq!(s.kinds(), [CueKind::LowerVoice, CueKind::LetThemFinish]);

    // Rate limit: at most 4 cues a minute, whatever their kinds.
    let mut cfg = Config::default();
    cfg.coach.display_s = 0.0;
    let mut s = Script::with(cfg);
    s.talk(1.0, None, false, true, true);
    s.say(Speaker::Agent, "That's not our fault.");
    s.say(Speaker::Customer, "I want your supervisor.");
    s.episode_start();
    s.send(EventBody::Interruption {
        by: Speaker::Agent,
        of: Speaker::Customer,
        start_s: 0.5,
    });
    s.say(Speaker::Agent, "You should have called earlier.");
    s.talk(8.0, None, false, false, false);
    assert_eq!(s.kinds().len(), 4, "{:?}", s.kinds());
    assert!(
        !s.kinds().contains(&CueKind::ExplainSilence),
        "fifth cue within the minute dropped"
    );
}

#[test]
fn wording_rotates() {
    let mut cfg = Config::default();
    cfg.coach.cooldown_s = 1.0;
    cfg.coach.display_s = 0.5;
    let mut s = Script::with(cfg);
    for _ in 0..3 {
        s.send(EventBody::Interruption {
            by: Speaker::Agent,
            of: Speaker::Customer,
            start_s: s.t,
        });
        s.talk(2.0, None, false, true, true);
    }
    let h: Vec<String> = s.cues().into_iter().map(|c| c.2).collect();
    assert_eq!(h.len(), 3);
    assert!(h.windows(2).all(|w| w[0] != w[1]), "{h:?}");
}

#[test]
fn language_cues() {
    let mut cfg = Config::default();
    cfg.coach.display_s = 0.0;
    cfg.coach.max_per_minute = 100;
    let mut s = Script::with(cfg);
    s.talk(1.0, None, false, true, true);
    for _ in 0..2 {
        s.say(Speaker::Agent, "Sorry.");
    }
    assert!(s.kinds().is_empty(), "two bare sorries are fine");
    s.say(Speaker::Agent, "Oh, I'm sorry.");
    assert_eq!(s.kinds(), [CueKind::SpecificApology]);
    s.say(
        Speaker::Agent,
        "As I already said, the parcel left yesterday.",
    );
    assert_eq!(s.kinds().last(), Some(&CueKind::NoBlame));
    s.talk(2.0, None, false, true, true);
    s.say(Speaker::Agent, "As I said, the parcel left yesterday.");
    assert_eq!(s.kinds().last(), Some(&CueKind::VaryResponse));
    s.say(
        Speaker::Customer,
        "This is useless, put me through to a manager!",
    );
    assert_eq!(s.kinds().last(), Some(&CueKind::OfferHelp));
    let alerts: Vec<AlertKind> = s.alerts().iter().map(|a| a.kind).collect();
    assert!(
        alerts.contains(&AlertKind::ManagerRequest) && alerts.contains(&AlertKind::AbusiveCaller),
        "{alerts:?}"
    );
    // Phrase events are part of the output, for the UI, reports and scorecard.
    assert!(
        s.out
            .iter()
            .any(|e| matches!(&e.body, EventBody::Phrase(p) if p.kind == PhraseKind::BareApology))
    );
}

#[test]
fn use_name_after_three_minutes_unused() {
    let mut s = Script::new();
    s.talk(1.0, None, false, true, true);
    s.say(
        Speaker::Customer,
        "My name is Priya and my router is broken.",
    );
    s.talk(60.0, None, false, true, true);
    s.say(Speaker::Agent, "Thanks Priya, let me check.");
    s.talk(100.0, None, false, true, true);
    s.say(Speaker::Agent, "The line looks fine from here.");
    assert!(!s.kinds().contains(&CueKind::UseName), "used 100 s ago");
    s.talk(90.0, None, false, true, true);
    s.say(Speaker::Agent, "Can you restart it please?");
    assert!(s.kinds().contains(&CueKind::UseName), "{:?}", s.kinds());
}

#[test]
fn use_name_counts_from_the_start_when_the_call_details_give_it() {
    let mut s = Script::new();
    s.coach.know_customer_name("Mr Daniel Okafor");
    s.talk(100.0, None, false, true, true);
    // "Mr Okafor" is a use of the name.
    s.say(Speaker::Agent, "Right, Mr Okafor, let me look.");
    s.talk(170.0, None, false, true, true);
    s.say(Speaker::Agent, "Still looking.");
    assert!(!s.kinds().contains(&CueKind::UseName), "used 170 s ago");
    s.talk(20.0, None, false, true, true);
    s.say(Speaker::Agent, "Nearly there.");
    let cue = s
        .out
        .iter()
        .find_map(|e| match &e.body {
            EventBody::Cue(c) if c.kind == CueKind::UseName => Some(c.clone()),
            _ => None,
        })
        .expect("use_name");
    assert!(
        cue.evidence
            .sentence
            .contains("the customer's name is Mr Daniel Okafor (the call's details)"),
        "{}",
        cue.evidence.sentence
    );

    // Never used at all: the cue comes when the agent speaks 3 minutes into the call, though
    // nobody said a name.
    let mut s = Script::new();
    s.coach.know_customer_name("Daniel Okafor");
    s.talk(175.0, None, false, true, true);
    s.say(Speaker::Agent, "One moment please.");
    assert!(!s.kinds().contains(&CueKind::UseName));
    s.talk(10.0, None, false, true, true);
    s.say(Speaker::Agent, "Thanks for waiting.");
    assert!(s.kinds().contains(&CueKind::UseName), "{:?}", s.kinds());
    // Without the details, the same call gets no use_name cue.
    let mut s = Script::new();
    s.talk(185.0, None, false, true, true);
    s.say(Speaker::Agent, "One moment please.");
    assert!(!s.kinds().contains(&CueKind::UseName));
}

#[test]
fn silence_cue_and_hold_alert() {
    let mut s = Script::new();
    s.talk(3.0, None, false, true, true);
    s.talk(4.0, None, false, false, false);
    assert!(s.kinds().is_empty());
    s.talk(1.5, None, false, false, false);
    assert_eq!(s.kinds(), [CueKind::ExplainSilence]);
    s.talk(60.0, None, false, false, false);
    assert_eq!(s.kinds(), [CueKind::ExplainSilence], "one cue per silence");
    assert_eq!(
        s.alerts().iter().map(|a| a.kind).collect::<Vec<_>>(),
        [AlertKind::LongHold]
    );
}

#[test]
fn ownership_and_escalation_alerts_over_a_long_escalation() {
    let mut s = Script::new();
    s.talk(5.0, None, false, true, true);
    s.episode_start();
    s.talk(25.0, None, true, true, true);
    let alerts = s.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::EscalatedCall);
    s.talk(25.0, None, true, true, true);
    assert!(
        s.kinds().contains(&CueKind::TakeOwnership),
        "{:?}",
        s.kinds()
    );
    // An agent who states the next step is not cued.
    let mut s = Script::new();
    s.talk(5.0, None, false, true, true);
    s.episode_start();
    s.talk(10.0, None, true, true, true);
    s.say(
        Speaker::Agent,
        "I'll refund the charge today and email you the confirmation.",
    );
    s.talk(50.0, None, true, true, true);
    assert!(
        !s.kinds().contains(&CueKind::TakeOwnership),
        "{:?}",
        s.kinds()
    );
}

#[test]
fn no_agent_side_evidence_reaches_an_alert_by_default() {
    let mut s = Script::new();
    s.talk(5.0, Some(dev(8.0, 40.0)), false, true, true);
    s.say(
        Speaker::Agent,
        "You should have read the contract, my account number is 12345678.",
    );
    s.say(
        Speaker::Customer,
        "This is ridiculous, I want a supervisor.",
    );
    s.episode_start();
    s.send(EventBody::Interruption {
        by: Speaker::Agent,
        of: Speaker::Customer,
        start_s: s.t,
    });
    s.talk(30.0, Some(dev(8.0, 40.0)), true, true, true);
    let alerts = s.alerts();
    assert!(alerts.len() >= 2, "{alerts:?}");
    for a in &alerts {
        assert!(a.agent.is_none(), "{a:?}");
        assert!(
            a.evidence
                .figures
                .keys()
                .all(|k| k.starts_with("customer_")),
            "{a:?}"
        );
        let text = format!("{} {} {:?}", a.headline, a.evidence.sentence, a.snippet).to_lowercase();
        assert!(
            !text.contains("agent") || a.kind == AlertKind::AbusiveCaller,
            "{text}"
        );
        assert!(
            !text.contains("contract") && !text.contains("12345678"),
            "agent words leaked: {text}"
        );
    }
    // With sharing enabled, agent figures are attached (and only then).
    let mut cfg = Config::default();
    cfg.alerts.share_agent_metrics = true;
    let mut s = Script::with(cfg);
    s.talk(5.0, Some(dev(8.0, 40.0)), false, true, true);
    s.episode_start();
    s.talk(25.0, Some(dev(8.0, 40.0)), true, true, true);
    assert!(s.alerts().iter().all(|a| {
        a.agent
            .as_ref()
            .is_some_and(|m| m.contains_key("agent_loudness_db"))
    }));
}

#[test]
fn thank_at_a_calm_end_without_thanks() {
    let mut s = Script::new();
    s.talk(5.0, None, false, true, true);
    let out = &mut s.out;
    s.coach.finish(5.0, &mut |e| out.push(e));
    assert_eq!(s.kinds(), [CueKind::Thank]);
    let mut s = Script::new();
    s.talk(5.0, None, false, true, true);
    s.say(Speaker::Agent, "Thanks for your patience today.");
    let out = &mut s.out;
    s.coach.finish(5.0, &mut |e| out.push(e));
    assert!(s.kinds().is_empty());
}
