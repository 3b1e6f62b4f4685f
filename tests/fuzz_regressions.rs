//! The fuzz targets' bodies replayed on every input kept in `tests/fuzz_regressions/<target>/`
//! (each one crashed, hung or ran out of memory once; `scripts/fuzz.sh` puts new ones there), and
//! on real inputs cut from ../shared/data: a crash the fuzzer found is a test that fails until
//! it is fixed.

#[allow(dead_code)]
#[path = "../fuzz/src/targets.rs"]
mod targets;

mod common;

use std::path::{Path, PathBuf};

/// Run `f` on every kept input of `target` plus `extra`; fail naming each input that panicked.
fn replay(target: &str, f: fn(&[u8]), extra: Vec<(String, Vec<u8>)>) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut inputs = extra;
    if let Ok(rd) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for p in files {
            inputs.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    let mut failed = Vec::new();
    for (name, bytes) in &inputs {
        if std::panic::catch_unwind(|| f(bytes)).is_err() {
            failed.push(name.clone());
        }
    }
    assert!(failed.is_empty(), "{target}: panicked on {failed:?}");
    inputs.len()
}

/// Every file of a folder of the repository, named by its path.
fn files_in(dir: &str) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The first `n` bytes of a real call, behind the target's format byte.
fn call_head(pick: u8, name: &str, n: usize) -> (String, Vec<u8>) {
    let bytes = std::fs::read(common::call(name)).unwrap();
    let mut v = vec![pick];
    v.extend_from_slice(&bytes[..n.min(bytes.len())]);
    (format!("{name} (first {n} bytes)"), v)
}

#[test]
fn decode() {
    let n = replay(
        "decode",
        targets::decode,
        vec![
            call_head(0, "scenario_escalating_a01.wav", 48_000),
            call_head(0, "scenario_escalating_a01.wav", 45),
        ],
    );
    assert!(n >= 2);
}

#[test]
fn pipeline() {
    let mut input = vec![1u8, 1];
    let call = std::fs::read(common::call("scenario_escalating_a01.wav")).unwrap();
    for chunk in call[44..].chunks(3000).take(20) {
        input.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
        input.push(3);
        input.extend_from_slice(chunk);
    }
    // NaN and infinities among the samples.
    input.extend_from_slice(&[4, 0, 2]);
    for bits in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30] {
        input.extend_from_slice(&bits.to_bits().to_le_bytes());
    }
    let n = replay(
        "pipeline",
        targets::pipeline,
        vec![("real call".into(), input)],
    );
    assert!(n >= 1);
}

#[test]
fn config() {
    let n = replay("config", targets::config, files_in("config"));
    assert!(n >= 3);
}

/// Every numeric setting of the built-in files set to 0, -1, a huge value, nan and inf: each
/// either loads, and then runs (no panic, no allocation of its size), or is refused.
#[test]
fn config_settings_at_their_extremes() {
    fn numbers(t: &toml::Table, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
        for (k, v) in t {
            path.push(k.clone());
            match v {
                toml::Value::Table(t) => numbers(t, path, out),
                toml::Value::Integer(_) => out.push((path.clone(), false)),
                toml::Value::Float(_) => out.push((path.clone(), true)),
                _ => {}
            }
            path.pop();
        }
    }
    let mut keys = Vec::new();
    for file in ["config/default.toml", "config/coach.toml"] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        numbers(&text.parse().unwrap(), &mut Vec::new(), &mut keys);
    }
    assert!(keys.len() > 100, "{} numeric settings", keys.len());
    let mut inputs = Vec::new();
    for (path, float) in &keys {
        let (table, key) = path.split_at(path.len() - 1);
        let values: &[&str] = if *float {
            &["0.0", "-1.0", "1e9", "1e30", "nan", "inf", "-inf"]
        } else {
            &["0", "-1", "1000000000", "4294967295"]
        };
        for v in values {
            let text = format!("[{}]\n{} = {v}\n", table.join("."), key[0]);
            inputs.push((text.clone(), text.into_bytes()));
        }
    }
    replay("config-extremes", targets::config, inputs);
}

#[test]
fn model() {
    let n = replay(
        "model",
        targets::model,
        vec![
            ("empty ggml".into(), vec![0]),
            ("ggml magic only".into(), vec![0, 0x6c, 0x6d, 0x67, 0x67]),
            ("ct2 version only".into(), vec![1, 6, 0, 0, 0]),
        ],
    );
    assert!(n >= 3);
}

#[test]
fn hub_events() {
    let n = replay(
        "hub_events",
        targets::hub_events,
        files_in("fuzz/seeds/hub_events"),
    );
    assert!(n >= 2);
}
