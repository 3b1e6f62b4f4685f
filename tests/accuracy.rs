//! Escalation accuracy on real recordings (../shared/data), asserted at measured thresholds.
//!
//! Measured (cargo test --release --test accuracy -- --nocapture prints the figures):
//! - the four scenario calls: 46/46 customer turns right, 16 kHz and 8 kHz mu-law alike (5 of
//!   414 verdicts change when the calls start 1-9 ms later: see `verdicts_at_every_hop_phase`);
//! - 32 calls assembled from RAVDESS actors 1-8 the same way, leave-one-actor-out: see below.

mod common;

use calmline::Config;
use calmline::config::Side;
use calmline::events::Speaker;
use common::escalation::*;
use common::*;

/// The RAVDESS actors in ../shared/data and the seed of the assembled calls.
const ACTORS: [u32; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The assembled calls: built with `SEED`, or with each seed of `ASSEMBLY_SEEDS` (a comma list)
/// from the environment, to see how much the figures owe to which takes a seed happened to pick.
/// (The thresholds asserted here were measured with `SEED`.)
fn assembled() -> Vec<CallFeats> {
    let seeds: Vec<u64> = std::env::var("ASSEMBLY_SEEDS").map_or_else(
        |_| vec![SEED],
        |v| v.split(',').map(|s| s.trim().parse().unwrap()).collect(),
    );
    assembled_with(&seeds)
}

/// The calls of several assemblies (draws of the same actors' takes), one after another.
fn assembled_with(seeds: &[u64]) -> Vec<CallFeats> {
    seeds
        .iter()
        .flat_map(|&s| assembled_features(&ACTORS, 2, s))
        .collect()
}

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

/// The same calls started 1-9 ms later (leading silence): a live capture starts its 10 ms hops
/// at no particular phase of the speech, so a verdict that flips with the phase is luck.
#[test]
fn verdicts_at_every_hop_phase() {
    let cfg = Config::default();
    let dir = tempfile::tempdir().unwrap();
    let (mut flips, mut total) = (0, 0);
    let mut worst = 1.0f64;
    // When the agent is told to acknowledge, on the call's own clock: live, the hop phase is
    // wherever the sound server's stream happens to start.
    let ack = |r: &calmline::report::Review, shift: f64| {
        r.cues
            .iter()
            .find(|c| c.cue.kind == calmline::events::CueKind::Acknowledge)
            .map(|c| c.t_s - shift)
    };
    for name in SCENARIOS {
        let wav = call(&format!("{name}.wav"));
        let turns = turns(&call(&format!("{name}.turns.csv")));
        let r0 = review(&wav, &cfg);
        let at0 = turn_verdicts(&r0, &turns);
        let mut acks = vec![ack(&r0, 0.0)];
        let mut flipped = vec![0; turns.len()];
        for ms in 1..10 {
            let out = dir.path().join(format!("{name}_{ms}.wav"));
            sox_fx(&wav, &out, &[], &["pad", &format!("0.00{ms}")]);
            let shift = ms as f64 / 1000.0;
            let shifted: Vec<Turn> = turns
                .iter()
                .map(|t| Turn {
                    start_s: t.start_s + shift,
                    end_s: t.end_s + shift,
                    ..t.clone()
                })
                .collect();
            let r = review(&out, &cfg);
            acks.push(ack(&r, shift));
            let mut c = Counts::default();
            for (i, (t, f)) in shifted.iter().zip(turn_verdicts(&r, &shifted)).enumerate() {
                c.add(t.escalated, f);
                total += 1;
                if f != at0[i] {
                    flips += 1;
                    flipped[i] += 1;
                }
            }
            assert_eq!(c.fp, 0, "{name} +{ms} ms: a calm turn flagged");
            worst = worst.min(c.balanced_accuracy());
        }
        if name.contains("escalating") {
            let acks: Vec<f64> = acks.iter().map(|a| a.expect("acknowledge")).collect();
            let (lo, hi) = acks
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), &a| (lo.min(a), hi.max(a)));
            println!("{name}: acknowledge at {lo:.2}-{hi:.2} s over the 10 hop phases");
            // Measured: a04 53.57-53.93 s, a01 55.20-55.21 s (with a strict outburst
            // hold, a04's moved to 54.5-54.8 s at 5 phases and to its next turn at +7 ms).
            assert!(hi - lo <= 0.5, "{name}: acknowledge at {acks:?}");
        }
        for (t, n) in turns.iter().zip(&flipped).filter(|(_, n)| **n > 0) {
            println!(
                "{name}: turn at {:.1} s ({}, escalated={}) flips in {n} of 9 shifted starts",
                t.start_s, t.label, t.escalated
            );
        }
    }
    println!(
        "hop phase: {flips} of {total} turn verdicts differ from the unshifted call's; worst balanced accuracy of one call at one phase {worst:.3}"
    );
    // Measured: 0 of 414 (5 with a strict outburst hold, all a04's first angry turn, whose 8th
    // hop over 3.5 was lost at +3 to +7 ms; worst 0.929 then).
    assert!(flips <= 2, "{flips} of {total}");
    assert!(worst >= 0.95, "{worst:.3}");
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

/// A lively, professional calm voice: the 40 telephone-system prompts of ../shared/data/telephony
/// (one announcer, 8 kHz) played back to back as one caller, a second apart. Some sentences are
/// held 5 semitones over the others; none is angry, so none may start an episode (the pitch turn
/// path did, before it required a brighter voice too).
#[test]
fn announcer_prompts_back_to_back_have_no_episode() {
    let dir = data().join("telephony");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "{} prompts", files.len());
    let mut caller = Vec::new();
    for f in &files {
        let (rate, chans) = decode(f);
        assert_eq!(rate, 8000, "{}", f.display());
        caller.extend_from_slice(&chans[0]);
        caller.extend(std::iter::repeat_n(0.0, 8000));
    }
    let silent_agent = vec![0.0; caller.len()];
    let r = review_samples(
        "announcer",
        8000,
        &[silent_agent, caller],
        &Config::default(),
    );
    let c = &r.speakers[&Speaker::Customer];
    println!(
        "announcer prompts: {:.0} s of talk, peak score {:.2}, episodes {}",
        c.talk_s, c.peak_escalation, c.episodes
    );
    assert!(c.talk_s > 120.0, "talk {}", c.talk_s);
    assert_eq!(c.episodes, 0);
}

/// Generalisation beyond the scenario actors: for each of the eight RAVDESS actors, two
/// escalating and two calm calls assembled with that actor as the customer, at 16 kHz, through
/// sox as 8 kHz mu-law, and at 16 kHz with every turn's level flattened as a line's automatic
/// gain control would (the selection weighs all three, so a fit cannot buy fewer false episodes
/// on lively neutral turns with the pitch that carries anger on such lines). Reported leave-one-actor-out: for each actor, the configuration grid point
/// that scores best on the other seven actors' calls is judged on this actor's calls (the same
/// selection scripts/fit-escalation.sh makes for the shipped configuration), so the figure is not
/// the in-sample one. The shipped configuration's own figures are printed beside it.
#[test]
fn leave_one_actor_out_on_assembled_calls() {
    let calls = assembled();
    let grid = grid();
    let (loao, choices) = leave_one_actor_out(&calls, &grid);
    for (actor, i) in &choices {
        println!(
            "actor {actor}: chosen on the others: {}",
            grid[*i].replace('\n', " ")
        );
    }
    loao.print("leave-one-actor-out, ");
    let shipped = evaluate(calls.iter(), &Config::default());
    shipped.print("shipped config (in-sample), ");
    // Measured (sox in repeatable mode): leave-one-actor-out 0.966 at 16 kHz and 0.964 as
    // mu-law (normal anger 43 of 48 in each; strong 64/64), 1 calm call of 16 with an episode
    // in each; with every turn's level flattened (AGC) 0.920, strong 64/64, normal 30/48, no
    // calm episode (0.961 / 0.961 / 0.875 before the restless-pitch turn path). The shipped
    // configuration in-sample 0.970 / 0.968 / 0.924 with one calm call with an episode (actor
    // 6, a neutral take 10 dB over their calm ones). Over four assemblies
    // (ASSEMBLY_SEEDS=11400714819323198485,1,2,3, 128 calls): 0.958 / 0.962 / 0.912
    // leave-one-actor-out, 7, 5 and 0 of 64 calm calls with an episode (see below).
    let (b16, b8) = (
        loao.t16.all.balanced_accuracy(),
        loao.t8.all.balanced_accuracy(),
    );
    assert!(b16 >= 0.95, "16 kHz leave-one-actor-out {b16:.3}");
    assert!(b8 >= 0.95, "mu-law leave-one-actor-out {b8:.3}");
    assert!(
        loao.t16.normal.0 * 10 >= loao.t16.normal.1 * 8,
        "normal-intensity anger recall"
    );
    assert_eq!(loao.t16.strong.0, loao.t16.strong.1, "strong anger missed");
    assert_eq!(
        loao.t8.strong.0, loao.t8.strong.1,
        "strong anger missed (mu-law)"
    );
    let bagc = loao.tagc.all.balanced_accuracy();
    assert!(
        bagc >= 0.90,
        "level-flattened leave-one-actor-out {bagc:.3}"
    );
    assert_eq!(
        loao.tagc.calm_calls_with_episode, 0,
        "calm episode with AGC"
    );
    assert!(loao.t16.calm_calls_with_episode <= 1 && loao.t8.calm_calls_with_episode <= 1);
    // The shipped configuration (in-sample): at most one of the 16 calm calls with an episode.
    assert!(shipped.t16.calm_calls_with_episode <= 1);
    assert!(shipped.t8.calm_calls_with_episode <= 1);
}

/// The same over four assemblies (the default seed and 1, 2, 3: other draws of the same actors'
/// takes, 128 calls). One draw flatters the detector; these are the figures to expect on new
/// actors, and the shipped values were fitted on them.
#[test]
fn leave_one_actor_out_over_four_assemblies() {
    let calls = assembled_with(&[SEED, 1, 2, 3]);
    let (loao, _) = leave_one_actor_out(&calls, &grid());
    let shipped = evaluate(calls.iter(), &Config::default());
    loao.print("four assemblies, leave-one-actor-out, ");
    shipped.print("four assemblies, shipped (in-sample), ");
    // Measured: leave-one-actor-out 0.958 / 0.962 / 0.912 with 7, 5 and 0 of 64 calm calls
    // with an episode; shipped in-sample 0.962 / 0.965 / 0.912 with 7, 5 and 0, normal anger
    // 172, 172 and 114 of 192. Without the restless-pitch turn path
    // (escalation.turn_motion_pitch_st = 100): 0.952 / 0.959 / 0.878, in-sample normal anger
    // 170, 170 and 84; without the rough-voice one too: 0.948 / 0.955 / 0.871 with 10, 6 and 0.
    let b = |t: &Tally| t.all.balanced_accuracy();
    assert!(b(&loao.t16) >= 0.955, "16 kHz {:.3}", b(&loao.t16));
    assert!(b(&loao.t8) >= 0.958, "mu-law {:.3}", b(&loao.t8));
    assert!(b(&loao.tagc) >= 0.905, "levelled {:.3}", b(&loao.tagc));
    assert_eq!(loao.tagc.calm_calls_with_episode, 0);
    assert!(loao.t16.calm_calls_with_episode <= 8 && loao.t8.calm_calls_with_episode <= 6);
    assert!(
        shipped.t16.calm_calls_with_episode <= 8 && shipped.t8.calm_calls_with_episode <= 6,
        "calm calls with an episode: {} and {} of 64",
        shipped.t16.calm_calls_with_episode,
        shipped.t8.calm_calls_with_episode
    );
    assert!(
        shipped.t16.normal.0 >= 170 && shipped.tagc.normal.0 >= 108,
        "normal anger {} and {} (levelled)",
        shipped.t16.normal.0,
        shipped.tagc.normal.0
    );
}

/// The fit itself (scripts/fit-escalation.sh): every grid point on all eight actors, best first.
#[test]
#[ignore = "run by scripts/fit-escalation.sh"]
fn fit_escalation_grid() {
    let calls = assembled();
    let grid = grid();
    let mut rows: Vec<(f64, usize, Figures)> = grid
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let f = evaluate(calls.iter(), &overlay(g));
            (f.objective(), i, f)
        })
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for (obj, i, f) in &rows {
        println!("{obj:.3}  {}", grid[*i].replace('\n', " "));
        f.print("       ");
    }
    let (loao, choices) = leave_one_actor_out(&calls, &grid);
    for (a, g) in &choices {
        let f = evaluate(calls.iter().filter(|c| c.actor == *a), &overlay(&grid[*g]));
        println!("actor {a}: {}", grid[*g].replace('\n', " "));
        f.print("       ");
    }
    loao.print("leave-one-actor-out, ");
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
        chans[1] = agc(&chans[1], &turns);
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

/// Exploration aid: the assembled calls' per-hop customer features as CSV (env DUMP=path).
#[test]
#[ignore = "exploration aid"]
fn dump_assembled_features() {
    use std::io::Write;
    let calls = assembled();
    let mut w = dump_csv(
        "call,actor,esc_call,enc,hop,turn,label,esc,level,loud,rms,vad,active,hz,clar,tilt,syl,pace",
    );
    for c in &calls {
        for (enc, feats) in [("16", &c.f16), ("8", &c.f8), ("agc", &c.fagc)] {
            for (i, f) in feats.iter().enumerate() {
                let t = (i as f64 + 0.5) * calmline::dsp::HOP_S;
                let (ti, lab, esc) = c
                    .turns
                    .iter()
                    .enumerate()
                    .find(|(_, x)| t >= x.start_s && t < x.end_s)
                    .map(|(k, x)| (k as i64, x.label.replace(' ', "_"), x.escalated as u8))
                    .unwrap_or((-1, "-".into(), 0));
                writeln!(
                    w,
                    "{},{},{},{},{},{},{},{},{:.2},{:.2},{:.2},{:.3},{},{:.1},{:.3},{:.2},{},{:.2}",
                    c.name,
                    c.actor,
                    c.escalating as u8,
                    enc,
                    i,
                    ti,
                    lab,
                    esc,
                    f.level_db,
                    f.loudness_db,
                    f.rms_dbfs,
                    f.vad,
                    f.active as u8,
                    f.pitch_hz.unwrap_or(0.0),
                    f.clarity,
                    f.tilt_db.unwrap_or(f32::NAN),
                    f.syllable as u8,
                    f.pace_sps.unwrap_or(f32::NAN)
                )
                .unwrap();
            }
        }
    }
}

/// Exploration aid: each assembled call's first episode start (none after an angry turn), with
/// the turn it landed on and its evidence, to see what starts the false ones.
#[test]
#[ignore = "exploration aid"]
fn dump_first_episodes() {
    use calmline::analysis::SpeakerState;
    use calmline::dsp::HOP_S;
    use calmline::events::{EventBody, Speaker};
    let calls = assembled();
    let cfg = Config::default();
    for c in &calls {
        for (enc, feats) in [("16k", &c.f16), ("ulaw", &c.f8), ("agc", &c.fagc)] {
            let mut s = SpeakerState::new(Speaker::Customer, &cfg);
            for (i, f) in feats.iter().enumerate() {
                let t = (i + 1) as f64 * HOP_S;
                s.update(t, f, &mut |e| {
                    let EventBody::EpisodeStart {
                        start_s, evidence, ..
                    } = &e.body
                    else {
                        return;
                    };
                    let k = c
                        .turns
                        .iter()
                        .position(|u| u.start_s - 0.5 <= *start_s && *start_s <= u.end_s + 0.5);
                    if k.is_some_and(|k| c.turns[..k].iter().any(|u| u.escalated)) {
                        return;
                    }
                    let (label, right) = k.map_or(("between turns", false), |k| {
                        (c.turns[k].label.as_str(), c.turns[k].escalated)
                    });
                    println!(
                        "{} {} {enc} {label} {start_s:.2} (confirmed {t:.2}): {}",
                        if right { "angry" } else { "FALSE" },
                        c.name,
                        evidence.sentence
                    );
                });
            }
        }
    }
}

/// The first signal over the assembled calls as `enc` ("16k", "ulaw" or "agc"): from each first angry turn's
/// speech onset to its first `rising` event or episode (none within 1 s of the turn's end:
/// `missed`), the episode alone, and `rising` events on the calm turns before any anger.
#[derive(Default)]
struct RiseFigures {
    lat: Vec<f64>,
    lat_ep: Vec<f64>,
    missed: usize,
    calm_rises: usize,
    calm_turns: usize,
    calm_calls_rising: usize,
}

fn rise_figures(calls: &[CallFeats], cfg: &Config, enc: &str) -> RiseFigures {
    use calmline::analysis::SpeakerState;
    use calmline::dsp::HOP_S;
    use calmline::events::{EventBody, Speaker};
    let mut r = RiseFigures::default();
    for c in calls {
        let feats = match enc {
            "16k" => &c.f16,
            "ulaw" => &c.f8,
            _ => &c.fagc,
        };
        let mut s = SpeakerState::new(Speaker::Customer, cfg);
        let mut rises = Vec::new();
        let mut starts = Vec::new();
        for (i, f) in feats.iter().enumerate() {
            let t = (i + 1) as f64 * HOP_S;
            s.update(t, f, &mut |e| match e.body {
                EventBody::Rising { .. } => rises.push(e.t_s),
                EventBody::EpisodeStart { .. } => starts.push(e.t_s),
                _ => {}
            });
        }
        let first_angry = c.turns.iter().position(|t| t.escalated);
        let calm_end = first_angry.map_or(f64::INFINITY, |k| c.turns[k].start_s);
        let n = rises.iter().filter(|&&t| t < calm_end).count();
        r.calm_rises += n;
        if std::env::var("RISE_CALLS").is_ok() && n > 0 {
            let labels: Vec<&str> = rises
                .iter()
                .filter(|&&t| t < calm_end)
                .filter_map(|&t| {
                    c.turns
                        .iter()
                        .find(|u| u.start_s <= t && t <= u.end_s + 0.7)
                        .map(|u| u.label.as_str())
                })
                .collect();
            println!("  {} {enc}: {n} {labels:?}", c.name);
        }
        r.calm_turns += c.turns[..first_angry.unwrap_or(c.turns.len())].len();
        if !c.escalating && n > 0 {
            r.calm_calls_rising += 1;
        }
        if let Some(k) = first_angry {
            let t = &c.turns[k];
            let onset = (0..feats.len())
                .map(|i| (i, i as f64 * HOP_S))
                .find(|&(i, x)| x >= t.start_s && feats[i].active)
                .map(|(_, x)| x)
                .unwrap_or(t.start_s);
            let ep = starts.iter().copied().find(|&x| x >= t.start_s);
            let first = rises
                .iter()
                .copied()
                .find(|&x| x >= t.start_s)
                .into_iter()
                .chain(ep)
                .fold(f64::INFINITY, f64::min);
            if first.is_finite() && first < t.end_s + 1.0 {
                r.lat.push(first - onset);
            } else {
                r.missed += 1;
            }
            if let Some(e) = ep.filter(|&e| e < t.end_s + 1.0) {
                r.lat_ep.push(e - onset);
            }
        }
    }
    r.lat.sort_by(f64::total_cmp);
    r.lat_ep.sort_by(f64::total_cmp);
    r
}

/// The shipped first signal on the assembled calls (16 kHz and mu-law): within 0.25 s of the
/// first angry turn's speech for most of those it signals, and on few calm turns. Measured
/// (2.0 over 0.05 s for 0.05 s): 13 of 14 within 0.25 s in each, 40 and 37 calm turns of 256 lit;
/// the earlier 1.2 over 0.1 s for 0.1 s gave 10 of 14 and 50 / 47.
#[test]
fn first_signal_is_quick_and_rare_on_calm_turns() {
    let calls = assembled();
    let cfg = Config::default();
    for (label, r) in [
        ("16 kHz", rise_figures(&calls, &cfg, "16k")),
        ("mu-law", rise_figures(&calls, &cfg, "ulaw")),
    ] {
        let within = r.lat.iter().filter(|&&l| l <= 0.25).count();
        println!(
            "first signal, {label}: {within}/{} within 0.25 s ({} first angry turns without one); rising on {} of {} calm turns",
            r.lat.len(),
            r.missed,
            r.calm_rises,
            r.calm_turns
        );
        assert!(
            r.missed <= 2,
            "{label}: {} first angry turns unsignalled",
            r.missed
        );
        assert!(within >= 12, "{label}: {within} within 0.25 s");
        assert!(
            r.calm_rises * 100 <= r.calm_turns * 18,
            "{label}: rising on {} of {} calm turns",
            r.calm_rises,
            r.calm_turns
        );
    }
}

/// Exploration aid: the first signal (a `rising` event or an episode) after the first angry turn
/// begins, from that turn's speech onset, and `rising` events on calm speech, for a grid of rise
/// settings (env RISE="rise,smoothing_s,hold_s;..." overrides the default grid; RISE_CALLS=1
/// lists the calm turns that rise).
#[test]
#[ignore = "exploration aid"]
fn explore_rising() {
    let calls = assembled();
    let grid = std::env::var("RISE").unwrap_or_else(|_| {
        "2.0,0.05,0.05;1.2,0.1,0.1;1.2,0.05,0.05;1.8,0.05,0.05;2.2,0.05,0.05;2.0,0.04,0.04".into()
    });
    for g in grid.split(';') {
        let v: Vec<&str> = g.split(',').collect();
        let cfg = overlay(&format!(
            "[escalation]\nrise = {}\nrise_smoothing_s = {}\nrise_hold_s = {}\n",
            v[0], v[1], v[2]
        ));
        for enc in ["16k", "ulaw", "agc"] {
            let r = rise_figures(&calls, &cfg, enc);
            let q = |v: &[f64], p: f64| v.get(((v.len() as f64 - 1.0) * p) as usize).copied();
            println!(
                "{g} {enc}: first signal median {:.2?} p90 {:.2?} within 0.25 s {}/{} missed {}; episode median {:.2?} p90 {:.2?}; rising on calm speech {} in {} turns, {}/16 calm calls",
                q(&r.lat, 0.5),
                q(&r.lat, 0.9),
                r.lat.iter().filter(|&&l| l <= 0.25).count(),
                r.lat.len(),
                r.missed,
                q(&r.lat_ep, 0.5),
                q(&r.lat_ep, 0.9),
                r.calm_rises,
                r.calm_turns,
                r.calm_calls_rising,
            );
        }
    }
}

/// The exploration aids' CSV output: the file named by env DUMP, with its header written.
fn dump_csv(header: &str) -> std::io::BufWriter<std::fs::File> {
    use std::io::Write;
    let path = std::env::var("DUMP").expect("DUMP=path of the CSV to write");
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "{header}").unwrap();
    w
}

/// Exploration aid: per-hop features of any recordings (env FILES=a.wav,b.wav; DUMP=path).
#[test]
#[ignore = "exploration aid"]
fn dump_file_features() {
    use std::io::Write;
    let cfg = Config::default();
    let mut w = dump_csv("file,chan,hop,loud,vad,active,hz,clar,tilt");
    for f in std::env::var("FILES").unwrap().split(',') {
        let (rate, chans) = common::decode(std::path::Path::new(f));
        for (ci, ch) in chans.iter().enumerate() {
            for (i, x) in calmline::pipeline::analyse_channel(&cfg, rate, ch)
                .unwrap()
                .iter()
                .enumerate()
            {
                writeln!(
                    w,
                    "{},{},{},{:.2},{:.3},{},{:.1},{:.3},{:.2}",
                    f,
                    ci,
                    i,
                    x.loudness_db,
                    x.vad,
                    x.active as u8,
                    x.pitch_hz.unwrap_or(0.0),
                    x.clarity,
                    x.tilt_db.unwrap_or(f32::NAN)
                )
                .unwrap();
            }
        }
    }
}

/// Exploration aid: the shipped detector's verdict on every assembled turn (DUMP=path), to
/// measure offline what a new turn-level rule would add on top of it (how the rough-voice and
/// restless-pitch alternatives were first sized).
#[test]
#[ignore = "exploration aid"]
fn dump_turn_verdicts() {
    use std::io::Write;
    let cfg = Config::default();
    let mut w = dump_csv("inst,enc,turn,flag,episodes");
    for (k, c) in assembled().iter().enumerate() {
        for (enc, feats) in [("16", &c.f16), ("8", &c.f8), ("agc", &c.fagc)] {
            let o = detect(feats, &c.turns, &cfg);
            for (i, f) in o.flagged.iter().enumerate() {
                writeln!(w, "{},{},{},{},{}", k + 1, enc, i, *f as u8, o.episodes).unwrap();
            }
        }
    }
}
