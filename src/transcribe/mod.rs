//! Transcription: utterances cut by voice activity, recognised by Whisper on the agent's machine.
//!
//! Reviews transcribe all utterances of a call in parallel (they are independent); live calls
//! use one worker behind a bounded queue that never blocks the acoustic pipeline and degrades
//! visibly (skips) instead of lagging more and more.

pub mod engine;
pub mod fetch;
pub mod guard;
pub mod import;
pub mod segmenter;
pub mod wer;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};

pub use engine::{Attempt, Candidate, Model, Session};
pub use segmenter::{Segmenter, Utterance};

use crate::config::Config;
use crate::error::Result;
use crate::events::{Event, EventBody, TranscriptSegment};

/// An utterance that could not be transcribed: (start s, end s, error).
pub type Failure = (f64, f64, String);

/// Transcribe independent utterances with `workers` cores: one worker per core with one whisper
/// thread each (which uses two cores better than one worker with two threads), or, with fewer
/// utterances than cores, fewer workers with more threads. Results come back in time order;
/// utterances that failed are reported as `(start_s, end_s, error)`.
pub fn transcribe_all(
    model: &Model,
    cfg: &Config,
    utterances: &[Utterance],
    workers: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<(Vec<TranscriptSegment>, Vec<Failure>)> {
    // Cores beyond the number of utterances go to threads within a worker.
    let cores = workers.max(1);
    let workers = cores.min(utterances.len().max(1));
    let threads = (cores / workers).max(1);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<TranscriptSegment>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let mut sessions = Vec::with_capacity(workers);
    for _ in 0..workers {
        sessions.push(model.session(cfg, threads)?);
    }
    std::thread::scope(|s| {
        for mut session in sessions {
            let (next, done, results, failures) = (&next, &done, &results, &failures);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(u) = utterances.get(i) else { break };
                    match session.transcribe(u) {
                        Ok(segs) => results
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend(segs),
                        Err(e) => failures.lock().unwrap_or_else(|p| p.into_inner()).push((
                            u.start_s,
                            u.end_s(),
                            e.to_string(),
                        )),
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
            });
        }
    });
    let mut segs = results.into_inner().unwrap_or_else(|p| p.into_inner());
    segs.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    Ok((
        segs,
        failures.into_inner().unwrap_or_else(|p| p.into_inner()),
    ))
}

/// An utterance queued for the live worker, with the wall-clock time it was queued.
struct Job {
    utterance: Utterance,
    queued: Instant,
}

/// The live transcription worker: a thread behind a bounded queue.
///
/// [`submit`](Self::submit) never blocks. When the queue is full the new utterance is skipped;
/// utterances that waited longer than `max_lag_s` are dropped when their turn comes. Either way
/// a `transcript_skipped` event says so, so the lag stays bounded and visible.
pub struct LiveTranscriber {
    jobs: Option<Sender<Job>>,
    events: Receiver<Event>,
    event_tx: Sender<Event>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl LiveTranscriber {
    /// Start the worker on `model`.
    pub fn start(model: &Model, cfg: &Config) -> Result<Self> {
        let mut session = model.session(cfg, cfg.transcribe.live_threads)?;
        session.for_live();
        let cfg = &cfg.transcribe;
        let (jobs, rx) = bounded::<Job>(cfg.queue.max(1));
        let (event_tx, events) = unbounded();
        let tx = event_tx.clone();
        let max_lag = Duration::from_secs_f32(cfg.max_lag_s.max(0.1));
        let worker = std::thread::Builder::new()
            .name("calmline-transcribe".into())
            .spawn(move || {
                for job in rx {
                    let u = &job.utterance;
                    let waited = job.queued.elapsed();
                    if waited > max_lag {
                        let _ = tx.send(skipped(
                            u,
                            format!(
                                "stale: waited {:.1} s for the recogniser",
                                waited.as_secs_f32()
                            ),
                        ));
                        continue;
                    }
                    match session.transcribe(u) {
                        Ok(segs) => {
                            let lag = job.queued.elapsed().as_secs_f64();
                            for seg in segs {
                                let _ = tx.send(Event {
                                    t_s: u.end_s() + lag,
                                    body: EventBody::Transcript(seg),
                                });
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(skipped(u, e.to_string()));
                        }
                    }
                }
            })
            .map_err(|e| {
                crate::error::Error::Invalid(format!("cannot start the transcription thread: {e}"))
            })?;
        Ok(Self {
            jobs: Some(jobs),
            events,
            event_tx,
            worker: Some(worker),
        })
    }

    /// Queue an utterance; never blocks.
    pub fn submit(&self, utterance: Utterance) {
        let Some(jobs) = &self.jobs else { return };
        let job = Job {
            utterance,
            queued: Instant::now(),
        };
        if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) = jobs.try_send(job) {
            let _ = self.event_tx.send(skipped(
                &job.utterance,
                "recogniser busy: queue full".into(),
            ));
        }
    }

    /// Transcript and skip events produced so far (non-blocking).
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Finish the queued work and stop the worker; remaining events stay readable.
    pub fn finish(&mut self) {
        self.jobs.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for LiveTranscriber {
    fn drop(&mut self) {
        self.finish();
    }
}

fn skipped(u: &Utterance, reason: String) -> Event {
    Event {
        t_s: u.end_s(),
        body: EventBody::TranscriptSkipped {
            speaker: u.speaker,
            start_s: u.start_s,
            end_s: u.end_s(),
            reason,
        },
    }
}
