//! Frame analysis: per speaker, every 10 ms hop, causal, without allocating after start-up.
//!
//! Input is the speaker's channel at 16 kHz. Each hop yields loudness (K-weighted hop level and
//! the 400 ms momentary loudness), RMS level, voice activity, pitch and voicing, spectral tilt,
//! and speaking pace.

pub mod decimate;
pub mod kweight;
pub mod pace;
pub mod pitch;
pub mod vad;

use crate::config::Config;
use decimate::Decimator;
use kweight::{KWeighting, lufs};
use pace::PaceTracker;
use pitch::{PitchDetector, WINDOW};
use vad::Vad;

/// Samples per hop at 16 kHz (10 ms).
pub const HOP: usize = 160;
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

/// Analyses one speaker's 16 kHz stream hop by hop.
pub struct FrameAnalyzer {
    kw: KWeighting,
    momentary: [f64; MOMENTARY_HOPS],
    mpos: usize,
    decim: Decimator,
    dec_out: [f32; HOP / 2],
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
    /// An analyser with the thresholds from `cfg`.
    pub fn new(cfg: &Config) -> Self {
        Self {
            kw: KWeighting::new(16_000.0),
            momentary: [0.0; MOMENTARY_HOPS],
            mpos: 0,
            decim: Decimator::new(HOP),
            dec_out: [0.0; HOP / 2],
            window8k: [0.0; WINDOW],
            pitch: PitchDetector::new(cfg.pitch.min_hz, cfg.pitch.max_hz, cfg.pitch.clarity),
            vad: Vad::new(cfg.vad.min_level_dbfs),
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

    /// Analyse one hop of [`HOP`] finite samples at 16 kHz.
    pub fn process_hop(&mut self, x: &[f32]) -> FrameFeatures {
        debug_assert_eq!(x.len(), HOP);
        let ms = x.iter().map(|v| v * v).sum::<f32>() / HOP as f32;
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
        let vad = self.vad.push(x);
        let candidate = vad >= self.vad_threshold && rms_dbfs >= gate;

        self.decim.process(x, &mut self.dec_out);
        self.window8k.copy_within(HOP / 2.., 0);
        self.window8k[WINDOW - HOP / 2..].copy_from_slice(&self.dec_out);
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
