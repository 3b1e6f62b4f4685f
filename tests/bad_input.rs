//! Bad input through the real command: a clear error naming the file and the problem, a
//! non-zero exit and no output file; or, where the audio is usable, a report with a warning.
//! Never a panic, never a half-written output.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn calmline(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_calmline"))
        .args(args)
        .output()
        .expect("run calmline")
}

fn review_into(input: &Path, out: &Path) -> Output {
    calmline(&[
        "review".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--no-transcribe".as_ref(),
    ])
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Expect a clean failure: exit 1, the file name and `needle` in stderr, no panic, no output.
fn assert_rejected(input: &Path, needle: &str) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = review_into(input, out_dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let name = input.file_name().unwrap().to_string_lossy();
    assert!(
        stderr.contains(name.as_ref()),
        "error must name the file: {stderr}"
    );
    assert!(
        stderr.to_lowercase().contains(needle),
        "expected {needle:?} in: {stderr}"
    );
    assert!(
        files_in(out_dir.path()).is_empty(),
        "no output may be written"
    );
}

/// Expect a report (exit 0) whose JSON warnings mention `needle`.
fn assert_reported_with_warning(input: &Path, needle: &str) -> serde_json::Value {
    let out_dir = tempfile::tempdir().unwrap();
    let out = review_into(input, out_dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let stem = input.file_stem().unwrap().to_string_lossy();
    let json = out_dir.path().join(format!("{stem}.json"));
    let html = out_dir.path().join(format!("{stem}.html"));
    assert!(html.is_file());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let warnings = v["warnings"].to_string().to_lowercase();
    assert!(
        warnings.contains(needle),
        "expected {needle:?} in warnings {warnings}"
    );
    v
}

#[test]
fn empty_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("empty.wav");
    std::fs::write(&p, b"").unwrap();
    assert_rejected(&p, "empty");
}

#[test]
fn truncated_header() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("truncated.wav");
    let real = std::fs::read(call("scenario_calm_a01.wav")).unwrap();
    std::fs::write(&p, &real[..20]).unwrap();
    assert_rejected(&p, "truncated");
}

#[test]
fn non_audio_bytes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("notes.wav");
    std::fs::write(
        &p,
        "Call notes: customer asked about a refund.\n".repeat(50),
    )
    .unwrap();
    assert_rejected(&p, "not a recognised audio file");
}

/// Recording formats calmline does not decode are named, with how to convert them; before,
/// the probe found the WAV header a WavPack file keeps inside it and reviewed 14 s of its
/// compressed bytes as a call with no speech.
#[test]
fn formats_calmline_cannot_decode_are_named_with_how_to_convert_them() {
    let d = tempfile::tempdir().unwrap();
    let src = call("scenario_calm_a01.wav");
    let cases: [(&str, &[&str], &str); 2] =
        [("wavpack.wv", &[], "wavpack"), ("sun.au", &[], ".au file")];
    for (name, args, needle) in cases {
        let p = d.path().join(name);
        sox(&src, &p, args);
        assert_rejected(&p, needle);
        assert_rejected(&p, "sox ");
    }
    // In MP4: a codec calmline does not decode, and a recording cut off before its index
    // (MP4 writers put it at the end; sox cannot write these, ffmpeg's encoders through PyAV do).
    let wide = d.path().join("48k.wav");
    sox(&src, &wide, &["-r", "48000"]);
    let ac3 = d.path().join("ac3.mp4");
    pyav(&wide, &ac3, "ac3");
    assert_rejected(&ac3, "holds dolby ac-3 audio");
    assert_rejected(&ac3, "ffmpeg -i ");
    // AMR speech in 3GP, as phones record calls: a track symphonia does not list at all.
    let phone = d.path().join("8k.wav");
    sox(&src, &phone, &["-r", "8000", "-c", "1"]);
    let amr = d.path().join("call.3gp");
    pyav(&phone, &amr, "libopencore_amrnb");
    assert_rejected(&amr, "amr speech");
    assert_rejected(&amr, "ffmpeg -i ");
    let whole = d.path().join("whole.m4a");
    pyav(&src, &whole, "aac");
    let bytes = std::fs::read(&whole).unwrap();
    let cut = d.path().join("cut.m4a");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_rejected(&cut, "without the index of its audio");
    // Not audio at all, named as what it is.
    let p = d.path().join("screenshot.wav");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.resize(4096, 7);
    std::fs::write(&p, png).unwrap();
    assert_rejected(&p, "png image, not an audio recording");
}

#[test]
fn zero_length_audio() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("zero.wav");
    write_wav(&p, 16000, &[Vec::new(), Vec::new()]);
    assert_rejected(&p, "no audio");
}

#[test]
fn six_channel_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("surround.wav");
    write_wav(&p, 16000, &vec![vec![0.1f32; 16000]; 6]);
    assert_rejected(&p, "6 channels");
}

#[test]
fn missing_file() {
    let d = tempfile::tempdir().unwrap();
    assert_rejected(&d.path().join("nowhere.wav"), "no such file");
}

#[test]
fn missing_model_says_how_to_install_one() {
    let out = tempfile::tempdir().unwrap();
    let o = calmline(&[
        "review".as_ref(),
        call("scenario_calm_a01.wav").as_os_str(),
        "--out".as_ref(),
        out.path().as_os_str(),
        "--model".as_ref(),
        "models/ggml-nonexistent.bin".as_ref(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ggml-nonexistent.bin") && err.contains("install-model.sh"),
        "{err}"
    );
    assert!(err.contains("--no-transcribe"), "{err}");
    assert!(files_in(out.path()).is_empty());
}

#[test]
fn all_silence_gives_a_report_saying_so() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("silence.wav");
    write_wav(&p, 8000, &[vec![0.0; 80_000], vec![0.0; 80_000]]);
    let v = assert_reported_with_warning(&p, "no speech");
    assert_eq!(v["episodes"].as_array().unwrap().len(), 0);
    assert!((v["duration_s"].as_f64().unwrap() - 10.0).abs() < 0.05);
}

#[test]
fn clipped_audio_is_analysed_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("clipped.wav");
    let (_, mut chans) = decode(&call("scenario_escalating_a01.wav"));
    for c in &mut chans {
        for s in c.iter_mut() {
            *s = (*s * 40.0).clamp(-1.0, 1.0);
        }
    }
    write_wav(&p, 16000, &chans);
    let v = assert_reported_with_warning(&p, "clipped");
    assert!(v["duration_s"].as_f64().unwrap() > 100.0);
}

#[test]
fn nan_and_infinite_floats_are_replaced_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("nan.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&p, spec).unwrap();
    let (_, chans) = decode(&data().join("asr/arctic_a0007.wav"));
    for (i, s) in chans[0].iter().enumerate() {
        let v = match i % 997 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            _ => *s,
        };
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    let v = assert_reported_with_warning(&p, "not finite");
    // The speech is still found around the replaced samples.
    assert!(
        v["speakers"]["mixed"]["talk_s"].as_f64().unwrap() > 1.0,
        "{}",
        v["speakers"]
    );
}

#[test]
fn truncated_data_is_analysed_up_to_the_cut() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cut.wav");
    let real = std::fs::read(call("scenario_calm_a01.wav")).unwrap();
    std::fs::write(&p, &real[..real.len() / 2]).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = review_into(&p, out_dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("cut.json")).unwrap()).unwrap();
    let dur = v["duration_s"].as_f64().unwrap();
    assert!((dur - 41.4).abs() < 1.0, "duration {dur}");
}

#[test]
fn a_bad_file_never_stops_a_folder_batch() {
    let d = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::copy(call("scenario_calm_a01.wav"), d.path().join("good.wav")).unwrap();
    std::fs::write(d.path().join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    std::fs::write(d.path().join("empty.flac"), b"").unwrap();
    std::fs::write(d.path().join("readme.txt"), b"not audio, not reviewed").unwrap();
    // The metadata file macOS leaves beside a copied recording is hidden: not a call.
    std::fs::write(
        d.path().join("._good.wav"),
        b"\0\x05\x16\x07\0\x02\0\0Mac OS X",
    )
    .unwrap();
    // A recording calmline cannot decode is listed, not passed over: an M4A that was never
    // finished (no index of its audio).
    let mut m4a = b"\0\0\0\x20ftypM4A \0\0\0\0".to_vec();
    m4a.resize(2048, 0);
    std::fs::write(d.path().join("voicemail.m4a"), m4a).unwrap();
    let o = review_into(d.path(), out.path());
    assert_eq!(o.status.code(), Some(1), "failures give a non-zero exit");
    let csv = std::fs::read_to_string(out.path().join("summary.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(
        row("good.wav").ends_with(','),
        "good row has an empty error: {csv}"
    );
    assert!(row("broken.wav").contains("broken.wav:"), "{csv}");
    assert!(row("empty.flac").contains("empty"), "{csv}");
    assert!(
        row("voicemail.m4a").contains("MP4/M4A file without the index"),
        "{csv}"
    );
    assert!(out.path().join("good.json").is_file() && out.path().join("good.html").is_file());
    assert!(!out.path().join("broken.json").exists());
    // Nothing left half-written.
    assert!(
        files_in(out.path())
            .iter()
            .all(|p| !p.to_string_lossy().contains(".partial"))
    );
}

/// A folder whose recordings sit in subfolders (one per day) is not reviewed as empty without
/// a word: the error says how many are below it and where.
#[test]
fn a_folder_of_day_folders_says_where_the_recordings_are() {
    let d = tempfile::tempdir().unwrap();
    let day = d.path().join("2026").join("12").join("07");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::copy(call("scenario_calm_a01.wav"), day.join("a.wav")).unwrap();
    std::fs::write(day.join("b.m4a"), b"\0\0\0\x20ftypM4A ").unwrap();
    std::fs::write(day.join("notes.txt"), b"not a recording").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = review_into(d.path(), out.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no audio files directly in this folder")
            && stderr.contains("2 in its subfolders")
            && stderr.contains("add --recursive"),
        "{stderr}"
    );
    assert!(files_in(out.path()).is_empty());
}

/// Flags of absurd size are refused before any work, naming the flag. Before, `-j 1000000` on a
/// folder of one call started a million threads and never finished, `--duration -1` ended the
/// call at once with exit 0 and `--duration nan` ignored the flag.
#[test]
fn absurd_flag_values_are_refused_naming_the_flag() {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(call("scenario_calm_a01.wav"), d.path().join("a.wav")).unwrap();
    let out = d.path().join("out");
    let sample = call("scenario_calm_a01.wav");
    let review = |jobs: &str| {
        calmline(&[
            "review".as_ref(),
            d.path().as_os_str(),
            "--no-transcribe".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "-j".as_ref(),
            jobs.as_ref(),
        ])
    };
    let live = |flag: &str, value: &str| {
        // `--flag=-1`: a separate "-1" would be taken for a flag.
        let speed = format!("--speed={}", if flag == "--speed" { value } else { "50" });
        let duration = format!(
            "--duration={}",
            if flag == "--duration" { value } else { "1" }
        );
        calmline(&[
            "live".as_ref(),
            "--file".as_ref(),
            sample.as_os_str(),
            "--no-transcribe".as_ref(),
            "--ui".as_ref(),
            "plain".as_ref(),
            speed.as_ref(),
            duration.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
    };
    let runs = [
        ("-j", "1000000", review("1000000")),
        ("-j", "0", review("0")),
        ("--duration", "-1", live("--duration", "-1")),
        ("--duration", "NaN", live("--duration", "nan")),
        ("--speed", "0.01", live("--speed", "0.01")),
    ];
    for (flag, value, o) in runs {
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(0), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(value) && !stderr.contains("panicked"),
            "{flag} {value}: {stderr}"
        );
    }
    assert!(!out.exists(), "nothing written");
    // The ends of the ranges run.
    let o = review("256");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
