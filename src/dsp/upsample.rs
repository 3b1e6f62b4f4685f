//! Half-band 1:2 interpolation, 8 kHz to 16 kHz, for the voice-activity network only.
//!
//! Telephone audio is analysed at its own 8 kHz (levels, pitch, tilt, pace), but earshot's
//! network is trained on 16 kHz frames. It is run on a minority of frames (those the level gate
//! lets through), so those frames alone are interpolated, from a short history of 8 kHz samples,
//! instead of resampling the whole call.

/// Filter length at 16 kHz: 4k + 3, so the odd phase is the centre tap alone.
const TAPS: usize = 63;
/// Non-zero taps of the even phase.
pub const PHASE: usize = TAPS.div_ceil(2);
/// 8 kHz samples of history needed before the first sample of a block.
pub const HISTORY: usize = PHASE - 1;
/// Offset of the centre tap in 8 kHz samples.
const MID: usize = (TAPS / 2) / 2;

/// A fixed windowed-sinc (Blackman) half-band interpolator.
#[derive(Debug, Clone)]
pub struct Interpolator {
    /// The even-phase taps, times two (interpolation gain), reversed for a forward dot product.
    even: [f32; PHASE],
}

impl Default for Interpolator {
    fn default() -> Self {
        Self::new()
    }
}

impl Interpolator {
    /// The interpolator (about -70 dB above 5 kHz, flat to 3.4 kHz).
    pub fn new() -> Self {
        let c = (TAPS - 1) as f32 / 2.0;
        let mut even = [0f32; PHASE];
        for (q, v) in even.iter_mut().enumerate() {
            let n = 2 * q;
            let t = (n as f32 - c) / 2.0;
            let x = std::f32::consts::PI * t;
            let sinc = x.sin() / x;
            let a = 2.0 * std::f32::consts::PI * n as f32 / (TAPS - 1) as f32;
            let w = 0.42 - 0.5 * a.cos() + 0.08 * (2.0 * a).cos();
            *v = sinc * w;
        }
        // Unity gain at DC in both phases: the odd phase passes samples through unchanged.
        let sum: f32 = even.iter().sum();
        for v in &mut even {
            *v /= sum;
        }
        even.reverse();
        Self { even }
    }

    /// Interpolate the last `out.len() / 2` samples of `x` (preceded by [`HISTORY`] samples of
    /// history) into `out` at twice the rate: output `2k + 1` is input sample `k + HISTORY - 15`.
    pub fn process(&self, x: &[f32], out: &mut [f32]) {
        let n = out.len() / 2;
        debug_assert_eq!(x.len(), HISTORY + n);
        for (k, pair) in out.chunks_exact_mut(2).enumerate() {
            let w = &x[k..k + PHASE];
            pair[0] = w.iter().zip(&self.even).map(|(a, b)| a * b).sum();
            pair[1] = x[k + HISTORY - MID];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Output power (dB) of a unit sine at `hz` interpolated from 8 kHz.
    fn gain(hz: f32) -> f32 {
        let x: Vec<f32> = (0..HISTORY + 800)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin())
            .collect();
        let mut out = vec![0.0; 1600];
        Interpolator::new().process(&x, &mut out);
        let p = out.iter().map(|v| v * v).sum::<f32>() / out.len() as f32;
        10.0 * (p / 0.5).log10()
    }

    #[test]
    fn passes_the_telephone_band() {
        for hz in [100.0, 1000.0, 3000.0, 3400.0] {
            assert!(gain(hz).abs() < 0.3, "{hz} Hz: {} dB", gain(hz));
        }
    }

    #[test]
    fn interpolated_tone_is_a_tone_at_16k_without_images() {
        // A 1 kHz tone at 8 kHz becomes the same tone at 16 kHz: compare with the ideal.
        let hz = 1000.0;
        let x: Vec<f32> = (0..HISTORY + 400)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 8000.0).sin())
            .collect();
        let mut out = vec![0.0; 800];
        Interpolator::new().process(&x, &mut out);
        // Odd output 2k + 1 is input sample k + HISTORY - MID itself; even ones fall halfway.
        let mut err = 0.0f32;
        for (j, y) in out.iter().enumerate() {
            let t = (j as f32 + (2 * (HISTORY - MID)) as f32 - 1.0) / 16000.0;
            let ideal = (2.0 * std::f32::consts::PI * hz * t).sin();
            err = err.max((y - ideal).abs());
        }
        assert!(err < 0.005, "max error {err}");
    }
}
