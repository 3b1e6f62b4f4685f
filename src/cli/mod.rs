//! Command line: parse arguments, resolve settings, then call library code.

#[cfg(feature = "diarise")]
mod diarise;
mod hub;
mod live;
mod model;
mod review;
mod worker;

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
    /// List the sound devices calmline can capture (inputs and monitors of outputs).
    Devices,
    /// Coach a live call: capture both sides from sound devices, show cues as they happen.
    Live(LiveArgs),
    /// The supervisors' hub: the server monitors report to and the floor view in a browser;
    /// `hub token ...` and `hub user ...` manage who may connect.
    Hub(HubArgs),
    /// Review recordings queued with `review FOLDER --nats URL --queue`, on any number of
    /// machines sharing the folders.
    Worker(WorkerArgs),
    /// Who spoke when in a recording (mixed to mono): RTTM lines on stdout, and the diarisation
    /// error rate against a reference RTTM with --rttm.
    #[cfg(feature = "diarise")]
    Diarise(DiariseArgs),
    /// Enrol an agent's voice from a recording of them alone: later reviews of mono calls take
    /// the speaker with this voice for the agent.
    #[cfg(feature = "diarise")]
    Enroll(EnrollArgs),
}

/// Arguments of `diarise`.
#[derive(Debug, clap::Args)]
pub struct DiariseArgs {
    /// The recording (any channels; they are mixed to one).
    pub input: PathBuf,
    /// A reference RTTM: print the diarisation error rate against it (no collar, overlap scored).
    #[arg(long)]
    pub rttm: Option<PathBuf>,
    /// A TOML file layered over the defaults ([diarise] settings).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Arguments of `enroll`.
#[derive(Debug, clap::Args)]
pub struct EnrollArgs {
    /// The agent's name (letters, digits, '-', '_', '.').
    pub name: String,
    /// A recording of the agent alone (10 s or more of speech is best).
    pub sample: PathBuf,
    /// A TOML file layered over the defaults ([diarise] voices says where voices are kept).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// How a command signs in to NATS (`live`, `hub`, `worker`, `review --queue`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NatsSignIn {
    /// The NATS user (default [nats] user); its password from $CALMLINE_NATS_PASSWORD or
    /// [nats] password.
    #[arg(long)]
    pub nats_user: Option<String>,
    /// Sign in to NATS with the nkey seed in FILE instead of user and password (default
    /// [nats] nkey_file).
    #[arg(long, value_name = "FILE")]
    pub nats_nkey: Option<PathBuf>,
    /// Sign in to NATS with the user JWT and seed in the credentials FILE that `nsc generate
    /// creds` writes (decentralised authentication; default [nats] creds_file).
    #[arg(long, value_name = "FILE", conflicts_with = "nats_nkey")]
    pub nats_creds: Option<PathBuf>,
}

/// Arguments of `worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The NATS server(s) of the queue (default [nats] url).
    #[arg(long)]
    pub nats: Option<String>,
    /// How it signs in to NATS.
    #[command(flatten)]
    pub sign_in: NatsSignIn,
    /// This worker's name in outcomes and logs (default: host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// Stop after this many jobs (default: run until Ctrl-C).
    #[arg(long)]
    pub max_jobs: Option<u64>,
    /// A TOML file for the worker's own settings ([nats]); each job brings its review settings.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Arguments of `hub`.
#[derive(Debug, clap::Args)]
pub struct HubArgs {
    /// Manage stations or supervisors instead of serving.
    #[command(subcommand)]
    pub command: Option<HubCommand>,
    /// Address to listen on (default from the config: 127.0.0.1:7878, loopback only).
    #[arg(long, global = true)]
    pub bind: Option<String>,
    /// The SQLite store (default from the config: hub.sqlite in ~/.local/share/calmline).
    #[arg(long, global = true)]
    pub db: Option<PathBuf>,
    /// A TOML file overriding settings of the built-in configuration (default: the user
    /// configuration file, if there is one).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Serve HTTPS with this certificate (chain) in PEM (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key in PEM (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Also take the floor's events from NATS JetStream (e.g. nats://nats.example:4222), where
    /// monitors started with `live --nats` publish them; default [nats] url.
    #[arg(long)]
    pub nats: Option<String>,
    /// Follow only these sites (comma-separated; default [nats] sites, else all).
    #[arg(long, value_delimiter = ',')]
    pub sites: Vec<String>,
    /// This hub's durable consumer (default [nats] consumer): every hub needs its own name to
    /// see the whole floor, and keeps it to catch up after a restart.
    #[arg(long)]
    pub consumer: Option<String>,
    /// How it signs in to NATS.
    #[command(flatten)]
    pub sign_in: NatsSignIn,
}

/// `calmline hub ...` management commands.
#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Station tokens (one per agent's monitor).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Supervisor accounts.
    #[command(subcommand)]
    User(UserCommand),
}

/// `calmline hub token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a station and print its token (shown once; only its hash is stored).
    Add {
        /// Station name (usually the agent's desk or login).
        name: String,
        /// The station's team (supervisors see their teams' calls).
        #[arg(long, default_value = "default")]
        team: String,
    },
    /// List stations.
    List,
    /// Revoke a station's token: the hub refuses it from now on.
    Revoke {
        /// Station name.
        name: String,
    },
}

/// `calmline hub user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a supervisor (or change one); the password is read from standard input.
    Add {
        /// Login name.
        name: String,
        /// Team(s) whose calls they see (repeat or comma-separate).
        #[arg(long, value_delimiter = ',')]
        team: Vec<String>,
        /// Sees every team and the hub's counters.
        #[arg(long)]
        admin: bool,
    },
    /// List supervisors.
    List,
    /// Remove a supervisor (and end their sessions).
    Remove {
        /// Login name.
        name: String,
    },
}

/// Views of a live call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ui {
    /// Terminal view (the default on a terminal).
    Tui,
    /// Every event as one JSON line (the default when stdout is not a terminal).
    Json,
    /// Cues and transcript lines only.
    Plain,
}

/// Arguments of `live`.
#[derive(Debug, clap::Args)]
pub struct LiveArgs {
    /// One stereo device with one speaker per channel (name, part of a name, or number).
    #[arg(long, conflicts_with_all = ["agent_device", "customer_device"])]
    pub device: Option<String>,
    /// Which channel of the stereo device carries the customer (default from the config: right).
    #[arg(long, value_parser = ["left", "right"])]
    pub customer_channel: Option<String>,
    /// The agent's microphone (with --customer-device).
    #[arg(long, requires = "customer_device")]
    pub agent_device: Option<String>,
    /// The customer's audio, e.g. the monitor of the softphone's output (with --agent-device).
    #[arg(long, requires = "agent_device")]
    pub customer_device: Option<String>,
    /// How to show the call.
    #[arg(long, value_enum)]
    pub ui: Option<Ui>,
    /// Also record the call as a stereo WAV (agent left, customer right) and review it at the end.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Where the review of a recorded call goes.
    #[arg(long, default_value = "reviews")]
    pub out: PathBuf,
    /// Stop after this many seconds (otherwise Ctrl-C or `q`).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Acoustic cues only (no Whisper model needed).
    #[arg(long)]
    pub no_transcribe: bool,
    /// The customer's name from the call's details (CRM, softphone): the `use_name` cue then
    /// counts from the start of the call, and "Ms Okafor" counts as a use.
    #[arg(long)]
    pub customer_name: Option<String>,
    /// The whisper.cpp model (default: [transcribe] model in the config).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A TOML file overriding settings of the built-in configuration (default: the user
    /// configuration file, if there is one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// After the call, remember the devices and customer channel given as flags in the user
    /// configuration file, so that a plain `calmline live` uses them next time.
    #[arg(long)]
    pub remember: bool,
    /// Play a stereo recording through the live pipeline on the wall clock instead of capturing
    /// (training, demos, testing a hub without sound devices).
    #[arg(long, conflicts_with_all = ["device", "agent_device", "customer_device", "remember"])]
    pub file: Option<PathBuf>,
    /// Playback speed of --file (1 = real time; 0.1-100).
    #[arg(long, default_value_t = 1.0, requires = "file")]
    pub speed: f64,
    /// Report the call to this hub (e.g. http://hub.example:7878); default from [hub] url.
    #[arg(long)]
    pub hub: Option<String>,
    /// The station token for the hub (`calmline hub token add`); default $CALMLINE_HUB_TOKEN.
    #[arg(long)]
    pub token: Option<String>,
    /// The agent's name as supervisors see it (default: the user name).
    #[arg(long)]
    pub agent: Option<String>,
    /// Publish the call's events to NATS JetStream (e.g. nats://nats.example:4222) for any
    /// number of hubs, instead of to one hub; default from [nats] url.
    #[arg(long, conflicts_with_all = ["hub", "token"])]
    pub nats: Option<String>,
    /// This station's site (the NATS subject is calmline.SITE.STATION.events); default [nats] site.
    #[arg(long)]
    pub site: Option<String>,
    /// This station's name at the hubs; default [nats] station, else the host name.
    #[arg(long)]
    pub station: Option<String>,
    /// How it signs in to NATS.
    #[command(flatten)]
    pub sign_in: NatsSignIn,
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
    /// List installed models, marking the one the configuration transcribes with.
    List {
        /// Where to look (a relative folder is looked up as the configured model is: the
        /// current folder, then where calmline was installed or built).
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
    /// A call recording (WAV, FLAC, MP3, OGG, AIFF, M4A) or a folder of them.
    pub input: PathBuf,
    /// Output folder (created if missing), or `-` to print one report to stdout.
    #[arg(long, short, default_value = "reviews")]
    pub out: PathBuf,
    /// Which reports to write.
    #[arg(long, value_enum, default_value_t = Format::All)]
    pub format: Format,
    /// A TOML file overriding settings of the built-in configuration (default: the user
    /// configuration file, if there is one).
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
    /// The customer's name from the call's details (one call; for a folder see
    /// --call-details).
    #[arg(long, conflicts_with = "call_details")]
    pub customer_name: Option<String>,
    /// The agent's name (one call; for a folder see --call-details): in the report and the
    /// summary's agent column.
    #[arg(long, conflicts_with = "call_details")]
    pub agent: Option<String>,
    /// A CSV of the calls' details with the columns `file` (the recording's file name, or
    /// with --recursive its path under the folder) and `customer_name`, `agent` or both;
    /// other columns are ignored. UTF-8; commas, semicolons or tabs between fields.
    #[arg(long)]
    pub call_details: Option<PathBuf>,
    /// The whisper.cpp model to transcribe with (default: [transcribe] model in the config).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// With a folder: also review the recordings in its subfolders (one per day, say); the
    /// reports mirror the subfolders under --out and summary.csv names each call by its path.
    #[arg(long, short)]
    pub recursive: bool,
    /// Keep the reports of recordings reviewed before (their JSON report in --out is newer
    /// than the recording, by this calmline version, with the same configuration, call details
    /// and transcription) and review only the others; summary.csv and index.html still list
    /// every call. For runs every night over a recorder's folders.
    #[arg(long)]
    pub skip_reviewed: bool,
    /// Files reviewed in parallel for a folder, or recogniser threads for one file (1-256;
    /// default: one per core).
    #[arg(long, short, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub jobs: Option<usize>,
    /// With --queue: the NATS server(s) of the review queue (default [nats] url).
    #[arg(long, requires = "queue")]
    pub nats: Option<String>,
    /// Queue one job per file of the folder for `calmline worker`s instead of reviewing here;
    /// show their progress and write summary.csv when every file has an outcome.
    #[arg(long)]
    pub queue: bool,
    /// How it signs in to NATS.
    #[command(flatten)]
    pub sign_in: NatsSignIn,
}

/// Settings for a run: the config file layered on the defaults, then command-line overrides.
pub fn resolve_config(path: Option<&PathBuf>, customer: Option<&str>) -> Result<Config> {
    let user = user_config_path().filter(|p| p.is_file());
    let mut cfg = match path.or(user.as_ref()) {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(side) = customer {
        cfg.channels.customer = side.parse::<Side>()?;
    }
    Ok(cfg)
}

/// The user configuration file, read when no `--config` is given: `$CALMLINE_CONFIG`, else
/// `$XDG_CONFIG_HOME/calmline/config.toml`, else `~/.config/calmline/config.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("CALMLINE_CONFIG").or_else(|| {
        var("XDG_CONFIG_HOME")
            .or_else(|| var("HOME").map(|h| h.join(".config")))
            .map(|d| d.join("calmline").join("config.toml"))
    })
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Review(args) => review::run(args),
        Command::Model(cmd) => model::run(cmd),
        Command::Devices => live::devices(),
        Command::Live(args) => live::run(args),
        Command::Hub(args) => hub::run(args),
        Command::Worker(args) => worker::run(args),
        #[cfg(feature = "diarise")]
        Command::Diarise(args) => diarise::run(args),
        #[cfg(feature = "diarise")]
        Command::Enroll(args) => diarise::enroll(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("calmline: error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause once: library errors already name their
/// cause in their own message ("cannot write F: No space left on device"), and `{:#}` would
/// append it again.
pub(crate) fn describe(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod describe_tests {
    use super::describe;
    use anyhow::Context;

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::other("No space left on device");
        let e = anyhow::Error::new(crate::Error::Write {
            path: "/dev/full".into(),
            source: io,
        });
        assert_eq!(
            describe(&e),
            "cannot write /dev/full: No space left on device"
        );
        let e = Err::<(), _>(std::io::Error::other("connection refused"))
            .context("cannot reach the hub")
            .unwrap_err();
        assert_eq!(describe(&e), "cannot reach the hub: connection refused");
    }
}
