//! QA review at scale over NATS JetStream: `calmline review FOLDER --nats URL --queue` puts one
//! job per recording on a work-queue stream, any number of `calmline worker --nats URL`
//! processes take them, and each outcome goes back on a results stream that the enqueuer
//! follows to show progress and to write `summary.csv` once every job has one.
//!
//! A worker acknowledges a job only after its reports are complete on disk and its outcome is
//! stored; a worker killed mid-job leaves the job unacknowledged, and JetStream gives it to
//! another worker after the acknowledgement wait. An outcome may then arrive twice (at least
//! once): the enqueuer keeps the first per job.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use serde::{Deserialize, Serialize};

/// The work-queue stream of review jobs.
pub const JOBS_STREAM: &str = "CALMLINE_JOBS";
/// Its subject.
pub const JOBS_SUBJECT: &str = "calmline.jobs.review";
/// The stream of outcomes, one subject per batch.
pub const RESULTS_STREAM: &str = "CALMLINE_RESULTS";
/// The workers' shared durable consumer: each job goes to one of them.
pub const WORKERS: &str = "workers";

/// The subject of a batch's outcomes.
pub fn results_subject(batch: &str) -> String {
    format!("calmline.results.{batch}")
}

/// One recording to review, with everything a worker on another machine needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The batch (one `review --queue` run).
    pub batch: String,
    /// The file's place in the batch (0-based).
    pub index: usize,
    /// How many files the batch has.
    pub of: usize,
    /// The recording (on storage every worker sees).
    pub file: PathBuf,
    /// Reports go to `out/<stem>.<ext>`.
    pub out: PathBuf,
    /// Their file-name stem.
    pub stem: String,
    /// Write the JSON report.
    pub json: bool,
    /// Write the HTML report.
    pub html: bool,
    /// Write WebVTT subtitles.
    pub vtt: bool,
    /// Transcribe (the worker loads the model named in `config`).
    pub transcribe: bool,
    /// The enqueuer's whole configuration (TOML), so every worker reviews alike.
    pub config: String,
    /// The customer's name from the call's details (`--call-details`), if they give it.
    #[serde(default)]
    pub customer_name: Option<String>,
    /// The agent's name from the call's details, if they give it.
    #[serde(default)]
    pub agent: Option<String>,
    /// The recording's path under the queued folder (`2026/12/07/a.wav` with `--recursive`),
    /// as summary.csv names it; empty from older enqueuers: the file name.
    #[serde(default)]
    pub name: String,
}

impl Job {
    /// The recording as summary.csv and progress lines name it.
    pub fn display_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        self.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The enqueuer's configuration as it travels in each job: everything a review depends on,
/// without the enqueuer's NATS password (everyone who may read the queue would read it).
pub fn job_config(cfg: &crate::Config) -> Result<String, String> {
    let mut c = cfg.clone();
    c.nats.password.clear();
    c.nats.nkey_file.clear();
    c.nats.creds_file.clear();
    toml::to_string(&c).map_err(|e| format!("cannot serialise the configuration: {e}"))
}

/// What became of one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// The batch.
    pub batch: String,
    /// The job's index in it.
    pub index: usize,
    /// The recording's file name.
    pub name: String,
    /// Its `summary.csv` row (with the error column filled when it failed).
    pub row: String,
    /// `None` when reviewed; else why not.
    pub error: Option<String>,
    /// Which worker.
    pub worker: String,
    /// Which delivery of the job this was (2 or more after a worker died with it).
    pub delivery: i64,
    /// Seconds the review took.
    pub seconds: f64,
}

/// The jobs stream (work queue: a job is gone once a worker acknowledges it).
pub async fn jobs_stream(js: &jetstream::Context) -> Result<stream::Stream, String> {
    js.get_or_create_stream(stream::Config {
        name: JOBS_STREAM.into(),
        subjects: vec![JOBS_SUBJECT.into()],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot open the {JOBS_STREAM} stream: {e}"))
}

/// The results stream (kept a week, so an enqueuer can be restarted and still collect).
pub async fn results_stream(js: &jetstream::Context) -> Result<stream::Stream, String> {
    js.get_or_create_stream(stream::Config {
        name: RESULTS_STREAM.into(),
        subjects: vec!["calmline.results.*".into()],
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(7 * 86_400),
        duplicate_window: Duration::from_secs(600),
        ..Default::default()
    })
    .await
    .map_err(|e| format!("cannot open the {RESULTS_STREAM} stream: {e}"))
}

/// The workers' consumer. `ack_wait`: how long a job may go without a sign of life from its
/// worker before another worker gets it (workers report progress at a third of it).
pub async fn workers_consumer(
    js: &jetstream::Context,
    ack_wait: Duration,
) -> Result<consumer::PullConsumer, String> {
    let s = jobs_stream(js).await?;
    s.get_or_create_consumer(
        WORKERS,
        consumer::pull::Config {
            durable_name: Some(WORKERS.into()),
            filter_subject: JOBS_SUBJECT.into(),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("cannot open the workers' consumer: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_job_carries_the_settings_but_not_the_nats_password() {
        let mut cfg = crate::Config::default();
        cfg.nats.password = "qa-secret-4711".into();
        cfg.nats.user = "qa".into();
        cfg.nats.creds_file = "/home/qa/.nkeys/qa.creds".into();
        cfg.nats.nkey_file = "/home/qa/.nkeys/qa.nk".into();
        cfg.coach.cooldown_s = 12.5;
        let t = super::job_config(&cfg).unwrap();
        assert!(!t.contains("qa-secret-4711"), "{t}");
        // Where the enqueuer keeps its keys is none of the workers' business either.
        assert!(!t.contains(".nkeys"), "{t}");
        let back: crate::Config = toml::from_str(&t).unwrap();
        assert_eq!(back.coach.cooldown_s, 12.5);
        assert_eq!(back.nats.user, "qa");
    }
}
