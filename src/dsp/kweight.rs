//! ITU-R BS.1770 K-weighting (pre-filter shelf + RLB high-pass) at any sample rate.
//!
//! The ebur128 crate implements the same filter, but keeps it private and recomputes its
//! windows from raw samples on every query; the analysis needs the filtered energy of every
//! 10 ms hop, so the two biquads are written here (coefficients as in libebur128) and tested
//! against ebur128 itself.

/// A second-order IIR section in direct form I, run in f64 so very quiet speech keeps its
/// precision. Direct form I because its only loop-carried step is one multiply-add on the last
/// output (the transposed form chains two per sample): the filter runs on every sample of the
/// call, and that chain is what it waits on.
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    /// The last two inputs and outputs, newest first.
    x: [f64; 2],
    y: [f64; 2],
}

impl Biquad {
    fn new(b: [f64; 3], a: [f64; 2]) -> Self {
        Self {
            b,
            a,
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    #[inline]
    fn run(&mut self, x: f64) -> f64 {
        let p =
            self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1] - self.a[1] * self.y[1];
        let y = fused(-self.a[0], self.y[0], p);
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

/// `a * b + c`, in one instruction where the CPU has one (without it, `mul_add` is a slow
/// library call, and the plain form is faster).
#[inline(always)]
fn fused(a: f64, b: f64, c: f64) -> f64 {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// The K-weighting filter for one channel.
#[derive(Debug, Clone)]
pub struct KWeighting {
    shelf: Biquad,
    highpass: Biquad,
}

impl KWeighting {
    /// A K-weighting filter for `rate` Hz.
    pub fn new(rate: f64) -> Self {
        // High-frequency shelf (+4 dB above ~1.5 kHz): models the head's acoustic effect.
        let f0 = 1681.974450955533;
        let g = 3.999843853973347;
        let q = 0.7071752369554196;
        let k = (std::f64::consts::PI * f0 / rate).tan();
        let vh = 10f64.powf(g / 20.0);
        let vb = vh.powf(0.4996667741545416);
        let a0 = 1.0 + k / q + k * k;
        let shelf = Biquad::new(
            [
                (vh + vb * k / q + k * k) / a0,
                2.0 * (k * k - vh) / a0,
                (vh - vb * k / q + k * k) / a0,
            ],
            [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        );
        // RLB high-pass (~38 Hz).
        let f0 = 38.13547087602444;
        let q = 0.5003270373238773;
        let k = (std::f64::consts::PI * f0 / rate).tan();
        let a0 = 1.0 + k / q + k * k;
        let highpass = Biquad::new(
            [1.0, -2.0, 1.0],
            [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        );
        Self { shelf, highpass }
    }

    /// Filter `x` and return the mean square of the K-weighted block.
    pub fn mean_square(&mut self, x: &[f32]) -> f64 {
        if x.is_empty() {
            return 0.0;
        }
        let mut acc = 0.0;
        for &s in x {
            let y = self.highpass.run(self.shelf.run(s as f64));
            acc += y * y;
        }
        // After speech, digital silence lets the filter state decay into subnormal numbers,
        // which are up to 100x slower to compute with: flush them to zero.
        for q in [&mut self.shelf, &mut self.highpass] {
            for z in q.x.iter_mut().chain(&mut q.y) {
                if z.abs() < 1e-30 {
                    *z = 0.0;
                }
            }
        }
        acc / x.len() as f64
    }
}

/// BS.1770 loudness (LUFS) of a mono mean-square energy.
pub fn lufs(mean_square: f64) -> f32 {
    (-0.691 + 10.0 * mean_square.max(1e-12).log10()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ebur128_on_a_tone_and_noise() {
        let rate = 16000u32;
        // 1 kHz tone and a deterministic pseudo-noise, 2 s each.
        let mut seed = 1u32;
        let signals: [Vec<f32>; 2] = [
            (0..rate as usize * 2)
                .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin())
                .collect(),
            (0..rate as usize * 2)
                .map(|_| {
                    seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                    ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 0.4
                })
                .collect(),
        ];
        for x in &signals {
            let mut e = ebur128::EbuR128::new(1, rate, ebur128::Mode::M).unwrap();
            e.add_frames_f32(x).unwrap();
            let reference = e.loudness_momentary().unwrap();
            let mut k = KWeighting::new(rate as f64);
            k.mean_square(&x[..x.len() - 6400]);
            let ours = lufs(k.mean_square(&x[x.len() - 6400..]));
            assert!(
                (ours as f64 - reference).abs() < 0.05,
                "ours {ours} vs ebur128 {reference}"
            );
        }
    }
}
