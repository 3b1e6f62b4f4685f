//! Voice activity from earshot's neural VAD, adapted from its 16 ms frames to 10 ms hops.

use earshot::Detector;

use super::upsample::{HISTORY, Interpolator};

/// earshot's frame: 16 ms at 16 kHz.
const FRAME: usize = 256;
/// The same frame at 8 kHz.
const FRAME_8K: usize = FRAME / 2;

/// Streaming voice activity score, fed 16 kHz or 8 kHz audio.
pub struct Vad {
    det: Box<Detector>,
    frame: [f32; FRAME],
    /// At 8 kHz: interpolation history, then the frame being filled.
    narrow: Option<([f32; HISTORY + FRAME_8K], Interpolator)>,
    fill: usize,
    score: f32,
}

impl Vad {
    /// A detector for audio at `rate` Hz (16 kHz, or 8 kHz interpolated for the network).
    pub fn new(rate: u32) -> Self {
        debug_assert!(rate == 16_000 || rate == 8_000, "{rate} Hz");
        Self {
            det: Detector::default_boxed(),
            frame: [0.0; FRAME],
            narrow: (rate == 8_000).then(|| ([0.0; HISTORY + FRAME_8K], Interpolator::new())),
            fill: 0,
            score: 0.0,
        }
    }

    /// Feed samples; returns the score of the latest complete 16 ms frame (0..1).
    ///
    /// A frame whose mean square is below `gate_ms` is scored 0 without running the network:
    /// the caller's level gate rejects such frames anyway, and the network costs more than all
    /// the other analysis together. (On phone calls the network calls nearly every frame above
    /// -70 dBFS speech, the other side's echo included: the level gate does that sorting.)
    pub fn push(&mut self, x: &[f32], gate_ms: f32) -> f32 {
        match &mut self.narrow {
            None => {
                for &s in x {
                    // earshot expects [-1, 1]; clipped or hot input must not trip its debug check.
                    self.frame[self.fill] = s.clamp(-1.0, 1.0);
                    self.fill += 1;
                    if self.fill == FRAME {
                        self.fill = 0;
                        let ms = self.frame.iter().map(|v| v * v).sum::<f32>() / FRAME as f32;
                        self.score = if ms >= gate_ms {
                            self.det.predict_f32(&self.frame)
                        } else {
                            0.0
                        };
                    }
                }
            }
            Some((buf, up)) => {
                for &s in x {
                    buf[HISTORY + self.fill] = s.clamp(-1.0, 1.0);
                    self.fill += 1;
                    if self.fill == FRAME_8K {
                        self.fill = 0;
                        let f = &buf[HISTORY..];
                        let ms = f.iter().map(|v| v * v).sum::<f32>() / FRAME_8K as f32;
                        self.score = if ms >= gate_ms {
                            // Only scored frames are interpolated (most of the call is not).
                            up.process(&buf[..], &mut self.frame);
                            for v in &mut self.frame {
                                *v = v.clamp(-1.0, 1.0);
                            }
                            self.det.predict_f32(&self.frame)
                        } else {
                            0.0
                        };
                        buf.copy_within(FRAME_8K.., 0);
                    }
                }
            }
        }
        self.score
    }
}
