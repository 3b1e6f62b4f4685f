//! Property tests: any input, finite output, no panic.

use calmline::Config;
use calmline::dsp::{FrameAnalyzer, HOP};
use calmline::events::{EventBody, Speaker};
use calmline::pipeline::Pipeline;
use proptest::prelude::*;

fn finite_or_none(x: Option<f32>) -> bool {
    x.is_none_or(f32::is_finite)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Frame analysis of arbitrary finite samples (including far beyond full scale) gives
    /// finite features in their ranges.
    #[test]
    fn frame_features_are_finite(samples in prop::collection::vec(-8.0f32..8.0, HOP * 40..HOP * 120),
                                 scale in prop::sample::select(vec![0.0f32, 1e-6, 0.01, 1.0, 1e3]),
                                 rate in prop::sample::select(vec![8000u32, 16000])) {
        let cfg = Config::default();
        let mut a = FrameAnalyzer::at_rate(&cfg, rate);
        for hop in samples.chunks_exact(a.hop_len()) {
            let x: Vec<f32> = hop.iter().map(|v| v * scale).collect();
            let f = a.process_hop(&x);
            prop_assert!(f.rms_dbfs.is_finite() && f.level_db.is_finite() && f.loudness_db.is_finite());
            prop_assert!((0.0..=1.0).contains(&f.vad));
            prop_assert!(finite_or_none(f.pitch_hz) && finite_or_none(f.tilt_db) && finite_or_none(f.pace_sps));
            if let Some(hz) = f.pitch_hz {
                prop_assert!((cfg.pitch.min_hz * 0.9..=cfg.pitch.max_hz * 1.1).contains(&hz), "{hz}");
            }
        }
    }

    /// The whole pipeline survives any supported rate, block size and sample values including NaN and
    /// infinity, and its timeline events are finite.
    #[test]
    fn pipeline_survives_anything(
        rate in prop::sample::select(vec![8000u32, 11025, 16000, 22050, 44100, 48000]),
        stereo in any::<bool>(),
        values in prop::collection::vec(prop_oneof![
            8 => -1.5f32..1.5,
            1 => Just(f32::NAN),
            1 => Just(f32::INFINITY),
            1 => Just(f32::NEG_INFINITY),
            1 => Just(f32::MAX),
        ], 100..6000),
        block in 1usize..3000,
        batched in any::<bool>(),
    ) {
        let cfg = Config::default();
        let speakers = if stereo { vec![Speaker::Agent, Speaker::Customer] } else { vec![Speaker::Mixed] };
        let mut p = Pipeline::new(&cfg, speakers.clone(), rate).unwrap();
        if batched {
            p = p.batched().unwrap();
        }
        let mut ok = true;
        let mut check = |e: calmline::events::Event| {
            ok &= e.t_s.is_finite();
            if let EventBody::Levels(l) = &e.body {
                ok &= l.loudness_db.is_finite() && l.escalation.is_finite() && finite_or_none(l.pitch_hz);
            }
        };
        // Repeat the values to get a few seconds of audio.
        let total: Vec<f32> = values.iter().cycle().take(rate as usize * 3).copied().collect();
        let mut i = 0;
        while i < total.len() {
            let k = block.min(total.len() - i);
            let chans: Vec<Vec<f32>> = speakers.iter().map(|_| total[i..i + k].to_vec()).collect();
            p.push(&chans, k, &mut check);
            i += k;
        }
        p.finish(&mut check);
        prop_assert!(ok);
        prop_assert!((p.time_s() - 3.0).abs() < 0.02, "{}", p.time_s());
    }
}
