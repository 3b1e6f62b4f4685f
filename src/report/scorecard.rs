//! The QA scorecard of a reviewed call: the playbook's items, each with the moments that
//! produced it, so a reviewer can jump there and listen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Review;
use crate::events::{CueKind, EpisodeEnd, PhraseKind, Speaker};

/// One scorecard line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The figure (a count, seconds, a ratio, a yes/no).
    pub value: serde_json::Value,
    /// Call-clock times of the moments behind it.
    pub moments: Vec<f64>,
    /// A short explanation, where the figure needs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The scorecard: customer items and agent items, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// How the customer's state went.
    pub customer: BTreeMap<String, Item>,
    /// What the agent did.
    pub agent: BTreeMap<String, Item>,
}

fn item(value: impl Into<serde_json::Value>, moments: Vec<f64>, note: Option<String>) -> Item {
    Item {
        value: value.into(),
        moments,
        note,
    }
}

fn r1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Build the scorecard from a finished review (episodes, conversation, phrases, cues).
pub fn build(r: &Review) -> Scorecard {
    let mut s = Scorecard::default();
    let caller = r.caller().map(|c| c.speaker).unwrap_or(Speaker::Customer);
    let eps: Vec<_> = r.episodes.iter().filter(|e| e.speaker == caller).collect();
    let c = &mut s.customer;
    c.insert(
        "escalation_episodes".into(),
        item(eps.len(), eps.iter().map(|e| e.start_s).collect(), None),
    );
    c.insert(
        "escalated_s".into(),
        item(
            r1(eps.iter().map(|e| e.end_s - e.start_s).sum::<f64>()),
            eps.iter().map(|e| e.start_s).collect(),
            None,
        ),
    );
    let peak = eps.iter().max_by(|a, b| a.peak.total_cmp(&b.peak));
    c.insert(
        "peak_escalation".into(),
        item(
            r1(peak.map_or(0.0, |p| p.peak as f64) * 10.0) / 10.0,
            peak.map(|p| vec![p.peak_s]).unwrap_or_default(),
            peak.map(|p| p.evidence.sentence.clone()),
        ),
    );
    let ended = |how: EpisodeEnd| {
        eps.iter()
            .filter(|e| e.ended_by == how)
            .map(|e| e.end_s)
            .collect::<Vec<_>>()
    };
    let (calmed, quiet, open) = (
        ended(EpisodeEnd::Calmed),
        ended(EpisodeEnd::WentQuiet),
        ended(EpisodeEnd::CallEnded),
    );
    c.insert(
        "episode_endings".into(),
        item(
            format!(
                "calmed {}, went quiet {}, still escalated at the end {}",
                calmed.len(),
                quiet.len(),
                open.len()
            ),
            [calmed, quiet, open.clone()].concat(),
            None,
        ),
    );
    // Did the call end calmer than it peaked? The score over the caller's last 30 s of timeline.
    if let Some(tr) = r.timeline.speakers.get(&caller) {
        let hop = r.timeline.hop_s as f64;
        let tail = (30.0 / hop) as usize;
        let n = tr.escalation.len();
        let last: Vec<f32> = tr.escalation[n.saturating_sub(tail)..]
            .iter()
            .zip(&tr.voiced[n.saturating_sub(tail)..])
            .filter(|(_, v)| **v)
            .map(|(e, _)| *e)
            .collect();
        let end_score = if last.is_empty() {
            0.0
        } else {
            last.iter().sum::<f32>() / last.len() as f32
        };
        let peak_score = peak.map_or(0.0, |p| p.peak);
        let calmer = eps.is_empty() || (open.is_empty() && end_score < peak_score);
        c.insert(
            "ended_calmer_than_peak".into(),
            item(
                calmer,
                vec![r1(r.duration_s - 30.0).max(0.0)],
                Some(format!(
                    "score over the last 30 s of speech {end_score:.2}, peak {peak_score:.2}"
                )),
            ),
        );
    }

    let a = &mut s.agent;
    let conv = &r.conversation;
    if r.speaker_separation {
        let by_agent: Vec<f64> = conv
            .interruptions
            .iter()
            .filter(|i| i.by == Speaker::Agent)
            .map(|i| i.start_s)
            .collect();
        a.insert("interruptions".into(), item(by_agent.len(), by_agent, None));
        a.insert(
            "overlap_s".into(),
            item(
                r1(conv.summary.overlap_s as f64),
                conv.overlaps.iter().map(|o| o.start_s).collect(),
                None,
            ),
        );
        if let Some(t) = conv.summary.talk_ratio_agent {
            a.insert(
                "talk_ratio".into(),
                item(
                    r1(t as f64 * 100.0) / 100.0,
                    vec![],
                    Some("agent talk / all talk".into()),
                ),
            );
        }
        if let Some(m) = conv
            .summary
            .longest_monologue
            .as_ref()
            .filter(|m| m.speaker == Speaker::Agent)
        {
            a.insert(
                "longest_monologue_s".into(),
                item(r1(m.end_s - m.start_s), vec![m.start_s], None),
            );
        }
    }
    a.insert(
        "dead_air".into(),
        item(
            conv.silences.len(),
            conv.silences.iter().map(|x| x.start_s).collect(),
            Some(format!("longest {:.1} s", conv.summary.longest_silence_s)),
        ),
    );
    if let Some(ag) = r.speakers.get(&Speaker::Agent) {
        if let Some(p) = ag.pace_median_sps {
            a.insert(
                "pace_sps".into(),
                item(
                    r1(p as f64),
                    vec![],
                    Some("syllables per second of speech".into()),
                ),
            );
        }
        let words: usize = r
            .transcript
            .iter()
            .flatten()
            .filter(|t| t.speaker == Speaker::Agent)
            .map(|t| t.text.split_whitespace().count())
            .sum();
        if r.transcript.is_some() && ag.talk_s > 10.0 {
            a.insert(
                "words_per_minute".into(),
                item(
                    (words as f64 / ag.talk_s as f64 * 60.0).round(),
                    vec![],
                    None,
                ),
            );
        }
    }
    let cue_times = |kinds: &[CueKind]| {
        r.cues
            .iter()
            .filter(|c| kinds.contains(&c.cue.kind))
            .map(|c| c.t_s)
            .collect::<Vec<_>>()
    };
    let mirroring = cue_times(&[CueKind::LowerVoice, CueKind::SlowDown]);
    a.insert(
        "mirroring".into(),
        item(
            mirroring.len(),
            mirroring,
            Some("louder or faster than their baseline while the customer was escalated".into()),
        ),
    );
    if r.transcript.is_some() {
        let phrase_times = |kind: PhraseKind| {
            r.phrases
                .iter()
                .filter(|p| p.kind == kind && p.speaker != Speaker::Customer)
                .map(|p| p.start_s)
                .collect::<Vec<_>>()
        };
        for (name, kind) in [
            ("acknowledgements", PhraseKind::Acknowledgement),
            ("specific_apologies", PhraseKind::SpecificApology),
            ("bare_apologies", PhraseKind::BareApology),
            ("ownership_statements", PhraseKind::Ownership),
            ("repeated_lines", PhraseKind::RepeatedLine),
            ("blame_phrases", PhraseKind::Blame),
            ("thanks", PhraseKind::Thanks),
        ] {
            let t = phrase_times(kind);
            a.insert(name.into(), item(t.len(), t, None));
        }
        let given = r.phrases.iter().find(|p| p.kind == PhraseKind::NameGiven);
        let uses = phrase_times(PhraseKind::NameUsed);
        a.insert(
            "name_uses".into(),
            item(
                uses.len(),
                given
                    .iter()
                    .map(|g| g.start_s)
                    .chain(uses.iter().copied())
                    .collect(),
                Some(match (given, &r.customer_name) {
                    (Some(g), _) => format!("customer gave their name at {:.0} s", g.start_s),
                    (None, Some(n)) => format!("the call's details give the name: {n}"),
                    (None, None) => "the customer did not give a name".into(),
                }),
            ),
        );
    }
    s
}
