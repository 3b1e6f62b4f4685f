//! Enrolled agent voices: one CAM++ embedding per agent, matched against a mono call's voices to
//! say which one is the agent.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Diariser, cluster};
use crate::error::{Error, Result};

/// The embedding model voices are made with (a voice from another model cannot be compared).
pub const MODEL: &str = "campplus_cn_en_common";

/// One enrolled voice, as stored in `VOICES/NAME.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Voice {
    /// The agent's name.
    pub name: String,
    /// Always [`MODEL`].
    pub model: String,
    /// Seconds of the agent's speech the voice was made from.
    pub speech_s: f64,
    /// Unit-length embedding.
    pub embedding: Vec<f32>,
}

/// A second voice with this much speech, and [`SECOND_VOICE_SHARE`] of the first's, makes a
/// sample a conversation (single speakers here: one voice found, in 25 s of audiobook and 150 s
/// of telephone prompts; a mixed-down call: 72.6 s and 57.6 s).
const SECOND_VOICE_S: f64 = 3.0;
/// See [`SECOND_VOICE_S`].
const SECOND_VOICE_SHARE: f64 = 0.25;

/// Whether `name` can be a file name everywhere.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Make `name`'s voice from `sample` (the agent alone) and store it in `dir`.
pub fn enroll(
    diariser: &Diariser,
    name: &str,
    sample: &Path,
    dir: &Path,
) -> Result<(PathBuf, Voice)> {
    if !valid_name(name) {
        return Err(Error::Invalid(format!(
            "agent name {name:?}: use letters, digits, '-', '_' and '.' (up to 64)"
        )));
    }
    let audio = super::load_mono(sample)?;
    let d = diariser.run(&audio, &|_| {})?;
    // The voice with the most speech is the agent's; others (a colleague, a beep) are ignored.
    let mut speech = vec![0.0f64; d.speakers];
    for t in &d.turns {
        speech[t.speaker] += t.end_s - t.start_s;
    }
    let best = (0..d.speakers).max_by(|&a, &b| speech[a].total_cmp(&speech[b]));
    let Some(best) = best.filter(|&b| speech[b] >= 2.0 && !d.voices[b].is_empty()) else {
        return Err(Error::Unsupported {
            path: sample.to_path_buf(),
            message: "less than 2 s of speech: record the agent speaking for 10 s or more".into(),
        });
    };
    // A second voice that talks a good part of the time makes this a conversation: the voice
    // with the most speech may be the customer's, and enrolling it would make every caller
    // with that voice the agent.
    let second = (0..d.speakers)
        .filter(|&s| s != best)
        .map(|s| speech[s])
        .fold(0.0, f64::max);
    if second >= SECOND_VOICE_S && second >= SECOND_VOICE_SHARE * speech[best] {
        return Err(Error::Unsupported {
            path: sample.to_path_buf(),
            message: format!(
                "two voices ({:.1} s and {second:.1} s of speech): enrol from a recording of the agent alone (from a call recorded one speaker per channel, the agent's channel: `sox CALL.wav AGENT.wav remix 1`, or `remix 2` for the right)",
                speech[best]
            ),
        });
    }
    let voice = Voice {
        name: name.to_string(),
        model: MODEL.into(),
        speech_s: (speech[best] * 10.0).round() / 10.0,
        embedding: d.voices[best].clone(),
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{name}.json"));
    let tmp = dir.join(format!(".{name}.json.tmp"));
    let body = serde_json::to_vec_pretty(&voice).map_err(|e| Error::Invalid(e.to_string()))?;
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    Ok((path, voice))
}

/// Every voice in `dir` (none when it does not exist). A file that is not a voice is an error
/// naming it.
pub fn load_all(dir: &Path) -> Result<Vec<Voice>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            })?;
            let v: Voice = serde_json::from_str(&text).map_err(|e| Error::Decode {
                path: p.clone(),
                message: format!("not an enrolled voice: {e}"),
            })?;
            if v.model != MODEL || v.embedding.len() != 192 {
                return Err(Error::Decode {
                    path: p,
                    message: format!("a voice of model {} cannot be compared", v.model),
                });
            }
            Ok(v)
        })
        .collect()
}

/// The call's voice that best matches an enrolled voice above `threshold`: (voice index, agent
/// name, similarity, the other voices' best similarity to the same agent).
pub fn match_agent(
    enrolled: &[Voice],
    call_voices: &[Vec<f32>],
    threshold: f32,
) -> Option<(usize, String, f32, f32)> {
    let mut best: Option<(usize, String, f32, f32)> = None;
    for v in enrolled {
        let sims: Vec<f32> = call_voices
            .iter()
            .map(|c| {
                if c.is_empty() {
                    f32::MIN
                } else {
                    cluster::cosine(&v.embedding, c)
                }
            })
            .collect();
        let Some((i, &s)) = sims.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
            continue;
        };
        let other = sims
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, &x)| x)
            .fold(f32::MIN, f32::max);
        if s >= threshold && best.as_ref().is_none_or(|b| s - other > b.2 - b.3) {
            best = Some((i, v.name.clone(), s, other));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_safe() {
        assert!(valid_name("ann-marie_2.b"));
        for bad in ["", "../x", "a/b", ".hidden", "a b", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_closer_voice_is_the_agent() {
        let v = Voice {
            name: "ann".into(),
            model: MODEL.into(),
            speech_s: 10.0,
            embedding: vec![1.0, 0.0],
        };
        let calls = vec![vec![0.2, 0.98], vec![0.9, 0.43]];
        let (i, name, s, other) = match_agent(std::slice::from_ref(&v), &calls, 0.5).unwrap();
        assert_eq!((i, name.as_str()), (1, "ann"));
        assert!(s > other);
        assert!(match_agent(&[v], &calls, 0.95).is_none());
    }
}
