//! The bodies of calmline's fuzz targets: each takes arbitrary bytes and must return (an error
//! value is fine) without panicking, hanging or exhausting memory.
//!
//! Compiled by the fuzz crate (`fuzz/`) and, through `#[path]`, by `tests/fuzz_regressions.rs`,
//! which replays every kept crash as a test. Only `calmline` and `std` are used here.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use calmline::Config;
use calmline::audio::Source;
use calmline::audio::file::FileSource;
use calmline::coach::Coach;
use calmline::events::{Event, Speaker};
use calmline::pipeline::Pipeline;

/// Little reader over the fuzzer's bytes for structured inputs (zeros once it runs out).
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn rest(&self) -> &[u8] {
        self.0
    }
}

/// Every container and codec a review accepts, from bytes; the first byte picks the file name's
/// extension (the format hint), the rest is the file. Decodes to the end.
pub fn decode(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    // 0-5 as before (so earlier findings replay the same), then AIFF, a headerless
    // telephony extension (raw mu-law: any bytes are samples), M4A and raw AAC.
    let ext = [
        "wav", "flac", "mp3", "ogg", "oga", "bin", "aiff", "ul", "m4a", "aac",
    ][pick as usize % 10];
    let name = format!("fuzz.{ext}");
    let Ok(mut f) = FileSource::from_bytes(Path::new(&name), file.to_vec()) else {
        return;
    };
    let mut block = Vec::new();
    let mut frames = 0usize;
    // A small file cannot honestly hold more than minutes of audio; stop a decoder that
    // claims otherwise after that (the timeout would catch a real hang).
    while frames < 50_000_000 {
        match f.read(&mut block) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                assert!(block.iter().all(|c| c.len() >= n), "short channel buffers");
                frames += n;
            }
        }
    }
    let _ = f.warnings();
}

/// The analysis pipeline and coach fed arbitrary sample blocks of arbitrary sizes at an
/// arbitrary rate, mono or stereo, with utterance cutting on. Samples include NaN, infinities
/// and values far outside [-1, 1] (a float device can deliver them).
pub fn pipeline(data: &[u8]) {
    let mut b = Bytes(data);
    let rate = match b.u8() % 4 {
        0 => 8_000,
        1 => 16_000,
        2 => 44_100,
        _ => b.u32() % 200_000,
    };
    let stereo = b.u8() % 2 == 1;
    let speakers = if stereo {
        vec![Speaker::Agent, Speaker::Customer]
    } else {
        vec![Speaker::Mixed]
    };
    let cfg = Config::default();
    let Ok(p) = Pipeline::new(&cfg, speakers.clone(), rate) else {
        return;
    };
    let Ok(mut p) = p.with_utterances(&cfg) else {
        return;
    };
    let mut coach = Coach::new(&cfg);
    let mut sink = |e: Event| coach.on_event(&e, &mut |_| {});
    let channels = speakers.len();
    // Blocks: a length, a kind (silence, loud tone, raw floats from the bytes), repeated.
    let mut block: Vec<Vec<f32>> = vec![Vec::new(); channels];
    // At most 64,000 frames and 4 s of audio per input: enough for turns and utterances to
    // start and end, and cheap enough that the fuzzer tries many inputs. Measured in the
    // instrumented build, 150,000 stereo frames took 0.6-0.8 s, close to the 1 s hang limit
    // on a busy machine (a CI run kept such a "timeout"); now at most about 0.3 s. Longer
    // audio is the real calls' job in tests/.
    let limit = 64_000.min(rate as usize * 4);
    let mut total = 0usize;
    while !b.rest().is_empty() && total < limit {
        let frames = (b.u16() as usize) % 20_000;
        let kind = b.u8();
        for (c, ch) in block.iter_mut().enumerate() {
            ch.clear();
            for i in 0..frames {
                ch.push(match kind % 4 {
                    0 => 0.0,
                    1 => (((total + i) as f32) * 0.07 * (c + 1) as f32).sin() * 0.8,
                    2 => f32::from_bits(b.u32()),
                    _ => (b.u8() as f32 - 128.0) / 128.0,
                });
            }
        }
        p.push(&block, frames, &mut sink);
        total += frames;
    }
    p.finish(&mut sink);
    let _ = p.take_utterances();
}

/// The configuration file: any text. A configuration that loads must also run: a pipeline and
/// coach built from it analyse two seconds of speech-like sound without panicking.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = Config::from_layers(Some((Path::new("fuzz.toml"), text))) else {
        return;
    };
    let Ok(p) = Pipeline::new(&cfg, vec![Speaker::Agent, Speaker::Customer], 16_000) else {
        return;
    };
    let Ok(mut p) = p.with_utterances(&cfg) else {
        return;
    };
    let _ = calmline::language::Redactor::new(cfg.phrase_set()).text("card 4111 1111 1111 1111");
    let mut coach = Coach::new(&cfg);
    let mut sink = |e: Event| coach.on_event(&e, &mut |_| {});
    // A rising, loudening vowel-like tone on the customer's side, quiet on the agent's.
    let n = 32_000;
    let customer: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            let f0 = 150.0 + 60.0 * t;
            (t * 0.4).min(0.9)
                * ((2.0 * std::f32::consts::PI * f0 * t).sin() * 0.7
                    + (2.0 * std::f32::consts::PI * 3.0 * f0 * t).sin() * 0.3)
        })
        .collect();
    let agent: Vec<f32> = customer.iter().map(|s| s * 0.05).collect();
    for (a, c) in agent.chunks(1600).zip(customer.chunks(1600)) {
        p.push(&[a.to_vec(), c.to_vec()], a.len(), &mut sink);
    }
    p.finish(&mut sink);
}

/// Model files: the first byte picks the reader. whisper.cpp's ggml (checked before whisper.cpp
/// is allowed to load it), or a CTranslate2 `model.bin` with a vocabulary (the rest after the
/// first 0xFF byte), converted as `calmline model import` would.
pub fn model(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        let _ = calmline::transcribe::engine::validate_bytes(Path::new("fuzz.bin"), rest);
        return;
    }
    let (bin, vocab) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    static OUT: OnceLock<std::path::PathBuf> = OnceLock::new();
    let out = OUT.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("calmline-fuzz-model-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    });
    let q = if pick & 2 == 0 {
        calmline::transcribe::import::Quantization::F16
    } else {
        calmline::transcribe::import::Quantization::Q8_0
    };
    let _ = calmline::transcribe::import::import_bytes(
        Path::new("model.bin"),
        bin.to_vec(),
        Path::new("vocabulary.txt"),
        &String::from_utf8_lossy(vocab),
        &out.join("fuzz.ggml"),
        q,
    );
}

/// The hub's ingest: a request body parsed into events, the good ones stored (redacted) in a
/// SQLite store, then the floor's and history's queries run over what was stored.
pub fn hub_events(data: &[u8]) {
    use calmline::hub::store::{Filter, Station, Store};
    static STORE: OnceLock<Mutex<(Store, u32)>> = OnceLock::new();
    let Ok(parsed) = calmline::hub::parse_batch(data, 64 * 1024) else {
        return;
    };
    let station = Station {
        name: "fuzz-1".into(),
        team: "fuzz".into(),
        revoked: false,
    };
    let good: Vec<_> = parsed
        .into_iter()
        .filter_map(|p| match p {
            calmline::hub::Parsed::Good(e) => Some((station.clone(), e)),
            _ => None,
        })
        .collect();
    if good.is_empty() {
        return;
    }
    let store = STORE.get_or_init(|| {
        Mutex::new((
            Store::open(Path::new(":memory:")).expect("in-memory store"),
            0,
        ))
    });
    let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
    // A fresh store now and then, so a long run's memory stays flat.
    if s.1 >= 5_000 {
        s.0 = Store::open(Path::new(":memory:")).expect("in-memory store");
        s.1 = 0;
    }
    s.1 += 1;
    let redactor = calmline::language::Redactor::new(Config::default().phrase_set());
    let _ = s.0.ingest(&good, &redactor);
    let _ = s.0.station_health();
    let f = Filter::default();
    let _ = s.0.calls(&f);
    let _ = s.0.alerts(&f);
    let _ = s.0.mark_silent(10_000);
}
