//! The escalation detector on cached features: calls assembled from RAVDESS are analysed once
//! (16 kHz and 8 kHz mu-law through the real sox), then the speaker state runs over the cached
//! per-hop features for each configuration tried. Used for the leave-one-actor-out figures.

use calmline::Config;
use calmline::analysis::SpeakerState;
use calmline::dsp::{FrameFeatures, HOP_S};
use calmline::events::{EventBody, Speaker};

use super::*;

/// One assembled call: the customer's per-hop features at 16 kHz and as 8 kHz mu-law.
pub struct CallFeats {
    pub name: String,
    pub actor: u32,
    pub escalating: bool,
    pub turns: Vec<Turn>,
    pub f16: Vec<FrameFeatures>,
    pub f8: Vec<FrameFeatures>,
    /// 16 kHz with every customer turn normalised to -26 dBFS RMS, as a line's automatic gain
    /// control would (loudness carries nothing; pitch and tilt must).
    pub fagc: Vec<FrameFeatures>,
}

/// Each turn of `chan` (16 kHz) scaled to -26 dBFS RMS.
pub fn agc(chan: &[f32], turns: &[Turn]) -> Vec<f32> {
    let mut out = chan.to_vec();
    for t in turns {
        let (a, b) = ((t.start_s * 16000.0) as usize, (t.end_s * 16000.0) as usize);
        let seg = &mut out[a..b.min(chan.len())];
        let rms = (seg.iter().map(|v| v * v).sum::<f32>() / seg.len().max(1) as f32).sqrt();
        let gain = 10f32.powf(-26.0 / 20.0) / rms.max(1e-9);
        for s in seg.iter_mut() {
            *s = (*s * gain).clamp(-1.0, 1.0);
        }
    }
    out
}

/// Assemble `per_actor` escalating and `per_actor` calm calls for each actor in `actors` and
/// analyse their customer channel.
pub fn assembled_features(actors: &[u32], per_actor: usize, seed: u64) -> Vec<CallFeats> {
    let cfg = Config::default();
    let clips = ravdess();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for &customer in actors {
        for k in 0..2 * per_actor {
            let escalating = k % 2 == 0;
            let mut agent = (customer + k as u32) % 8 + 1;
            if agent == customer {
                agent = customer % 8 + 1;
            }
            let (chans, turns) = assemble(&clips, customer, agent, escalating, &mut rng);
            let name = format!("a{customer:02}_{k}");
            let wav = dir.path().join(format!("{name}.wav"));
            let ulaw = dir.path().join(format!("{name}_ulaw.wav"));
            write_wav(&wav, 16000, &chans[1..]);
            sox(&wav, &ulaw, &["-r", "8000", "-e", "mu-law"]);
            let (rate, mu) = decode(&ulaw);
            let flat = agc(&chans[1], &turns);
            out.push(CallFeats {
                name,
                actor: customer,
                escalating,
                turns,
                f16: calmline::pipeline::analyse_channel(&cfg, 16000, &chans[1]).unwrap(),
                f8: calmline::pipeline::analyse_channel(&cfg, rate, &mu[0]).unwrap(),
                fagc: calmline::pipeline::analyse_channel(&cfg, 16000, &flat).unwrap(),
            });
        }
    }
    out
}

/// What the detector made of one call: a verdict per turn and the episode count.
pub struct Outcome {
    pub flagged: Vec<bool>,
    pub episodes: u32,
}

/// Run the customer's speaker state over `feats` and judge each turn as [`flagged`] does on a
/// review's timeline (0.1 s steps, voiced when half the hops are, episodes dated back to their
/// start).
pub fn detect(feats: &[FrameFeatures], turns: &[Turn], cfg: &Config) -> Outcome {
    let mut s = SpeakerState::new(Speaker::Customer, cfg);
    let steps = feats.len() / 10;
    let (mut voiced, mut esc) = (vec![false; steps], vec![false; steps]);
    let mut episodes = 0;
    let mut starts = Vec::new();
    for (i, f) in feats.iter().enumerate() {
        let t = (i + 1) as f64 * HOP_S;
        s.update(t, f, &mut |e| {
            if let EventBody::EpisodeStart { start_s, .. } = e.body {
                episodes += 1;
                starts.push((start_s, i / 10));
            }
        });
        let step = i / 10;
        if step < steps && i % 10 == 9 {
            let v = feats[i - 9..=i].iter().filter(|f| f.voiced()).count();
            voiced[step] = v >= 5;
            esc[step] = s.escalated();
        }
    }
    for (start, confirmed_step) in starts {
        // Steps from the dated start to the confirmation belong to the episode too.
        for (k, e) in esc.iter_mut().enumerate().take(confirmed_step) {
            if (k + 1) as f64 * 0.1 > start + 1e-9 {
                *e = true;
            }
        }
    }
    let flagged = turns
        .iter()
        .map(|t| steps_flagged(&voiced, &esc, 0.1, t))
        .collect();
    Outcome { flagged, episodes }
}

/// Turn counts split the way the issue reports them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub all: Counts,
    pub normal: (usize, usize),
    pub strong: (usize, usize),
    pub calm_calls: usize,
    pub calm_calls_with_episode: usize,
    pub calm_episodes: u32,
}

impl Tally {
    pub fn add(&mut self, call: &CallFeats, o: &Outcome) {
        for (t, &f) in call.turns.iter().zip(&o.flagged) {
            self.all.add(t.escalated, f);
            if t.escalated {
                let slot = if t.label.ends_with("strong") {
                    &mut self.strong
                } else {
                    &mut self.normal
                };
                slot.0 += f as usize;
                slot.1 += 1;
            }
        }
        if !call.escalating {
            self.calm_calls += 1;
            self.calm_calls_with_episode += (o.episodes > 0) as usize;
            self.calm_episodes += o.episodes;
        }
    }
    pub fn line(&self) -> String {
        let c = &self.all;
        format!(
            "balanced accuracy {:.3}; angry strong {}/{}, normal {}/{}; calm turns clear {}/{}; calm calls with an episode {}/{} ({} episodes)",
            c.balanced_accuracy(),
            self.strong.0,
            self.strong.1,
            self.normal.0,
            self.normal.1,
            c.tn,
            c.tn + c.fp,
            self.calm_calls_with_episode,
            self.calm_calls,
            self.calm_episodes
        )
    }
}

/// Figures of one configuration over a set of calls, 16 kHz and mu-law.
#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    pub t16: Tally,
    pub t8: Tally,
    pub tagc: Tally,
}

impl Figures {
    /// The selection objective: balanced accuracy over both encodings and the level-flattened
    /// calls, less a hundredth per calm call with an episode (a false escalation cue is what
    /// agents notice most). Without the flattened calls, a fit would trade pitch, which carries
    /// anger on lines with gain control, for fewer false episodes on livelier neutral turns.
    pub fn objective(&self) -> f64 {
        let t = [&self.t16, &self.t8, &self.tagc];
        t.iter().map(|t| t.all.balanced_accuracy()).sum::<f64>() / 3.0
            - 0.01 * t.iter().map(|t| t.calm_calls_with_episode).sum::<usize>() as f64
    }

    /// Prints one line per encoding, each after `prefix`.
    pub fn print(&self, prefix: &str) {
        println!("{prefix}16 kHz: {}", self.t16.line());
        println!("{prefix}mu-law: {}", self.t8.line());
        println!("{prefix}AGC:    {}", self.tagc.line());
    }
}

pub fn evaluate<'a>(calls: impl Iterator<Item = &'a CallFeats>, cfg: &Config) -> Figures {
    let mut f = Figures::default();
    for c in calls {
        f.t16.add(c, &detect(&c.f16, &c.turns, cfg));
        f.t8.add(c, &detect(&c.f8, &c.turns, cfg));
        f.tagc.add(c, &detect(&c.fagc, &c.turns, cfg));
    }
    f
}

/// The grid the fit searches: TOML overlays on the built-in configuration.
pub fn grid() -> Vec<String> {
    let mut out = Vec::new();
    // Exploration: FIT_EXTRA crosses the grid with alternative settings, `;` between
    // alternatives and `,` between the keys of one, as dotted keys: e.g.
    // FIT_EXTRA="escalation.start = 1.2;escalation.start = 1.4,escalation.start_hold_s = 0.5".
    let extras: Vec<String> = std::env::var("FIT_EXTRA").map_or_else(
        |_| vec![String::new()],
        |v| {
            v.split(';')
                .map(|e| format!("{}\n", e.replace(',', "\n")))
                .collect()
        },
    );
    // FIT_EXTRA_ONLY=1: the alternatives alone, on top of the shipped configuration (quick).
    if std::env::var_os("FIT_EXTRA_ONLY").is_some() {
        return extras;
    }
    // Uncertainty widening (z = 0.5, 1) was in the grid and never chosen: fixed at 0.
    for turn_db in ["7.0", "8.0", "9.0", "100.0"] {
        for turn_min in ["0.8", "1.0"] {
            for early_db in ["12.0", "14.0", "100.0"] {
                for min_voiced in ["1.0", "2.0"] {
                    for pitch_st in ["100.0", "5.0", "6.0"] {
                        let point = format!(
                            "baseline.min_voiced_s = {min_voiced}\n\
                             escalation.turn_loudness_db = {turn_db}\n\
                             escalation.turn_min_s = {turn_min}\n\
                             escalation.turn_early_db = {early_db}\n\
                             escalation.turn_pitch_st = {pitch_st}\n"
                        );
                        for extra in &extras {
                            out.push(format!("{point}{extra}"));
                        }
                    }
                }
            }
        }
    }
    out
}

pub fn overlay(text: &str) -> Config {
    Config::from_layers(Some((std::path::Path::new("<grid>"), text))).unwrap()
}

/// Leave one actor out: for each actor, the grid point with the best objective on the other
/// actors' calls is judged on that actor's calls. Returns the pooled figures and each actor's
/// choice.
pub fn leave_one_actor_out(calls: &[CallFeats], grid: &[String]) -> (Figures, Vec<(u32, usize)>) {
    let mut actors: Vec<u32> = calls.iter().map(|c| c.actor).collect();
    actors.sort_unstable();
    actors.dedup();
    let cfgs: Vec<Config> = grid.iter().map(|g| overlay(g)).collect();
    // Per actor and grid point, that actor's figures; the training figures are sums of these.
    let per: Vec<Vec<Figures>> = actors
        .iter()
        .map(|&a| {
            cfgs.iter()
                .map(|cfg| evaluate(calls.iter().filter(|c| c.actor == a), cfg))
                .collect()
        })
        .collect();
    let mut pooled = Figures::default();
    let mut choices = Vec::new();
    for (i, &a) in actors.iter().enumerate() {
        let best = (0..cfgs.len())
            .max_by(|&x, &y| {
                let train = |g: usize| {
                    let mut f = Figures::default();
                    for (j, row) in per.iter().enumerate() {
                        if j != i {
                            f.t16.merge(&row[g].t16);
                            f.t8.merge(&row[g].t8);
                            f.tagc.merge(&row[g].tagc);
                        }
                    }
                    f.objective()
                };
                // Ties go to the earlier grid point.
                train(x).total_cmp(&train(y)).then(y.cmp(&x))
            })
            .unwrap();
        pooled.t16.merge(&per[i][best].t16);
        pooled.t8.merge(&per[i][best].t8);
        pooled.tagc.merge(&per[i][best].tagc);
        choices.push((a, best));
    }
    (pooled, choices)
}

impl Tally {
    pub fn merge(&mut self, o: &Tally) {
        self.all.tp += o.all.tp;
        self.all.fnn += o.all.fnn;
        self.all.tn += o.all.tn;
        self.all.fp += o.all.fp;
        self.normal.0 += o.normal.0;
        self.normal.1 += o.normal.1;
        self.strong.0 += o.strong.0;
        self.strong.1 += o.strong.1;
        self.calm_calls += o.calm_calls;
        self.calm_calls_with_episode += o.calm_calls_with_episode;
        self.calm_episodes += o.calm_episodes;
    }
}
