//! `calmline model import|fetch|list`.

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use super::ModelCommand;
use crate::transcribe::{fetch, import};

pub(super) fn run(cmd: ModelCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ModelCommand::Import { dir, quantize, out } => {
            let q: import::Quantization = quantize.parse()?;
            if out.extension().is_none() {
                std::fs::create_dir_all(&out)?;
            }
            let done = import::import(&dir, &out, q)?;
            println!(
                "imported {} ({} tensors, {:.1} MB) -> {}",
                done.name,
                done.tensors,
                done.bytes as f64 / 1e6,
                done.path.display()
            );
        }
        ModelCommand::Fetch { name, dir } => {
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new(0).with_style(
                    ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                )
            } else {
                ProgressBar::hidden()
            };
            let path = fetch::fetch(&name, &dir, &mut |done, total| {
                if let Some(t) = total {
                    bar.set_length(t);
                }
                bar.set_position(done);
            });
            bar.finish_and_clear();
            println!("installed {} (SHA-1 checked)", path?.display());
        }
        ModelCommand::List { dir } => {
            // The folder reviews would load from, wherever this runs.
            let dir = crate::config::locate(&dir);
            let models = fetch::list(&dir)?;
            if models.is_empty() {
                println!(
                    "no models in {}: install tiny.en with scripts/install-model.sh",
                    dir.display()
                );
            }
            // The model transcription uses: the configuration's, looked up the same way.
            let configured = super::resolve_config(None, None).ok().and_then(|c| {
                crate::config::locate(&c.transcribe.model)
                    .canonicalize()
                    .ok()
            });
            for m in models {
                let used = configured.is_some() && m.path.canonicalize().ok() == configured;
                println!(
                    "{:<40} {:>7.1} MB  {}{}",
                    m.path.display(),
                    m.bytes as f64 / 1e6,
                    m.description,
                    if used { "  (configured)" } else { "" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
