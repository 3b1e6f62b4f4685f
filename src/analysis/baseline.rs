//! A speaker's baseline: robust medians of their own early, calm speech.
//!
//! Values go into fixed-bin histograms (allocated once), so medians and quartiles cost nothing
//! per frame and a few shouted words cannot drag the baseline the way a mean would.

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
}

/// Semitones of `hz` re 100 Hz.
pub fn semitones(hz: f32) -> f32 {
    12.0 * (hz / 100.0).log2()
}

impl Baseline {
    /// A baseline usable after `min_voiced_s` and learnt until `warmup_voiced_s` of voiced
    /// speech, drifting `drift_per_s` units per voiced second afterwards.
    pub fn new(min_voiced_s: f32, warmup_voiced_s: f32, drift_per_s: f32) -> Self {
        Self {
            level: Tracked::new(-100.0, 10.0, 0.25),
            pitch: Tracked::new(-24.0, 36.0, 0.1),
            tilt: Tracked::new(-70.0, 30.0, 0.25),
            pace: Tracked::new(0.0, 15.0, 0.05),
            voiced_hops: 0,
            min_hops: (min_voiced_s * 100.0) as u32,
            warmup_hops: (warmup_voiced_s * 100.0) as u32,
            drift_per_hop: drift_per_s * 0.01,
        }
    }

    /// Learn from one calm voiced hop. Returns true when the baseline just became usable or
    /// just finished its warm-up (the moments worth announcing).
    pub fn learn(&mut self, level: f32, pitch_st: f32, tilt: f32, pace: Option<f32>) -> bool {
        self.voiced_hops += 1;
        if self.voiced_hops <= self.warmup_hops {
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
            }
            self.voiced_hops == self.min_hops || self.voiced_hops == self.warmup_hops
        } else {
            // Median tracking: step toward each new value by a fixed small amount.
            let d = self.drift_per_hop;
            let step = |t: &mut Tracked, x: f32| {
                if let Some(m) = t.median.as_mut() {
                    *m += d * (x - *m).signum();
                }
            };
            step(&mut self.level, level);
            step(&mut self.pitch, pitch_st);
            step(&mut self.tilt, tilt);
            if let Some(p) = pace {
                step(&mut self.pace, p);
            }
            false
        }
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

    #[test]
    fn ready_after_min_speech_then_drifts_slowly() {
        let mut b = Baseline::new(1.0, 2.0, 1.0);
        for i in 0..150 {
            b.learn(-30.0, 5.0, -10.0, Some(4.0));
            assert_eq!(b.ready(), i + 1 >= 100);
        }
        for _ in 0..100 {
            b.learn(-30.0, 5.0, -10.0, None);
        }
        let before = b.medians().unwrap().0;
        // 100 voiced hops (1 s) of louder speech move the median by at most 1 dB.
        for _ in 0..100 {
            b.learn(-10.0, 5.0, -10.0, None);
        }
        let after = b.medians().unwrap().0;
        assert!(
            after > before && after - before <= 1.01,
            "{before} -> {after}"
        );
    }
}
