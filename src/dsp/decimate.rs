//! Half-band 2:1 decimation, 16 kHz to 8 kHz, for the pitch and spectrum stage.
//!
//! Pitch (60-500 Hz) and the spectral tilt bands (up to 3.4 kHz, the telephone band) need nothing
//! above 4 kHz, and halving the rate quarters the cost of the FFT autocorrelation.

const TAPS: usize = 31;
const _: () = assert!(TAPS % 4 == 3, "non-zero taps must be the even ones");

/// Streaming 2:1 decimator with a fixed windowed-sinc half-band low-pass.
#[derive(Debug, Clone)]
pub struct Decimator {
    h: [f32; TAPS],
    /// The last `TAPS - 1` input samples, then the current block.
    buf: Vec<f32>,
}

impl Decimator {
    /// A decimator for blocks of at most `max_block` input samples (even).
    pub fn new(max_block: usize) -> Self {
        let mut h = [0f32; TAPS];
        let m = (TAPS - 1) as f32 / 2.0;
        let mut sum = 0.0;
        for (n, v) in h.iter_mut().enumerate() {
            let t = n as f32 - m;
            // Half-band: cut-off at a quarter of the input rate, so every second tap is zero.
            let sinc = if t == 0.0 {
                1.0
            } else {
                let x = std::f32::consts::PI * 0.5 * t;
                x.sin() / x
            };
            let w = 0.42 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / (TAPS - 1) as f32).cos()
                + 0.08 * (4.0 * std::f32::consts::PI * n as f32 / (TAPS - 1) as f32).cos();
            *v = if n % 2 == 1 && n != TAPS / 2 {
                0.0
            } else {
                sinc * w
            };
            sum += *v;
        }
        for v in &mut h {
            *v /= sum;
        }
        Self {
            h,
            buf: vec![0.0; TAPS - 1 + max_block],
        }
    }

    /// Decimate `x` (even length, at most `max_block`) into `out` (half its length).
    pub fn process(&mut self, x: &[f32], out: &mut [f32]) {
        let hist = TAPS - 1;
        let n = x.len();
        self.buf[hist..hist + n].copy_from_slice(x);
        let mid = TAPS / 2;
        for (j, o) in out.iter_mut().enumerate().take(n / 2) {
            let start = 2 * j + 1;
            let w = &self.buf[start..start + TAPS];
            // A half-band filter's odd taps (counted from the centre) are zero: skip them.
            let mut acc = w[mid] * self.h[mid];
            // TAPS = 31: the centre is odd, so the non-zero taps are the even ones.
            for k in (0..mid).step_by(2) {
                acc += (w[k] + w[TAPS - 1 - k]) * self.h[k];
            }
            *o = acc;
        }
        self.buf.copy_within(n..n + hist, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain(hz: f32) -> f32 {
        let x: Vec<f32> = (0..1600)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / 16000.0).sin())
            .collect();
        let mut d = Decimator::new(160);
        let mut out = vec![0.0; 80];
        let mut energy = 0.0;
        for (k, block) in x.chunks(160).enumerate() {
            d.process(block, &mut out);
            if k > 0 {
                energy += out.iter().map(|v| v * v).sum::<f32>();
            }
        }
        10.0 * (energy / (9.0 * 80.0) / 0.5).log10()
    }

    #[test]
    fn passes_the_voice_band_and_stops_above_four_khz() {
        for hz in [100.0, 1000.0, 3000.0] {
            assert!(gain(hz).abs() < 0.5, "{hz} Hz: {} dB", gain(hz));
        }
        assert!(gain(6000.0) < -50.0, "6 kHz: {} dB", gain(6000.0));
    }
}
