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
    /// Reference time where exactly one person speaks (seconds).
    pub single: f64,
    /// Of [`single`](Self::single), the time attributed to that person alone (the speaker
    /// mapped to them is found, and no one else): missed speech counts as wrong.
    pub single_right: f64,
}

impl Score {
    /// (missed + false alarm + confusion) / reference.
    pub fn der(&self) -> f64 {
        (self.missed + self.false_alarm + self.confusion) / self.reference.max(1e-9)
    }

    /// The share of the moments where one person speaks that are attributed to them alone.
    pub fn attribution(&self) -> f64 {
        self.single_right / self.single.max(1e-9)
    }

    /// Sum two calls' scores (for totals over several calls).
    pub fn add(&mut self, o: &Score) {
        self.reference += o.reference;
        self.missed += o.missed;
        self.false_alarm += o.false_alarm;
        self.confusion += o.confusion;
        self.single += o.single;
        self.single_right += o.single_right;
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
    let (correct, map) = best_assignment(&co);
    // Moments of one speaker, scored under the same mapping.
    let (mut single, mut single_right) = (0usize, 0usize);
    for t in 0..n {
        let on: Vec<usize> = (0..reference.len())
            .filter(|&r| at(reference, r, t))
            .collect();
        let [r] = on.as_slice() else { continue };
        single += 1;
        let found: Vec<usize> = (0..hypothesis.len())
            .filter(|&h| at(hypothesis, h, t))
            .collect();
        if found.len() == 1 && map[*r] == Some(found[0]) {
            single_right += 1;
        }
    }
    Score {
        reference: refs as f64 * STEP_S,
        missed: miss as f64 * STEP_S,
        false_alarm: fa as f64 * STEP_S,
        confusion: (both_min - correct) as f64 * STEP_S,
        single: single as f64 * STEP_S,
        single_right: single_right as f64 * STEP_S,
    }
}

/// The largest total of `co[r][h]` over one-to-one pairings, and the pairing (per reference
/// speaker, its hypothesis speaker). Exhaustive: speaker counts are small.
fn best_assignment(co: &[Vec<usize>]) -> (usize, Vec<Option<usize>>) {
    fn go(
        co: &[Vec<usize>],
        r: usize,
        used: &mut Vec<bool>,
        pick: &mut Vec<Option<usize>>,
        best: &mut (usize, Vec<Option<usize>>),
        sum: usize,
    ) {
        if r == co.len() {
            if sum > best.0 || best.1.is_empty() {
                *best = (sum, pick.clone());
            }
            return;
        }
        pick[r] = None;
        go(co, r + 1, used, pick, best, sum);
        for h in 0..used.len() {
            if !used[h] {
                used[h] = true;
                pick[r] = Some(h);
                go(co, r + 1, used, pick, best, sum + co[r][h]);
                pick[r] = None;
                used[h] = false;
            }
        }
    }
    let h = co.first().map_or(0, Vec::len);
    let mut best = (0, Vec::new());
    go(
        co,
        0,
        &mut vec![false; h],
        &mut vec![None; co.len()],
        &mut best,
        0,
    );
    if best.1.is_empty() {
        best.1 = vec![None; co.len()];
    }
    best
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
        // The grid is sized by the turn's end: a day bounds it; nan fails every comparison.
        if !(start >= 0.0 && dur >= 0.0 && start + dur <= MAX_RTTM_S) {
            return Err(Error::Decode {
                path: path.to_path_buf(),
                message: format!(
                    "line {}: a turn needs an onset and a duration in seconds, 0 or more and ending within a day (onset {start}, duration {dur})",
                    i + 1
                ),
            });
        }
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
    // A DER over no reference speech divides by zero.
    if !rows.iter().flatten().any(|&x| x) {
        return Err(Error::Decode {
            path: path.to_path_buf(),
            message: "no SPEAKER line with any speech: nothing to score against".into(),
        });
    }
    Ok(rows)
}

/// The latest end of a turn [`read_rttm`] accepts (a day).
const MAX_RTTM_S: f64 = 86_400.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn row(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == '1').collect()
    }

    /// Before, a negative duration panicked on the slice, an onset of 1e30 or a duration of inf
    /// aborted on the allocation, and nan or a negative onset scored against no speech at all
    /// ("DER 2437000000000.0%").
    #[test]
    fn rttm_turns_out_of_range_are_errors_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.rttm");
        let good = "SPEAKER x 1 0.50 1.00 <NA> <NA> A <NA> <NA>\n";
        for bad in ["1.0 -2.0", "1 inf", "1e30 2", "nan 2.0", "-5 2", "1 nan"] {
            std::fs::write(
                &path,
                format!("{good}SPEAKER x 1 {bad} <NA> <NA> B <NA> <NA>\n"),
            )
            .unwrap();
            let e = read_rttm(&path).unwrap_err().to_string();
            assert!(e.contains("r.rttm") && e.contains("line 2"), "{bad}: {e}");
        }
        std::fs::write(&path, "SPEAKER x 1 3.0 0 <NA> <NA> A <NA> <NA>\n").unwrap();
        let e = read_rttm(&path).unwrap_err().to_string();
        assert!(e.contains("nothing to score against"), "{e}");
        std::fs::write(&path, good).unwrap();
        let rows = read_rttm(&path).unwrap();
        assert_eq!(rows[0].iter().filter(|&&x| x).count(), 100);
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
        // Eight moments of one speaker: A's first is missed, one of B's is given to A.
        assert!((s.single - 0.08).abs() < 1e-9);
        assert!((s.single_right - 0.06).abs() < 1e-9);
    }
}
