//! A diarised mono call turned into the stereo call the rest of calmline understands: one
//! channel per speaker (the mix, faded in where that speaker talks), agent and customer decided
//! by the centre's rule.

use std::path::Path;

use super::{Diarisation, Diariser, RATE, voices};
use crate::audio::memory::{FADE_S, fade_gain};
use crate::audio::{FileSource, Source, read_all, resample_all};
use crate::config::{AgentRule, Config};
use crate::error::Result;
use crate::events::TranscriptSegment;
use crate::report::DiarisationReport;

/// A mono recording split by speaker.
pub struct Split {
    /// The recording's sample rate.
    pub rate: u32,
    /// Two channels, the customer on `cfg.channels.customer`.
    pub channels: Vec<Vec<f32>>,
    /// The decision, for the report.
    pub report: DiarisationReport,
    /// The raw diarisation.
    pub diarisation: Diarisation,
    /// The recording at 16 kHz, as the speaker models heard it.
    pub at16: Vec<f32>,
}

/// Diarise the mono recording at `path`. `None` when fewer than two voices are found.
pub fn split_mono(
    path: &Path,
    cfg: &Config,
    diariser: &Diariser,
    notes: &mut Vec<String>,
    progress: &(dyn Fn(f32) + Sync),
) -> Result<Option<Split>> {
    let mut file = FileSource::open(path)?;
    let rate = file.sample_rate();
    let mut channels = read_all(&mut file)?;
    let mono = channels.swap_remove(0);
    // Damaged samples (NaN, infinite) are silence to the speaker models; the analysis still
    // sees and reports them.
    let clean: Vec<f32>;
    let for_models: &[f32] = if mono.iter().all(|x| x.is_finite()) {
        &mono
    } else {
        clean = mono
            .iter()
            .map(|&x| if x.is_finite() { x } else { 0.0 })
            .collect();
        &clean
    };
    let at16 = if rate == RATE {
        for_models.to_vec()
    } else {
        resample_all(&[for_models.to_vec()], rate, RATE)?.swap_remove(0)
    };
    let d = diariser.run(&at16, progress)?;
    if d.speakers < 2 {
        return Ok(None);
    }
    // The split replaces the file as the review's source: what decoding met (a file cut
    // short, damaged packets) is said here or nowhere.
    notes.extend(file.warnings());
    let first_start = |s: usize| {
        d.turns
            .iter()
            .filter(|t| t.speaker == s)
            .map(|t| t.start_s)
            .fold(f64::INFINITY, f64::min)
    };
    let lead = (first_start(1) - first_start(0)).max(0.0);
    let enrolled = match voices::load_all(&crate::config::data_path(&cfg.diarise.voices, "voices"))
    {
        Ok(v) => v,
        Err(e) => {
            notes.push(format!("enrolled voices not used: {e}"));
            Vec::new()
        }
    };
    let (agent_voice, agent_decided_by, agent_name, role_confidence) =
        match voices::match_agent(&enrolled, &d.voices, cfg.diarise.voice_match) {
            Some((v, name, sim, other)) => (
                v,
                "enrolled voice",
                Some(name),
                (0.5 + (sim - other).max(0.0)).min(1.0),
            ),
            None => match cfg.diarise.agent {
                AgentRule::First => (
                    0,
                    "first to speak",
                    None,
                    (0.5 + lead / 4.0).min(1.0) as f32,
                ),
                AgentRule::Second => (
                    1,
                    "second to speak",
                    None,
                    (0.5 + lead / 4.0).min(1.0) as f32,
                ),
            },
        };
    // Voices beyond the second (a third party, a recorded message) go with the customer.
    let role_of = |s: usize| usize::from(s != agent_voice);
    let n = mono.len();
    let mut masks = vec![vec![0f32; n]; 2];
    let fade = (FADE_S * rate as f64).max(1.0);
    for t in &d.turns {
        let m = &mut masks[role_of(t.speaker)];
        let a = ((t.start_s * rate as f64) as usize).min(n);
        let b = ((t.end_s * rate as f64) as usize).min(n);
        let lo = a.saturating_sub(fade as usize);
        let hi = (b + fade as usize).min(n);
        for (i, v) in m.iter_mut().enumerate().take(hi).skip(lo) {
            let g = fade_gain(i, a, b, fade);
            *v = v.max(g);
        }
    }
    let speech = |m: &[f32]| m.iter().filter(|&&g| g >= 1.0).count() as f64 / rate as f64;
    let overlap = masks[0]
        .iter()
        .zip(&masks[1])
        .filter(|(a, b)| **a >= 1.0 && **b >= 1.0)
        .count() as f64
        / rate as f64;
    let report = DiarisationReport {
        method: "diarisation".into(),
        speakers_found: d.speakers,
        agent_decided_by: agent_decided_by.into(),
        agent_name,
        agent_voice,
        role_confidence,
        speech_s: [speech(&masks[0]), speech(&masks[1])],
        overlap_s: overlap,
    };
    let [agent, customer] = [0, 1].map(|r| {
        mono.iter()
            .zip(&masks[r])
            .map(|(x, g)| x * g)
            .collect::<Vec<f32>>()
    });
    let channels = if cfg.channels.customer.index() == 0 {
        vec![customer, agent]
    } else {
        vec![agent, customer]
    };
    Ok(Some(Split {
        rate,
        channels,
        report,
        diarisation: d,
        at16,
    }))
}

/// Whether an agent's and a customer's transcript segments are one stretch of speech heard on
/// both sides. Where the diarisation has both people talking, both split channels carry the
/// whole mix, so the one voice in it is transcribed twice, often with different mistakes
/// ("Yes, okay, I'll help you." / "Well, it can help you."). They are when they share most of
/// their time (70% of the shorter) and at least two words, and 40% of the shorter one's words.
pub fn heard_twice(a: &TranscriptSegment, b: &TranscriptSegment) -> bool {
    if a.speaker == b.speaker {
        return false;
    }
    let shared = a.end_s.min(b.end_s) - a.start_s.max(b.start_s);
    let shorter = (a.end_s - a.start_s).min(b.end_s - b.start_s);
    if shorter <= 0.0 || shared < 0.7 * shorter {
        return false;
    }
    let words = |t: &str| -> Vec<String> {
        t.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .collect::<String>()
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let (wa, mut wb) = (words(&a.text), words(&b.text));
    let fewest = wa.len().min(wb.len());
    let mut common = 0;
    for w in &wa {
        if let Some(i) = wb.iter().position(|x| x == w) {
            wb.swap_remove(i);
            common += 1;
        }
    }
    common >= 2 && common as f64 >= 0.4 * fewest as f64
}

/// Of a segment heard on both sides, the speaker whose voice (`voices`: agent, customer) the
/// speech in `[start_s, end_s)` of the 16 kHz call matches; `None` when it is too short to tell.
pub fn whose_voice(
    diariser: &Diariser,
    at16: &[f32],
    voices: [&[f32]; 2],
    start_s: f64,
    end_s: f64,
) -> Option<crate::events::Speaker> {
    use crate::events::Speaker;
    let a = ((start_s * RATE as f64) as usize).min(at16.len());
    let b = ((end_s * RATE as f64) as usize).min(at16.len());
    if b < a + RATE as usize / 2 || voices.iter().any(|v| v.is_empty()) {
        return None;
    }
    let e = diariser.embedder().embed(&at16[a..b]).ok()?;
    let [agent, customer] = voices.map(|v| super::cluster::cosine(&e, v));
    Some(if agent >= customer {
        Speaker::Agent
    } else {
        Speaker::Customer
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Speaker, TranscriptSegment};

    #[test]
    fn the_same_speech_on_both_sides_is_heard_twice_and_different_speech_is_not() {
        let at =
            |speaker, start, end, text| TranscriptSegment::from_text(speaker, start, end, text);
        // The SpokenWOZ call mixed down: one agent sentence, transcribed on both sides.
        let agent = at(Speaker::Agent, 8.19, 9.96, "Yes, okay, I'll help you.");
        let echo = at(Speaker::Customer, 8.21, 10.12, "Well, it can help you.");
        assert!(heard_twice(&agent, &echo));
        assert!(heard_twice(&echo, &agent));
        // Both talking at once, different words (digits read out over the agent's prompt).
        let a = at(Speaker::Agent, 68.71, 69.95, "1, 2,");
        let c = at(Speaker::Customer, 69.51, 70.9, "will five, six.");
        assert!(!heard_twice(&a, &c));
        // The same words at different times are a repetition, not an echo.
        let later = at(Speaker::Customer, 12.0, 13.8, "Yes, okay, I'll help you.");
        assert!(!heard_twice(&agent, &later));
        // One speaker's own segments never are.
        let own = at(Speaker::Agent, 8.2, 10.0, "Yes, okay, I'll help you.");
        assert!(!heard_twice(&agent, &own));
        // Sharing only "you" is not enough.
        let other = at(Speaker::Customer, 8.3, 9.9, "Could you wait?");
        assert!(!heard_twice(&agent, &other));
    }
}
