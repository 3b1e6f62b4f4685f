//! Voice activity from earshot's neural VAD, adapted from its 16 ms frames to 10 ms hops.

use earshot::Detector;

const FRAME: usize = 256;

/// Streaming voice activity score at 16 kHz.
pub struct Vad {
    det: Box<Detector>,
    frame: [f32; FRAME],
    fill: usize,
    score: f32,
}

impl Default for Vad {
    fn default() -> Self {
        Self {
            det: Detector::default_boxed(),
            frame: [0.0; FRAME],
            fill: 0,
            score: 0.0,
        }
    }
}

impl Vad {
    /// Feed samples at 16 kHz; returns the score of the latest complete 16 ms frame (0..1).
    pub fn push(&mut self, x: &[f32]) -> f32 {
        for &s in x {
            // earshot expects [-1, 1]; clipped or hot input must not trip its debug check.
            self.frame[self.fill] = s.clamp(-1.0, 1.0);
            self.fill += 1;
            if self.fill == FRAME {
                self.score = self.det.predict_f32(&self.frame);
                self.fill = 0;
            }
        }
        self.score
    }
}
