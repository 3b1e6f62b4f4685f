//! `calmline review`: one file or a folder.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::{Format, ReviewArgs, resolve_config};
use crate::config::Config;
use crate::report::{self, Review, write::write_all_or_nothing};
use crate::review::{
    FolderEntry, ReviewOptions, folder_recordings, output_stems, review_file_with, settings_id,
};
use crate::transcribe::Model;

pub(super) fn run(args: ReviewArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = resolve_config(args.config.as_ref(), args.customer_channel.as_deref())?;
    if let Some(m) = &args.model {
        cfg.transcribe.model = m.clone();
    }
    let to_stdout = args.out.as_os_str() == "-";
    if args.vtt && args.no_transcribe {
        bail!("--vtt writes the transcript: it cannot be combined with --no-transcribe");
    }
    if to_stdout && args.input.is_dir() {
        bail!("--out - prints a single report; give a folder to --out when reviewing a folder");
    }
    if to_stdout && args.format == Format::All {
        bail!("--out - prints one report: add --format json or --format html");
    }
    if args.skip_reviewed && (to_stdout || args.format == Format::Html) {
        bail!(
            "--skip-reviewed keeps the JSON reports written before: it needs a folder for --out \
             and --format all or json"
        );
    }
    // Checked before any work, so a missing model is reported at once.
    if !args.input.exists() {
        bail!("{}: no such file or folder", args.input.display());
    }
    if args.customer_name.is_some() && args.input.is_dir() {
        bail!(
            "--customer-name names one call's customer: for a folder, give --call-details FILE.csv"
        );
    }
    if args.agent.is_some() && args.input.is_dir() {
        bail!(
            "--agent names one call's agent: for a folder, give --call-details FILE.csv with an \
             agent column"
        );
    }
    // Read before any work, so a bad details file is reported at once.
    let details = match &args.call_details {
        Some(p) => call_details(p)?,
        None => HashMap::new(),
    };
    if args.queue {
        return super::worker::enqueue(&args, &cfg, &details);
    }
    let model = if args.no_transcribe {
        None
    } else {
        Some(Model::load(&crate::config::locate(&cfg.transcribe.model))?)
    };
    if args.input.is_dir() {
        return folder(&args, &cfg, model.as_ref(), &details);
    }
    let mut opts = ReviewOptions::new(model.as_ref(), args.jobs.unwrap_or(0));
    // A details file given with one call: its row by the file's name.
    let given = args
        .input
        .file_name()
        .and_then(|n| details.get(n.to_string_lossy().as_ref()));
    opts.customer_name = args
        .customer_name
        .as_deref()
        .or_else(|| given?.customer_name.as_deref());
    opts.agent_name = args.agent.as_deref().or_else(|| given?.agent.as_deref());
    if args.skip_reviewed {
        let given = CallDetails {
            customer_name: opts.customer_name.map(str::to_string),
            agent: opts.agent_name.map(str::to_string),
        };
        let settings = settings_id(&cfg, model.is_some());
        let stem = stem(&args.input);
        if let Some(r) = kept_review(&args.input, &args.out, &stem, &args, &settings, &given) {
            println!("{}", r.one_line());
            println!(
                "  kept {}: reviewed before with these settings",
                args.out.join(format!("{stem}.json")).display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    let bar = progress_bar(None);
    let review = review_file_with(&args.input, &cfg, opts, &|f| {
        bar.set_position((f * 1000.0) as u64)
    });
    bar.finish_and_clear();
    let review = review?;
    if to_stdout {
        // Printed, the page's place is unknown: no player.
        let body = render(&review, args.format, None)?.remove(0).1;
        std::io::stdout()
            .write_all(&body)
            .context("cannot write to stdout")?;
        eprintln!("{}", review.one_line());
        for w in &review.warnings {
            eprintln!("  warning: {w}");
        }
        if args.explain {
            eprint!("{}", explain(&review));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let written = write_review(
        &review,
        &args.out,
        &stem(&args.input),
        args.format,
        args.vtt,
    )?;
    println!("{}", review.one_line());
    // Said here, not only in the report: some (a side that looks swapped, a channel without
    // speech) mean the review should be run again with other options.
    for w in &review.warnings {
        println!("  warning: {w}");
    }
    for p in written {
        println!("  wrote {}", p.display());
    }
    if args.explain {
        print!("{}", explain(&review));
    }
    Ok(ExitCode::SUCCESS)
}

/// Every cue and alert with the reason it fired (`--explain`), in the order they happened: a
/// reviewer reads it against the recording.
fn explain(review: &Review) -> String {
    let clock = |t: f64| format!("{}:{:02}", t as u64 / 60, t as u64 % 60);
    let mut lines: Vec<(f64, String)> = Vec::new();
    for c in &review.cues {
        lines.push((
            c.t_s,
            format!(
                "{:>6}  cue   {:<17} \"{}\" because {}\n",
                clock(c.t_s),
                c.cue.kind.name(),
                c.cue.headline,
                c.cue.evidence.sentence
            ),
        ));
    }
    for a in &review.alerts {
        lines.push((
            a.t_s,
            format!(
                "{:>6}  alert {:<17} {}: {}\n",
                clock(a.t_s),
                a.alert.kind.name(),
                a.alert.headline,
                a.alert.evidence.sentence
            ),
        ));
    }
    if lines.is_empty() {
        return "no cues or alerts\n".into();
    }
    // Stable: a cue and the alert it came with keep that order.
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    lines.into_iter().map(|(_, l)| l).collect()
}

fn stem(p: &Path) -> String {
    output_stems(&[p.to_path_buf()]).remove(0)
}

pub(super) fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} calls  {elapsed_precise}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new(1000).with_style(
            ProgressStyle::with_template("{bar:40} {percent}%  {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
    }
}

/// (extension, bytes) per requested format; the HTML with a player for the recording at
/// `audio` (relative to the page).
fn render(
    review: &Review,
    format: Format,
    audio: Option<&str>,
) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    let mut out = Vec::new();
    if matches!(format, Format::All | Format::Json) {
        let mut json = serde_json::to_vec_pretty(review).context("cannot serialise the review")?;
        json.push(b'\n');
        out.push(("json", json));
    }
    if matches!(format, Format::All | Format::Html) {
        out.push((
            "html",
            report::html::render_with(review, audio).into_bytes(),
        ));
    }
    Ok(out)
}

pub(super) fn write_review(
    review: &Review,
    dir: &Path,
    stem: &str,
    format: Format,
    vtt: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let audio = report::html::recording_href(Path::new(&review.file), dir);
    let mut files: Vec<(PathBuf, Vec<u8>)> = render(review, format, audio.as_deref())?
        .into_iter()
        .map(|(ext, bytes)| (dir.join(format!("{stem}.{ext}")), bytes))
        .collect();
    if vtt {
        files.push((
            dir.join(format!("{stem}.vtt")),
            report::vtt::render(review).into_bytes(),
        ));
    }
    write_all_or_nothing(&files)?;
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

/// A line above the progress bar, or plainly when there is no bar (not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

/// One call's details (`--call-details`, or `--customer-name` and `--agent` for one call).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct CallDetails {
    /// The customer's name.
    pub customer_name: Option<String>,
    /// The agent's name.
    pub agent: Option<String>,
}

/// The calls' details (`--call-details`): customer and agent names by recording.
fn call_details(path: &Path) -> anyhow::Result<HashMap<String, CallDetails>> {
    let what = || format!("{}", path.display());
    let bytes =
        std::fs::read(path).with_context(|| format!("{}: cannot read the call details", what()))?;
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .delimiter(delimiter(&bytes))
        .from_reader(bytes.as_slice());
    let header = r
        .headers()
        .with_context(|| format!("{}: not a CSV file", what()))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (file, name, agent) = (col("file"), col("customer_name"), col("agent"));
    let Some(file) = file.filter(|_| name.is_some() || agent.is_some()) else {
        bail!(
            "{}: the call details need the columns file and customer_name or agent (found: {})",
            what(),
            header.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let cell = |row: &csv::StringRecord, c: Option<usize>| {
        c.and_then(|c| row.get(c))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mut out = HashMap::new();
    for (i, row) in r.records().enumerate() {
        let row = row.map_err(|e| match e.kind() {
            csv::ErrorKind::Utf8 { .. } => anyhow!(
                "{}: line {} is not UTF-8 text (names with accents saved in a legacy encoding?): \
                 save the file as \"CSV UTF-8\"",
                what(),
                i + 2
            ),
            _ => anyhow!("{}: line {}: {e}", what(), i + 2),
        })?;
        let Some(f) = row.get(file) else {
            bail!("{}: line {} has no file", what(), i + 2);
        };
        let details = CallDetails {
            customer_name: cell(&row, name),
            agent: cell(&row, agent),
        };
        if f.is_empty() || details == CallDetails::default() {
            continue;
        }
        if out.insert(f.to_string(), details).is_some() {
            bail!("{}: {f} is listed twice", what());
        }
    }
    Ok(out)
}

/// The field separator of a call-details file, from its header line: spreadsheets set to a
/// language that writes decimal commas save "CSV" with semicolons, and some exports use tabs.
fn delimiter(bytes: &[u8]) -> u8 {
    let header = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |d: u8| header.iter().filter(|&&b| b == d).count();
    [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|&d| (count(d), d == b','))
        .unwrap_or(b',')
}

/// A details row for a file that is not in the folder is probably a typo: say so, and go on.
pub(super) fn warn_unknown(
    details: &HashMap<String, CallDetails>,
    files: &[FolderEntry],
    folder: &Path,
) {
    let mut unknown: Vec<&str> = details
        .keys()
        .filter(|f| !files.iter().any(|e| details_key(e, f)))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        eprintln!(
            "calmline: the call details list {} file(s) not in {}: {}",
            unknown.len(),
            folder.display(),
            unknown.join(", ")
        );
    }
}

/// Whether the details' `file` names this recording: its path under the folder, or its
/// file name alone (recorders give calls unique names across days).
fn details_key(e: &FolderEntry, key: &str) -> bool {
    e.name == key || e.path.file_name().is_some_and(|n| n == key)
}

/// The details given for a recording of a folder: by its path under the folder, else by its
/// file name.
pub(super) fn details_of_entry<'a>(
    details: &'a HashMap<String, CallDetails>,
    e: &FolderEntry,
) -> Option<&'a CallDetails> {
    details.get(&e.name).or_else(|| {
        let name = e.path.file_name()?.to_string_lossy();
        details.get(name.as_ref())
    })
}

/// With `--skip-reviewed`: the review of a recording reviewed before, when every report the
/// options ask for is in `dir` and newer than the recording, and the JSON one was made with
/// `settings` ([`settings_id`]), these call details and no failed part; `None` when it must be
/// reviewed (again).
pub(super) fn kept_review(
    recording: &Path,
    dir: &Path,
    stem: &str,
    args: &ReviewArgs,
    settings: &str,
    given: &CallDetails,
) -> Option<Review> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let recorded = modified(recording)?;
    let mut reports = vec![dir.join(format!("{stem}.json"))];
    if args.format == Format::All {
        reports.push(dir.join(format!("{stem}.html")));
    }
    if args.vtt {
        reports.push(dir.join(format!("{stem}.vtt")));
    }
    if !reports
        .iter()
        .all(|p| modified(p).is_some_and(|t| t >= recorded))
    {
        return None;
    }
    let review: Review = serde_json::from_slice(&std::fs::read(&reports[0]).ok()?).ok()?;
    // The same stem may have named another recording then (call.wav before call.flac came).
    let same_recording = Path::new(&review.file).file_name() == recording.file_name();
    let ok = review.schema == report::SCHEMA
        && same_recording
        && review.settings.as_deref() == Some(settings)
        && review.errors.is_empty()
        && review.customer_name == given.customer_name
        && review.agent_name == given.agent;
    ok.then_some(review)
}

/// The details for `entry` as the review would take them (none given: both empty).
pub(super) fn given_of_entry(
    details: &HashMap<String, CallDetails>,
    entry: &FolderEntry,
) -> CallDetails {
    details_of_entry(details, entry)
        .cloned()
        .unwrap_or_default()
}

fn folder(
    args: &ReviewArgs,
    cfg: &Config,
    model: Option<&Model>,
    details: &HashMap<String, CallDetails>,
) -> anyhow::Result<ExitCode> {
    let files = folder_recordings(&args.input, args.recursive)?;
    if files.is_empty() {
        bail!(crate::review::no_audio_files(&args.input, args.recursive));
    }
    warn_unknown(details, &files, &args.input);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let bar = progress_bar(Some(files.len() as u64));
    let pool = rayon::ThreadPoolBuilder::new()
        // 0 is rayon's one per core; never more threads than files.
        .num_threads(args.jobs.unwrap_or(0).min(files.len()))
        .build()
        .context("cannot start worker threads")?;
    let failures = Mutex::new(0usize);
    let kept = std::sync::atomic::AtomicUsize::new(0);
    let settings = args
        .skip_reviewed
        .then(|| settings_id(cfg, model.is_some()));
    let sides_in_doubt = std::sync::atomic::AtomicUsize::new(0);
    // Loaded once for the whole folder (mono files need it); missing models are said per file.
    #[cfg(feature = "diarise")]
    let diariser = cfg
        .diarise
        .enabled
        .then(|| {
            crate::diarise::Diariser::load(
                std::path::Path::new(&cfg.diarise.models),
                crate::diarise::Options::from(cfg),
            )
            .ok()
        })
        .flatten();
    let rows: Vec<String> = pool.install(|| {
        files
            .par_iter()
            .map(|entry| {
                let (path, name) = (&entry.path, &entry.name);
                let given = details_of_entry(details, entry);
                let agent = given.and_then(|d| d.agent.as_deref());
                // Files are the parallel unit here: one recogniser thread per file.
                let opts = ReviewOptions {
                    model,
                    workers: 1,
                    #[cfg(feature = "diarise")]
                    diariser: diariser.as_ref(),
                    customer_name: given.and_then(|d| d.customer_name.as_deref()),
                    agent_name: agent,
                };
                let dir = args.out.join(&entry.sub);
                let earlier = settings.as_deref().and_then(|s| {
                    let given = given_of_entry(details, entry);
                    kept_review(path, &dir, &entry.stem, args, s, &given)
                });
                let fresh = earlier.is_none();
                let outcome = match earlier {
                    Some(r) => Ok(r),
                    None => review_file_with(path, cfg, opts, &|_| {})
                        .map_err(anyhow::Error::from)
                        .and_then(|r| {
                            write_review(&r, &dir, &entry.stem, args.format, args.vtt).map(|_| r)
                        }),
                };
                bar.inc(1);
                match outcome {
                    Ok(r) => {
                        if r.warnings
                            .iter()
                            .any(|w| crate::language::roles::questions_the_sides(w))
                        {
                            sides_in_doubt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        if fresh {
                            say(&bar, r.one_line());
                        } else {
                            kept.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        report::csv::row(name, agent, Ok(&r))
                    }
                    Err(e) => {
                        *failures.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                        let e = super::describe(&e);
                        say(&bar, format!("calmline: error: {e}"));
                        report::csv::row(name, agent, Err(&e))
                    }
                }
            })
            .collect()
    });
    bar.finish_and_clear();
    let (summary, index) = write_summary(&args.out, &args.input, &rows, &files, args.format)?;
    let failed = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    let kept = kept.into_inner();
    println!(
        "reviewed {} of {} file(s) into {}{}; summary: {}, {}",
        files.len() - failed - kept,
        files.len(),
        args.out.display(),
        kept_note(kept),
        summary.display(),
        index.display()
    );
    // One recorder usually records a whole folder: if its sides are the other way round, say it
    // once for the folder, not only per call.
    let doubt = sides_in_doubt.into_inner();
    if doubt > 0 {
        let other = match cfg.channels.customer {
            crate::config::Side::Left => "right",
            crate::config::Side::Right => "left",
        };
        println!(
            "{doubt} of {} call(s): {} (see the warnings column); if this recorder puts the \
             customer on the {other}, review again with --customer-channel {other}",
            files.len() - failed,
            report::SIDES_SWAPPED
        );
    }
    Ok(folder_exit(failed))
}

/// A folder's summary.csv (`rows` in the order of `files`) and its index page linking each
/// call's report, written together.
pub(super) fn write_summary(
    out: &Path,
    folder: &Path,
    rows: &[String],
    files: &[FolderEntry],
    format: Format,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let mut csv = report::csv::header();
    for r in rows {
        csv.push_str(r);
    }
    let ext = if format == Format::Json {
        "json"
    } else {
        "html"
    };
    let entries: Vec<report::index::IndexEntry> = rows
        .iter()
        .zip(files)
        .map(|(row, f)| {
            // A URL path: '/' between the subfolders whatever the system's separator.
            let link = f
                .sub
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .chain([format!("{}.{ext}", f.stem)])
                .collect::<Vec<_>>()
                .join("/");
            report::index::IndexEntry {
                cells: report::csv::cells(row),
                report: Some(link),
            }
        })
        .collect();
    let page = report::index::render(&folder.display().to_string(), &entries);
    let (summary, index) = (out.join("summary.csv"), out.join("index.html"));
    write_all_or_nothing(&[
        (summary.clone(), csv.into_bytes()),
        (index.clone(), page.into_bytes()),
    ])?;
    Ok((summary, index))
}

/// What the folder's last line says of the reports kept by `--skip-reviewed`.
pub(super) fn kept_note(kept: usize) -> String {
    if kept == 0 {
        String::new()
    } else {
        format!(" and kept the reports of {kept} reviewed before with these settings")
    }
}

/// A folder's exit: failure, said once, when any file could not be reviewed.
pub(super) fn folder_exit(failed: usize) -> ExitCode {
    if failed > 0 {
        eprintln!(
            "calmline: {failed} file(s) could not be reviewed: see the error column of summary.csv"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details_of(bytes: &[u8]) -> anyhow::Result<HashMap<String, CallDetails>> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("details.csv");
        std::fs::write(&p, bytes).unwrap();
        call_details(&p)
    }

    #[test]
    fn call_details_as_spreadsheets_save_them() {
        let want = CallDetails {
            customer_name: Some("Müller, Jo".into()),
            agent: Some("Ana".into()),
        };
        // Excel's "CSV UTF-8": a byte-order mark, CRLF, a quoted comma.
        let bom = details_of(
            b"\xef\xbb\xbffile,customer_name,agent\r\ncall1.wav,\"M\xc3\xbcller, Jo\",Ana\r\n",
        )
        .unwrap();
        assert_eq!(bom["call1.wav"], want);
        // Set to a language with decimal commas, it separates with semicolons.
        let semi =
            details_of("file;customer_name;agent\r\ncall1.wav;Müller, Jo;Ana\r\n".as_bytes())
                .unwrap();
        assert_eq!(semi["call1.wav"], want);
        let tab = details_of("file\tcustomer_name\tagent\ncall1.wav\tMüller, Jo\tAna\n".as_bytes())
            .unwrap();
        assert_eq!(tab["call1.wav"], want);
        // A legacy encoding (Windows-1252 "ü") is refused naming the line and what to do,
        // rather than putting a garbled name in the report.
        let e = details_of(b"file,customer_name\ncall1.wav,M\xfcller\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2 is not UTF-8") && e.contains("CSV UTF-8"),
            "{e}"
        );
    }
}
