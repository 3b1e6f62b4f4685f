//! `calmline diarise` and `calmline enroll`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{DiariseArgs, EnrollArgs, resolve_config};
use crate::diarise::{Diariser, Options, der, load_mono, voices};

/// Diarise a recording; print RTTM, and the DER against `--rttm`.
pub fn run(args: DiariseArgs) -> anyhow::Result<ExitCode> {
    let cfg = resolve_config(args.config.as_ref(), None)?;
    // Checked before the models load, so a typo is reported at once.
    let reference = args.rttm.as_deref().map(der::read_rttm).transpose()?;
    let d = Diariser::load(Path::new(&cfg.diarise.models), Options::from(&cfg))?;
    let audio = load_mono(&args.input)?;
    let bar = super::review::progress_bar(None);
    let out = d.run(&audio, &|f| bar.set_position((f * 1000.0) as u64))?;
    bar.finish_and_clear();
    let id = args
        .input
        .file_stem()
        .map(|s| s.to_string_lossy().replace(char::is_whitespace, "_"))
        .unwrap_or_else(|| "call".into());
    let mut stdout = std::io::stdout().lock();
    for t in &out.turns {
        writeln!(
            stdout,
            "SPEAKER {id} 1 {:.3} {:.3} <NA> <NA> speaker{} <NA> <NA>",
            t.start_s,
            t.end_s - t.start_s,
            t.speaker
        )
        .context("cannot write to stdout")?;
    }
    let duration = audio.len() as f64 / crate::diarise::RATE as f64;
    eprintln!(
        "{}: {} speakers in {duration:.1} s",
        args.input.display(),
        out.speakers
    );
    if let Some(reference) = reference {
        let s = der::score(&reference, &out.grid(der::STEP_S, duration));
        eprintln!(
            "DER {:.1}% (no collar, overlap scored): missed {:.1} s, false alarm {:.1} s, confusion {:.1} s of {:.1} s of speech; where one person speaks, attributed to them alone {:.1}% of {:.1} s",
            100.0 * s.der(),
            s.missed,
            s.false_alarm,
            s.confusion,
            s.reference,
            100.0 * s.attribution(),
            s.single
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Enrol an agent's voice.
pub fn enroll(args: EnrollArgs) -> anyhow::Result<ExitCode> {
    let cfg = resolve_config(args.config.as_ref(), None)?;
    if !args.sample.is_file() {
        anyhow::bail!("{}: no such file", args.sample.display());
    }
    let d = Diariser::load(Path::new(&cfg.diarise.models), Options::from(&cfg))?;
    let dir = crate::config::data_path(&cfg.diarise.voices, "voices");
    // Enrolling again replaces the voice (a new headset, a better sample): say so.
    let before = dir.join(format!("{}.json", args.name)).is_file();
    let (path, voice) = voices::enroll(&d, &args.name, &args.sample, &dir)?;
    println!(
        "enrolled {} from {:.1} s of speech{}: {}",
        voice.name,
        voice.speech_s,
        if before {
            ", replacing the voice enrolled before"
        } else {
            ""
        },
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
