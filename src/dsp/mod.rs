//! Frame analysis: per speaker, every 10 ms hop, causal, without allocating after start-up.
//!
//! Input is the speaker's channel at 16 kHz, or at 8 kHz for telephone recordings (analysed at
//! their own rate: nothing they carry is above 4 kHz, and resampling them up only to decimate
//! again for pitch cost more than the analysis). Each hop yields loudness (K-weighted hop level and
//! the 400 ms momentary loudness), RMS level, voice activity, pitch and voicing, spectral tilt,
//! and speaking pace.

pub mod decimate;
pub mod kweight;
pub mod pace;
pub mod pitch;
pub mod upsample;
pub mod vad;

use crate::config::Config;
use decimate::Decimator;
use kweight::{KWeighting, lufs};
use pace::PaceTracker;
use pitch::{PitchDetector, WINDOW};
use vad::Vad;

/// Samples per hop at 16 kHz (10 ms).
pub const HOP: usize = 160;
/// The rate telephone recordings are analysed at (everything else is analysed at 16 kHz).
pub const NARROWBAND_RATE: u32 = 8_000;

/// The rate a recording at `input_rate` Hz is analysed at: 8 kHz stays 8 kHz, anything else is
/// resampled to 16 kHz.
pub fn analysis_rate(input_rate: u32) -> u32 {
    if input_rate == NARROWBAND_RATE {
        NARROWBAND_RATE
    } else {
        crate::audio::ANALYSIS_RATE
    }
}

/// Samples in one 10 ms hop at `rate` Hz.
pub fn hop_len(rate: u32) -> usize {
    rate as usize / 100
}
/// Hop duration in seconds.
pub const HOP_S: f64 = 0.01;
/// Hops in the 400 ms momentary-loudness window.
const MOMENTARY_HOPS: usize = 40;
/// Level floor, reported for digital silence.
pub const FLOOR_DB: f32 = -120.0;

/// What one 10 ms hop of one speaker's audio measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameFeatures {
    /// RMS level of the hop (dBFS).
    pub rms_dbfs: f32,
    /// K-weighted level of the hop (LUFS scale).
    pub level_db: f32,
    /// K-weighted loudness over the last 400 ms (EBU momentary, LUFS).
    pub loudness_db: f32,
    /// Voice activity score (0..1).
    pub vad: f32,
    /// The hop counts as speech (VAD score and level gate).
    pub active: bool,
    /// Fundamental frequency when the hop is voiced speech.
    pub pitch_hz: Option<f32>,
    /// Periodicity (0..1) of the 40 ms window ending at this hop.
    pub clarity: f32,
    /// Spectral tilt (dB, 1-3.4 kHz over 60 Hz-1 kHz) when the hop is speech.
    pub tilt_db: Option<f32>,
    /// A syllable nucleus was detected at this hop.
    pub syllable: bool,
    /// Syllables per second of speech over the pace window, once enough speech was heard.
    pub pace_sps: Option<f32>,
}

impl FrameFeatures {
    /// Voiced speech: active and periodic.
    pub fn voiced(&self) -> bool {
        self.pitch_hz.is_some()
    }
}

/// Analyses one speaker's 16 kHz or 8 kHz stream hop by hop.
pub struct FrameAnalyzer {
    hop: usize,
    kw: KWeighting,
    momentary: [f64; MOMENTARY_HOPS],
    mpos: usize,
    /// At 16 kHz: the 2:1 decimator for pitch, and its output.
    decim: Option<(Decimator, [f32; HOP / 2])>,
    window8k: [f32; WINDOW],
    pitch: PitchDetector,
    vad: Vad,
    pace: PaceTracker,
    vad_threshold: f32,
    min_level: f32,
    floor_margin: f32,
    noise_floor: f32,
    below_speech: f32,
    speech_level: Option<f32>,
    voiced_recency_hops: u32,
    since_voiced: u32,
}

impl FrameAnalyzer {
    /// An analyser of 16 kHz audio with the thresholds from `cfg`.
    pub fn new(cfg: &Config) -> Self {
        Self::at_rate(cfg, crate::audio::ANALYSIS_RATE)
    }

    /// An analyser of audio at `rate` Hz: 16 kHz, or 8 kHz ([`NARROWBAND_RATE`]).
    pub fn at_rate(cfg: &Config, rate: u32) -> Self {
        debug_assert_eq!(
            rate,
            analysis_rate(rate),
            "{rate} Hz is not an analysis rate"
        );
        let narrow = rate == NARROWBAND_RATE;
        let rate = if narrow {
            rate
        } else {
            crate::audio::ANALYSIS_RATE
        };
        Self {
            hop: hop_len(rate),
            kw: KWeighting::new(rate as f64),
            momentary: [0.0; MOMENTARY_HOPS],
            mpos: 0,
            decim: (!narrow).then(|| (Decimator::new(HOP), [0.0; HOP / 2])),
            window8k: [0.0; WINDOW],
            pitch: PitchDetector::new(cfg.pitch.min_hz, cfg.pitch.max_hz, cfg.pitch.clarity),
            vad: Vad::new(rate),
            pace: PaceTracker::new(
                cfg.pace.peak_db,
                (cfg.pace.window_s / HOP_S as f32).round() as usize,
            ),
            vad_threshold: cfg.vad.threshold,
            min_level: cfg.vad.min_level_dbfs,
            floor_margin: cfg.vad.floor_margin_db,
            noise_floor: FLOOR_DB,
            below_speech: cfg.vad.below_speech_db,
            speech_level: None,
            voiced_recency_hops: (cfg.vad.voiced_within_s / HOP_S as f32).round() as u32,
            since_voiced: u32::MAX,
        }
    }

    /// Samples per hop at this analyser's rate.
    pub fn hop_len(&self) -> usize {
        self.hop
    }

    /// Analyse one 10 ms hop of finite samples ([`hop_len`](Self::hop_len) of them).
    pub fn process_hop(&mut self, x: &[f32]) -> FrameFeatures {
        debug_assert_eq!(x.len(), self.hop);
        let ms = x.iter().map(|v| v * v).sum::<f32>() / self.hop as f32;
        let rms_dbfs = if ms > 1e-12 {
            (10.0 * ms.log10()).max(FLOOR_DB)
        } else {
            FLOOR_DB
        };
        let kms = self.kw.mean_square(x);
        let level_db = lufs(kms).max(FLOOR_DB);
        self.momentary[self.mpos] = kms;
        self.mpos = (self.mpos + 1) % MOMENTARY_HOPS;
        let loudness_db =
            lufs(self.momentary.iter().sum::<f64>() / MOMENTARY_HOPS as f64).max(FLOOR_DB);

        // Noise floor: follows the level down at once and up slowly (3 dB/s), so it settles on
        // the quietest recent hops (line hiss) and ignores speech.
        self.noise_floor = if rms_dbfs < self.noise_floor {
            rms_dbfs
        } else {
            self.noise_floor + 0.03
        };
        // Level gate: above the noise floor, above the absolute minimum, and not far below this
        // speaker's own voiced speech (background talk and line noise in the headset channel).
        let mut gate = (self.noise_floor + self.floor_margin).max(self.min_level);
        if let Some(speech) = self.speech_level {
            gate = gate.max(speech - self.below_speech);
        }
        let vad = self.vad.push(x, 10f32.powf(gate / 10.0));
        let candidate = vad >= self.vad_threshold && rms_dbfs >= gate;

        let x8k = match &mut self.decim {
            Some((d, out)) => {
                d.process(x, out);
                &out[..]
            }
            None => x,
        };
        self.window8k.copy_within(HOP / 2.., 0);
        self.window8k[WINDOW - HOP / 2..].copy_from_slice(x8k);
        // Pitch and tilt only mean something for speech; skipping the rest also halves the cost
        // on a typical call, where each side is silent about half the time.
        let (pitch_hz, clarity, tilt_db) = if candidate {
            let est = self.pitch.analyse(&self.window8k);
            (est.hz, est.clarity, Some(est.tilt_db))
        } else {
            (None, 0.0, None)
        };
        if pitch_hz.is_some() {
            self.since_voiced = 0;
            // Slow average of the speaker's voiced level (about 2 s of voiced speech).
            self.speech_level = Some(match self.speech_level {
                Some(l) => l + 0.005 * (rms_dbfs - l),
                None => rms_dbfs,
            });
        } else {
            self.since_voiced = self.since_voiced.saturating_add(1);
        }
        // Speech has a voiced nucleus every syllable: VAD-positive noise without any voicing
        // (fans, keyboards, hiss that fools the VAD) is not speech.
        let active = candidate && self.since_voiced <= self.voiced_recency_hops;
        let tilt_db = tilt_db.filter(|_| active);
        let (syllable, pace_sps) = self.pace.push(level_db, active);
        FrameFeatures {
            rms_dbfs,
            level_db,
            loudness_db,
            vad,
            active,
            pitch_hz,
            clarity,
            tilt_db,
            syllable,
            pace_sps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, amp: f32, secs: f32) -> Vec<f32> {
        (0..(16000.0 * secs) as usize)
            .map(|i| amp * (2.0 * std::f32::consts::PI * hz * i as f32 / 16000.0).sin())
            .collect()
    }

    #[test]
    fn levels_of_a_known_tone_within_half_a_db() {
        // A 1 kHz sine of amplitude 0.1 (-20 dBFS peak): RMS -23.01 dBFS, and by BS.1770's
        // calibration -23.0 LUFS (K-weighting is ~0 dB at 1 kHz after the -0.691 offset).
        let cfg = Config::default();
        let mut a = FrameAnalyzer::new(&cfg);
        let mut last = None;
        for hop in tone(1000.0, 0.1, 1.0).chunks_exact(HOP) {
            last = Some(a.process_hop(hop));
        }
        let f = last.unwrap();
        assert!((f.rms_dbfs - -23.01).abs() < 0.5, "rms {}", f.rms_dbfs);
        assert!(
            (f.loudness_db - -23.0).abs() < 0.5,
            "loudness {}",
            f.loudness_db
        );
        assert!((f.level_db - -23.0).abs() < 0.5, "level {}", f.level_db);
    }

    #[test]
    fn narrowband_analysis_agrees_with_wideband() {
        // A voice-like buzz analysed natively at 8 kHz and at 16 kHz: same level and pitch.
        let cfg = Config::default();
        let buzz = |rate: f32| -> Vec<f32> {
            (0..rate as usize)
                .map(|i| {
                    let w = 2.0 * std::f32::consts::PI * 140.0 * i as f32 / rate;
                    0.1 * w.sin() + 0.05 * (2.0 * w).sin() + 0.02 * (15.0 * w).sin()
                })
                .collect()
        };
        let last = |rate: u32| {
            let mut a = FrameAnalyzer::at_rate(&cfg, rate);
            let x = buzz(rate as f32);
            let mut f = None;
            for hop in x.chunks_exact(a.hop_len()) {
                f = Some(a.process_hop(hop));
            }
            f.unwrap()
        };
        let (n, w) = (last(8_000), last(16_000));
        assert!((n.level_db - w.level_db).abs() < 0.2, "{n:?} {w:?}");
        assert!((n.loudness_db - w.loudness_db).abs() < 0.2, "{n:?} {w:?}");
        let (pn, pw) = (n.pitch_hz.expect("voiced"), w.pitch_hz.expect("voiced"));
        assert!(
            (pn - pw).abs() < 1.0 && (pn - 140.0).abs() < 1.5,
            "{pn} {pw}"
        );
        // The 16 kHz path loses a little of 2.1 kHz in its decimator.
        assert!(
            (n.tilt_db.unwrap() - w.tilt_db.unwrap()).abs() < 1.0,
            "{n:?} {w:?}"
        );
    }

    #[test]
    fn silence_is_floor_level_without_pitch_or_speech() {
        let cfg = Config::default();
        let mut a = FrameAnalyzer::new(&cfg);
        for _ in 0..100 {
            let f = a.process_hop(&[0.0; HOP]);
            assert_eq!(f.rms_dbfs, FLOOR_DB);
            assert_eq!(f.pitch_hz, None);
            assert!(!f.active);
        }
    }
}
