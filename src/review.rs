//! Reviewing recorded calls: a file through the one pipeline into a [`Review`].

use std::path::{Path, PathBuf};

use crate::audio::{FileSource, Source};
use crate::config::Config;
use crate::error::Result;
use crate::pipeline::{channel_map, run_source};
use crate::report::{Review, ReviewBuilder};

/// Review one recording. `progress` receives the fraction done (0..1).
pub fn review_file(path: &Path, cfg: &Config, progress: &mut dyn FnMut(f32)) -> Result<Review> {
    let mut source = FileSource::open(path)?;
    let speakers = channel_map(source.channels(), cfg.channels.customer)?;
    let mut builder = ReviewBuilder::new(
        &path.display().to_string(),
        source.sample_rate(),
        &speakers,
        cfg,
    );
    let pipeline = run_source(
        &mut source,
        cfg,
        speakers,
        &mut |e| builder.on_event(&e),
        progress,
    )?;
    if pipeline.time_s() == 0.0 {
        return Err(crate::error::Error::Unsupported {
            path: path.to_path_buf(),
            message: "contains no audio (0 samples)".into(),
        });
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
