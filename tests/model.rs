//! `calmline model import|fetch|list` with the real CTranslate2 model (cached by
//! scripts/install-model.sh) and real HTTP.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use calmline::transcribe::wer;
use common::*;

fn calmline(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_calmline"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run calmline")
}

/// The CTranslate2 tiny.en folder unpacked by scripts/install-model.sh.
fn ct2_dir() -> PathBuf {
    let cache = std::env::var("CALMLINE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let base = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
            base.join("calmline")
        });
    let d = cache.join("tiny.en-ct2");
    assert!(
        d.join("model.bin").is_file(),
        "run scripts/install-model.sh first ({})",
        d.display()
    );
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Byte offset of a variable's data in a CTranslate2 model.bin (for corrupting copies).
fn var_offset(bytes: &[u8], wanted: &str) -> usize {
    let mut p = 0;
    let u32_at = |p: &mut usize| {
        let v = u32::from_le_bytes(bytes[*p..*p + 4].try_into().unwrap());
        *p += 4;
        v as usize
    };
    let str_at = |p: &mut usize| {
        let n = u16::from_le_bytes(bytes[*p..*p + 2].try_into().unwrap()) as usize;
        let s = String::from_utf8_lossy(&bytes[*p + 2..*p + 2 + n - 1]).to_string();
        *p += 2 + n;
        s
    };
    u32_at(&mut p);
    str_at(&mut p);
    u32_at(&mut p);
    let n = u32_at(&mut p);
    for _ in 0..n {
        let name = str_at(&mut p);
        let rank = bytes[p] as usize;
        p += 1 + 4 * rank + 1;
        let nbytes = u32_at(&mut p);
        if name == wanted {
            return p;
        }
        p += nbytes;
    }
    panic!("{wanted} not found");
}

#[test]
fn import_f16_and_q8_0_then_list_and_transcribe() {
    let src = ct2_dir();
    let out = tempfile::tempdir().unwrap();
    let o = calmline(&["model", "import", s(&src), "--out", s(out.path())], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f16 = out.path().join("ggml-tiny.en.bin");
    assert_eq!(std::fs::metadata(&f16).unwrap().len(), 77_704_698);
    let o = calmline(
        &[
            "model",
            "import",
            s(&src),
            "--out",
            s(out.path()),
            "--quantize",
            "q8_0",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let q8 = out.path().join("ggml-tiny.en-q8_0.bin");
    let q8_len = std::fs::metadata(&q8).unwrap().len();
    println!("q8_0: {q8_len} bytes");
    assert!(q8_len < 50_000_000, "{q8_len}");

    let o = calmline(&["model", "list", "--dir", s(out.path())], &[]);
    let listing = String::from_utf8_lossy(&o.stdout);
    assert!(
        listing.contains("tiny.en (4 layers, width 384, f16)"),
        "{listing}"
    );
    assert!(
        listing.contains("tiny.en (4 layers, width 384, q8_0)"),
        "{listing}"
    );

    // Both load in whisper-rs and transcribe a known sentence.
    for model in [&f16, &q8] {
        let o = calmline(
            &[
                "review",
                s(&data().join("asr/arctic_a0009.wav")),
                "--out",
                "-",
                "--format",
                "json",
                "--model",
                s(model),
            ],
            &[],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let text: Vec<&str> = v["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        let w = wer::wer(
            "He turned sharply, and faced Gregson across the table.",
            &text.join(" "),
        );
        println!("{}: {text:?} WER {w}", model.display());
        assert!(w <= 0.12, "{}: {text:?}", model.display());
    }
}

/// Run from a folder of recordings, `model list` shows the models reviews there load (those
/// scripts/install-model.sh installed beside the build) and marks the configured one.
#[test]
fn list_from_another_folder_finds_the_installed_models() {
    let elsewhere = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_calmline"))
        .current_dir(elsewhere.path())
        .env_remove("CALMLINE_CONFIG")
        .args(["model", "list"])
        .output()
        .expect("run calmline");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let listing = String::from_utf8_lossy(&o.stdout);
    let configured: Vec<&str> = listing
        .lines()
        .filter(|l| l.ends_with("(configured)"))
        .collect();
    assert_eq!(configured.len(), 1, "{listing}");
    assert!(configured[0].contains("ggml-tiny.en-q8_0.bin"), "{listing}");
}

#[test]
fn corrupt_or_unsupported_models_are_clear_errors() {
    let src = ct2_dir();
    let bytes = std::fs::read(src.join("model.bin")).unwrap();
    let vocab = std::fs::read(src.join("vocabulary.txt")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "ends early"),
        (
            "not a model",
            b"GGUF, or anything else".repeat(10),
            "not a valid ctranslate2 model",
        ),
        (
            "other spec",
            {
                // Same length, another spec name: "WhisperSpec" -> "WhisperSpeX".
                let mut b = bytes.clone();
                let at = b.windows(11).position(|w| w == b"WhisperSpec").unwrap();
                b[at + 10] = b'X';
                b
            },
            "not a whisper model",
        ),
        (
            "key bias",
            {
                // A non-zero value in the fused key bias (second third of linear_0/bias).
                let mut b = bytes.clone();
                let at = var_offset(&b, "encoder/layer_0/self_attention/linear_0/bias");
                b[at + 384 * 2 + 1] = 0x3c; // f16 1.0
                b
            },
            "key bias is not zero",
        ),
    ];
    for (what, model, needle) in cases {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("model.bin"), &model).unwrap();
        std::fs::write(d.path().join("vocabulary.txt"), &vocab).unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = calmline(
            &["model", "import", s(d.path()), "--out", s(out.path())],
            &[],
        );
        let err = String::from_utf8_lossy(&o.stderr).to_lowercase();
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(needle) && !err.contains("panicked"),
            "{what}: {err}"
        );
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "{what}: nothing written"
        );
    }

    // A ggml file that is not a model: whisper-rs refuses it, calmline says so.
    let d = tempfile::tempdir().unwrap();
    let fake = d.path().join("ggml-fake.bin");
    std::fs::write(&fake, [0x6cu8, 0x6d, 0x67, 0x67, 1, 2, 3]).unwrap();
    let o = calmline(
        &[
            "review",
            s(&call("scenario_calm_a01.wav")),
            "--out",
            s(d.path()),
            "--model",
            s(&fake),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ggml-fake.bin") && err.contains("model import"),
        "{err}"
    );

    // A real model cut short (an interrupted copy) is refused before whisper.cpp sees it.
    let real = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/ggml-tiny.en.bin"))
        .unwrap();
    let cut = d.path().join("ggml-cut.bin");
    std::fs::write(&cut, &real[..real.len() - 1000]).unwrap();
    let o = calmline(
        &[
            "review",
            s(&call("scenario_calm_a01.wav")),
            "--out",
            s(d.path()),
            "--model",
            s(&cut),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ggml-cut.bin") && err.contains("ends inside tensor"),
        "{err}"
    );
}

/// A one-shot HTTP server on loopback that serves `body` (honouring a Range request).
fn serve(body: Vec<u8>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        let mut requests = Vec::new();
        if let Ok((mut c, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let from = req
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("range: bytes=")
                        .map(str::to_string)
                })
                .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
            let (status, part) = match from {
                Some(f) => ("206 Partial Content", &body[f.min(body.len())..]),
                None => ("200 OK", &body[..]),
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                part.len()
            );
            let _ = c.write_all(part);
            requests.push(req);
        }
        requests
    });
    (url, h)
}

#[test]
fn fetch_checks_the_checksum_resumes_and_explains_offline() {
    let d = tempfile::tempdir().unwrap();
    // A partial download is resumed with a Range request; the result does not match the
    // published SHA-1, so it is discarded and nothing is installed.
    std::fs::write(d.path().join(".ggml-tiny.en.bin.part"), b"0123456789").unwrap();
    let (url, server) = serve(b"0123456789 and the rest of a file that is not tiny.en".to_vec());
    let o = calmline(
        &["model", "fetch", "tiny.en", "--dir", s(d.path())],
        &[("CALMLINE_MODEL_URL", &url)],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let requests = server.join().unwrap();
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains("range: bytes=10-"),
        "{requests:?}"
    );
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SHA-1") && err.contains("c78c86eb1a8faa21b369bcd33207cc90d64ae9df"),
        "{err}"
    );
    assert!(!d.path().join("ggml-tiny.en.bin").exists());

    // No route to the host: a clear message pointing to the offline install.
    let o = calmline(
        &["model", "fetch", "tiny.en", "--dir", s(d.path())],
        &[("CALMLINE_MODEL_URL", "http://127.0.0.1:9")],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("model import") && err.contains("install-model.sh"),
        "{err}"
    );

    // Unknown names list the known ones.
    let o = calmline(&["model", "fetch", "huge-v9", "--dir", s(d.path())], &[]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("tiny.en"));
}
