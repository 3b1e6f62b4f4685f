//! Reviewing recorded calls: a file through the one pipeline into a [`Review`].

use std::path::{Path, PathBuf};

use crate::audio::{FileSource, Replay, Source, channels_identical};
use crate::coach::Coach;
use crate::config::Config;
use crate::error::Result;
use crate::events::{Event, EventBody, Speaker, TranscriptSegment};
use crate::language::RoleVotes;
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
    /// Speaker models for mono calls, loaded once for many files (`None`: loaded per file
    /// from `[diarise] models` when a mono file needs them).
    #[cfg(feature = "diarise")]
    pub diariser: Option<&'a crate::diarise::Diariser>,
    /// The customer's name from the call's details (`--customer-name`), known from the start.
    pub customer_name: Option<&'a str>,
    /// The agent's name from the call's details (`--agent`), for the report and summary.
    pub agent_name: Option<&'a str>,
}

impl<'a> ReviewOptions<'a> {
    /// Transcribe with `model` on `workers` cores (0 = from the config); speaker models are
    /// loaded per file when a mono file needs them.
    pub fn new(model: Option<&'a Model>, workers: usize) -> Self {
        Self {
            model,
            workers,
            #[cfg(feature = "diarise")]
            diariser: None,
            customer_name: None,
            agent_name: None,
        }
    }
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
    // The acoustic pass is quick; with transcription it is the first fifth of the work.
    let share = if opts.model.is_some() { 0.2 } else { 1.0 };
    // A mono call is split into its speakers by voice where the speaker models allow.
    #[cfg_attr(not(feature = "diarise"), allow(unused_mut))]
    let mut notes = Vec::new();
    #[cfg(feature = "diarise")]
    let split = if source.channels() == 1 && cfg.diarise.enabled {
        diarise(path, cfg, opts, &mut notes, &|f| progress(f * 0.3 * share))?
    } else {
        None
    };
    #[cfg(not(feature = "diarise"))]
    let split: Option<(
        crate::audio::MemorySource,
        crate::report::DiarisationReport,
        (),
    )> = None;
    let diarised = split.is_some();
    #[cfg_attr(not(feature = "diarise"), allow(unused_mut, unused_variables))]
    let (mut memory, mut report, heard) = match split {
        Some((m, r, h)) => (Some(m), Some(r), Some(h)),
        None => (None, None, None),
    };
    let source: &mut dyn Source = match memory.as_mut() {
        Some(m) => m,
        None => &mut source,
    };
    let speakers = channel_map(source.channels(), cfg.channels.customer)?;
    let mut builder = ReviewBuilder::new(
        &path.display().to_string(),
        source.sample_rate(),
        &speakers,
        cfg,
    );
    for n in notes {
        builder.warn(n);
    }
    let (done, rest) = if diarised {
        (0.3 * share, 0.7 * share)
    } else {
        (0.0, share)
    };
    let mut events: Vec<Event> = Vec::new();
    let mut pipeline = run_source(
        source,
        cfg,
        speakers.clone(),
        opts.model.is_some(),
        &mut |e| events.push(e),
        &mut |f| progress(done + f * rest),
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
    // A diarised call whose roles came from the speaking order: the transcript may show that
    // the caller spoke first. Then the two channels swap and the acoustic pass runs again (the
    // transcript keeps its words, with the roles swapped).
    #[cfg(feature = "diarise")]
    if let (Some(m), Some(r)) = (memory.as_mut(), report.as_mut()) {
        let RoleVotes { as_is, swapped, .. } = RoleVotes::count(transcript(&events), cfg);
        if r.agent_name.is_none() && swapped > as_is {
            m.swap_channels();
            for e in &mut events {
                match &mut e.body {
                    EventBody::Transcript(seg) => seg.speaker = seg.speaker.other(),
                    EventBody::TranscriptSkipped { speaker, .. } => *speaker = speaker.other(),
                    _ => {}
                }
            }
            pipeline = acoustics_again(m, cfg, &speakers, &mut events)?;
            r.agent_voice = 1 - r.agent_voice.min(1);
            r.speech_s.swap(0, 1);
            r.agent_decided_by = "what each side said".into();
            r.role_confidence = (0.5 + 0.1 * (swapped - as_is) as f32).min(1.0);
        }
    }
    // A stereo file's sides come from the configuration, which may be wrong for this recorder:
    // when the words clearly say so, the review says which side to pick (it does not swap on its
    // own: the side was chosen, and a folder of calls should not be half one way, half the other).
    if report.is_none() && speakers.len() == 2 {
        let votes = RoleVotes::count(transcript(&events), cfg);
        if votes.clearly_swapped() {
            builder.warn(sides_look_swapped(&votes, &speakers));
        }
    }
    // A sentence heard on both sides stays with its voice; the other side is silenced there
    // and the acoustic pass runs again (no false overlap, no cue to let them finish).
    #[cfg(feature = "diarise")]
    if let (Some(h), Some(r), Some(m)) = (&heard, &report, memory.as_mut()) {
        let dropped = drop_heard_twice(&mut events, h, r.agent_voice);
        if !dropped.is_empty() {
            for (who, start, end) in dropped {
                if let Some(c) = speakers.iter().position(|&s| s == who) {
                    m.silence(c, start, end);
                }
            }
            pipeline = acoustics_again(m, cfg, &speakers, &mut events)?;
        }
    }
    if let Some(r) = report {
        builder.diarised(r);
    }
    // The coach sees the call in time order, as it would have live.
    events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    let mut coach = Coach::new(cfg);
    if let Some(name) = opts.agent_name {
        builder.agent_name(name);
    }
    if let Some(name) = opts.customer_name {
        coach.know_customer_name(name);
        builder.customer_name(name);
    }
    let mut coached = Vec::new();
    for e in &events {
        builder.on_event(e);
        coach.on_event(e, &mut |c| coached.push(c));
    }
    coach.finish(pipeline.time_s(), &mut |c| coached.push(c));
    for c in &coached {
        builder.on_event(c);
    }
    let mut review = builder.finish();
    review.settings = Some(settings_id(cfg, opts.model.is_some()));
    Ok(review)
}

/// A fingerprint of what a review depends on besides the recording and the call's details:
/// calmline's version, the configuration (less the live, hub and NATS sections, which do not
/// change a review) and whether the call was transcribed. A report whose fingerprint differs
/// was made with other settings and is reviewed again by `review --skip-reviewed`.
pub fn settings_id(cfg: &Config, transcribe: bool) -> String {
    use sha2::Digest;
    let mut c = cfg.clone();
    let none = Config::default();
    (c.live, c.hub, c.nats) = (none.live, none.hub, none.nats);
    let mut h = sha2::Sha256::new();
    h.update(concat!("calmline ", env!("CARGO_PKG_VERSION"), "\n"));
    // Serialised as the queue sends it; BTreeMaps keep the order stable.
    h.update(toml::to_string(&c).unwrap_or_default());
    h.update(if transcribe {
        "\ntranscribed"
    } else {
        "\nacoustic"
    });
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The transcript segments among `events`.
fn transcript(events: &[Event]) -> impl Iterator<Item = &TranscriptSegment> {
    events.iter().filter_map(|e| match &e.body {
        EventBody::Transcript(seg) => Some(seg),
        _ => None,
    })
}

/// The warning for a stereo call whose words fit its two sides the other way round.
fn sides_look_swapped(votes: &RoleVotes, speakers: &[Speaker]) -> String {
    let side = |who: Speaker| match speakers.iter().position(|&s| s == who) {
        Some(0) => "left",
        _ => "right",
    };
    let to = side(Speaker::Agent);
    votes.warning(
        &|who| format!("the {} channel", side(who)),
        &format!(
            "review again with --customer-channel {to} (or `customer = \"{to}\"` under [channels] \
             in the config)"
        ),
    )
}

/// What a diarised call keeps to tell whose speech a segment transcribed on both sides is.
#[cfg(feature = "diarise")]
struct Heard<'a> {
    diariser: Held<'a>,
    at16: Vec<f32>,
    voices: Vec<Vec<f32>>,
}

/// The speaker models: the caller's, or the ones this process loaded.
#[cfg(feature = "diarise")]
enum Held<'a> {
    Borrowed(&'a crate::diarise::Diariser),
    Shared(std::sync::Arc<crate::diarise::Diariser>),
}

#[cfg(feature = "diarise")]
impl std::ops::Deref for Held<'_> {
    type Target = crate::diarise::Diariser;
    fn deref(&self) -> &Self::Target {
        match self {
            Held::Borrowed(d) => d,
            Held::Shared(d) => d,
        }
    }
}

/// The acoustic pass over a diarised call's channels again, after they changed; the
/// transcript (and skipped-utterance) events are kept, every other event is replaced.
#[cfg(feature = "diarise")]
fn acoustics_again(
    m: &mut crate::audio::MemorySource,
    cfg: &Config,
    speakers: &[crate::events::Speaker],
    events: &mut Vec<Event>,
) -> Result<crate::pipeline::Pipeline> {
    events.retain(|e| {
        matches!(
            e.body,
            EventBody::Transcript(_) | EventBody::TranscriptSkipped { .. }
        )
    });
    let mut fresh = Vec::new();
    let pipeline = run_source(
        m,
        cfg,
        speakers.to_vec(),
        false,
        &mut |e| fresh.push(e),
        &mut |_| {},
    )?;
    events.extend(fresh);
    Ok(pipeline)
}

/// Where the diarisation has both people talking, both split channels carry the whole mix and
/// one voice's words can be transcribed on both sides. Such a pair keeps only the segment of
/// the speaker whose voice the speech matches (diarisation speaker `agent_voice` is the agent).
/// Returns, per segment dropped, its speaker and the time the two shared.
#[cfg(feature = "diarise")]
fn drop_heard_twice(
    events: &mut Vec<Event>,
    heard: &Heard<'_>,
    agent_voice: usize,
) -> Vec<(crate::events::Speaker, f64, f64)> {
    use crate::diarise::split::{heard_twice, whose_voice};
    let Some(customer_voice) = (0..heard.voices.len()).find(|&v| v != agent_voice) else {
        return Vec::new();
    };
    let (Some(agent), Some(customer)) = (
        heard.voices.get(agent_voice),
        heard.voices.get(customer_voice),
    ) else {
        return Vec::new();
    };
    let segs: Vec<(usize, &crate::events::TranscriptSegment)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.body {
            EventBody::Transcript(seg) => Some((i, seg)),
            _ => None,
        })
        .collect();
    let mut gone = Vec::new();
    let mut spans = Vec::new();
    for (x, &(i, a)) in segs.iter().enumerate() {
        for &(j, b) in &segs[x + 1..] {
            if !heard_twice(a, b) {
                continue;
            }
            let (start, end) = (a.start_s.max(b.start_s), a.end_s.min(b.end_s));
            let voices = [agent.as_slice(), customer.as_slice()];
            if let Some(who) = whose_voice(&heard.diariser, &heard.at16, voices, start, end) {
                gone.push(if a.speaker == who { j } else { i });
                spans.push((who.other(), start, end));
            }
        }
    }
    let mut i = 0;
    events.retain(|_| {
        i += 1;
        !gone.contains(&(i - 1))
    });
    spans
}

/// Split the mono call at `path` by speaker. `None` (with a note saying why) when the models are
/// missing or fewer than two voices are found: the call is then analysed as `mixed`.
#[cfg(feature = "diarise")]
fn diarise<'a>(
    path: &Path,
    cfg: &Config,
    opts: ReviewOptions<'a>,
    notes: &mut Vec<String>,
    progress: &(dyn Fn(f32) + Sync),
) -> Result<
    Option<(
        crate::audio::MemorySource,
        crate::report::DiarisationReport,
        Heard<'a>,
    )>,
> {
    use crate::diarise::{Diariser, Options, split::split_mono};
    // Loaded once per process and settings: a worker or a test reviews many files.
    static LOADED: std::sync::Mutex<Option<(String, std::sync::Arc<Diariser>)>> =
        std::sync::Mutex::new(None);
    let diariser = match opts.diariser {
        Some(d) => Held::Borrowed(d),
        None => {
            let options = Options::from(cfg);
            let key = format!("{}|{options:?}", cfg.diarise.models);
            let mut slot = LOADED.lock().unwrap_or_else(|e| e.into_inner());
            let cached = slot
                .as_ref()
                .filter(|(k, _)| *k == key)
                .map(|(_, d)| d.clone());
            let loaded = match cached {
                Some(d) => d,
                None => match Diariser::load(Path::new(&cfg.diarise.models), options) {
                    Ok(d) => {
                        let d = std::sync::Arc::new(d);
                        *slot = Some((key, d.clone()));
                        d
                    }
                    Err(e) => {
                        notes.push(format!("mono recording not split into speakers: {e}"));
                        return Ok(None);
                    }
                },
            };
            drop(slot);
            Held::Shared(loaded)
        }
    };
    match split_mono(path, cfg, &diariser, notes, progress)? {
        Some(s) => Ok(Some((
            crate::audio::MemorySource::new(s.rate, s.channels),
            s.report,
            Heard {
                diariser,
                at16: s.at16,
                voices: s.diarisation.voices,
            },
        ))),
        None => {
            notes.push(
                "mono recording: diarisation found one voice, analysed as one `mixed` speaker"
                    .into(),
            );
            Ok(None)
        }
    }
}

/// File extensions of the formats calmline decodes, reviewed when a folder is given.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "flac", "mp3", "ogg", "oga", "opus", "webm", "mka", "aif", "aiff", "aifc",
    "m4a", "mp4", "aac", "gsm", "ul", "ulaw", "mulaw", "al", "alaw", "sln", "sln12", "sln16",
    "sln24", "sln32", "sln44", "sln48", "sln96", "sln192",
];

/// Recording formats calmline does not decode: a folder review lists them as not reviewed,
/// with how to convert them, rather than passing over them in silence.
pub const REFUSED_EXTENSIONS: &[&str] = &["3gp", "wma", "au", "snd", "amr", "wv", "caf"];

/// Whether a folder review takes this file (by its extension).
fn is_recording(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        let e = e.to_ascii_lowercase();
        AUDIO_EXTENSIONS.contains(&e.as_str()) || REFUSED_EXTENSIONS.contains(&e.as_str())
    })
}

/// One recording of a folder review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    /// The recording.
    pub path: PathBuf,
    /// Its path under the folder (`2026/12/07/a.wav`), as summary.csv and the call details
    /// name it.
    pub name: String,
    /// The subfolder of the output its reports go into, mirroring where it sits under the
    /// folder (empty: the output folder itself).
    pub sub: PathBuf,
    /// Its reports' file stem.
    pub stem: String,
}

/// Subfolders deeper than this are not looked into (recorders file by year/month/day/hour).
const MAX_DEPTH: usize = 16;

/// The recordings in `dir`, sorted by their path under it: those directly inside, or with
/// `recursive` those in every subfolder too. Hidden files and folders are left out (a trash
/// can, the `._call.wav` metadata files macOS leaves on shared drives), and so are links to
/// folders, so a link back up cannot loop. An unreadable subfolder is an error naming it:
/// leaving its calls out in silence would lose them.
pub fn folder_recordings(dir: &Path, recursive: bool) -> Result<Vec<FolderEntry>> {
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(if recursive { MAX_DEPTH } else { 1 })
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !e.file_name().as_encoded_bytes().starts_with(b"."));
    let mut found: Vec<(PathBuf, PathBuf)> = Vec::new();
    for e in walk {
        let e = e.map_err(|e| crate::error::Error::Io {
            path: e.path().unwrap_or(dir).to_path_buf(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("a folder loop")),
        })?;
        // A link to a file is taken (`path.is_file()` follows it); a link to a folder is not.
        if e.file_type().is_dir() || !e.path().is_file() || !is_recording(e.path()) {
            continue;
        }
        let rel = e.path().strip_prefix(dir).unwrap_or(e.path()).to_path_buf();
        found.push((e.into_path(), rel));
    }
    // Stems are made unique per output subfolder: call.wav and call.mp3 side by side.
    let mut groups: std::collections::BTreeMap<PathBuf, Vec<usize>> = Default::default();
    for (i, (_, rel)) in found.iter().enumerate() {
        let sub = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        groups.entry(sub).or_default().push(i);
    }
    let mut stems = vec![String::new(); found.len()];
    for members in groups.values() {
        let paths: Vec<PathBuf> = members.iter().map(|&i| found[i].0.clone()).collect();
        for (&i, stem) in members.iter().zip(output_stems(&paths)) {
            stems[i] = stem;
        }
    }
    Ok(found
        .into_iter()
        .zip(stems)
        .map(|((path, rel), stem)| FolderEntry {
            sub: rel.parent().map(Path::to_path_buf).unwrap_or_default(),
            name: rel.to_string_lossy().into_owned(),
            path,
            stem,
        })
        .collect())
}

/// Why a folder has nothing to review, for the error: the extensions looked for and, where
/// recordings sit in subfolders (one folder per day is common), how many and where.
pub fn no_audio_files(dir: &Path, recursive: bool) -> String {
    let looked = AUDIO_EXTENSIONS
        .iter()
        .map(|e| format!(".{e}"))
        .collect::<Vec<_>>()
        .join(", ");
    if recursive {
        return format!(
            "{}: no audio files ({looked}) in this folder or its subfolders",
            dir.display()
        );
    }
    let deeper = folder_recordings(dir, true).unwrap_or_default();
    match deeper.first() {
        Some(e) => format!(
            "{}: no audio files directly in this folder ({looked}); {} in its \
             subfolders, e.g. {}: add --recursive to review them all",
            dir.display(),
            deeper.len(),
            e.path.display()
        ),
        None => format!(
            "{}: no audio files ({looked}) in this folder",
            dir.display()
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_change_with_what_changes_a_review_only() {
        let cfg = Config::default();
        let id = settings_id(&cfg, true);
        assert_eq!(id, settings_id(&cfg.clone(), true));
        assert_ne!(id, settings_id(&cfg, false));
        let mut other = cfg.clone();
        other.escalation.loudness_weight += 0.1;
        assert_ne!(id, settings_id(&other, true));
        // Where monitors and the queue connect does not change a review.
        let mut elsewhere = cfg.clone();
        elsewhere.nats.url = "nats://elsewhere:4222".into();
        elsewhere.hub.bind = "0.0.0.0:9000".into();
        assert_eq!(id, settings_id(&elsewhere, true));
    }

    #[test]
    fn a_folder_tree_is_listed_by_path_with_stems_unique_per_subfolder() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for f in [
            "a/call.wav",
            "a/call.mp3",
            "a/._call.wav",
            "b/call.wav",
            "top.flac",
            "._top.flac",
            ".hidden/x.wav",
        ] {
            std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
            std::fs::write(p.join(f), b"").unwrap();
        }
        std::fs::write(p.join("a/notes.txt"), b"").unwrap();
        // A link back up must not loop.
        std::os::unix::fs::symlink(p, p.join("a/up")).unwrap();
        let all = folder_recordings(p, true).unwrap();
        let got: Vec<(&str, &str, &str)> = all
            .iter()
            .map(|e| (e.name.as_str(), e.sub.to_str().unwrap(), e.stem.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a/call.mp3", "a", "call.mp3"),
                ("a/call.wav", "a", "call.wav"),
                ("b/call.wav", "b", "call"),
                ("top.flac", "", "top"),
            ]
        );
        let top = folder_recordings(p, false).unwrap();
        assert_eq!(top.len(), 1);
        std::fs::create_dir_all(p.join("empty")).unwrap();
        let said = no_audio_files(&p.join("empty"), false);
        assert!(
            said.contains("no audio files (") && !said.contains("--recursive"),
            "{said}"
        );
        // Recordings only in subfolders: how many, and the flag that takes them.
        std::fs::create_dir_all(p.join("days/07")).unwrap();
        std::fs::write(p.join("days/07/c.wav"), b"").unwrap();
        let said = no_audio_files(&p.join("days"), false);
        assert!(
            said.contains("1 in its subfolders") && said.contains("add --recursive"),
            "{said}"
        );
    }
}
