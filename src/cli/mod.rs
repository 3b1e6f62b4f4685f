//! Command line: parse arguments, resolve settings, then call library code.

mod model;
mod review;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, Side};
use crate::error::Result;

/// calmline: real-time voice-call sentiment monitor; reviews recorded calls.
#[derive(Debug, Parser)]
#[command(name = "calmline", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Review a recorded call (or every audio file in a folder): JSON + HTML report per call,
    /// and summary.csv for a folder.
    Review(ReviewArgs),
    /// Install and list Whisper models for transcription.
    #[command(subcommand)]
    Model(ModelCommand),
}

/// `calmline model ...`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Convert a CTranslate2 (faster-whisper) Whisper model folder to whisper.cpp's format.
    Import {
        /// The folder with model.bin and vocabulary.txt.
        dir: PathBuf,
        /// Weight format: f16 (default) or q8_0 (half the size, faster).
        #[arg(long, default_value = "f16")]
        quantize: String,
        /// Output file or folder.
        #[arg(long, short, default_value = "models")]
        out: PathBuf,
    },
    /// Download an official whisper.cpp model (checked, resumable), where the network allows.
    Fetch {
        /// tiny, tiny.en, base, base.en, small, small.en, medium, tiny-q8_0, tiny.en-q8_0.
        name: String,
        /// Where to put it.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
    },
    /// List installed models.
    List {
        /// Where to look.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
    },
}

/// Output formats of `review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON and HTML.
    All,
    /// `calmline.review/1` JSON only.
    Json,
    /// Self-contained HTML only.
    Html,
}

/// Arguments of `review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// A call recording (WAV, FLAC, MP3, OGG) or a folder of them.
    pub input: PathBuf,
    /// Output folder (created if missing), or `-` to print one report to stdout.
    #[arg(long, short, default_value = "reviews")]
    pub out: PathBuf,
    /// Which reports to write.
    #[arg(long, value_enum, default_value_t = Format::All)]
    pub format: Format,
    /// A TOML file overriding settings of config/default.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Which stereo channel carries the customer (overrides the config; default right).
    #[arg(long, value_parser = ["left", "right"])]
    pub customer_channel: Option<String>,
    /// Skip transcription (acoustic analysis only; no model needed).
    #[arg(long)]
    pub no_transcribe: bool,
    /// Also write the transcript as WebVTT subtitles (DIR/<stem>.vtt).
    #[arg(long)]
    pub vtt: bool,
    /// Print every coaching cue and supervisor alert with why it fired.
    #[arg(long)]
    pub explain: bool,
    /// The whisper.cpp model to transcribe with (default: [transcribe] model in the config).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Files reviewed in parallel for a folder (default: one per core).
    #[arg(long, short)]
    pub jobs: Option<usize>,
}

/// Settings for a run: the config file layered on the defaults, then command-line overrides.
pub fn resolve_config(path: Option<&PathBuf>, customer: Option<&str>) -> Result<Config> {
    let mut cfg = match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(side) = customer {
        cfg.channels.customer = side.parse::<Side>()?;
    }
    Ok(cfg)
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Review(args) => review::run(args),
        Command::Model(cmd) => model::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("calmline: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
