//! Half-band 2:1 decimation, 16 kHz to 8 kHz, for the pitch and spectrum stage.
//!
//! Pitch (60-500 Hz) and the spectral tilt bands (up to 3.4 kHz, the telephone band) need nothing
//! above 4 kHz, and halving the rate quarters the cost of the FFT autocorrelation.

const TAPS: usize = 31;

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
            // Cut-off at a quarter of the input rate (3.6 kHz after the transition band).
            let sinc = if t == 0.0 {
                1.0
            } else {
                let x = std::f32::consts::PI * 0.45 * t;
                x.sin() / x
            };
            let w = 0.42 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / (TAPS - 1) as f32).cos()
                + 0.08 * (4.0 * std::f32::consts::PI * n as f32 / (TAPS - 1) as f32).cos();
            *v = sinc * w;
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
        for (j, o) in out.iter_mut().enumerate().take(n / 2) {
            let start = 2 * j + 1;
            let w = &self.buf[start..start + TAPS];
            *o = w.iter().zip(&self.h).map(|(a, b)| a * b).sum();
        }
        self.buf.copy_within(n..n + hist, 0);
    }
}
