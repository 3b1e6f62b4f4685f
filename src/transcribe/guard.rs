//! Guards against invented text: tell a failed decode from a good one, choose among fallback
//! candidates, and repair a repetition the audio cannot contain.
//!
//! A Whisper decode fails in a few recognisable ways (Radford et al. 2022, section 4.5, and
//! faster-whisper's defaults): it loops, repeating a phrase back to back until the token budget
//! runs out; its text compresses too well (gzip ratio over 2.4: the same loop, seen as bytes);
//! it holds more words than the speech could carry; or it is unsure of every token (mean
//! log-probability below -1). Each check here is a pure function of the candidate's text and the
//! utterance's speech time, so it is cheap and unit-tested on scripted candidates.

use std::io::Write;

use crate::events::Word;

/// Thresholds of the failure checks (`[transcribe]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A text whose zlib compression ratio exceeds this is a loop (whisper's 2.4).
    pub max_compression_ratio: f32,
    /// Most syllables a second of speech can hold (fast speech is about 6-7).
    pub max_syllables_per_s: f32,
    /// A decode whose mean token log-probability is below this is unsure throughout.
    pub min_avg_logprob: f32,
}

/// Why a candidate looks like a failed decode.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Failure {
    /// A phrase repeated back to back (the classic loop).
    Loop(Repeat),
    /// The decode ran into the token budget instead of ending by itself.
    CutOff,
    /// The text compresses like a loop does.
    Compressible(f32),
    /// More syllables than the speech can hold: (syllables, seconds of speech).
    TooMuchText(usize, f32),
    /// Unsure of its words throughout (mean log-probability).
    Unsure(f32),
}

impl Failure {
    /// Short description for reports and benches.
    pub fn describe(&self) -> String {
        match self {
            Failure::Loop(r) => format!(
                "a {}-word phrase repeated {:.1} times back to back",
                r.period,
                r.copies as f32 + r.partial as f32 / r.period as f32
            ),
            Failure::CutOff => "ran into the token budget".into(),
            Failure::Compressible(r) => format!("text compression ratio {r:.1}"),
            Failure::TooMuchText(n, s) => format!("{n} syllables in {s:.1} s of speech"),
            Failure::Unsure(lp) => format!("mean log-probability {lp:.2}"),
        }
    }
}

/// A back-to-back repetition in a word sequence: `copies` whole copies of the `period` words at
/// `start`, then the first `partial` words of one more (a copy cut off by the token budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    /// Index of the first word of the first copy.
    pub start: usize,
    /// Words per copy.
    pub period: usize,
    /// Whole copies (at least 2).
    pub copies: usize,
    /// Words of a last, incomplete copy.
    pub partial: usize,
}

impl Repeat {
    /// Words from the end of the first copy to the end of the repetition (what collapsing drops).
    pub fn extra_words(&self) -> usize {
        (self.copies - 1) * self.period + self.partial
    }
}

/// The word as the loop check compares it: lower case, letters and digits only.
pub fn key(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Keys of the words of `text`, empty keys (lone punctuation) dropped.
pub fn keys(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(key)
        .filter(|k| !k.is_empty())
        .collect()
}

/// Whether a word key is a number as said or written ("4111", "one", "oh"): digit strings repeat
/// in real speech (card 4111 1111 1111 1111, "one one one"), so a repeat made only of them is
/// never called a loop here; a runaway of digits is caught by the syllable budget instead.
pub fn is_number(key: &str) -> bool {
    const SAID: [&str; 12] = [
        "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "double",
    ];
    key.chars().all(|c| c.is_ascii_digit()) || SAID.contains(&key)
}

/// The longest back-to-back repetition in `keys` that counts as a loop: a phrase of 3+ words
/// said twice in a row, 2 words three times, or 1 word four times ("no no no" is speech; "bye bye
/// bye bye" from a recogniser is a loop). A phrase of numbers only is not a loop (see
/// [`is_number`]). Ties go to the earliest, then the shortest period.
pub fn find_repeat(keys: &[String]) -> Option<Repeat> {
    let n = keys.len();
    let mut best: Option<Repeat> = None;
    for start in 0..n {
        for period in 1..=(n - start) / 2 {
            let unit = &keys[start..start + period];
            if unit.iter().all(|k| is_number(k)) {
                continue;
            }
            let mut copies = 1;
            while start + (copies + 1) * period <= n
                && keys[start + copies * period..start + (copies + 1) * period] == *unit
            {
                copies += 1;
            }
            let needed = match period {
                1 => 4,
                2 => 3,
                _ => 2,
            };
            if copies < needed {
                continue;
            }
            let tail = &keys[start + copies * period..];
            let partial = tail
                .iter()
                .zip(unit)
                .take_while(|(a, b)| a == b)
                .count()
                .min(period - 1);
            let r = Repeat {
                start,
                period,
                copies,
                partial,
            };
            if best.is_none_or(|b| r.extra_words() > b.extra_words()) {
                best = Some(r);
            }
        }
    }
    best
}

/// Whether a decoder's text tokens so far end in a loop: the last 3+ tokens repeat the ones just
/// before them, or the last 1-2 tokens have come four times in a row. Checked after every token
/// (cheap: quadratic in a few dozen tokens), so a loop is caught when its second copy is done.
/// `wordy` says whether a token holds a letter: a repeat of digits and punctuation only is not a
/// loop.
pub fn token_loop(ids: &[i32], wordy: impl Fn(i32) -> bool) -> bool {
    let n = ids.len();
    for unit in 1..=n / 2 {
        let copies = if unit >= 3 { 2 } else { 4 };
        if unit * copies > n {
            continue;
        }
        let last = &ids[n - unit..];
        // Digits and punctuation repeat in real speech ("4-1-1-1-1"); a loop has words.
        if !last.iter().any(|&t| wordy(t)) {
            continue;
        }
        if (1..copies).all(|c| &ids[n - (c + 1) * unit..n - c * unit] == last) {
            return true;
        }
    }
    false
}

/// zlib compression ratio of the text's bytes (whisper's `compression_ratio`): about 1-1.5 for
/// speech, over 2.4 for a loop of any length worth worrying about.
pub fn compression_ratio(text: &str) -> f32 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(bytes);
    let packed = z.finish().map(|v| v.len()).unwrap_or(bytes.len());
    bytes.len() as f32 / packed.max(1) as f32
}

/// Syllables in a written word, by vowel groups (an estimate good to about one syllable per
/// word, which is all a rate check needs). Digits count one each (a spoken digit is 1-2).
pub fn syllables(word: &str) -> usize {
    let w: Vec<char> = word
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    if w.is_empty() {
        return 0;
    }
    let digits = w.iter().filter(|c| c.is_ascii_digit()).count();
    let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
    let mut groups = 0;
    let mut prev = false;
    for &c in &w {
        let v = vowel(c);
        if v && !prev {
            groups += 1;
        }
        prev = v;
    }
    // A silent final 'e' ("state", "line") is not a syllable, unless it is the only one.
    if groups > 1 && w.ends_with(&['e']) && !w.ends_with(&['l', 'e']) {
        groups -= 1;
    }
    let letters = w.len() - digits;
    (if letters > 0 { groups.max(1) } else { 0 }) + digits
}

/// Syllables of a whole text.
pub fn text_syllables(text: &str) -> usize {
    text.split_whitespace().map(syllables).sum()
}

/// Most syllables `speech_s` seconds of speech can hold. Voice activity clips the edges of
/// short words, so half a second is added (measured on ../shared/data: sound decodes reach 6
/// syllables per second of speech so counted, loops 17-24).
pub fn capacity(speech_s: f32, limits: &Limits) -> f32 {
    limits.max_syllables_per_s * (speech_s + 0.5)
}

/// What the checks make of one candidate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    /// Every failure found (empty: the decode looks sound).
    pub failures: Vec<Failure>,
}

impl Verdict {
    /// No failure.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// The repetition found, if any.
    pub fn repeat(&self) -> Option<Repeat> {
        self.failures.iter().find_map(|f| match f {
            Failure::Loop(r) => Some(*r),
            _ => None,
        })
    }

    /// How bad: a loop or text the audio cannot hold is worse than being unsure; used to rank
    /// candidates when every attempt failed.
    fn severity(&self) -> u32 {
        self.failures
            .iter()
            .map(|f| match f {
                Failure::Loop(_) | Failure::Compressible(_) | Failure::TooMuchText(..) => 4,
                Failure::CutOff => 2,
                Failure::Unsure(_) => 1,
            })
            .sum()
    }
}

/// Check one candidate: its text, whether it ended by itself, its mean log-probability, and the
/// seconds of speech it was decoded from.
pub fn check(text: &str, ended: bool, avg_logprob: f32, speech_s: f32, limits: &Limits) -> Verdict {
    let mut failures = Vec::new();
    if let Some(r) = find_repeat(&keys(text)) {
        failures.push(Failure::Loop(r));
    }
    if !ended {
        failures.push(Failure::CutOff);
    }
    let ratio = compression_ratio(text);
    if ratio > limits.max_compression_ratio {
        failures.push(Failure::Compressible(ratio));
    }
    let syl = text_syllables(text);
    if syl as f32 > capacity(speech_s, limits) {
        failures.push(Failure::TooMuchText(syl, speech_s));
    }
    if !text.trim().is_empty() && avg_logprob < limits.min_avg_logprob {
        failures.push(Failure::Unsure(avg_logprob));
    }
    Verdict { failures }
}

/// The candidate to keep, given each one's verdict, in the order they were decoded: the first
/// sound one; if none is sound, the least severe failure, the earliest among equals. A fallback
/// replaces the first decode only when the guards find it strictly better: confidence alone does
/// not decide (a loop is often the most confident text of all, and on a short, unclear
/// utterance a 30 s beam search invents fluent sentences with better log-probabilities).
pub fn choose(verdicts: &[Verdict]) -> Option<usize> {
    if let Some(i) = verdicts.iter().position(Verdict::ok) {
        return Some(i);
    }
    (0..verdicts.len()).min_by_key(|&i| (verdicts[i].severity(), i))
}

/// The last guard: drop the extra copies of a repetition the audio cannot contain (a loop of
/// three copies or more, a cut-off last copy, or more syllables than the speech holds), keeping
/// the first copy and everything around it. Returns the repair made, if any.
pub fn repair(words: &mut Vec<Word>, speech_s: f32, limits: &Limits) -> Option<Repeat> {
    // Words without letters or digits (a lone dash) are skipped for matching but kept.
    let idx: Vec<usize> = (0..words.len())
        .filter(|&i| !key(&words[i].word).is_empty())
        .collect();
    let k: Vec<String> = idx.iter().map(|&i| key(&words[i].word)).collect();
    let r = find_repeat(&k)?;
    let text: String = words
        .iter()
        .map(|w| w.word.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let syl = text_syllables(&text);
    let impossible = r.copies >= 3 || r.partial > 0 || syl as f32 > capacity(speech_s, limits);
    if !impossible {
        return None;
    }
    let first_end = r.start + r.period; // in keyed words
    let drop_end = r.start + r.copies * r.period + r.partial;
    let (from, to) = (
        idx[first_end],
        idx.get(drop_end).copied().unwrap_or(words.len()),
    );
    words.drain(from..to);
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(t: &str) -> Vec<String> {
        keys(t)
    }

    const LIMITS: Limits = Limits {
        max_compression_ratio: 2.4,
        max_syllables_per_s: 8.0,
        min_avg_logprob: -1.0,
    };

    #[test]
    fn loops_are_found_with_their_cut_off_copy() {
        let r = find_repeat(&ks(
            "Dogs are sitting by the door. Dogs are sitting by the door. Dogs are sitting by the door. Dogs are sitting",
        ))
        .unwrap();
        assert_eq!(
            r,
            Repeat {
                start: 0,
                period: 6,
                copies: 3,
                partial: 3
            }
        );
        // After other words, with a different first copy: the identical ones are the loop.
        let r = find_repeat(&ks(
            "Okay, thank you very much. Thank you very much. Thank you very much.",
        ))
        .unwrap();
        assert_eq!((r.start, r.period, r.copies), (1, 4, 3));
        let r = find_repeat(&ks("Have a nice day. Bye. Bye. Bye. Bye. Bye.")).unwrap();
        assert_eq!((r.period, r.copies), (1, 5));
        // Two copies of a 3+ word phrase count.
        let r = find_repeat(&ks("Yes, what can I help you? Yes, what can I help you?")).unwrap();
        assert_eq!((r.period, r.copies, r.partial), (6, 2, 0));
    }

    #[test]
    fn ordinary_speech_is_not_a_loop() {
        for t in [
            "press 1 to accept, press 2 to reject",
            "no no no I said the blue one",
            "thank you thank you so much",
            "the leader has left the conference",
            "one two three four five six",
            "very very very good",
            // Numbers read out repeat legitimately.
            "my card number is 4 1 1 1, 1 1 1 1, 1 1 1 1, 1 1 1 1",
            "4111 1111 1111 1111",
            "the code is one one one one",
            "",
        ] {
            assert_eq!(find_repeat(&ks(t)), None, "{t}");
        }
    }

    #[test]
    fn token_loops_are_caught_when_the_second_copy_completes() {
        // "Dogs are sitting by the door." as seven tokens, then again.
        let copy = [21367, 389, 5586, 416, 262, 3420, 13];
        let wordy = |t: i32| t != 13 && t != 16;
        let mut ids = copy.to_vec();
        assert!(!token_loop(&ids, wordy));
        for (i, &t) in copy.iter().enumerate() {
            ids.push(t);
            assert_eq!(
                token_loop(&ids, wordy),
                i == copy.len() - 1,
                "after {} tokens",
                i + 1
            );
        }
        // Two-token units need four copies ("Bye. Bye. Bye. Bye."); "no, no, no" is not a loop.
        assert!(!token_loop(&[50, 13, 50, 13, 50, 13], wordy));
        assert!(token_loop(&[50, 13, 50, 13, 50, 13, 50, 13], wordy));
        assert!(!token_loop(&[7, 7, 7], wordy));
        assert!(token_loop(&[7, 7, 7, 7], wordy));
        assert!(!token_loop(&[], wordy));
        // "press 1 to accept, press 2 to reject": no back-to-back copy.
        assert!(!token_loop(&[1, 2, 3, 4, 5, 1, 6, 3, 7], wordy));
        // A card number read digit by digit ("4-1-1-1-1-1"): tokens "1" and "-" (here 16 and
        // 13) repeat, but nothing with a letter does, so the decode goes on.
        assert!(!token_loop(
            &[19, 16, 13, 16, 13, 16, 13, 16, 13, 16],
            wordy
        ));
    }

    #[test]
    fn compression_ratio_separates_loops_from_speech() {
        let speech = "Okay, so here is one restaurant called Fifth Billies restaurant. I think we'll be the best for you.";
        assert!(
            compression_ratio(speech) < 1.6,
            "{}",
            compression_ratio(speech)
        );
        let looped = "Dogs are sitting by the door. ".repeat(5);
        assert!(
            compression_ratio(&looped) > 2.4,
            "{}",
            compression_ratio(&looped)
        );
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn syllable_estimates() {
        for (w, n) in [
            ("dogs", 1),
            ("sitting", 2),
            ("restaurant", 3),
            ("state", 1),
            ("table", 2),
            ("the", 1),
            ("30", 2),
            ("PM.", 1),
            ("every", 3),
            ("--", 0),
        ] {
            assert_eq!(syllables(w), n, "{w}");
        }
    }

    #[test]
    fn checks_name_each_failure() {
        let v = check("Dogs are sitting by the door.", true, -0.1, 1.5, &LIMITS);
        assert!(v.ok(), "{v:?}");
        let looped = "Dogs are sitting by the door. ".repeat(5);
        let v = check(&looped, false, -0.08, 1.45, &LIMITS);
        assert!(matches!(v.failures[0], Failure::Loop(_)));
        assert!(v.failures.contains(&Failure::CutOff));
        assert!(
            v.failures
                .iter()
                .any(|f| matches!(f, Failure::Compressible(_)))
        );
        assert!(
            v.failures
                .iter()
                .any(|f| matches!(f, Failure::TooMuchText(..)))
        );
        // Twelve syllables in half a second of speech, no repetition: too much text.
        let v = check(
            "Unbelievable circumstances everywhere",
            true,
            -0.2,
            0.3,
            &LIMITS,
        );
        assert!(
            matches!(v.failures[..], [Failure::TooMuchText(..)]),
            "{v:?}"
        );
        let v = check("your web", true, -2.3, 0.4, &LIMITS);
        assert_eq!(v.failures, [Failure::Unsure(-2.3)]);
    }

    #[test]
    fn the_first_sound_candidate_wins_else_the_least_bad() {
        let sound = Verdict::default();
        let looped = Verdict {
            failures: vec![
                Failure::Loop(Repeat {
                    start: 0,
                    period: 6,
                    copies: 4,
                    partial: 0,
                }),
                Failure::CutOff,
            ],
        };
        let cut_off = Verdict {
            failures: vec![Failure::CutOff],
        };
        let unsure = Verdict {
            failures: vec![Failure::Unsure(-1.2)],
        };
        // A loop first, a sound decode after it: the sound one.
        assert_eq!(choose(&[looped.clone(), sound.clone()]), Some(1));
        // Two sound ones: the earlier (cheaper, already decided) one.
        assert_eq!(choose(&[sound.clone(), sound.clone()]), Some(0));
        // Nothing sound: an unsure decode beats a loop, a cut-off one an unsure one.
        assert_eq!(choose(&[looped.clone(), unsure.clone()]), Some(1));
        assert_eq!(
            choose(&[cut_off.clone(), unsure.clone(), looped.clone()]),
            Some(1)
        );
        // Equally bad: the first decode stays (a fallback must be strictly better).
        assert_eq!(choose(&[unsure.clone(), unsure]), Some(0));
        assert_eq!(choose(&[looped.clone(), looped]), Some(0));
        assert_eq!(choose(&[]), None);
    }

    fn ws(text: &str) -> Vec<Word> {
        text.split_whitespace()
            .enumerate()
            .map(|(i, w)| Word {
                word: w.into(),
                start_s: i as f64 * 0.3,
                end_s: i as f64 * 0.3 + 0.25,
                p: 0.9,
            })
            .collect()
    }

    fn repaired(text: &str, speech_s: f32) -> (String, bool) {
        let mut w = ws(text);
        let r = repair(&mut w, speech_s, &LIMITS);
        let t = w.iter().map(|w| w.word.as_str()).collect::<Vec<_>>();
        (t.join(" "), r.is_some())
    }

    #[test]
    fn impossible_repetitions_are_collapsed_including_a_cut_off_copy() {
        assert_eq!(
            repaired(
                "Dogs are sitting by the door. Dogs are sitting by the door. Dogs are sitting by the door. Dogs are sitting",
                1.5
            ),
            ("Dogs are sitting by the door.".into(), true)
        );
        assert_eq!(
            repaired(
                "Okay, thank you very much. Thank you very much. Thank you",
                1.5
            ),
            ("Okay, thank you very much.".into(), true)
        );
        // Words after the loop are kept.
        assert_eq!(
            repaired("Bye. Bye. Bye. Bye. See you", 1.0),
            ("Bye. See you".into(), true)
        );
        // Two copies (12 syllables) that do not fit in 0.8 s of speech.
        assert_eq!(
            repaired("Yes, what can I help you? Yes, what can I help you?", 0.8),
            ("Yes, what can I help you?".into(), true)
        );
        // Two copies the audio can hold (4 s of speech) may have been said: kept.
        assert_eq!(
            repaired("Yes, what can I help you? Yes, what can I help you?", 4.0),
            (
                "Yes, what can I help you? Yes, what can I help you?".into(),
                false
            )
        );
        assert_eq!(
            repaired("no no no I said the blue one", 0.5),
            ("no no no I said the blue one".into(), false)
        );
    }
}
