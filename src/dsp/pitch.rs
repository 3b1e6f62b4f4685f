//! Fundamental frequency by the McLeod Pitch Method, and spectral tilt from the same spectrum.
//!
//! The normalised square difference function (NSDF) is computed from the autocorrelation, which
//! comes from one real FFT and one inverse FFT of the zero-padded window (planned once, buffers
//! preallocated: no allocation per frame). The power spectrum in between also gives the energy in
//! the low (60 Hz-1 kHz) and high (1-3.4 kHz) bands, whose ratio is the spectral tilt: the more
//! vocal effort, the more energy in the upper band.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Analysis rate of this stage (after 2:1 decimation).
pub const RATE: f32 = 8000.0;
/// Window: 40 ms, enough for two periods at 50 Hz.
pub const WINDOW: usize = 320;
/// FFT size: at least window + max lag, a power of two for speed.
const FFT: usize = 512;
/// Fraction of the highest NSDF peak a candidate must reach (McLeod's k).
const K: f32 = 0.9;
/// Most NSDF lobes kept per frame (one per period candidate; 500 Hz at 8 kHz gives < 10).
const MAX_LOBES: usize = 64;

/// Result of one pitch analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PitchEstimate {
    /// F0 in Hz, when the clarity threshold was met.
    pub hz: Option<f32>,
    /// Height of the chosen NSDF peak (0..1): how periodic the frame is.
    pub clarity: f32,
    /// Energy 1-3.4 kHz over energy 60 Hz-1 kHz, in dB.
    pub tilt_db: f32,
}

/// A sum over eight running partial sums: the compiler can keep them in one vector register,
/// where a single running sum waits on every add.
#[inline]
fn lanes_sum(v: impl Iterator<Item = f32>) -> f32 {
    let mut acc = [0.0f32; 8];
    for (i, x) in v.enumerate() {
        acc[i % 8] += x;
    }
    acc.iter().sum()
}

/// McLeod pitch detector with a fixed window, reused frame after frame.
pub struct PitchDetector {
    fwd: Arc<dyn RealToComplex<f32>>,
    inv: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    spec: Vec<Complex<f32>>,
    scratch_f: Vec<Complex<f32>>,
    scratch_i: Vec<Complex<f32>>,
    nsdf: Vec<f32>,
    min_lag: usize,
    max_lag: usize,
    /// Lags are scanned a little past `max_lag` so a peak near it is seen to turn down.
    scan_lag: usize,
    clarity: f32,
    low_band: (usize, usize),
    high_band: (usize, usize),
}

impl PitchDetector {
    /// A detector for F0 between `min_hz` and `max_hz`, calling a frame voiced at `clarity`.
    pub fn new(min_hz: f32, max_hz: f32, clarity: f32) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(FFT);
        let inv = planner.plan_fft_inverse(FFT);
        let spec = fwd.make_output_vec();
        let scratch_f = fwd.make_scratch_vec();
        let scratch_i = inv.make_scratch_vec();
        let max_lag = ((RATE / min_hz).ceil() as usize).min(WINDOW * 2 / 3);
        let min_lag = ((RATE / max_hz).floor() as usize).max(2);
        let scan_lag = (max_lag + max_lag / 4).min(WINDOW * 2 / 3).max(max_lag);
        let bin = |hz: f32| (hz * FFT as f32 / RATE).round() as usize;
        Self {
            fwd,
            inv,
            time: vec![0.0; FFT],
            spec,
            scratch_f,
            scratch_i,
            nsdf: vec![0.0; scan_lag + 2],
            min_lag,
            max_lag,
            scan_lag,
            clarity,
            low_band: (bin(60.0), bin(1000.0)),
            high_band: (bin(1000.0), bin(3400.0)),
        }
    }

    /// Analyse the last [`WINDOW`] samples at 8 kHz.
    pub fn analyse(&mut self, x: &[f32]) -> PitchEstimate {
        debug_assert_eq!(x.len(), WINDOW);
        // Remove DC so a constant offset cannot masquerade as periodicity.
        let mean = lanes_sum(x.iter().copied()) / WINDOW as f32;
        for (t, s) in self.time.iter_mut().zip(x) {
            *t = s - mean;
        }
        self.time[WINDOW..].fill(0.0);
        let energy = lanes_sum(self.time[..WINDOW].iter().map(|v| v * v));
        let unvoiced = PitchEstimate {
            hz: None,
            clarity: 0.0,
            tilt_db: 0.0,
        };
        if energy <= 1e-10 {
            return unvoiced;
        }
        if self
            .fwd
            .process_with_scratch(&mut self.time, &mut self.spec, &mut self.scratch_f)
            .is_err()
        {
            return unvoiced;
        }
        // Power spectrum: band energies for the tilt, then autocorrelation by the inverse FFT.
        for c in self.spec.iter_mut() {
            *c = Complex::new(c.norm_sqr(), 0.0);
        }
        let band = |(from, to): (usize, usize)| lanes_sum(self.spec[from..to].iter().map(|c| c.re));
        let (low, high) = (band(self.low_band), band(self.high_band));
        let tilt_db = 10.0 * ((high + 1e-12) / (low + 1e-12)).log10();
        if self
            .inv
            .process_with_scratch(&mut self.spec, &mut self.time, &mut self.scratch_i)
            .is_err()
        {
            return PitchEstimate {
                tilt_db,
                ..unvoiced
            };
        }
        // time[τ] is now FFT * r(τ). NSDF n(τ) = 2 r(τ) / m(τ), m(τ) = Σ x_j² + x_{j+τ}².
        let scale = 1.0 / FFT as f32;
        let mut m = 2.0 * energy;
        let w = x;
        let xm = |i: usize| w[i] - mean;
        // The running m first (a serial chain), then the divisions, which vectorise apart
        // from it.
        for tau in 0..self.nsdf.len() {
            if tau > 0 {
                let a = xm(tau - 1);
                let b = xm(WINDOW - tau);
                m -= a * a + b * b;
            }
            self.nsdf[tau] = m;
        }
        for (n, r) in self.nsdf.iter_mut().zip(&self.time) {
            *n = if *n > 1e-12 {
                2.0 * r * scale / *n
            } else {
                0.0
            };
        }
        let (lag, clarity) = self.pick_peak();
        let hz = match lag {
            Some(l) if clarity >= self.clarity => Some(RATE / l),
            _ => None,
        };
        PitchEstimate {
            hz,
            clarity,
            tilt_db,
        }
    }

    /// McLeod's peak picking: the first key maximum within K of the highest one.
    fn pick_peak(&self) -> (Option<f32>, f32) {
        let n = &self.nsdf;
        let mut lobes = [(0usize, 0f32); MAX_LOBES];
        let mut count = 0;
        let mut seen_negative = false;
        let mut in_lobe = false;
        let mut best = (0usize, f32::MIN);
        for (tau, &v) in n.iter().enumerate().take(self.scan_lag + 1).skip(1) {
            if !seen_negative {
                seen_negative = v < 0.0;
                continue;
            }
            if v > 0.0 {
                if !in_lobe {
                    in_lobe = true;
                    best = (tau, v);
                } else if v > best.1 {
                    best = (tau, v);
                }
            } else if in_lobe {
                in_lobe = false;
                if count < MAX_LOBES {
                    lobes[count] = best;
                    count += 1;
                }
            }
        }
        // A lobe still open at the end counts only if it has already turned down.
        if in_lobe && best.0 < self.scan_lag && count < MAX_LOBES {
            lobes[count] = best;
            count += 1;
        }
        let in_range = |t: usize| (self.min_lag..=self.max_lag).contains(&t);
        let lobes = &lobes[..count];
        let global = lobes
            .iter()
            .filter(|(t, _)| in_range(*t))
            .map(|&(_, v)| v)
            .fold(0.0f32, f32::max);
        if global <= 0.0 {
            return (None, 0.0);
        }
        let Some(&(tau, v)) = lobes.iter().find(|(t, v)| in_range(*t) && *v >= K * global) else {
            return (None, 0.0);
        };
        // Parabolic interpolation around the chosen lag.
        let (a, b, c) = (n[tau - 1], v, n[tau + 1]);
        let denom = a - 2.0 * b + c;
        let shift = if denom.abs() > 1e-9 {
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let peak = b - 0.25 * (a - c) * shift;
        (Some(tau as f32 + shift), peak.min(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyse(f: impl Fn(f32) -> f32) -> PitchEstimate {
        let x: Vec<f32> = (0..WINDOW).map(|i| f(i as f32 / RATE)).collect();
        PitchDetector::new(60.0, 500.0, 0.7).analyse(&x)
    }

    #[test]
    fn tones_within_one_percent() {
        for hz in [65.0f32, 100.0, 147.0, 220.0, 310.0, 480.0] {
            let est = analyse(|t| 0.5 * (2.0 * std::f32::consts::PI * hz * t).sin());
            let got = est
                .hz
                .unwrap_or_else(|| panic!("{hz} Hz not detected: {est:?}"));
            assert!((got - hz).abs() / hz < 0.01, "{hz} Hz estimated as {got}");
        }
    }

    #[test]
    fn harmonic_voice_like_signal_gives_fundamental() {
        // A buzz with strong 2nd and 3rd harmonics, as in a voice, must not jump an octave.
        let hz = 130.0f32;
        let est = analyse(|t| {
            let w = 2.0 * std::f32::consts::PI * hz * t;
            0.3 * w.sin() + 0.5 * (2.0 * w).sin() + 0.4 * (3.0 * w).sin()
        });
        let got = est.hz.expect("voiced");
        assert!((got - hz).abs() / hz < 0.01, "{got}");
    }

    #[test]
    fn silence_and_noise_have_no_pitch() {
        assert_eq!(analyse(|_| 0.0).hz, None);
        let mut seed = 7u32;
        let x: Vec<f32> = (0..WINDOW)
            .map(|_| {
                seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect();
        let est = PitchDetector::new(60.0, 500.0, 0.7).analyse(&x);
        assert_eq!(est.hz, None, "{est:?}");
    }

    #[test]
    fn tilt_rises_with_high_frequency_energy() {
        let dull = analyse(|t| (2.0 * std::f32::consts::PI * 200.0 * t).sin());
        let bright = analyse(|t| {
            (2.0 * std::f32::consts::PI * 200.0 * t).sin()
                + 0.5 * (2.0 * std::f32::consts::PI * 2000.0 * t).sin()
        });
        assert!(bright.tilt_db > dull.tilt_db + 20.0, "{dull:?} {bright:?}");
    }
}
