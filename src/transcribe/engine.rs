//! The recogniser: whisper.cpp through whisper-rs, tuned for short call utterances.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use super::guard::{self, Failure, Limits, Verdict};
use super::segmenter::Utterance;
use crate::config::{Config, FallbackStep, Transcribe};
use crate::error::{Error, Result};
use crate::events::{Fallback, TranscriptSegment, Word};
use crate::language::Redactor;

/// A loaded Whisper model, shared by all workers (each has its own [`Session`]).
#[derive(Clone)]
pub struct Model {
    ctx: Arc<WhisperContext>,
    path: PathBuf,
    english_only: bool,
    /// Recogniser states not in use: creating one allocates its buffers (tens of MB), so
    /// reviews of many short files reuse them.
    idle: Arc<Mutex<Vec<WhisperState>>>,
    /// What the loop filter needs of the vocabulary.
    vocab: Arc<Vocab>,
}

/// The vocabulary as the loop filter sees it.
struct Vocab {
    /// End of text: the first special token (text tokens come before it).
    eot: i32,
    /// Tokens in the model (the logits' length).
    n_vocab: i32,
    /// Per text token: whether it holds a letter (digits and punctuation repeat in real speech).
    wordy: Vec<bool>,
}

impl Vocab {
    fn of(ctx: &WhisperContext) -> Self {
        let eot = ctx.token_eot();
        let wordy = (0..eot.max(0))
            .map(|id| {
                ctx.token_to_bytes(id)
                    .map(|b| b.iter().any(u8::is_ascii_alphabetic) || b.iter().any(|&c| c >= 0x80))
                    .unwrap_or(true)
            })
            .collect();
        Self {
            eot,
            n_vocab: ctx.n_vocab(),
            wordy,
        }
    }
}

impl Model {
    /// Load a whisper.cpp ggml model. A missing file gets a message saying how to install one.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Invalid(format!(
                "no Whisper model at {}: install tiny.en with `scripts/install-model.sh` (no \
                 Hugging Face access needed), or `calmline model fetch tiny.en` where the network \
                 allows, or `calmline model import DIR` for a CTranslate2 model; or review with \
                 --no-transcribe",
                path.display()
            )));
        }
        // whisper.cpp trusts the file's sizes (a bad one can abort the process from C++), so the
        // structure is checked here first.
        validate(path)?;
        // whisper.cpp logs every load to stderr; route it into the (silent) log hooks.
        whisper_rs::install_logging_hooks();
        let mut params = WhisperContextParameters::default();
        // Flash attention measured slower on this CPU backend for short utterances (14.5x vs
        // 16.3x real time on the asr + telephony sets).
        params.flash_attn(false);
        let ctx = WhisperContext::new_with_params(path, params).map_err(|e| Error::Decode {
            path: path.to_path_buf(),
            message: format!(
                "is not a whisper.cpp model whisper-rs can load ({e}); convert CTranslate2 \
                     models with `calmline model import`"
            ),
        })?;
        let english_only = !ctx.is_multilingual();
        let vocab = Arc::new(Vocab::of(&ctx));
        Ok(Self {
            ctx: Arc::new(ctx),
            path: path.to_path_buf(),
            english_only,
            idle: Arc::new(Mutex::new(Vec::new())),
            vocab,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A recognition session (whisper state): one per worker thread.
    /// Transcripts are redacted unless `[privacy] redact` is off.
    pub fn session(&self, cfg: &Config, threads: usize) -> Result<Session> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let state = match idle {
            Some(s) => s,
            None => self.ctx.create_state().map_err(|e| Error::Decode {
                path: self.path.clone(),
                message: format!("cannot allocate a recogniser state: {e}"),
            })?,
        };
        Ok(Session {
            model: self.clone(),
            state: Some(state),
            cfg: cfg.transcribe.clone(),
            redactor: cfg.privacy.redact.then(|| Redactor::new(cfg.phrase_set())),
            threads: threads.max(1),
            fallback: cfg.transcribe.fallback.clone(),
            retry_unsure: true,
        })
    }
}

/// One worker's recogniser.
pub struct Session {
    model: Model,
    state: Option<WhisperState>,
    cfg: Transcribe,
    redactor: Option<Redactor>,
    threads: usize,
    fallback: Vec<FallbackStep>,
    retry_unsure: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(s) = self.state.take() {
            self.model
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(s);
        }
    }
}

/// Whisper's encoder sees 50 frames per second of audio (30 s = 1500).
const CTX_PER_S: f64 = 50.0;

/// The encoder's full window: 30 s of audio.
pub const FULL_CTX: i32 = 1500;

/// How one decoding pass of an utterance runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    /// Encoder audio context in frames (50 per second of audio); [`FULL_CTX`] is the model's
    /// whole 30 s window, as it was trained.
    pub audio_ctx: i32,
    /// Beam width; 1 is greedy decoding.
    pub beam: u8,
    /// Sampling temperature (0: the most likely token each step).
    pub temperature: f32,
    /// End the decode as soon as its tokens repeat back to back (see
    /// [`guard::token_loop`]): a first pass that will be decoded again anyway stops wasting
    /// time on the copies.
    pub stop_loops: bool,
}

impl Attempt {
    /// A short label for reports and benches ("greedy ctx 275", "beam 5 ctx 1500", ...).
    pub fn label(&self) -> String {
        let how = if self.beam > 1 {
            format!("beam {}", self.beam)
        } else if self.temperature > 0.0 {
            format!("t={:.1}", self.temperature)
        } else {
            "greedy".into()
        };
        if self.audio_ctx >= FULL_CTX {
            format!("{how}, 30 s context")
        } else {
            format!("{how}, {:.1} s context", self.audio_ctx as f64 / CTX_PER_S)
        }
    }
}

/// What one decoding pass produced, before any guard looked at it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// How it was decoded.
    pub attempt: Attempt,
    /// The segments (one per utterance in practice), not yet filtered or redacted.
    pub segments: Vec<TranscriptSegment>,
    /// Text tokens decoded.
    pub tokens: usize,
    /// Whether the decode stopped by itself (end of text or of the audio), not cut off by the
    /// token budget.
    pub ended: bool,
    /// Mean token log-probability over all segments.
    pub avg_logprob: f32,
    /// Whisper's no-speech probability.
    pub no_speech: f32,
}

impl Candidate {
    /// All segments' text, space-joined.
    pub fn text(&self) -> String {
        let t: Vec<&str> = self.segments.iter().map(|s| s.text.as_str()).collect();
        t.join(" ")
    }
}

impl Session {
    /// The first pass for an utterance of `dur` seconds: greedy, with the encoder's audio
    /// context sized to the utterance plus the configured margin.
    pub fn first_attempt(&self, dur: f64) -> Attempt {
        let audio_ctx = if self.cfg.audio_ctx_margin >= 0 {
            ((dur * CTX_PER_S).ceil() as i32 + self.cfg.audio_ctx_margin).min(FULL_CTX)
        } else {
            FULL_CTX
        };
        Attempt {
            audio_ctx,
            beam: 1,
            temperature: 0.0,
            // Only worth it (and only safe) when a fallback decode follows: a stopped loop
            // has two copies, which the last guard alone would not always collapse.
            stop_loops: !self.fallback.is_empty(),
        }
    }

    /// Decode one utterance once, as `attempt` says.
    pub fn decode(&mut self, u: &Utterance, attempt: &Attempt) -> Result<Candidate> {
        let dur = u.samples.len() as f64 / 16000.0;
        let strategy = if attempt.beam > 1 {
            SamplingStrategy::BeamSearch {
                beam_size: attempt.beam as i32,
                patience: -1.0,
            }
        } else {
            SamplingStrategy::Greedy { best_of: 1 }
        };
        let mut params = FullParams::new(strategy);
        params.set_n_threads(self.threads as i32);
        params.set_translate(false);
        let lang = if self.model.english_only {
            "en"
        } else {
            self.cfg.language.as_str()
        };
        params.set_language(Some(lang));
        params.set_no_context(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        params.set_token_timestamps(true);
        // An utterance is one segment: whisper's own segmentation of short padded audio tends to
        // repeat the last sentence. A token budget of speech rate x duration bounds runaways.
        params.set_single_segment(true);
        let budget = token_budget(dur);
        params.set_max_tokens(budget);
        // Exactly one pass per call: the fallback is decided here, not inside whisper.cpp.
        params.set_temperature(attempt.temperature);
        params.set_temperature_inc(0.0);
        params.set_no_speech_thold(self.cfg.no_speech_thold);
        params.set_logprob_thold(self.cfg.logprob_thold);
        params.set_audio_ctx(attempt.audio_ctx.clamp(1, FULL_CTX));
        if attempt.stop_loops {
            // SAFETY: the callback only reads the `n_tokens` token records and writes the
            // vocabulary-sized logits array whisper.cpp passes to it; the user data points to
            // this model's `Vocab`, which `self.model` keeps alive (and unchanged) for the
            // whole decode below.
            unsafe {
                params.set_filter_logits_callback(Some(stop_loop_logits));
                params.set_filter_logits_callback_user_data(
                    Arc::as_ptr(&self.model.vocab) as *mut std::ffi::c_void
                );
            }
        }
        // whisper.cpp needs at least 1 s of audio; pad short utterances with silence.
        let mut padded;
        let audio: &[f32] = if u.samples.len() < 16_000 + 1600 {
            padded = u.samples.clone();
            padded.resize(16_000 + 1600, 0.0);
            &padded
        } else {
            &u.samples
        };
        // whisper.cpp's beam search gives different text for the same audio depending on what
        // the state decoded before (measured: four decodes, four texts); a new state per beam
        // decode (about 20 ms) makes it reproducible and leaves the greedy state as it was.
        let mut beam_state;
        let state = if attempt.beam > 1 {
            beam_state = self.model.ctx.create_state().map_err(|e| Error::Decode {
                path: self.model.path.clone(),
                message: format!("cannot allocate a recogniser state: {e}"),
            })?;
            &mut beam_state
        } else {
            self.state
                .as_mut()
                .expect("a session owns its state until dropped")
        };
        state.full(params, audio).map_err(|e| Error::Decode {
            path: self.model.path.clone(),
            message: format!("transcription failed: {e}"),
        })?;
        let eot = self.model.ctx.token_eot();
        let mut segments = Vec::new();
        let (mut all_logprob, mut all_tokens) = (0.0f32, 0usize);
        let mut all_ids = 0usize;
        let mut no_speech_max = 0.0f32;
        for seg in state.as_iter() {
            let mut words: Vec<Word> = Vec::new();
            let mut logprob_sum = 0.0f32;
            let mut n_tokens = 0;
            all_ids += seg.n_tokens().max(0) as usize;
            for i in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(i) else {
                    continue;
                };
                if tok.token_id() >= eot {
                    continue;
                }
                let data = tok.token_data();
                logprob_sum += data.plog;
                n_tokens += 1;
                let Ok(text) = tok.to_str_lossy() else {
                    continue;
                };
                let (t0, t1) = (
                    u.start_s + data.t0.max(0) as f64 * 0.01,
                    u.start_s + data.t1.max(0) as f64 * 0.01,
                );
                let starts_word = text.starts_with(' ') || words.is_empty();
                let piece = text.trim();
                if piece.is_empty() {
                    continue;
                }
                let is_punct = piece.chars().all(|c| c.is_ascii_punctuation());
                match words.last_mut() {
                    Some(w) if !starts_word || is_punct => {
                        w.word.push_str(piece);
                        w.end_s = w.end_s.max(t1);
                        w.p = w.p.min(data.p);
                    }
                    _ => words.push(Word {
                        word: piece.to_string(),
                        start_s: t0,
                        end_s: t1,
                        p: data.p,
                    }),
                }
            }
            let text = seg
                .to_str_lossy()
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let no_speech = seg.no_speech_probability();
            no_speech_max = no_speech_max.max(no_speech);
            if text.is_empty() || n_tokens == 0 {
                continue;
            }
            all_logprob += logprob_sum;
            all_tokens += n_tokens;
            let avg_logprob = logprob_sum / n_tokens as f32;
            let t0 = u.start_s + seg.start_timestamp().max(0) as f64 * 0.01;
            let t1 = (u.start_s + seg.end_timestamp().max(0) as f64 * 0.01).min(u.end_s());
            for w in &mut words {
                w.start_s = round_ms(w.start_s.clamp(t0, t1));
                w.end_s = round_ms(w.end_s.clamp(t0, t1));
                w.p = (w.p * 1000.0).round() / 1000.0;
            }
            segments.push(TranscriptSegment {
                speaker: u.speaker,
                start_s: round_ms(t0),
                end_s: round_ms(t1.max(t0)),
                text,
                words,
                avg_logprob: (avg_logprob * 1000.0).round() / 1000.0,
                no_speech_prob: (no_speech * 1000.0).round() / 1000.0,
                fallback: None,
                repaired: false,
            });
        }
        Ok(Candidate {
            attempt: *attempt,
            segments,
            tokens: all_tokens,
            // whisper.cpp stops at the budget with the budget's worth of tokens (timestamps
            // included); anything shorter ended by itself.
            ended: all_ids as i32 <= budget,
            avg_logprob: if all_tokens > 0 {
                all_logprob / all_tokens as f32
            } else {
                0.0
            },
            no_speech: no_speech_max,
        })
    }

    /// Decode live utterances: the live fallback steps, and no second decode for low confidence
    /// alone (every decode adds to the lag of the text and of what waits behind it).
    pub fn for_live(&mut self) {
        self.fallback = self.cfg.live_fallback.clone();
        self.retry_unsure = self.cfg.live_fallback_low_confidence;
    }

    /// The guards' thresholds.
    pub fn limits(&self) -> Limits {
        Limits {
            max_compression_ratio: self.cfg.max_compression_ratio,
            max_syllables_per_s: self.cfg.max_syllables_per_s,
            min_avg_logprob: self.cfg.logprob_thold,
        }
    }

    /// The decodes to try for an utterance of `dur` seconds, in order: the first pass, then the
    /// configured fallback steps.
    pub fn attempts(&self, dur: f64) -> Vec<Attempt> {
        let first = self.first_attempt(dur);
        let fallback = self.fallback.iter().map(|f| Attempt {
            audio_ctx: if f.ctx_margin < 0 {
                FULL_CTX
            } else {
                ((dur * CTX_PER_S).ceil() as i32 + f.ctx_margin).min(FULL_CTX)
            },
            beam: f.beam,
            temperature: f.temperature,
            stop_loops: false,
        });
        std::iter::once(first).chain(fallback).collect()
    }

    /// Transcribe one utterance: decode it; when the decode fails a guard (a loop, the token
    /// budget, too much text, too little confidence) and whisper does not call it silence,
    /// decode again with each fallback step until one passes, and keep the best candidate. A
    /// repetition the audio cannot hold is then collapsed (and the segment says so). Segments
    /// that look invented (high no-speech probability with low confidence, or very low
    /// confidence) are dropped; the rest are redacted.
    pub fn transcribe(&mut self, u: &Utterance) -> Result<Vec<TranscriptSegment>> {
        let dur = u.samples.len() as f64 / 16000.0;
        let limits = self.limits();
        let mut tried: Vec<(Candidate, Verdict)> = Vec::new();
        for attempt in self.attempts(dur) {
            let c = self.decode(u, &attempt)?;
            let mut v = guard::check(&c.text(), c.ended, c.avg_logprob, u.speech_s, &limits);
            if !self.retry_unsure {
                v.failures.retain(|f| !matches!(f, Failure::Unsure(_)));
            }
            // Whisper's own rule: no fallback for what it hears as silence (it is dropped below).
            let silence = c.no_speech > self.cfg.no_speech_thold;
            let done = v.ok() || (silence && tried.is_empty());
            tried.push((c, v));
            if done {
                break;
            }
        }
        let verdicts: Vec<Verdict> = tried.iter().map(|(_, v)| v.clone()).collect();
        let best = guard::choose(&verdicts).unwrap_or(0);
        let fallback = (tried.len() > 1).then(|| Fallback {
            reason: tried[0]
                .1
                .failures
                .iter()
                .map(Failure::describe)
                .collect::<Vec<_>>()
                .join("; "),
            decodes: tried.len() as u32,
            kept: tried[best].0.attempt.label(),
        });
        let chosen = tried.swap_remove(best).0;
        let mut out = Vec::new();
        for mut seg in chosen.segments {
            // Invented text on silence or music: the model says "probably no speech" and is
            // unsure of its words, or is very unsure whatever it says.
            let invented = (seg.no_speech_prob > self.cfg.no_speech_thold
                && seg.avg_logprob < self.cfg.logprob_thold)
                || seg.avg_logprob < self.cfg.drop_logprob;
            if invented {
                continue;
            }
            // The last line of defence: a loop no decode avoided.
            if guard::repair(&mut seg.words, u.speech_s, &limits).is_some() {
                seg.text = seg
                    .words
                    .iter()
                    .map(|w| w.word.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                seg.end_s = seg
                    .words
                    .last()
                    .map_or(seg.end_s, |w| w.end_s.max(seg.start_s));
                seg.repaired = true;
            }
            seg.fallback = fallback.clone();
            // Personal numbers never leave the recogniser unredacted.
            if let Some(r) = &self.redactor {
                r.segment(&mut seg);
            }
            out.push(seg);
        }
        Ok(out)
    }
}

/// whisper.cpp's logits filter for [`Attempt::stop_loops`]: once the text tokens decoded so far
/// end in a back-to-back repeat, only end-of-text may follow.
unsafe extern "C" fn stop_loop_logits(
    _ctx: *mut whisper_rs::WhisperSysContext,
    _state: *mut whisper_rs::WhisperSysState,
    tokens: *const whisper_rs::WhisperTokenData,
    n_tokens: std::ffi::c_int,
    logits: *mut f32,
    user_data: *mut std::ffi::c_void,
) {
    if tokens.is_null() || logits.is_null() || n_tokens <= 0 || user_data.is_null() {
        return;
    }
    // SAFETY: `decode` passes a pointer to the model's `Vocab`, alive for the decode.
    let vocab = unsafe { &*(user_data as *const Vocab) };
    let (eot, n_vocab) = (vocab.eot, vocab.n_vocab);
    // SAFETY: whisper.cpp passes its current sequence (n_tokens records) and the logits of
    // the whole vocabulary for this decoder; both outlive the call.
    let seq = unsafe { std::slice::from_raw_parts(tokens, n_tokens as usize) };
    let mut text = [0i32; 256];
    let mut n = 0;
    for t in seq.iter().filter(|t| t.id < eot) {
        if n == text.len() {
            return;
        }
        text[n] = t.id;
        n += 1;
    }
    let wordy = |t: i32| vocab.wordy.get(t as usize).copied().unwrap_or(true);
    if n_vocab > eot && guard::token_loop(&text[..n], wordy) {
        // SAFETY: `logits` holds `n_vocab` values (see above).
        let l = unsafe { std::slice::from_raw_parts_mut(logits, n_vocab as usize) };
        for (i, v) in l.iter_mut().enumerate() {
            if i as i32 != eot {
                *v = f32::NEG_INFINITY;
            }
        }
    }
}

/// Most tokens a decode of `dur` seconds may produce: a fast speaker's rate with room to spare,
/// so a runaway stops instead of filling the text context.
fn token_budget(dur: f64) -> i32 {
    (dur * 8.0).ceil() as i32 + 16
}

fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// Walk a whisper.cpp ggml file's structure (header, mel filters, vocabulary, tensor headers)
/// without reading the weights, and refuse anything whisper.cpp could not load safely.
pub fn validate(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    validate_from(path, f, len)
}

/// [`validate`] for a model held in memory; `name` stands for it in errors.
pub fn validate_bytes(name: &Path, bytes: &[u8]) -> Result<()> {
    validate_from(name, std::io::Cursor::new(bytes), bytes.len() as u64)
}

fn validate_from<R: std::io::Read + std::io::Seek>(path: &Path, mut f: R, len: u64) -> Result<()> {
    use std::io::SeekFrom;
    let bad = |what: String| Error::Decode {
        path: path.to_path_buf(),
        message: format!(
            "is not a whisper.cpp model: {what}; convert CTranslate2 models with `calmline model import`"
        ),
    };
    let i32_at = |f: &mut R| -> Result<i32> {
        let mut b = [0u8; 4];
        f.read_exact(&mut b)
            .map_err(|_| bad("the file ends early".into()))?;
        Ok(i32::from_le_bytes(b))
    };
    if i32_at(&mut f)? as u32 != 0x67676d6c {
        return Err(bad("wrong magic number".into()));
    }
    let mut h = [0i32; 11];
    for v in &mut h {
        *v = i32_at(&mut f)?;
    }
    let [
        n_vocab,
        n_audio_ctx,
        n_state,
        n_head,
        n_layer,
        n_text_ctx,
        n_text_state,
        n_text_head,
        n_text_layer,
        n_mels,
        ftype,
    ] = h;
    let sane = (1000..=60_000).contains(&n_vocab)
        && (1..=1500).contains(&n_audio_ctx)
        && (1..=448).contains(&n_text_ctx)
        && (64..=4096).contains(&n_state)
        && n_state == n_text_state
        && (1..=64).contains(&n_head)
        && (1..=64).contains(&n_text_head)
        && (1..=64).contains(&n_layer)
        && (1..=64).contains(&n_text_layer)
        && (n_mels == 80 || n_mels == 128)
        && (0..=3000).contains(&ftype);
    if !sane {
        return Err(bad(format!("implausible header {h:?}")));
    }
    let (n_mel, n_fft) = (i32_at(&mut f)?, i32_at(&mut f)?);
    if n_mel != n_mels || n_fft != 201 {
        return Err(bad(format!("mel filter bank {n_mel}x{n_fft}")));
    }
    let mut pos = 4 + 11 * 4 + 8 + (n_mel as u64 * n_fft as u64 * 4);
    f.seek(SeekFrom::Start(pos))
        .map_err(|_| bad("the file ends early".into()))?;
    let words = i32_at(&mut f)?;
    pos += 4;
    if !(0..=n_vocab).contains(&words) {
        return Err(bad(format!(
            "{words} vocabulary entries for {n_vocab} tokens"
        )));
    }
    for _ in 0..words {
        let l = i32_at(&mut f)?;
        if !(0..=256).contains(&l) {
            return Err(bad(format!("a vocabulary entry of {l} bytes")));
        }
        pos += 4 + l as u64;
        f.seek(SeekFrom::Start(pos))
            .map_err(|_| bad("the file ends early".into()))?;
    }
    let mut tensors = 0;
    while pos < len {
        let (n_dims, name_len, ttype) = (i32_at(&mut f)?, i32_at(&mut f)?, i32_at(&mut f)?);
        if !(1..=4).contains(&n_dims) || !(1..=256).contains(&name_len) {
            return Err(bad(format!(
                "tensor {tensors} has {n_dims} dims and a {name_len}-byte name"
            )));
        }
        let mut count: u64 = 1;
        for _ in 0..n_dims {
            let d = i32_at(&mut f)?;
            if d <= 0 {
                return Err(bad(format!("tensor {tensors} has a dimension of {d}")));
            }
            count = count.saturating_mul(d as u64);
        }
        // Bytes per block and values per block of the ggml types whisper.cpp files use.
        let (block_bytes, block) = match ttype {
            0 => (4, 1),
            1 => (2, 1),
            2 => (18, 32),
            3 => (20, 32),
            6 => (22, 32),
            7 => (24, 32),
            8 => (34, 32),
            _ => return Err(bad(format!("tensor {tensors} has unknown type {ttype}"))),
        };
        if !count.is_multiple_of(block) {
            return Err(bad(format!(
                "tensor {tensors} size is not a whole number of blocks"
            )));
        }
        pos += 12 + 4 * n_dims as u64 + name_len as u64 + count / block * block_bytes;
        if pos > len {
            return Err(bad(format!("the file ends inside tensor {tensors}")));
        }
        f.seek(SeekFrom::Start(pos))
            .map_err(|_| bad("the file ends early".into()))?;
        tensors += 1;
    }
    if tensors == 0 {
        return Err(bad("it has no tensors".into()));
    }
    Ok(())
}
