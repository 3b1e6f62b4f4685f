//! Conversation state: talk spurts, overlaps, interruptions, dead air, monologues, talk ratio.

use crate::config::Config;
use crate::dsp::HOP_S;
use crate::events::{ConversationSummary, Event, EventBody, Monologue, Speaker};

/// Talk spurt of one speaker: voice activity with short gaps bridged.
#[derive(Debug, Clone, Default)]
struct Spurt {
    talking: bool,
    start: f64,
    last_active: f64,
    active_hops: u64,
}

impl Spurt {
    /// Returns Some(true) when a spurt started this hop, Some(false) when one ended.
    fn update(&mut self, active: bool, t: f64, hangover: f64) -> Option<bool> {
        if active {
            self.active_hops += 1;
            self.last_active = t;
            if !self.talking {
                self.talking = true;
                self.start = t - HOP_S;
                return Some(true);
            }
        } else if self.talking && t - self.last_active >= hangover {
            self.talking = false;
            return Some(false);
        }
        None
    }
}

#[derive(Debug, Clone)]
struct Pending {
    by: usize,
    start: f64,
}

/// Conversation facts for one or two speakers, updated hop by hop.
pub struct Conversation {
    speakers: Vec<Speaker>,
    spurts: Vec<Spurt>,
    hangover: f64,
    min_overlap: f64,
    interrupted_after: f64,
    interrupt_min: f64,
    min_silence: f64,
    // Overlap.
    overlap_hops: u64,
    overlap: Option<(f64, f64)>,
    // Interruptions.
    pending: Option<Pending>,
    interruptions: [u32; 2],
    // Dead air.
    anyone_spoke: bool,
    silence_start: Option<f64>,
    silence_total: f64,
    longest_silence: f64,
    // Floor (monologues).
    floor: Option<(usize, f64, f64)>,
    longest_monologue: Option<Monologue>,
    t: f64,
}

impl Conversation {
    /// Conversation state for `speakers` (one or two) with thresholds from `cfg`.
    pub fn new(speakers: &[Speaker], cfg: &Config) -> Self {
        let c = &cfg.conversation;
        Self {
            speakers: speakers.to_vec(),
            spurts: vec![Spurt::default(); speakers.len()],
            hangover: c.hangover_s as f64,
            min_overlap: c.min_overlap_s as f64,
            interrupted_after: c.interrupted_after_s as f64,
            interrupt_min: c.interrupt_min_s as f64,
            min_silence: c.min_silence_s as f64,
            overlap_hops: 0,
            overlap: None,
            pending: None,
            interruptions: [0; 2],
            anyone_spoke: false,
            silence_start: None,
            silence_total: 0.0,
            longest_silence: 0.0,
            floor: None,
            longest_monologue: None,
            t: 0.0,
        }
    }

    /// Update with each speaker's voice activity for the hop ending at `t`.
    pub fn update(&mut self, t: f64, active: &[bool], sink: &mut impl FnMut(Event)) {
        self.t = t;
        let mut started = [false; 2];
        for (i, (&a, sp)) in active.iter().zip(self.spurts.iter_mut()).enumerate() {
            if sp.update(a, t, self.hangover) == Some(true) {
                started[i] = true;
            }
        }
        let two = self.spurts.len() == 2;
        if two {
            self.track_overlap(t, active, sink);
            self.track_interruptions(t, started, sink);
            self.track_floor(t);
        }
        self.track_silence(t, active, sink);
    }

    fn track_overlap(&mut self, t: f64, active: &[bool], sink: &mut impl FnMut(Event)) {
        let both = active[0] && active[1];
        if both {
            self.overlap_hops += 1;
            self.overlap = Some(match self.overlap {
                Some((s, _)) => (s, t),
                None => (t - HOP_S, t),
            });
        } else if let Some((s, e)) = self.overlap
            && t - e >= self.hangover
        {
            self.overlap = None;
            if e - s >= self.min_overlap {
                sink(Event {
                    t_s: t,
                    body: EventBody::Overlap {
                        start_s: s,
                        end_s: e,
                    },
                });
            }
        }
    }

    fn track_interruptions(&mut self, t: f64, started: [bool; 2], sink: &mut impl FnMut(Event)) {
        for (by, &start) in started.iter().enumerate() {
            let of = 1 - by;
            let other = &self.spurts[of];
            if start && other.talking && t - other.start >= self.interrupted_after {
                self.pending = Some(Pending {
                    by,
                    start: self.spurts[by].start,
                });
            }
        }
        if let Some(p) = self.pending.clone() {
            let sp = &self.spurts[p.by];
            if !sp.talking || sp.start != p.start {
                // Stopped before the minimum: a backchannel ("mm-hm"), not an interruption.
                self.pending = None;
            } else if t - p.start >= self.interrupt_min {
                self.pending = None;
                self.interruptions[p.by] += 1;
                sink(Event {
                    t_s: t,
                    body: EventBody::Interruption {
                        by: self.speakers[p.by],
                        of: self.speakers[1 - p.by],
                        start_s: p.start,
                    },
                });
            }
        }
    }

    fn track_floor(&mut self, t: f64) {
        // A speaker takes the floor once their spurt is longer than a backchannel.
        for i in 0..2 {
            let (talking, start, last) = {
                let sp = &self.spurts[i];
                (sp.talking, sp.start, sp.last_active)
            };
            if talking && t - start >= self.interrupt_min {
                match self.floor {
                    // Only a turn that began after the holder took the floor can take it over.
                    Some((holder, since, _)) if holder != i && start > since => {
                        self.close_floor();
                        self.floor = Some((i, start, last));
                    }
                    None => self.floor = Some((i, start, last)),
                    Some(_) => {}
                }
            }
        }
        if let Some((holder, _, last)) = self.floor.as_mut() {
            let sp = &self.spurts[*holder];
            if sp.talking {
                *last = sp.last_active;
            }
        }
    }

    fn close_floor(&mut self) {
        if let Some((holder, start, last)) = self.floor.take() {
            let m = Monologue {
                speaker: self.speakers[holder],
                start_s: start,
                end_s: last,
            };
            let longer = self
                .longest_monologue
                .as_ref()
                .is_none_or(|l| m.end_s - m.start_s > l.end_s - l.start_s);
            if longer {
                self.longest_monologue = Some(m);
            }
        }
    }

    fn track_silence(&mut self, t: f64, active: &[bool], sink: &mut impl FnMut(Event)) {
        let talking = self.spurts.iter().any(|s| s.talking);
        if active.iter().any(|&a| a) {
            self.anyone_spoke = true;
        }
        if !talking && self.anyone_spoke {
            if self.silence_start.is_none() {
                let last = self
                    .spurts
                    .iter()
                    .map(|s| s.last_active)
                    .fold(0.0, f64::max);
                self.silence_start = Some(last);
            }
        } else if let Some(s) = self.silence_start.take() {
            let e = t - HOP_S;
            if e - s >= self.min_silence {
                self.silence_total += e - s;
                self.longest_silence = self.longest_silence.max(e - s);
                // Dead air ends whoever held the floor.
                self.close_floor();
                sink(Event {
                    t_s: t,
                    body: EventBody::Silence {
                        start_s: s,
                        end_s: e,
                    },
                });
            }
        }
    }

    /// The call ended: report totals. Silence still running at the end is not dead air (the
    /// call is over), so it is not counted.
    pub fn finish(&mut self, t: f64, sink: &mut impl FnMut(Event)) {
        if let Some((s, e)) = self.overlap.take()
            && e - s >= self.min_overlap
        {
            sink(Event {
                t_s: t,
                body: EventBody::Overlap {
                    start_s: s,
                    end_s: e,
                },
            });
        }
        self.close_floor();
        let talk: Vec<f64> = self
            .spurts
            .iter()
            .map(|s| s.active_hops as f64 * HOP_S)
            .collect();
        let ratio = match (self.speakers.as_slice(), talk.as_slice()) {
            ([Speaker::Agent, Speaker::Customer], [a, c]) if a + c > 0.0 => {
                Some((a / (a + c)) as f32)
            }
            ([Speaker::Customer, Speaker::Agent], [c, a]) if a + c > 0.0 => {
                Some((a / (a + c)) as f32)
            }
            _ => None,
        };
        let count = |who: Speaker| {
            self.speakers
                .iter()
                .position(|&s| s == who)
                .map_or(0, |i| self.interruptions[i])
        };
        sink(Event {
            t_s: t,
            body: EventBody::ConversationSummary(ConversationSummary {
                duration_s: t,
                talk_ratio_agent: ratio,
                overlap_s: (self.overlap_hops as f64 * HOP_S) as f32,
                agent_interruptions: count(Speaker::Agent),
                customer_interruptions: count(Speaker::Customer),
                longest_silence_s: self.longest_silence as f32,
                silence_s: self.silence_total as f32,
                longest_monologue: self.longest_monologue.clone(),
            }),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive two speakers from per-hop scripts ('a' agent talks, 'c' customer, 'b' both, '.' none).
    fn drive(script: &[(char, f64)]) -> Vec<Event> {
        let cfg = Config::default();
        let mut c = Conversation::new(&[Speaker::Agent, Speaker::Customer], &cfg);
        let mut ev = Vec::new();
        let mut t = 0.0;
        for &(who, secs) in script {
            for _ in 0..(secs * 100.0).round() as usize {
                t += HOP_S;
                let a = [matches!(who, 'a' | 'b'), matches!(who, 'c' | 'b')];
                c.update(t, &a, &mut |e| ev.push(e));
            }
        }
        c.finish(t, &mut |e| ev.push(e));
        ev
    }

    #[test]
    fn agent_cutting_in_is_an_interruption_and_backchannel_is_not() {
        let ev = drive(&[
            ('c', 3.0),
            ('b', 0.4), // "mm-hm" over the customer: backchannel
            ('c', 2.0),
            ('b', 1.5), // agent cuts in and keeps going
            ('a', 2.0),
            ('.', 4.0), // dead air
            ('c', 1.0),
        ]);
        let ints: Vec<_> = ev
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Interruption { by, of, start_s } => Some((*by, *of, *start_s)),
                _ => None,
            })
            .collect();
        assert_eq!(ints.len(), 1, "{ints:?}");
        assert_eq!((ints[0].0, ints[0].1), (Speaker::Agent, Speaker::Customer));
        assert!((ints[0].2 - 5.4).abs() < 0.02, "{ints:?}");
        let overlaps: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e.body, EventBody::Overlap { .. }))
            .collect();
        assert_eq!(overlaps.len(), 1, "only the long overlap is listed");
        let silences: Vec<_> = ev
            .iter()
            .filter_map(|e| match e.body {
                EventBody::Silence { start_s, end_s } => Some(end_s - start_s),
                _ => None,
            })
            .collect();
        assert_eq!(silences.len(), 1);
        assert!((silences[0] - 4.0).abs() < 0.05, "{silences:?}");
        let summary = ev.iter().find_map(|e| match &e.body {
            EventBody::ConversationSummary(s) => Some(s.clone()),
            _ => None,
        });
        let s = summary.unwrap();
        assert_eq!(s.agent_interruptions, 1);
        assert_eq!(s.customer_interruptions, 0);
        assert!((s.overlap_s - 1.9).abs() < 0.05, "{}", s.overlap_s);
        // The customer held the floor from the start until the agent took it over at 6.4 s
        // (the backchannel did not break it).
        let m = s.longest_monologue.unwrap();
        assert_eq!(m.speaker, Speaker::Customer);
        assert!((m.end_s - m.start_s - 6.4).abs() < 0.05, "{m:?}");
    }
}
