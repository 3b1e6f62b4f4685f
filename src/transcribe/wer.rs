//! Word error rate, for measuring transcription against reference transcripts.

/// Lower case, bracketed annotations removed ("(tone plays)"), punctuation dropped except
/// apostrophes inside words, whitespace collapsed: the usual normalisation for comparing ASR.
pub fn normalise(text: &str) -> Vec<String> {
    let mut out = String::with_capacity(text.len());
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = (depth - 1).max(0),
            _ if depth > 0 => {}
            c if c.is_alphanumeric() || c == '\'' => out.extend(c.to_lowercase()),
            _ => out.push(' '),
        }
    }
    out.split_whitespace()
        .map(|w| w.trim_matches('\'').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word-level edit distance between reference and hypothesis (after [`normalise`]).
pub fn edits(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    let mut cur = vec![0; hypothesis.len() + 1];
    for (i, r) in reference.iter().enumerate() {
        cur[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let sub = prev[j] + (r != h) as usize;
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[hypothesis.len()]
}

/// Word error rate of one pair of texts.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = normalise(reference);
    edits(&r, &normalise(hypothesis)) as f64 / r.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_and_distance() {
        assert_eq!(
            normalise("Please leave your message after the tone.  (simple tone sound plays)"),
            ["please", "leave", "your", "message", "after", "the", "tone"]
        );
        assert_eq!(
            normalise("letters of your party's first name."),
            ["letters", "of", "your", "party's", "first", "name"]
        );
        assert_eq!(wer("the cat sat", "the cat sat"), 0.0);
        assert!((wer("the cat sat on the mat", "the cat sat on mat") - 1.0 / 6.0).abs() < 1e-9);
        assert!((wer("a b", "x a b y") - 1.0).abs() < 1e-9);
    }
}
