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
    Ok(builder.finish())
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
    "wav", "wave", "flac", "mp3", "ogg", "oga", "aif", "aiff", "aifc",
];

/// Recording formats calmline does not decode: a folder review lists them as not reviewed,
/// with how to convert them, rather than passing over them in silence.
pub const REFUSED_EXTENSIONS: &[&str] = &[
    "m4a", "mp4", "aac", "wma", "opus", "au", "snd", "amr", "wv", "caf", "webm", "mka", "gsm",
    "ul", "ulaw", "al", "alaw", "sln",
];

/// Whether a folder review takes this file (by its extension).
fn is_recording(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        let e = e.to_ascii_lowercase();
        AUDIO_EXTENSIONS.contains(&e.as_str()) || REFUSED_EXTENSIONS.contains(&e.as_str())
    })
}

/// The audio files directly inside `dir`, sorted by name.
pub fn audio_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| crate::error::Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_recording(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Why a folder has nothing to review, for the error: the extensions looked for and, where
/// recordings sit in subfolders (one folder per day is common), how many and where.
pub fn no_audio_files(dir: &Path) -> String {
    let mut found = 0usize;
    let mut example = None;
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            // Not following links: a link back up would never end.
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() && depth < 8 {
                stack.push((p, depth + 1));
            } else if depth > 0 && t.is_file() && is_recording(&p) {
                found += 1;
                example.get_or_insert(p);
            }
        }
    }
    let looked = AUDIO_EXTENSIONS
        .iter()
        .map(|e| format!(".{e}"))
        .collect::<Vec<_>>()
        .join(", ");
    match example {
        Some(p) => format!(
            "{}: no audio files directly in this folder ({looked}); {found} in its \
             subfolders, e.g. {}: review each subfolder",
            dir.display(),
            p.display()
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
