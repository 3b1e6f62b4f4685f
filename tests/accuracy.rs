//! Escalation accuracy on real recordings (../shared/data), asserted at measured thresholds.
//!
//! Measured (cargo test --release --test accuracy -- --nocapture prints the figures):
//! - the four scenario calls: 46/46 customer turns right, 16 kHz and 8 kHz mu-law alike;
//! - 24 calls assembled from RAVDESS actors 1-8 the same way: see the asserts below.

mod common;

use calmline::Config;
use calmline::config::Side;
use calmline::events::Speaker;
use common::*;

const SCENARIOS: [&str; 4] = [
    "scenario_escalating_a01",
    "scenario_escalating_a04",
    "scenario_calm_a01",
    "scenario_calm_a04",
];

fn turn_verdicts(review: &calmline::report::Review, turns: &[Turn]) -> Vec<bool> {
    turns.iter().map(|t| flagged(review, t)).collect()
}

#[test]
fn scenario_calls_flag_escalated_turns_and_only_those() {
    let cfg = Config::default();
    let mut all = Counts::default();
    for name in SCENARIOS {
        let review = review(&call(&format!("{name}.wav")), &cfg);
        let turns = turns(&call(&format!("{name}.turns.csv")));
        let mut c = Counts::default();
        for (t, f) in turns.iter().zip(turn_verdicts(&review, &turns)) {
            c.add(t.escalated, f);
            all.add(t.escalated, f);
            if t.escalated != f {
                println!(
                    "{name}: turn at {:.1} s ({}) flagged={f}",
                    t.start_s, t.label
                );
            }
        }
        println!("{name}: {c:?}");
        let eps = review.speakers[&Speaker::Customer].episodes;
        if name.contains("calm") {
            assert_eq!(eps, 0, "{name}: calm call must have no customer episode");
        } else {
            assert!(eps >= 1, "{name}: escalating call must have an episode");
        }
    }
    let ba = all.balanced_accuracy();
    println!("scenario calls, 16 kHz: {all:?}, balanced accuracy {ba:.3}");
    // Measured: 46/46 turns.
    assert!(ba >= 0.95, "balanced accuracy {ba:.3}");
    assert_eq!(all.fp, 0, "no calm turn may be flagged");
}

#[test]
fn mulaw_8k_gives_the_same_verdicts_as_16k() {
    let cfg = Config::default();
    let dir = tempfile::tempdir().unwrap();
    let mut differ = 0;
    let mut total = 0;
    let mut mu = Counts::default();
    for name in SCENARIOS {
        let wav = call(&format!("{name}.wav"));
        let ulaw = dir.path().join(format!("{name}_ulaw.wav"));
        sox(&wav, &ulaw, &["-r", "8000", "-e", "mu-law"]);
        let r16 = review(&wav, &cfg);
        let r8 = review(&ulaw, &cfg);
        assert_eq!(r8.sample_rate, 8000);
        let turns = turns(&call(&format!("{name}.turns.csv")));
        let (v16, v8) = (turn_verdicts(&r16, &turns), turn_verdicts(&r8, &turns));
        for ((t, a), b) in turns.iter().zip(&v16).zip(&v8) {
            total += 1;
            mu.add(t.escalated, *b);
            if a != b {
                differ += 1;
                println!("{name}: turn at {:.1} s: 16 kHz {a}, mu-law {b}", t.start_s);
            }
        }
        assert_eq!(
            r16.speakers[&Speaker::Customer].episodes,
            r8.speakers[&Speaker::Customer].episodes,
            "{name}: episode count differs between 16 kHz and mu-law"
        );
    }
    println!(
        "mu-law 8 kHz: {mu:?}, balanced accuracy {:.3}; {differ}/{total} verdicts differ from 16 kHz",
        mu.balanced_accuracy()
    );
    // Measured: 0 of 46 differ.
    assert_eq!(differ, 0);
}

#[test]
fn real_spokenwoz_call_has_no_customer_episode() {
    // In this recording the customer is on the left channel (see ../shared/data/README.md).
    let mut cfg = Config::default();
    cfg.channels.customer = Side::Left;
    let r = review(&call("spokenwoz_MUL1011_8k_stereo.wav"), &cfg);
    let c = &r.speakers[&Speaker::Customer];
    println!(
        "spokenwoz: customer peak {:.2}, talk ratio {:?}, interruptions {:?}",
        c.peak_escalation, r.conversation.summary.talk_ratio_agent, r.conversation.interruptions
    );
    assert_eq!(c.episodes, 0);
    assert!(c.talk_s > 30.0 && r.speakers[&Speaker::Agent].talk_s > 30.0);
    // Both parties talk a fair share in this booking call.
    let ratio = r.conversation.summary.talk_ratio_agent.unwrap();
    assert!((0.3..0.7).contains(&ratio), "talk ratio {ratio}");
}

/// Generalisation beyond the two scenario actors: calls assembled from all eight RAVDESS actors,
/// two escalating and one calm per actor as customer, also converted to 8 kHz mu-law.
#[test]
fn calls_assembled_from_eight_actors() {
    let cfg = Config::default();
    let clips = ravdess();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut c16, mut c8) = (Counts::default(), Counts::default());
    let (mut calm_eps16, mut calm_eps8, mut calm_calls) = (0, 0, 0);
    for customer in 1..=8u32 {
        for (k, escalating) in [true, true, false].into_iter().enumerate() {
            let agent = (customer + k as u32) % 8 + 1;
            let agent = if agent == customer {
                customer % 8 + 1
            } else {
                agent
            };
            let (chans, turns) = assemble(&clips, customer, agent, escalating, &mut rng);
            let name = format!("a{customer:02}_{k}");
            let r16 = review_samples(&name, 16000, &chans, &cfg);
            let wav = dir.path().join(format!("{name}.wav"));
            let ulaw = dir.path().join(format!("{name}_ulaw.wav"));
            write_wav(&wav, 16000, &chans);
            sox(&wav, &ulaw, &["-r", "8000", "-e", "mu-law"]);
            let r8 = review(&ulaw, &cfg);
            for t in &turns {
                let (f16, f8) = (flagged(&r16, t), flagged(&r8, t));
                c16.add(t.escalated, f16);
                c8.add(t.escalated, f8);
                if f16 != t.escalated || f8 != t.escalated {
                    println!(
                        "{name}: {:.1} s {} escalated={} 16k={f16} ulaw={f8}",
                        t.start_s, t.label, t.escalated
                    );
                }
            }
            if !escalating {
                calm_calls += 1;
                calm_eps16 += (r16.speakers[&Speaker::Customer].episodes > 0) as u32;
                calm_eps8 += (r8.speakers[&Speaker::Customer].episodes > 0) as u32;
            }
        }
    }
    let (b16, b8) = (c16.balanced_accuracy(), c8.balanced_accuracy());
    println!(
        "assembled, 16 kHz: {c16:?} balanced accuracy {b16:.3}; calm calls with episodes {calm_eps16}/{calm_calls}"
    );
    println!(
        "assembled, mu-law: {c8:?} balanced accuracy {b8:.3}; calm calls with episodes {calm_eps8}/{calm_calls}"
    );
    // Measured: 16 kHz 0.946 (103/112 escalated, 171/176 calm), mu-law 0.944 (102/112,
    // 172/176); two of the eight calm calls get an episode (actors 6 and 7, whose "neutral"
    // takes are 4-7 dB louder and brighter than their "calm" ones).
    assert!(b16 >= 0.93, "16 kHz balanced accuracy {b16:.3}");
    assert!(b8 >= 0.93, "mu-law balanced accuracy {b8:.3}");
    assert!(
        calm_eps16 <= 2 && calm_eps8 <= 2,
        "false episodes on calm calls"
    );
}

/// Phone lines often apply automatic gain control: every customer turn arrives at the same level.
/// Simulated here by normalising each customer turn of the assembled calls to -26 dBFS RMS;
/// pitch and spectral tilt must then still carry strong anger over the threshold.
#[test]
fn strong_anger_is_flagged_when_agc_flattens_loudness() {
    let cfg = Config::default();
    let clips = ravdess();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (
        mut strong,
        mut strong_flagged,
        mut normal,
        mut normal_flagged,
        mut calm,
        mut calm_flagged,
    ) = (0, 0, 0, 0, 0, 0);
    for customer in 1..=8u32 {
        let agent = customer % 8 + 1;
        let (mut chans, turns) = assemble(&clips, customer, agent, true, &mut rng);
        for t in &turns {
            let (a, b) = ((t.start_s * 16000.0) as usize, (t.end_s * 16000.0) as usize);
            let seg = &mut chans[1][a..b];
            let rms = (seg.iter().map(|v| v * v).sum::<f32>() / seg.len() as f32).sqrt();
            let gain = 10f32.powf(-26.0 / 20.0) / rms.max(1e-9);
            for s in seg.iter_mut() {
                *s = (*s * gain).clamp(-1.0, 1.0);
            }
        }
        let r = review_samples(&format!("agc_a{customer:02}"), 16000, &chans, &cfg);
        for t in &turns {
            let f = flagged(&r, t);
            match (t.escalated, t.label.ends_with("strong")) {
                (true, true) => (strong += 1, strong_flagged += f as usize),
                (true, false) => (normal += 1, normal_flagged += f as usize),
                (false, _) => (calm += 1, calm_flagged += f as usize),
            };
        }
    }
    println!(
        "AGC: strong anger flagged {strong_flagged}/{strong}, normal anger {normal_flagged}/{normal}, calm turns flagged {calm_flagged}/{calm}"
    );
    assert!(strong_flagged as f64 >= 0.9 * strong as f64);
    assert!(calm_flagged as f64 <= 0.02 * calm as f64);
}
