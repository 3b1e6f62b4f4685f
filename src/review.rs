//! Reviewing recorded calls: a file through the one pipeline into a [`Review`].

use std::path::{Path, PathBuf};

use crate::audio::{FileSource, Replay, Source, channels_identical};
use crate::coach::Coach;
use crate::config::Config;
use crate::error::Result;
use crate::events::{Event, EventBody};
use crate::pipeline::{channel_map, run_source};
use crate::report::{Review, ReviewBuilder};
use crate::transcribe::{Model, transcribe_all};

/// How to review.
#[derive(Clone, Copy, Default)]
pub struct ReviewOptions<'a> {
    /// Transcribe with this model (`None`: acoustic analysis only).
    pub model: Option<&'a Model>,
    /// Utterances transcribed in parallel (0 = from the config, where 0 means one per core).
    pub workers: usize,
}

/// Review one recording, acoustics only. `progress` receives the fraction done (0..1).
pub fn review_file(path: &Path, cfg: &Config, progress: &(dyn Fn(f32) + Sync)) -> Result<Review> {
    review_file_with(path, cfg, ReviewOptions::default(), progress)
}

/// Review one recording with `opts` (transcription). `progress` receives the fraction done.
pub fn review_file_with(
    path: &Path,
    cfg: &Config,
    opts: ReviewOptions<'_>,
    progress: &(dyn Fn(f32) + Sync),
) -> Result<Review> {
    let mut file = FileSource::open(path)?;
    // Look at the first 10 s: a stereo file with the same signal on both channels is one mixed
    // line recorded twice, not two speakers.
    let rate = file.sample_rate() as usize;
    let mut source = Replay::read_ahead(&mut file, rate * 10)?;
    let dual_mono = source.channels() == 2 && channels_identical(source.ahead());
    if dual_mono {
        source.first_channel_only();
    }
    let speakers = channel_map(source.channels(), cfg.channels.customer)?;
    let mut builder = ReviewBuilder::new(
        &path.display().to_string(),
        source.sample_rate(),
        &speakers,
        cfg,
    );
    // The acoustic pass is quick; with transcription it is the first fifth of the work.
    let share = if opts.model.is_some() { 0.2 } else { 1.0 };
    let mut events: Vec<Event> = Vec::new();
    let mut pipeline = run_source(
        &mut source,
        cfg,
        speakers,
        opts.model.is_some(),
        &mut |e| events.push(e),
        &mut |f| progress(f * share),
    )?;
    if pipeline.time_s() == 0.0 {
        return Err(crate::error::Error::Unsupported {
            path: path.to_path_buf(),
            message: "contains no audio (0 samples)".into(),
        });
    }
    if dual_mono {
        builder.warn(
            "both stereo channels carry the same audio (dual mono): analysed as one mixed channel"
                .into(),
        );
    }
    if let Some(model) = opts.model {
        let utterances = pipeline.take_utterances();
        let workers = match (opts.workers, cfg.transcribe.review_workers) {
            (0, 0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            (0, n) | (n, _) => n,
        };
        let n = utterances.len().max(1);
        let (segments, failures) = transcribe_all(model, cfg, &utterances, workers, &|done| {
            progress(share + (1.0 - share) * done as f32 / n as f32)
        })?;
        builder.transcribed();
        // A review has no recogniser lag: each segment is known when its speech ends.
        events.extend(segments.into_iter().map(|seg| Event {
            t_s: seg.end_s,
            body: EventBody::Transcript(seg),
        }));
        for (start, end, err) in failures {
            builder.error(format!(
                "transcription of {start:.1}-{end:.1} s failed: {err}"
            ));
        }
    }
    // The coach sees the call in time order, as it would have live.
    events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    let mut coach = Coach::new(cfg);
    let mut coached = Vec::new();
    for e in &events {
        builder.on_event(e);
        coach.on_event(e, &mut |c| coached.push(c));
    }
    coach.finish(pipeline.time_s(), &mut |c| coached.push(c));
    for c in &coached {
        builder.on_event(c);
    }
    Ok(builder.finish())
}

/// File extensions reviewed when a folder is given.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "wave", "flac", "mp3", "ogg", "oga"];

/// The audio files directly inside `dir`, sorted by name.
pub fn audio_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| crate::error::Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Output stem for each input: the file stem, or stem plus extension where two inputs share a
/// stem (call.wav and call.mp3), so no report overwrites another.
pub fn output_stems(files: &[PathBuf]) -> Vec<String> {
    let stem = |p: &PathBuf| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "call".into())
    };
    files
        .iter()
        .map(|p| {
            let s = stem(p);
            let clash = files.iter().filter(|q| stem(q) == s).count() > 1;
            match (clash, p.extension()) {
                (true, Some(ext)) => format!("{s}.{}", ext.to_string_lossy()),
                _ => s,
            }
        })
        .collect()
}
