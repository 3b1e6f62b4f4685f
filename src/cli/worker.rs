//! QA review over NATS: `review FOLDER --queue` (enqueue, follow, write summary.csv) and
//! `worker` (take jobs, review, write the reports, then acknowledge). See [`crate::queue`].

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use async_nats::jetstream::{self, AckKind, consumer};
use futures_util::StreamExt;

use super::review::{progress_bar, write_review};
use super::{Format, ReviewArgs, WorkerArgs, resolve_config};
use crate::config::Config;
use crate::queue::{
    JOBS_STREAM, Job, Outcome, WORKERS, jobs_stream, results_stream, results_subject,
    workers_consumer,
};
use crate::review::{ReviewOptions, folder_recordings, review_file_with};
use crate::transcribe::Model;
use crate::uplink::nats::connect;

fn nats_url(flag: &Option<String>, cfg: &Config, what: &str) -> anyhow::Result<String> {
    flag.clone()
        .or_else(|| Some(cfg.nats.url.clone()).filter(|u| !u.trim().is_empty()))
        .with_context(|| format!("{what} needs the NATS server: --nats URL (or [nats] url)"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the NATS client's runtime")
}

/// `review FOLDER --nats URL --queue`.
pub(super) fn enqueue(
    args: &ReviewArgs,
    cfg: &Config,
    details: &std::collections::HashMap<String, super::review::CallDetails>,
) -> anyhow::Result<ExitCode> {
    let url = nats_url(&args.nats, cfg, "--queue")?;
    if !args.input.is_dir() {
        bail!(
            "{}: --queue takes a folder of recordings (review a single file here without it)",
            args.input.display()
        );
    }
    if args.out.as_os_str() == "-" {
        bail!("--queue writes reports to a folder every worker can reach: give one to --out");
    }
    let files = folder_recordings(&args.input, args.recursive)?;
    if files.is_empty() {
        bail!(crate::review::no_audio_files(&args.input, args.recursive));
    }
    super::review::warn_unknown(details, &files, &args.input);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    // Workers on other machines see the same shared storage: absolute paths.
    let out = args
        .out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.out.display()))?;
    let config = crate::queue::job_config(cfg).map_err(|e| anyhow!(e))?;
    // --skip-reviewed: the summary rows of calls whose reports are kept; only the others go
    // to the queue, as a batch of their own.
    let settings = args
        .skip_reviewed
        .then(|| crate::review::settings_id(cfg, !args.no_transcribe));
    let kept: Vec<Option<String>> = files
        .iter()
        .map(|entry| {
            let given = super::review::given_of_entry(details, entry);
            let r = super::review::kept_review(
                &entry.path,
                &args.out.join(&entry.sub),
                &entry.stem,
                args,
                settings.as_deref()?,
                &given,
            )?;
            Some(crate::report::csv::row(
                &entry.name,
                given.agent.as_deref(),
                Ok(&r),
            ))
        })
        .collect();
    let all_files = files;
    let files: Vec<_> = all_files
        .iter()
        .zip(&kept)
        .filter(|(_, k)| k.is_none())
        .map(|(f, _)| f.clone())
        .collect();
    let n_kept = all_files.len() - files.len();
    if files.is_empty() {
        let rows: Vec<String> = kept.into_iter().flatten().collect();
        let (summary, index) =
            super::review::write_summary(&out, &args.input, &rows, &all_files, args.format)?;
        println!(
            "all {n_kept} file(s) were reviewed before with these settings: nothing queued; \
             summary: {}, {}",
            summary.display(),
            index.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let n = files.len();
    let mut jobs = Vec::with_capacity(n);
    for (index, entry) in files.iter().enumerate() {
        let given = super::review::details_of_entry(details, entry);
        jobs.push(Job {
            batch: String::new(),
            index,
            of: n,
            file: entry
                .path
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", entry.path.display()))?,
            out: out.join(&entry.sub),
            stem: entry.stem.clone(),
            name: entry.name.clone(),
            json: matches!(args.format, Format::All | Format::Json),
            html: matches!(args.format, Format::All | Format::Html),
            vtt: args.vtt,
            transcribe: !args.no_transcribe,
            config: config.clone(),
            customer_name: given.and_then(|d| d.customer_name.clone()),
            agent: given.and_then(|d| d.agent.clone()),
        });
    }
    let auth = super::hub::nats_auth(&args.sign_in, cfg)?;
    let names: Vec<String> = files.iter().map(|e| e.name.clone()).collect();
    let agents: Vec<Option<String>> = jobs.iter().map(|j| j.agent.clone()).collect();
    // The same folder queued again into the same output with the same settings while its
    // last batch is unfinished: follow that batch instead of reviewing everything twice.
    let manifest = BatchManifest::path(&out);
    let settings = BatchManifest::settings(&jobs);
    let previous = BatchManifest::read(&manifest);
    let resumed = previous
        .as_ref()
        .filter(|m| m.url == url && m.files == names && m.settings == settings && m.fresh());
    let batch = match (resumed, &previous) {
        (Some(m), _) => {
            eprintln!(
                "calmline: {}: batch {} of these {n} file(s) was not followed to its end: {}",
                manifest.display(),
                m.batch,
                if m.all_queued {
                    "following it again (the outcomes already in count; nothing is reviewed twice)"
                } else {
                    "queuing it again (jobs already queued are dropped as duplicates) and following it"
                }
            );
            m.batch.clone()
        }
        (None, Some(m)) => {
            eprintln!(
                "calmline: {}: an unfinished batch ({}) of other files, settings or NATS server: its workers may still write reports here; these {n} file(s) go as a new batch",
                manifest.display(),
                m.batch
            );
            crate::uplink::new_call_id()
        }
        (None, None) => crate::uplink::new_call_id(),
    };
    let skip_queue = resumed.is_some_and(|m| m.all_queued);
    for j in &mut jobs {
        j.batch = batch.clone();
    }
    let mut record = BatchManifest {
        batch: batch.clone(),
        url: url.clone(),
        files: names.clone(),
        settings,
        queued_ms: resumed.map_or_else(crate::hub::store::now_ms, |m| m.queued_ms),
        all_queued: skip_queue,
    };
    record.write(&manifest)?;
    let outcomes = runtime()?.block_on(async {
        let client = connect(&url, &auth, "calmline review queue", Duration::from_secs(5))
            .await
            .map_err(|e| anyhow!(e))?;
        let js = jetstream::new(client);
        let results = results_stream(&js).await.map_err(|e| anyhow!(e))?;
        jobs_stream(&js).await.map_err(|e| anyhow!(e))?;
        // Follow this batch's outcomes from its start (an ephemeral consumer).
        let follow = results
            .create_consumer(consumer::pull::Config {
                filter_subject: results_subject(&batch),
                ack_policy: consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(300),
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow!("cannot follow the outcomes: {e}"))?;
        let mut msgs = follow
            .messages()
            .await
            .map_err(|e| anyhow!("cannot follow the outcomes: {e}"))?;
        // Message ids `batch/index`: a job queued again within the queue's duplicate window
        // (10 min) is dropped by JetStream, and a second outcome is ignored below.
        let to_queue: &[Job] = if skip_queue { &[] } else { &jobs };
        for chunk in to_queue.chunks(256) {
            let mut acks = Vec::with_capacity(chunk.len());
            for job in chunk {
                let msg = jetstream::message::PublishMessage::build()
                    .payload(serde_json::to_vec(job)?.into())
                    .message_id(format!("{}/{}", job.batch, job.index));
                acks.push(
                    js.send_publish(crate::queue::JOBS_SUBJECT, msg)
                        .await
                        .map_err(|e| anyhow!("cannot queue a job: {e}"))?,
                );
            }
            for a in acks {
                a.await.map_err(|e| anyhow!("the queue did not take a job: {e}"))?;
            }
        }
        if !skip_queue {
            record.all_queued = true;
            record.write(&manifest)?;
            eprintln!(
                "calmline: queued {n} file(s) as batch {batch} on {url}; waiting for workers (calmline worker --nats {url})"
            );
        }
        let bar = progress_bar(Some(n as u64));
        let started = Instant::now();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
        let (mut done, mut failed) = (0usize, 0usize);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_line = Instant::now();
        let mut workers_seen: Vec<String> = Vec::new();
        while done < n {
            tokio::select! {
                m = msgs.next() => match m {
                    Some(Ok(m)) => {
                        let Ok(o) = serde_json::from_slice::<Outcome>(&m.payload) else { continue };
                        if o.batch != batch || o.index >= n || outcomes[o.index].is_some() {
                            continue; // a second delivery of a job already done
                        }
                        done += 1;
                        if !workers_seen.contains(&o.worker) {
                            workers_seen.push(o.worker.clone());
                        }
                        let line = match &o.error {
                            None => format!("{}: reviewed by {} in {:.1} s", o.name, o.worker, o.seconds),
                            Some(e) => {
                                failed += 1;
                                format!("calmline: error: {}: {e}", o.name)
                            }
                        };
                        if bar.is_hidden() {
                            println!("{line}");
                        } else {
                            bar.println(line);
                        }
                        bar.inc(1);
                        let i = o.index;
                        outcomes[i] = Some(o);
                    }
                    Some(Err(_)) => continue, // missed heartbeats: the consumer carries on
                    None => bail!("the outcomes' stream ended"),
                },
                _ = tick.tick() => {
                    let in_flight = match js.get_stream(JOBS_STREAM).await {
                        Ok(s) => s.consumer_info(WORKERS).await.map(|i| i.num_ack_pending).ok(),
                        Err(_) => None,
                    };
                    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3) * 60.0;
                    let msg = format!(
                        "done {done}, failed {failed}, in flight {}, {rate:.1} files/min",
                        in_flight.map(|i| i.to_string()).unwrap_or_else(|| "?".into())
                    );
                    if bar.is_hidden() {
                        if last_line.elapsed() >= Duration::from_secs(5) {
                            eprintln!("calmline: {done}/{n} {msg}");
                            last_line = Instant::now();
                        }
                    } else {
                        bar.set_message(msg);
                    }
                }
            }
        }
        bar.finish_and_clear();
        anyhow::Ok((outcomes, workers_seen.len(), started.elapsed()))
    })?;
    let (outcomes, workers, took) = outcomes;
    let mut queued_rows = Vec::with_capacity(n);
    let mut failed = 0;
    for ((o, name), agent) in outcomes.iter().zip(&names).zip(&agents) {
        match o {
            Some(o) => {
                failed += o.error.is_some() as usize;
                queued_rows.push(o.row.clone());
            }
            None => queued_rows.push(crate::report::csv::row(
                name,
                agent.as_deref(),
                Err("no outcome"),
            )),
        }
    }
    // Every call in folder order, the kept ones among the queued.
    let mut queued_rows = queued_rows.into_iter();
    let rows: Vec<String> = kept
        .into_iter()
        .map(|k| k.or_else(|| queued_rows.next()).unwrap_or_default())
        .collect();
    let (summary, index) =
        super::review::write_summary(&out, &args.input, &rows, &all_files, args.format)?;
    // Followed to its end: nothing to resume.
    let _ = std::fs::remove_file(&manifest);
    println!(
        "reviewed {} of {} file(s) by {workers} worker(s) in {:.0} s into {}{}; summary: {}, {}",
        n - failed,
        all_files.len(),
        took.as_secs_f64(),
        out.display(),
        super::review::kept_note(n_kept),
        summary.display(),
        index.display()
    );
    Ok(super::review::folder_exit(failed))
}

/// What `review FOLDER --queue` leaves in the output folder while it follows a batch
/// (`.calmline-batch.json`), so that running it again resumes the batch.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct BatchManifest {
    batch: String,
    /// The NATS server it was queued on.
    url: String,
    /// The recordings' file names, in batch order.
    files: Vec<String>,
    /// SHA-256 of the jobs without their batch (paths, formats, names, configuration).
    settings: String,
    /// When the batch was first queued (ms since the epoch).
    queued_ms: i64,
    /// Every job was queued (JetStream acknowledged it).
    all_queued: bool,
}

impl BatchManifest {
    fn path(out: &std::path::Path) -> PathBuf {
        out.join(".calmline-batch.json")
    }

    fn settings(jobs: &[Job]) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for j in jobs {
            h.update(serde_json::to_vec(j).unwrap_or_default());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The manifest, if there is a readable one (a damaged one is as good as none).
    fn read(path: &std::path::Path) -> Option<Self> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Its outcomes are still in NATS (kept 7 days).
    fn fresh(&self) -> bool {
        crate::hub::store::now_ms() - self.queued_ms < 6 * 86_400_000
    }

    fn write(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let body = serde_json::to_vec_pretty(self)?;
        crate::report::write::write_all_or_nothing(&[(path.to_path_buf(), body)])
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// `worker`: take jobs until Ctrl-C (or --max-jobs), reconnecting as needed.
pub(super) fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let cfg = resolve_config(args.config.as_ref(), None)?;
    let url = nats_url(&args.nats, &cfg, "worker")?;
    let auth = super::hub::nats_auth(&args.sign_in, &cfg)?;
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".into());
        format!("{host}-{}", std::process::id())
    });
    let ack_wait = Duration::from_secs_f64(cfg.nats.job_ack_wait_s.max(1.0));
    let models: Models = Arc::new(Mutex::new(HashMap::new()));
    let mut done = 0u64;
    runtime()?.block_on(async {
        let mut backoff = Duration::from_millis(250);
        let mut warned = false;
        loop {
            match work(
                &url,
                &auth,
                &name,
                ack_wait,
                &models,
                &mut done,
                args.max_jobs,
            )
            .await
            {
                Ok(()) => return,
                Err(e) => {
                    if !warned {
                        eprintln!("calmline worker {name}: {e}; retrying");
                        warned = true;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    Ok(ExitCode::SUCCESS)
}

type Models = Arc<Mutex<HashMap<PathBuf, Arc<Model>>>>;

async fn work(
    url: &str,
    auth: &crate::uplink::nats::NatsAuth,
    name: &str,
    ack_wait: Duration,
    models: &Models,
    done: &mut u64,
    max_jobs: Option<u64>,
) -> Result<(), String> {
    let client = connect(
        url,
        auth,
        &format!("calmline worker {name}"),
        Duration::from_secs(5),
    )
    .await?;
    let js = jetstream::new(client);
    let consumer = workers_consumer(&js, ack_wait).await?;
    // One job at a time: the others stay in the queue for other workers.
    let mut msgs = consumer
        .stream()
        .max_messages_per_batch(1)
        .messages()
        .await
        .map_err(|e| format!("cannot read the queue: {e}"))?;
    println!("{name}: waiting for jobs on {url}");
    let _ = std::io::stdout().flush();
    while max_jobs.is_none_or(|m| *done < m) {
        let m = match msgs.next().await {
            None => return Err("the queue's stream ended".into()),
            Some(Err(e)) => {
                if e.kind() == consumer::pull::MessagesErrorKind::ConsumerDeleted {
                    return Err("the workers' consumer was deleted".into());
                }
                continue;
            }
            Some(Ok(m)) => m,
        };
        let delivery = m.info().map(|i| i.delivered).unwrap_or(1);
        let job: Job = match serde_json::from_slice(&m.payload) {
            Ok(j) => j,
            Err(e) => {
                eprintln!("calmline worker {name}: not a review job ({e}); dropped");
                let _ = m.ack_with(AckKind::Term).await;
                continue;
            }
        };
        let file_name = job.display_name();
        println!(
            "{name}: reviewing {} (batch {}, {}/{}, delivery {delivery})",
            job.file.display(),
            job.batch,
            job.index + 1,
            job.of
        );
        let _ = std::io::stdout().flush();
        let started = Instant::now();
        let (j, ms) = (job.clone(), models.clone());
        let mut task = tokio::task::spawn_blocking(move || review_job(&j, &ms));
        // Signs of life while it runs, so a long review is not given to another worker.
        let result = loop {
            tokio::select! {
                r = &mut task => break r.unwrap_or_else(|e| Err(format!("the review crashed: {e}"))),
                _ = tokio::time::sleep(ack_wait / 3) => {
                    let _ = m.ack_with(AckKind::Progress).await;
                }
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let (row, error) = match result {
            Ok(row) => (row, None),
            Err(e) => (
                crate::report::csv::row(&file_name, job.agent.as_deref(), Err(&e)),
                Some(e),
            ),
        };
        let outcome = Outcome {
            batch: job.batch.clone(),
            index: job.index,
            name: file_name.clone(),
            row,
            error,
            worker: name.to_string(),
            delivery,
            seconds,
        };
        let msg = jetstream::message::PublishMessage::build()
            .payload(
                serde_json::to_vec(&outcome)
                    .map_err(|e| e.to_string())?
                    .into(),
            )
            .message_id(format!("{}/{}", job.batch, job.index));
        // The outcome is stored before the job is acknowledged: a crash in between gives the
        // job to another worker, whose outcome the enqueuer ignores as a second one.
        js.send_publish(results_subject(&job.batch), msg)
            .await
            .map_err(|e| format!("cannot send the outcome: {e}"))?
            .await
            .map_err(|e| format!("the outcome was not stored: {e}"))?;
        m.double_ack()
            .await
            .map_err(|e| format!("cannot acknowledge the job: {e}"))?;
        *done += 1;
        println!("{name}: done {file_name} in {seconds:.1} s");
        let _ = std::io::stdout().flush();
    }
    Ok(())
}

/// Review one job and write its reports; the summary row, or why not.
fn review_job(job: &Job, models: &Models) -> Result<String, String> {
    let cfg: Config =
        toml::from_str(&job.config).map_err(|e| format!("the job's configuration: {e}"))?;
    let model = if job.transcribe {
        let path = crate::config::locate(&cfg.transcribe.model);
        let mut cache = models.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(&path) {
            Some(m) => Some(m.clone()),
            None => {
                let m = Arc::new(Model::load(&path).map_err(|e| format!("{e}"))?);
                cache.insert(path, m.clone());
                Some(m)
            }
        }
    } else {
        None
    };
    let mut opts = ReviewOptions::new(model.as_deref(), 0);
    opts.customer_name = job.customer_name.as_deref();
    opts.agent_name = job.agent.as_deref();
    let review = review_file_with(&job.file, &cfg, opts, &|_| {}).map_err(|e| format!("{e}"))?;
    // A worker killed while writing leaves only hidden partial files: clear this job's.
    if let Ok(rd) = std::fs::read_dir(&job.out) {
        let prefix = format!(".{}.", job.stem);
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) && n.contains(".partial-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let format = match (job.json, job.html) {
        (true, false) => Format::Json,
        (false, true) => Format::Html,
        _ => Format::All,
    };
    write_review(&review, &job.out, &job.stem, format, job.vtt).map_err(|e| super::describe(&e))?;
    Ok(crate::report::csv::row(
        &job.display_name(),
        job.agent.as_deref(),
        Ok(&review),
    ))
}
