//! Speaking pace: syllable nuclei counted as peaks of the loudness envelope.
//!
//! A syllable's vowel is a loudness peak between two dips. Counting peaks that rise and fall by
//! a few dB, over the speech of the last few seconds, gives syllables per second of speech, which
//! rises when a caller speeds up. No crate does this; it is a small state machine.

/// Streaming syllable counter and pace over a sliding window of hops.
#[derive(Debug, Clone)]
pub struct PaceTracker {
    peak_db: f32,
    /// Smoothed envelope (dB) of the previous hops.
    env: [f32; 3],
    trough: f32,
    top: f32,
    rising: bool,
    hops_since_peak: u32,
    /// Per hop in the window: bit 0 = active speech, bit 1 = syllable peak.
    ring: Vec<u8>,
    pos: usize,
    active: u32,
    syllables: u32,
}

/// Shortest time between two syllable nuclei (10 hops = 100 ms, i.e. at most 10 per second).
const MIN_GAP_HOPS: u32 = 10;
/// Pace needs at least this much speech in the window to be meaningful (1 s).
const MIN_ACTIVE_HOPS: u32 = 100;

impl PaceTracker {
    /// A tracker counting peaks of `peak_db` over a window of `window_hops` hops.
    pub fn new(peak_db: f32, window_hops: usize) -> Self {
        Self {
            peak_db,
            env: [-120.0; 3],
            trough: f32::MAX,
            top: f32::MIN,
            rising: true,
            hops_since_peak: MIN_GAP_HOPS,
            ring: vec![0; window_hops.max(1)],
            pos: 0,
            active: 0,
            syllables: 0,
        }
    }

    /// Feed one hop's level (dB) and whether it was speech. Returns (is a syllable peak, pace in
    /// syllables per second of speech when enough speech is in the window).
    pub fn push(&mut self, level_db: f32, active: bool) -> (bool, Option<f32>) {
        self.env = [self.env[1], self.env[2], level_db];
        let e = (self.env[0] + self.env[1] + self.env[2]) / 3.0;
        self.hops_since_peak = self.hops_since_peak.saturating_add(1);
        let mut peak = false;
        if self.rising {
            if e < self.trough {
                self.trough = e;
                self.top = e;
            } else if e > self.top {
                self.top = e;
            }
            if self.top - self.trough >= self.peak_db && self.top - e >= self.peak_db {
                // The envelope rose and has now fallen again: the top was a nucleus.
                if active && self.hops_since_peak >= MIN_GAP_HOPS {
                    peak = true;
                    self.hops_since_peak = 0;
                }
                self.rising = false;
                self.trough = e;
            }
        } else {
            self.trough = self.trough.min(e);
            if e - self.trough >= self.peak_db {
                self.rising = true;
                self.top = e;
            }
        }
        // Slide the window.
        let old = self.ring[self.pos];
        self.active -= (old & 1) as u32;
        self.syllables -= ((old >> 1) & 1) as u32;
        let new = active as u8 | ((peak as u8) << 1);
        self.ring[self.pos] = new;
        self.active += active as u32;
        self.syllables += peak as u32;
        self.pos = (self.pos + 1) % self.ring.len();
        let pace = (self.active >= MIN_ACTIVE_HOPS)
            .then(|| self.syllables as f32 / (self.active as f32 * 0.01));
        (peak, pace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_a_syllable_train_at_its_rate() {
        // 4 syllables per second: 250 ms cycle, loud for 120 ms, 15 dB dips between.
        let mut p = PaceTracker::new(3.0, 300);
        let mut last = None;
        for i in 0..600 {
            let phase = i % 25;
            let level = if phase < 12 {
                -20.0 - (phase as f32 - 6.0).abs()
            } else {
                -35.0
            };
            last = p.push(level, true).1;
        }
        let pace = last.expect("pace");
        assert!((pace - 4.0).abs() < 0.4, "{pace}");
    }

    #[test]
    fn flat_level_has_no_syllables() {
        let mut p = PaceTracker::new(3.0, 300);
        let mut last = None;
        for _ in 0..400 {
            last = p.push(-20.0, true).1;
        }
        assert_eq!(last, Some(0.0));
    }
}
