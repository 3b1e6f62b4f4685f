//! A speaker's baseline: robust medians of their own early, calm speech, and how sure they are.
//!
//! Values go into fixed-bin histograms (allocated once), so medians and quartiles cost nothing
//! per frame and a few shouted words cannot drag the baseline the way a mean would. The baseline
//! is usable after about a second of voiced speech (a turn or two), but a young baseline is
//! uncertain: [`Baseline::uncertainty`] says by how much, and the score widens its dead zones by
//! that, so they narrow as the baseline matures. Hops far from the running estimate are not
//! learnt at all, even during warm-up: the first angry turn cannot become the baseline.

use crate::events::BaselineValues;

/// Fixed-range histogram with a median/quantile query.
#[derive(Debug, Clone)]
pub struct Histogram {
    lo: f32,
    step: f32,
    bins: Vec<u32>,
    count: u32,
}

impl Histogram {
    /// Bins of width `step` covering `lo..hi`; values outside land in the end bins.
    pub fn new(lo: f32, hi: f32, step: f32) -> Self {
        let n = ((hi - lo) / step).ceil().max(1.0) as usize;
        Self {
            lo,
            step,
            bins: vec![0; n],
            count: 0,
        }
    }

    /// Add one value.
    pub fn add(&mut self, x: f32) {
        let i = ((x - self.lo) / self.step).floor();
        let i = if i.is_finite() {
            i.clamp(0.0, (self.bins.len() - 1) as f32) as usize
        } else {
            return;
        };
        self.bins[i] += 1;
        self.count += 1;
    }

    /// Forget all values.
    pub fn clear(&mut self) {
        self.bins.fill(0);
        self.count = 0;
    }

    /// Number of values added.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The `q` quantile (0..1), interpolated within its bin; `None` when empty.
    pub fn quantile(&self, q: f32) -> Option<f32> {
        if self.count == 0 {
            return None;
        }
        let target = q.clamp(0.0, 1.0) * self.count as f32;
        let mut seen = 0.0;
        for (i, &c) in self.bins.iter().enumerate() {
            let next = seen + c as f32;
            if next >= target && c > 0 {
                let frac = (target - seen) / c as f32;
                return Some(self.lo + (i as f32 + frac) * self.step);
            }
            seen = next;
        }
        Some(self.lo + self.bins.len() as f32 * self.step)
    }
}

/// One baseline signal: histogram during warm-up, then a slowly drifting median.
#[derive(Debug, Clone)]
pub struct Tracked {
    hist: Histogram,
    median: Option<f32>,
}

impl Tracked {
    fn new(lo: f32, hi: f32, step: f32) -> Self {
        Self {
            hist: Histogram::new(lo, hi, step),
            median: None,
        }
    }
}

/// Voiced speech over which the measurements of one speaker are roughly independent (about a
/// syllable): the uncertainty of a median from `n` voiced seconds shrinks as `1/sqrt(n / this)`.
const INDEPENDENT_S: f32 = 0.2;
/// Smallest spread assumed per signal (dB, st, dB, fraction of the pace): one steady sentence
/// says little about how much a voice varies.
const MIN_SPREAD: [f32; 4] = [2.0, 1.0, 2.0, 0.1];
/// Voiced hops learnt before the learning gate applies (it needs an estimate to compare with).
const GATE_AFTER_HOPS: u32 = 30;

/// How far one hop may sit from the running baseline and still be learnt.
#[derive(Debug, Clone, Copy)]
pub struct LearnGate {
    /// Loudness (dB either side).
    pub level_db: f32,
    /// Pitch (semitones either side).
    pub pitch_st: f32,
}

/// The four baseline signals of one speaker.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// K-weighted hop level of voiced frames (dB).
    pub level: Tracked,
    /// Pitch in semitones re 100 Hz.
    pub pitch: Tracked,
    /// Spectral tilt (dB).
    pub tilt: Tracked,
    /// Pace (syllables per second of speech).
    pub pace: Tracked,
    voiced_hops: u32,
    min_hops: u32,
    warmup_hops: u32,
    drift_per_hop: f32,
    gate: LearnGate,
    z: f32,
    uncertainty: [f32; 4],
    rejected: u32,
    level_sum: f64,
    level_mean: Option<f32>,
}

/// Semitones of `hz` re 100 Hz.
pub fn semitones(hz: f32) -> f32 {
    12.0 * (hz / 100.0).log2()
}

impl Baseline {
    /// A baseline usable after `min_voiced_s` and learnt until `warmup_voiced_s` of voiced
    /// speech, drifting `drift_per_s` units per voiced second afterwards. Hops outside `gate`
    /// are not learnt; the uncertainty is `z` standard errors of the medians.
    pub fn new(
        min_voiced_s: f32,
        warmup_voiced_s: f32,
        drift_per_s: f32,
        gate: LearnGate,
        z: f32,
    ) -> Self {
        Self {
            level: Tracked::new(-100.0, 10.0, 0.25),
            pitch: Tracked::new(-24.0, 36.0, 0.1),
            tilt: Tracked::new(-70.0, 30.0, 0.25),
            pace: Tracked::new(0.0, 15.0, 0.05),
            voiced_hops: 0,
            min_hops: (min_voiced_s * 100.0) as u32,
            warmup_hops: (warmup_voiced_s * 100.0) as u32,
            drift_per_hop: drift_per_s * 0.01,
            gate,
            z,
            uncertainty: [f32::INFINITY; 4],
            rejected: 0,
            level_sum: 0.0,
            level_mean: None,
        }
    }

    /// Whether a hop deviates so far from the running estimate that it must not be learnt
    /// (a shout, an octave error, the first angry words before the score has risen).
    fn outlier(&self, level: f32, pitch_st: f32) -> bool {
        if self.voiced_hops < GATE_AFTER_HOPS {
            return false;
        }
        let (dl, dp) = match (self.level.median, self.pitch.median) {
            (Some(ml), Some(mp)) if self.voiced_hops > self.warmup_hops => {
                (level - ml, pitch_st - mp)
            }
            // During warm-up, against the exact medians so far (read only here: scanning the
            // histograms for every hop of a long call cost more than the rest of the state).
            _ => {
                let (Some(l), Some(p)) =
                    (self.level.hist.quantile(0.5), self.pitch.hist.quantile(0.5))
                else {
                    return false;
                };
                (level - l, pitch_st - p)
            }
        };
        dl.abs() > self.gate.level_db || dp.abs() > self.gate.pitch_st
    }

    fn update_uncertainty(&mut self) {
        let n_eff = (self.voiced_hops.min(self.warmup_hops) as f32 * 0.01 / INDEPENDENT_S).max(1.0);
        let k = 1.0 / n_eff.sqrt();
        let pace_median = self.pace.median.unwrap_or(0.0);
        for (i, t) in [&self.level, &self.pitch, &self.tilt, &self.pace]
            .into_iter()
            .enumerate()
        {
            let iqr = t
                .hist
                .quantile(0.75)
                .zip(t.hist.quantile(0.25))
                .map(|(a, b)| (a - b) / 1.349);
            let mut spread = iqr.unwrap_or(MIN_SPREAD[i]);
            if i == 3 {
                // Pace deviations are fractions of the baseline pace.
                spread = if pace_median > 0.5 {
                    spread / pace_median
                } else {
                    MIN_SPREAD[3]
                };
            }
            // Median standard error: sqrt(pi/2) sigma / sqrt(n).
            self.uncertainty[i] = 1.2533 * k * spread.max(MIN_SPREAD[i]);
        }
    }

    /// How uncertain each median is (loudness dB, pitch st, tilt dB, pace fraction): one
    /// standard error, from the spread of what was learnt and how much was. Infinite before
    /// the baseline is usable; small (a tenth of the spread) once warm-up is over.
    pub fn uncertainty(&self) -> [f32; 4] {
        self.uncertainty
    }

    /// How much the score's dead zones are widened: `z` standard errors.
    pub fn widening(&self) -> [f32; 4] {
        self.uncertainty.map(|u| self.z * u)
    }

    /// Voiced hops kept out of the baseline by the learning gate.
    pub fn rejected_hops(&self) -> u32 {
        self.rejected
    }

    /// Learn from one calm voiced hop. Returns true when the baseline just became usable or
    /// just finished its warm-up (the moments worth announcing).
    pub fn learn(&mut self, level: f32, pitch_st: f32, tilt: f32, pace: Option<f32>) -> bool {
        if self.outlier(level, pitch_st) {
            self.rejected += 1;
            return false;
        }
        self.voiced_hops += 1;
        if self.voiced_hops <= self.warmup_hops {
            self.level_sum += level as f64;
            self.level_mean = Some((self.level_sum / self.voiced_hops as f64) as f32);
            self.level.hist.add(level);
            self.pitch.hist.add(pitch_st);
            self.tilt.hist.add(tilt);
            if let Some(p) = pace {
                self.pace.hist.add(p);
            }
            // Re-reading the medians every 10th hop is plenty and keeps the per-hop cost flat.
            let n = self.voiced_hops;
            if n >= self.min_hops
                && (n.is_multiple_of(10) || n == self.min_hops || n == self.warmup_hops)
            {
                for t in [
                    &mut self.level,
                    &mut self.pitch,
                    &mut self.tilt,
                    &mut self.pace,
                ] {
                    t.median = t.hist.quantile(0.5);
                }
                self.update_uncertainty();
            }
            // Announced when usable, at twice and four times that, and when warm.
            let n = self.voiced_hops;
            n == self.min_hops
                || n == 2 * self.min_hops
                || n == 4 * self.min_hops
                || n == self.warmup_hops
        } else {
            // Median tracking: step toward each new value by a fixed small amount.
            let d = self.drift_per_hop;
            let step = |t: &mut Tracked, x: f32| {
                if let Some(m) = t.median.as_mut() {
                    *m += d * (x - *m).signum();
                }
            };
            step(&mut self.level, level);
            if let Some(m) = self.level_mean.as_mut() {
                *m += d * (level - *m).signum();
            }
            step(&mut self.pitch, pitch_st);
            step(&mut self.tilt, tilt);
            if let Some(p) = pace {
                step(&mut self.pace, p);
            }
            false
        }
    }

    /// Mean level of the voiced hops learnt (dB): a turn's mean level is compared with this.
    pub fn level_mean(&self) -> Option<f32> {
        self.level_mean.filter(|_| self.ready())
    }

    /// Whether enough speech has been heard to measure deviations.
    pub fn ready(&self) -> bool {
        self.voiced_hops >= self.min_hops && self.level.median.is_some()
    }

    /// Current medians: (level dB, pitch st, tilt dB, pace sps).
    pub fn medians(&self) -> Option<(f32, f32, f32, Option<f32>)> {
        Some((
            self.level.median?,
            self.pitch.median?,
            self.tilt.median?,
            self.pace.median,
        ))
    }

    /// The baseline as reported in events and reviews.
    pub fn values(&self) -> Option<BaselineValues> {
        let (l, p, t, r) = self.medians()?;
        Some(BaselineValues {
            loudness_db: l,
            pitch_hz: 100.0 * 2f32.powf(p / 12.0),
            tilt_db: t,
            pace_sps: r.unwrap_or(0.0),
            voiced_s: self.voiced_hops.min(self.warmup_hops) as f32 * 0.01,
            loudness_uncertainty_db: Some(self.uncertainty[0]).filter(|u| u.is_finite()),
            pitch_uncertainty_st: Some(self.uncertainty[1]).filter(|u| u.is_finite()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_median_is_robust_to_outliers() {
        let mut h = Histogram::new(-100.0, 0.0, 0.25);
        for i in 0..100 {
            h.add(-40.0 + (i % 5) as f32 * 0.5);
        }
        for _ in 0..20 {
            h.add(-5.0);
        }
        let m = h.quantile(0.5).unwrap();
        assert!((m - -39.0).abs() < 0.6, "{m}");
    }

    const GATE: LearnGate = LearnGate {
        level_db: 10.0,
        pitch_st: 5.0,
    };

    #[test]
    fn a_young_baseline_is_uncertain_and_shouting_is_not_learnt() {
        let mut b = Baseline::new(1.0, 20.0, 0.05, GATE, 1.0);
        let mut young = None;
        for i in 0..2000 {
            let l = -30.0 + ((i % 9) as f32 - 4.0);
            b.learn(l, 5.0 + ((i % 5) as f32 - 2.0) * 0.5, -10.0, Some(4.0));
            if i == 100 {
                young = Some(b.uncertainty());
            }
            if i == 150 {
                // Half a second of shouting during warm-up: none of it is learnt.
                for _ in 0..50 {
                    assert!(!b.learn(-12.0, 12.0, -5.0, Some(4.0)));
                }
                assert_eq!(b.rejected_hops(), 50);
            }
        }
        let (young, old) = (young.unwrap(), b.uncertainty());
        assert!(young[0] > 2.0 * old[0], "{young:?} -> {old:?}");
        assert!(young[0] > 1.0 && old[0] < 0.8, "{young:?} -> {old:?}");
        assert!((b.medians().unwrap().0 - -30.0).abs() < 0.6);
    }

    #[test]
    fn ready_after_min_speech_then_drifts_slowly() {
        let mut b = Baseline::new(1.0, 2.0, 1.0, GATE, 1.0);
        for i in 0..150 {
            b.learn(-30.0, 5.0, -10.0, Some(4.0));
            assert_eq!(b.ready(), i + 1 >= 100);
        }
        for _ in 0..100 {
            b.learn(-30.0, 5.0, -10.0, None);
        }
        let before = b.medians().unwrap().0;
        // 100 voiced hops (1 s) of louder speech (inside the learning gate) move the median by
        // at most 1 dB.
        for _ in 0..100 {
            b.learn(-22.0, 5.0, -10.0, None);
        }
        let after = b.medians().unwrap().0;
        assert!(
            after > before && after - before <= 1.01,
            "{before} -> {after}"
        );
    }
}
