//! Voice activity from earshot's neural VAD, adapted from its 16 ms frames to 10 ms hops.

use earshot::Detector;

const FRAME: usize = 256;

/// Streaming voice activity score at 16 kHz.
pub struct Vad {
    det: Box<Detector>,
    frame: [f32; FRAME],
    fill: usize,
    score: f32,
    /// Mean square below which a frame cannot be speech (the level gate would reject it anyway),
    /// so the network is not run: each side of a call is silent about half the time.
    skip_below: f32,
}

impl Vad {
    /// A detector that scores frames louder than `skip_below_dbfs` and calls the rest silence.
    pub fn new(skip_below_dbfs: f32) -> Self {
        Self {
            det: Detector::default_boxed(),
            frame: [0.0; FRAME],
            fill: 0,
            score: 0.0,
            skip_below: 10f32.powf(skip_below_dbfs / 10.0),
        }
    }

    /// Feed samples at 16 kHz; returns the score of the latest complete 16 ms frame (0..1).
    pub fn push(&mut self, x: &[f32]) -> f32 {
        for &s in x {
            // earshot expects [-1, 1]; clipped or hot input must not trip its debug check.
            self.frame[self.fill] = s.clamp(-1.0, 1.0);
            self.fill += 1;
            if self.fill == FRAME {
                let ms = self.frame.iter().map(|v| v * v).sum::<f32>() / FRAME as f32;
                self.score = if ms >= self.skip_below {
                    self.det.predict_f32(&self.frame)
                } else {
                    0.0
                };
                self.fill = 0;
            }
        }
        self.score
    }
}
