//! Cutting a speaker's stream into utterances for transcription, by voice activity.
//!
//! An utterance starts at the first speech frame (with a short pre-roll so the first consonant
//! is kept), continues through pauses shorter than `end_pause_s`, and ends after such a pause
//! (with a short post-roll). One longer than `max_s` is split at its longest recent pause, so the
//! worker never gets more than a bounded amount of audio at once.

use crate::config::Transcribe;
use crate::dsp::{HOP, HOP_S};
use crate::events::Speaker;

/// A stretch of one speaker's speech, ready for the recogniser (16 kHz mono).
#[derive(Debug, Clone)]
pub struct Utterance {
    /// Whose speech.
    pub speaker: Speaker,
    /// Call-clock time of the first sample.
    pub start_s: f64,
    /// The audio at 16 kHz.
    pub samples: Vec<f32>,
    /// Seconds of voiced speech in it (for gating).
    pub voiced_s: f32,
    /// Seconds of speech in it (voice activity, pauses and pre-roll excluded): how much text the
    /// audio can hold.
    pub speech_s: f32,
}

impl Utterance {
    /// Call-clock time of the last sample.
    pub fn end_s(&self) -> f64 {
        self.start_s + self.samples.len() as f64 / 16000.0
    }
}

/// Per-speaker utterance cutter fed hop by hop.
pub struct Segmenter {
    speaker: Speaker,
    pre_roll: Vec<f32>,
    pre_roll_hops: usize,
    current: Option<Current>,
    end_pause_hops: u32,
    post_roll_hops: u32,
    max_hops: usize,
    min_voiced_hops: u32,
}

struct Current {
    start_hop: u64,
    samples: Vec<f32>,
    silent_hops: u32,
    voiced_hops: u32,
    /// Per hop: was it speech? (for finding a pause to split at)
    activity: Vec<bool>,
}

impl Segmenter {
    /// A segmenter for `speaker` with the limits in `cfg`.
    pub fn new(speaker: Speaker, cfg: &Transcribe) -> Self {
        let hops = |s: f32| (s as f64 / HOP_S).round().max(1.0) as usize;
        let pre = hops(cfg.pre_roll_s);
        Self {
            speaker,
            pre_roll: Vec::with_capacity(pre * HOP),
            pre_roll_hops: pre,
            current: None,
            end_pause_hops: hops(cfg.end_pause_s) as u32,
            post_roll_hops: hops(cfg.pre_roll_s) as u32,
            max_hops: hops(cfg.max_utterance_s),
            min_voiced_hops: hops(cfg.min_voiced_s) as u32,
        }
    }

    /// Feed hop number `hop` (1-based: it ends at `hop * 10 ms`) with its samples and whether
    /// it was speech / voiced. A finished utterance is returned.
    pub fn push(&mut self, hop: u64, x: &[f32], active: bool, voiced: bool) -> Option<Utterance> {
        let mut done = None;
        match self.current.as_mut() {
            None if active => {
                let pre_hops = self.pre_roll.len() / HOP;
                let mut samples = Vec::with_capacity((self.max_hops + pre_hops + 1) * HOP);
                samples.extend_from_slice(&self.pre_roll);
                samples.extend_from_slice(x);
                let mut activity = vec![false; pre_hops];
                activity.push(true);
                self.current = Some(Current {
                    start_hop: hop - 1 - pre_hops as u64,
                    samples,
                    silent_hops: 0,
                    voiced_hops: voiced as u32,
                    activity,
                });
            }
            None => {}
            Some(c) => {
                c.samples.extend_from_slice(x);
                c.activity.push(active);
                c.voiced_hops += voiced as u32;
                c.silent_hops = if active { 0 } else { c.silent_hops + 1 };
                if c.silent_hops >= self.end_pause_hops {
                    // Keep a short post-roll, drop the rest of the pause.
                    let keep = c.activity.len()
                        - (c.silent_hops - self.post_roll_hops.min(c.silent_hops)) as usize;
                    done = self.finish_current(keep);
                } else if c.activity.len() >= self.max_hops {
                    done = self.split_current();
                }
            }
        }
        // Pre-roll: the last few hops before any utterance.
        if self.pre_roll.len() >= self.pre_roll_hops * HOP {
            self.pre_roll.drain(..HOP);
        }
        self.pre_roll.extend_from_slice(x);
        done
    }

    /// The stream ended: hand over what is left.
    pub fn flush(&mut self) -> Option<Utterance> {
        let keep = self.current.as_ref()?.activity.len();
        self.finish_current(keep)
    }

    fn finish_current(&mut self, keep_hops: usize) -> Option<Utterance> {
        let mut c = self.current.take()?;
        c.samples.truncate(keep_hops * HOP);
        c.activity.truncate(keep_hops);
        self.emit(c.start_hop, c.samples, c.voiced_hops, &c.activity)
    }

    /// Too long: cut at the middle of the longest pause in the last third, or at the end.
    fn split_current(&mut self) -> Option<Utterance> {
        let c = self.current.as_mut()?;
        let n = c.activity.len();
        let from = n * 2 / 3;
        let (mut best, mut best_len, mut run) = (n, 0, 0);
        for i in from..n {
            if c.activity[i] {
                run = 0;
            } else {
                run += 1;
                if run > best_len {
                    best_len = run;
                    best = i + 1 - run / 2;
                }
            }
        }
        let cut = if best_len >= 3 { best } else { n };
        let rest_samples = c.samples.split_off(cut * HOP);
        let rest_activity = c.activity.split_off(cut);
        let head = std::mem::replace(
            c,
            Current {
                start_hop: c.start_hop + cut as u64,
                samples: rest_samples,
                silent_hops: 0,
                voiced_hops: 0,
                activity: rest_activity,
            },
        );
        // Voiced time is split by the share of speech hops on each side.
        let speech_head = head.activity.iter().filter(|a| **a).count().max(1);
        let speech_rest = c.activity.iter().filter(|a| **a).count();
        let total = speech_head + speech_rest;
        let voiced_head = (head.voiced_hops as usize * speech_head / total) as u32;
        c.voiced_hops = head.voiced_hops - voiced_head;
        if c.activity.iter().all(|a| !a) {
            self.current = None;
        }
        self.emit(head.start_hop, head.samples, voiced_head, &head.activity)
    }

    fn emit(
        &self,
        start_hop: u64,
        samples: Vec<f32>,
        voiced_hops: u32,
        activity: &[bool],
    ) -> Option<Utterance> {
        // Coughs, clicks and single syllables are not worth the recogniser's time (and invite
        // invented text).
        (voiced_hops >= self.min_voiced_hops && !samples.is_empty()).then_some(Utterance {
            speaker: self.speaker,
            start_s: start_hop as f64 * HOP_S,
            samples,
            voiced_s: voiced_hops as f32 * HOP_S as f32,
            speech_s: activity.iter().filter(|a| **a).count() as f32 * HOP_S as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn run(pattern: &[(bool, f32)]) -> Vec<Utterance> {
        let cfg = Config::default();
        let mut s = Segmenter::new(Speaker::Customer, &cfg.transcribe);
        let mut out = Vec::new();
        let mut hop = 0u64;
        for &(active, secs) in pattern {
            for _ in 0..(secs * 100.0).round() as usize {
                hop += 1;
                let x = [if active { 0.1 } else { 0.0 }; HOP];
                out.extend(s.push(hop, &x, active, active));
            }
        }
        out.extend(s.flush());
        out
    }

    #[test]
    fn pauses_split_utterances_and_short_gaps_do_not() {
        let u = run(&[
            (false, 1.0),
            (true, 2.0),
            (false, 0.2),
            (true, 1.0),
            (false, 2.0),
            (true, 1.5),
            (false, 1.0),
        ]);
        assert_eq!(
            u.len(),
            2,
            "{:?}",
            u.iter().map(|u| (u.start_s, u.end_s())).collect::<Vec<_>>()
        );
        // First: 1.0 - pre-roll .. 4.2 + post-roll.
        assert!((u[0].start_s - 0.8).abs() < 0.011, "{}", u[0].start_s);
        assert!((u[0].end_s() - 4.4).abs() < 0.011, "{}", u[0].end_s());
        assert!((u[1].start_s - 5.999).abs() < 0.02, "{}", u[1].start_s);
    }

    #[test]
    fn long_speech_is_split_at_a_pause_within_the_limit() {
        let cfg = Config::default();
        let max = cfg.transcribe.max_utterance_s;
        let u = run(&[(true, 12.0), (false, 0.3), (true, 12.0), (false, 1.0)]);
        assert!(u.len() >= 2);
        for x in &u {
            assert!(
                x.end_s() - x.start_s <= max as f64 + 0.3,
                "{} s",
                x.end_s() - x.start_s
            );
        }
        // The cut falls in the 0.3 s pause.
        assert!((u[0].end_s() - 12.15).abs() < 0.2, "{}", u[0].end_s());
        // Nothing lost: together they cover the speech.
        let covered: f64 = u.iter().map(|x| x.end_s() - x.start_s).sum();
        assert!(covered >= 24.0, "{covered}");
    }

    #[test]
    fn a_click_is_not_an_utterance() {
        assert!(run(&[(false, 1.0), (true, 0.05), (false, 2.0)]).is_empty());
    }
}
