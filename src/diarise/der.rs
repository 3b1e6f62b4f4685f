//! Diarisation error rate: no collar, overlapping speech scored (the strict NIST definition),
//! on a 10 ms grid, with the best one-to-one mapping of found speakers to reference speakers.

use std::path::Path;

use crate::error::{Error, Result};

/// Frame length of the scoring grid, seconds.
pub const STEP_S: f64 = 0.01;

/// The parts of a DER, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    /// Reference speech (speaker-seconds).
    pub reference: f64,
    /// Reference speech with no (or too few) speakers found.
    pub missed: f64,
    /// Speech found where the reference has none (or fewer speakers).
    pub false_alarm: f64,
    /// Speech attributed to the wrong speaker.
    pub confusion: f64,
}

impl Score {
    /// (missed + false alarm + confusion) / reference.
    pub fn der(&self) -> f64 {
        (self.missed + self.false_alarm + self.confusion) / self.reference.max(1e-9)
    }
}

/// Per speaker, activity on the [`STEP_S`] grid. `reference` and `hypothesis` may have different
/// speaker counts (up to 6 each) and lengths (the shorter is padded with silence).
pub fn score(reference: &[Vec<bool>], hypothesis: &[Vec<bool>]) -> Score {
    let n = reference
        .iter()
        .chain(hypothesis)
        .map(Vec::len)
        .max()
        .unwrap_or(0);
    let at = |rows: &[Vec<bool>], s: usize, t: usize| rows[s].get(t).copied().unwrap_or(false);
    // co[r][h]: frames where reference r and hypothesis h both speak.
    let mut co = vec![vec![0usize; hypothesis.len()]; reference.len()];
    let (mut miss, mut fa, mut refs, mut both_min) = (0usize, 0usize, 0usize, 0usize);
    for t in 0..n {
        let nr = (0..reference.len())
            .filter(|&r| at(reference, r, t))
            .count();
        let nh = (0..hypothesis.len())
            .filter(|&h| at(hypothesis, h, t))
            .count();
        refs += nr;
        miss += nr.saturating_sub(nh);
        fa += nh.saturating_sub(nr);
        both_min += nr.min(nh);
        for (r, row) in co.iter_mut().enumerate() {
            if at(reference, r, t) {
                for (h, c) in row.iter_mut().enumerate() {
                    if at(hypothesis, h, t) {
                        *c += 1;
                    }
                }
            }
        }
    }
    let correct = best_assignment(&co);
    Score {
        reference: refs as f64 * STEP_S,
        missed: miss as f64 * STEP_S,
        false_alarm: fa as f64 * STEP_S,
        confusion: (both_min - correct) as f64 * STEP_S,
    }
}

/// The largest total of `co[r][h]` over one-to-one pairings (exhaustive; speaker counts are small).
fn best_assignment(co: &[Vec<usize>]) -> usize {
    fn go(co: &[Vec<usize>], r: usize, used: &mut Vec<bool>) -> usize {
        if r == co.len() {
            return 0;
        }
        let mut best = go(co, r + 1, used);
        for h in 0..used.len() {
            if !used[h] {
                used[h] = true;
                best = best.max(co[r][h] + go(co, r + 1, used));
                used[h] = false;
            }
        }
        best
    }
    let h = co.first().map_or(0, Vec::len);
    go(co, 0, &mut vec![false; h])
}

/// Read an RTTM file's SPEAKER lines as per-speaker activity on the [`STEP_S`] grid (speakers
/// in order of first appearance).
pub fn read_rttm(path: &Path) -> Result<Vec<Vec<bool>>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<bool>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() != Some(&"SPEAKER") {
            continue;
        }
        let bad = || Error::Decode {
            path: path.to_path_buf(),
            message: format!("line {}: not an RTTM SPEAKER line", i + 1),
        };
        let start: f64 = f.get(3).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let dur: f64 = f.get(4).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
        let name = f.get(7).ok_or_else(bad)?.to_string();
        let s = match names.iter().position(|n| *n == name) {
            Some(s) => s,
            None => {
                names.push(name);
                rows.push(Vec::new());
                rows.len() - 1
            }
        };
        let a = (start / STEP_S).round() as usize;
        let b = ((start + dur) / STEP_S).round() as usize;
        if rows[s].len() < b {
            rows[s].resize(b, false);
        }
        for x in &mut rows[s][a..b] {
            *x = true;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == '1').collect()
    }

    #[test]
    fn perfect_up_to_renaming_is_zero() {
        let r = vec![row("1100"), row("0011")];
        let h = vec![row("0011"), row("1100")];
        assert_eq!(score(&r, &h).der(), 0.0);
    }

    #[test]
    fn miss_false_alarm_and_confusion_are_counted() {
        let r = vec![row("11110000"), row("00001111")];
        // Speaker A misses a frame, says one frame of B's, B adds a frame of silence at the end.
        let h = vec![row("01111000"), row("00000111"), row("00000000")];
        let s = score(&r, &h);
        assert!((s.reference - 0.08).abs() < 1e-9);
        assert!((s.missed - 0.01).abs() < 1e-9);
        assert!((s.confusion - 0.01).abs() < 1e-9);
        assert!((s.false_alarm - 0.0).abs() < 1e-9);
        assert!((s.der() - 0.25).abs() < 1e-9);
    }
}
