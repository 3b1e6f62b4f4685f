//! Who spoke when in a mono call: local segmentation, linked across windows, embedded, clustered.
//!
//! 1. [`segment::Segmenter`] runs on 10 s windows every `step_s` (5 s by default).
//! 2. Consecutive windows overlap; a local speaker of one window is linked to the local speaker
//!    of the next that talks in the same frames of the overlap. Linked local speakers form
//!    *fragments*: stretches where the segmentation itself kept track of who is who.
//! 3. A silence or hold longer than the overlap breaks every chain, so the fragments are joined
//!    by voice: each fragment's clean speech (no one else talking) is embedded with
//!    [`embed::Embedder`] and the fragments are clustered by cosine similarity into the call's
//!    speakers (two by default; one when the two voices are the same).
//! 4. Each long stretch (1.5 s) of a fragment's clean speech is embedded on its own and moved to
//!    the other speaker when clearly nearer their voice: the segmentation can keep two voices
//!    as one local speaker inside a window.
//! 5. Per frame, the windows that saw it vote how many people talk (0, 1 or 2: overlap is
//!    allowed), and that many speakers are taken, the most active first (each speaker's activity
//!    is the mean over the windows). A window's vote weighs more the nearer the frame is to its
//!    centre.

pub mod cluster;
pub mod der;
pub mod embed;
pub mod segment;
pub mod split;
pub mod voices;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Error, Result};
use segment::{FRAME_CENTRE, FRAME_STEP, FRAMES, LOCAL, WINDOW};

/// Sample rate the speaker models expect.
pub const RATE: u32 = 16_000;
/// Where the models are installed (scripts/install-diarisation.sh).
pub const SEGMENTATION_MODEL: &str = "models/segmentation-3.0.onnx";
/// The speaker-embedding model's file.
pub const EMBEDDING_MODEL: &str = "models/campplus_cn_en_common.pt";

/// How much a window's view of each of its frames counts when windows are combined: a Hamming
/// taper, so a frame is decided mostly by the window that sees it near its centre, with context
/// on both sides, rather than at an edge where the model has heard only half of a word. (With
/// half-overlapping windows every frame is seen once near an edge; an unweighted mean of two
/// votes that disagree counted as talk. Measured with `cargo test --release --test diarise`:
/// DER 9.5% -> 7.4% on the pyannote sample, 11.3% -> 10.6% on the mixed-down calls.) The small
/// floor keeps the first and last frames of a recording, which one window sees, decided.
fn frame_weights() -> Vec<f32> {
    (0..FRAMES)
        .map(|f| {
            let x = std::f32::consts::TAU * f as f32 / (FRAMES - 1) as f32;
            0.54 - 0.46 * x.cos() + 0.01
        })
        .collect()
}

/// Switch off candle's own CPU worker pool for this process, unless `CANDLE_NUM_THREADS` is set.
///
/// The pool serialises concurrent callers on one lock, and [`Diariser::run`] already embeds one
/// fragment per core: with the pool on, two cores embed no faster than one (measured: 14 s of
/// embedding per 10 minutes of call with it, 6 s without).
///
/// # Safety
/// It sets an environment variable, so call it first thing in `main`, before any other thread
/// exists (see [`std::env::set_var`]).
pub unsafe fn prepare_process() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the caller guarantees no other thread is running.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// Diarisation settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds between window starts (5 = half-overlapping 10 s windows).
    pub step_s: f32,
    /// The most speakers a call is split into.
    pub max_speakers: usize,
    /// Two clusters whose voices are more alike than this (cosine) are one speaker.
    pub same_voice: f32,
    /// Clean speech embedded per fragment, at most (seconds): more is slower, hardly better.
    pub embed_max_s: f32,
    /// Stretches of one fragment's clean speech at least this long (seconds) are embedded on
    /// their own and moved to the other speaker if nearer their voice; 0 switches it off.
    pub recheck_min_s: f32,
    /// How much nearer (cosine) the other speaker's voice must be for a stretch to move.
    pub recheck_margin: f32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            step_s: 5.0,
            max_speakers: 2,
            same_voice: 0.7,
            embed_max_s: 4.0,
            recheck_min_s: 1.5,
            recheck_margin: 0.1,
        }
    }
}

/// One speaker's stretch of speech.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    /// Start, seconds from the beginning of the call.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
    /// Speaker index, 0 for whoever spoke first.
    pub speaker: usize,
}

/// The answer for one call.
#[derive(Debug, Clone, Default)]
pub struct Diarisation {
    /// How many speakers were found.
    pub speakers: usize,
    /// Every speaker's turns, in time order (overlapping where two talk at once).
    pub turns: Vec<Turn>,
    /// Per speaker, the mean embedding of their speech (for matching enrolled voices).
    pub voices: Vec<Vec<f32>>,
}

impl Diarisation {
    /// Per speaker, activity on a grid of `step_s` seconds covering `duration_s`.
    pub fn grid(&self, step_s: f64, duration_s: f64) -> Vec<Vec<bool>> {
        let n = (duration_s / step_s).ceil() as usize;
        let mut g = vec![vec![false; n]; self.speakers];
        for t in &self.turns {
            let a = ((t.start_s / step_s).round() as usize).min(n);
            let b = ((t.end_s / step_s).round() as usize).min(n);
            for x in &mut g[t.speaker][a..b] {
                *x = true;
            }
        }
        g
    }
}

/// The two speaker models, loaded once.
pub struct Diariser {
    seg: segment::Segmenter,
    emb: embed::Embedder,
    opts: Options,
}

impl Diariser {
    /// Load both models from `models_dir` (a relative folder is looked up as
    /// [`locate`](crate::config::locate) looks up the Whisper model, so a review run from
    /// another folder finds the installed models).
    pub fn load(models_dir: &Path, opts: Options) -> Result<Self> {
        let seg_path = crate::config::locate(&models_dir.join(file_name(SEGMENTATION_MODEL)));
        let emb_path = crate::config::locate(&models_dir.join(file_name(EMBEDDING_MODEL)));
        for p in [&seg_path, &emb_path] {
            if !p.is_file() {
                return Err(Error::Model {
                    path: p.clone(),
                    message: "not installed (run scripts/install-diarisation.sh)".into(),
                });
            }
        }
        Ok(Diariser {
            seg: segment::Segmenter::load(&seg_path)?,
            emb: embed::Embedder::load(&emb_path)?,
            opts,
        })
    }

    /// Where [`load`](Self::load) looks for the models by default.
    pub fn default_dir() -> PathBuf {
        PathBuf::from("models")
    }

    /// The embedding network (for enrolling voices).
    pub fn embedder(&self) -> &embed::Embedder {
        &self.emb
    }

    /// Diarise 16 kHz mono `samples`. `progress` receives the fraction done.
    pub fn run(&self, samples: &[f32], progress: &(dyn Fn(f32) + Sync)) -> Result<Diarisation> {
        if samples.is_empty() {
            return Ok(Diarisation::default());
        }
        // Window starts on the frame grid, so frame f of window w is global frame start/270 + f.
        let step = ((self.opts.step_s.clamp(1.0, 10.0) * RATE as f32) as usize / FRAME_STEP).max(1)
            * FRAME_STEP;
        let mut starts: Vec<usize> = (0..)
            .map(|i| i * step)
            .take_while(|s| s + WINDOW < samples.len())
            .collect();
        if samples.len() > WINDOW {
            let last = (samples.len() - WINDOW) / FRAME_STEP * FRAME_STEP;
            if starts.last().is_none_or(|&s| s < last) {
                starts.push(last);
            }
        } else {
            starts = vec![0];
        }
        let done = std::sync::atomic::AtomicUsize::new(0);
        let total = starts.len();
        // Segmentation is four fifths of the work.
        let windows: Vec<segment::Activity> = starts
            .par_iter()
            .map(|&s| {
                let end = (s + WINDOW).min(samples.len());
                let a = self.seg.run(&samples[s..end]);
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(0.8 * d as f32 / total as f32);
                a
            })
            .collect::<Result<_>>()?;
        let offsets: Vec<usize> = starts.iter().map(|s| s / FRAME_STEP).collect();
        let frames_total = samples.len().saturating_sub(FRAME_CENTRE) / FRAME_STEP + 1;

        // Fragments: local speakers linked across overlapping windows.
        let mut uf = cluster::UnionFind::new(windows.len() * LOCAL);
        for w in 1..windows.len() {
            let shift = offsets[w] - offsets[w - 1];
            if shift >= FRAMES {
                continue;
            }
            let overlap = FRAMES - shift;
            let mut co = [[0f32; LOCAL]; LOCAL];
            for f in 0..overlap {
                let (a, b) = (&windows[w - 1][shift + f], &windows[w][f]);
                for i in 0..LOCAL {
                    for j in 0..LOCAL {
                        co[i][j] += a[i].min(b[j]);
                    }
                }
            }
            for (i, j) in cluster::best_matching(&co) {
                // Half a second spoken together in both windows' view links the two, when
                // neither also overlaps much with another speaker of the other window (one
                // wrong link would merge two voices for good; a missed one costs only an
                // embedding).
                let rival = (0..LOCAL)
                    .filter(|&k| k != j)
                    .map(|k| co[i][k])
                    .chain((0..LOCAL).filter(|&k| k != i).map(|k| co[k][j]))
                    .fold(0f32, f32::max);
                if co[i][j] >= 30.0 && co[i][j] >= 4.0 * rival {
                    uf.union((w - 1) * LOCAL + i, w * LOCAL + j);
                }
            }
        }
        // Each fragment's clean frames: the frames where it alone is active in some window.
        let mut clean: std::collections::HashMap<usize, Vec<usize>> = Default::default();
        let mut any: std::collections::HashMap<usize, Vec<usize>> = Default::default();
        for (w, act) in windows.iter().enumerate() {
            for (f, p) in act.iter().enumerate() {
                let g = offsets[w] + f;
                if g >= frames_total {
                    break;
                }
                let on: Vec<usize> = (0..LOCAL).filter(|&k| p[k] > 0.5).collect();
                for &k in &on {
                    let frag = uf.find(w * LOCAL + k);
                    any.entry(frag).or_default().push(g);
                    if on.len() == 1 {
                        clean.entry(frag).or_default().push(g);
                    }
                }
            }
        }
        // Fragments with under 0.25 s of speech are noise in the segmentation.
        let mut frags: Vec<usize> = any
            .iter()
            .filter(|(_, v)| v.len() >= 15)
            .map(|(&k, _)| k)
            .collect();
        frags.sort();
        let embed_frames = (self.opts.embed_max_s * RATE as f32 / FRAME_STEP as f32) as usize;
        let embeddings: Vec<Option<(Vec<f32>, f32)>> = frags
            .par_iter()
            .map(|frag| {
                let frames = match clean.get(frag) {
                    Some(c) if c.len() >= 30 => c,
                    _ => &any[frag],
                };
                let audio = gather(samples, frames, embed_frames);
                if audio.len() < RATE as usize / 4 {
                    return None;
                }
                let weight = frames.len() as f32;
                self.emb.embed(&audio).ok().map(|e| (e, weight))
            })
            .collect();
        progress(0.95);
        let labels = cluster::cluster(
            &embeddings,
            self.opts.max_speakers.max(1),
            self.opts.same_voice,
        );
        let speakers = labels.iter().flatten().max().map_or(0, |m| m + 1);
        // The segmentation sometimes keeps two voices as one local speaker inside a window (on
        // the SpokenWOZ call: the agent's 3.7 s at 114.9 s inside the caller's fragment), and
        // clustering the fragment as a whole cannot undo it. So each long stretch of a
        // fragment's clean speech is embedded on its own and moved to the other speaker when
        // it is clearly nearer their voice.
        let moved = if speakers == 2 && self.opts.recheck_min_s > 0.0 {
            let centres = cluster::centroids(&embeddings, &labels, speakers);
            let min_frames = (self.opts.recheck_min_s * RATE as f32 / FRAME_STEP as f32) as usize;
            let runs: Vec<(usize, usize, usize, usize)> = frags
                .iter()
                .zip(&labels)
                .filter_map(|(frag, label)| Some((*frag, (*label)?, clean.get(frag)?)))
                .flat_map(|(frag, own, frames)| {
                    clean_runs(frames, min_frames)
                        .into_iter()
                        .map(move |(g0, g1)| (frag, own, g0, g1))
                })
                .collect();
            runs.par_iter()
                .filter_map(|&(frag, own, g0, g1)| {
                    let frames: Vec<usize> = (g0..g1).collect();
                    let e = self.emb.embed(&gather(samples, &frames, min_frames)).ok()?;
                    let other = 1 - own;
                    let nearer = cluster::cosine(&e, &centres[other])
                        > cluster::cosine(&e, &centres[own]) + self.opts.recheck_margin;
                    nearer.then_some((frag, g0, g1, other))
                })
                .collect()
        } else {
            Vec::new()
        };
        // Aggregate: per speaker and frame, the mean over covering windows of the most active
        // local speaker mapped to them, each window's vote weighted by how central the frame is
        // in it (see `frame_weights`).
        let mut sum = vec![vec![0f32; frames_total]; speakers];
        let mut count = vec![0f32; frames_total];
        let weight = frame_weights();
        let mut talkers = vec![0f32; frames_total];
        let label_of = |w: usize, k: usize| -> Option<usize> {
            let frag = uf.find_const(w * LOCAL + k);
            frags.binary_search(&frag).ok().and_then(|i| labels[i])
        };
        for (w, act) in windows.iter().enumerate() {
            let map: Vec<Option<usize>> = (0..LOCAL).map(|k| label_of(w, k)).collect();
            let valid = (samples.len() - starts[w]).min(WINDOW);
            for (f, p) in act.iter().enumerate() {
                if f * FRAME_STEP + FRAME_CENTRE > valid {
                    break;
                }
                let g = offsets[w] + f;
                if g >= frames_total {
                    break;
                }
                let wt = weight[f];
                count[g] += wt;
                talkers[g] += wt * p.iter().filter(|&&x| x > 0.5).count() as f32;
                let mut best = [0f32; 8];
                for k in 0..LOCAL {
                    let frag = uf.find_const(w * LOCAL + k);
                    let lab = moved
                        .iter()
                        .find(|m| m.0 == frag && (m.1..m.2).contains(&g))
                        .map(|m| m.3)
                        .or(map[k]);
                    if let Some(s) = lab.filter(|&s| s < best.len()) {
                        best[s] = best[s].max(p[k]);
                    }
                }
                for s in 0..speakers.min(best.len()) {
                    sum[s][g] += wt * best[s];
                }
            }
        }
        let mut turns = Vec::new();
        let frame_s = FRAME_STEP as f64 / RATE as f64;
        let centre_s = FRAME_CENTRE as f64 / RATE as f64;
        // Per frame, how many talk (the windows' hard counts, averaged and rounded half up) and
        // who: the most active speakers. Thresholding each speaker's own mean instead drops a
        // turn two windows disagree about (one gives it to the wrong local speaker), although
        // both hear someone talking: a missed turn, where this gives a coin toss at worst.
        let mut on = vec![vec![false; frames_total]; speakers];
        let mut order: Vec<usize> = (0..speakers).collect();
        for g in 0..frames_total {
            if count[g] == 0.0 {
                continue;
            }
            let k = ((talkers[g] / count[g] + 0.5).floor() as usize).min(speakers);
            order.sort_by(|&a, &b| sum[b][g].total_cmp(&sum[a][g]));
            for &s in order.iter().take(k) {
                if sum[s][g] > 0.0 {
                    on[s][g] = true;
                }
            }
        }
        for (s, row) in on.iter().enumerate() {
            let mut g = 0;
            while g < frames_total {
                if !row[g] {
                    g += 1;
                    continue;
                }
                let a = g;
                while g < frames_total && row[g] {
                    g += 1;
                }
                turns.push(Turn {
                    start_s: (a as f64 * frame_s + centre_s - frame_s / 2.0).max(0.0),
                    end_s: g as f64 * frame_s + centre_s - frame_s / 2.0,
                    speaker: s,
                });
            }
        }
        // Speaker 0 is whoever spoke first.
        let mut first = vec![f64::INFINITY; speakers];
        for t in &turns {
            first[t.speaker] = first[t.speaker].min(t.start_s);
        }
        let mut order: Vec<usize> = (0..speakers).collect();
        order.sort_by(|&a, &b| first[a].total_cmp(&first[b]));
        let mut rank = vec![0; speakers];
        for (r, &s) in order.iter().enumerate() {
            rank[s] = r;
        }
        for t in &mut turns {
            t.speaker = rank[t.speaker];
        }
        turns.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        let mut voices = vec![Vec::new(); speakers];
        for (s, v) in cluster::centroids(&embeddings, &labels, speakers)
            .into_iter()
            .enumerate()
        {
            voices[rank[s]] = v;
        }
        progress(1.0);
        Ok(Diarisation {
            speakers,
            turns,
            voices,
        })
    }
}

/// Stretches of at least `min_frames` in `frames` (global frame indices, any order), allowing
/// gaps up to 0.2 s inside a stretch; as half-open ranges.
fn clean_runs(frames: &[usize], min_frames: usize) -> Vec<(usize, usize)> {
    let gap = (0.2 * RATE as f32 / FRAME_STEP as f32) as usize;
    let mut out = runs(frames, gap);
    out.retain(|(a, b)| b - a >= min_frames);
    out
}

/// The runs of `frames` (any order, repeats allowed) whose neighbours are at most `max_step`
/// frames apart, as half-open ranges in time order.
fn runs(frames: &[usize], max_step: usize) -> Vec<(usize, usize)> {
    let mut v = frames.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for g in v {
        match out.last_mut() {
            Some((_, end)) if g < *end + max_step => *end = g + 1,
            _ => out.push((g, g + 1)),
        }
    }
    out
}

/// Up to `max_frames` of the given frames' audio, longest stretches first, concatenated.
fn gather(samples: &[f32], frames: &[usize], max_frames: usize) -> Vec<f32> {
    let mut runs = runs(frames, 1);
    runs.sort_by_key(|(a, b)| std::cmp::Reverse(b - a));
    let mut out = Vec::new();
    let mut left = max_frames;
    for (a, b) in runs {
        if left == 0 {
            break;
        }
        let b = b.min(a + left);
        left -= b - a;
        let s0 = (a * FRAME_STEP + FRAME_CENTRE - FRAME_STEP / 2).min(samples.len());
        let s1 = (b * FRAME_STEP + FRAME_CENTRE - FRAME_STEP / 2).min(samples.len());
        out.extend_from_slice(&samples[s0..s1]);
    }
    out
}

fn file_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// A recording's channels mixed to one, at 16 kHz, for the speaker models.
pub fn load_mono(path: &Path) -> Result<Vec<f32>> {
    let mut file = crate::audio::FileSource::open(path)?;
    let rate = crate::audio::Source::sample_rate(&file);
    let channels = crate::audio::read_all(&mut file)?;
    let n = channels.first().map_or(0, Vec::len);
    let k = channels.len().max(1) as f32;
    // Damaged samples (NaN, infinite) are silence to the speaker models.
    let mono: Vec<f32> = (0..n)
        .map(|i| channels.iter().map(|c| c[i]).sum::<f32>() / k)
        .map(|x| if x.is_finite() { x } else { 0.0 })
        .collect();
    Ok(crate::audio::resample_all(&[mono], rate, RATE)?
        .pop()
        .unwrap_or_default())
}

impl From<&crate::config::Config> for Options {
    fn from(cfg: &crate::config::Config) -> Self {
        Options {
            step_s: cfg.diarise.step_s,
            max_speakers: cfg.diarise.speakers,
            same_voice: cfg.diarise.same_voice,
            ..Options::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clean_runs;

    #[test]
    fn clean_runs_bridge_short_gaps_and_keep_only_long_stretches() {
        // Frames of 16.9 ms: a gap of 10 frames (0.17 s) is bridged, one of 13 (0.22 s) is not.
        let mut frames: Vec<usize> = (0..50).chain(60..120).chain(133..140).collect();
        frames.reverse();
        assert_eq!(clean_runs(&frames, 100), vec![(0, 120)]);
        assert_eq!(clean_runs(&frames, 5), vec![(0, 120), (133, 140)]);
        assert!(clean_runs(&frames, 121).is_empty());
        assert!(clean_runs(&[], 1).is_empty());
    }
}
