//! Redaction of personal numbers and addresses from transcripts, before anything is stored,
//! sent or reported.
//!
//! Runs of digits, written ("4111 1111 1111 1111", "123-45-6789") or spoken ("four one one one
//! ..."), become `[card]` (13-19 digits), `[phone]` (10-15 digits starting with + or 0) or
//! `[number]` (6+ written digits, 4+ spoken); e-mail addresses become `[email]`. Short numbers
//! ("press 8", "5 minutes", "2024") are kept: they carry meaning and identify no one.

use std::collections::BTreeSet;

use crate::config::PhraseSet;
use crate::events::{TranscriptSegment, Word};

/// Replaces personal numbers and addresses with tags.
#[derive(Debug, Clone)]
pub struct Redactor {
    digit_words: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Digits(usize, bool),
    /// Digits read one at a time ("4-1-1-1", or a lone "4"): counted like spoken digits.
    Read(usize),
    Spoken,
    Email,
    Other,
}

impl Redactor {
    /// A redactor knowing the language's spoken digits.
    pub fn new(p: &PhraseSet) -> Self {
        Self {
            digit_words: p.digits.iter().map(|d| d.to_lowercase()).collect(),
        }
    }

    fn classify(&self, token: &str) -> Tok {
        let t = token.trim_matches(|c: char| {
            matches!(
                c,
                ',' | '.' | ';' | ':' | '!' | '?' | '"' | '\'' | ')' | '('
            )
        });
        if t.contains('@') && t.rsplit('@').next().is_some_and(|d| d.contains('.')) {
            return Tok::Email;
        }
        let digits = t.chars().filter(char::is_ascii_digit).count();
        if digits > 0
            && t.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | '+' | '(' | ')' | '/'))
        {
            // "4-1-1-1" or "4": digits read out one at a time, which the recogniser writes
            // this way when a caller reads a number aloud.
            if t.split('-').all(|g| g.len() == 1) {
                return Tok::Read(digits);
            }
            return Tok::Digits(digits, t.starts_with('+') || t.starts_with('0'));
        }
        if self.digit_words.contains(&t.to_lowercase()) {
            return Tok::Spoken;
        }
        Tok::Other
    }

    /// The tag for a run of tokens, or `None` to keep them.
    fn tag(&self, run: &[Tok]) -> Option<&'static str> {
        let (mut written, mut spoken, mut plus_or_zero) = (0, 0, false);
        for (i, t) in run.iter().enumerate() {
            match t {
                Tok::Digits(n, p) => {
                    written += n;
                    plus_or_zero |= i == 0 && *p;
                }
                Tok::Spoken => spoken += 1,
                Tok::Read(n) => spoken += n,
                _ => {}
            }
        }
        let total = written + spoken;
        if (13..=19).contains(&total) && !plus_or_zero {
            Some("[card]")
        } else if plus_or_zero && (10..=15).contains(&total) {
            Some("[phone]")
        } else if written >= 6 || (spoken >= 4 && total >= 4) || total >= 6 {
            Some("[number]")
        } else {
            None
        }
    }

    /// Runs `(start, end, tag)` over a token sequence.
    fn runs(&self, tokens: &[&str]) -> Vec<(usize, usize, &'static str)> {
        let mut kinds: Vec<Tok> = tokens.iter().map(|t| self.classify(t)).collect();
        // Spoken addresses: "jane at example dot com" (one to three words between).
        let plain = |t: &str| {
            t.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        };
        for i in 1..tokens.len() {
            if plain(tokens[i]) != "at" {
                continue;
            }
            const TLDS: &[&str] = &[
                "com", "org", "net", "co", "uk", "io", "de", "fr", "edu", "gov", "info", "biz",
                "us", "ca", "au", "eu", "ie", "nl", "es", "it",
            ];
            // "name at domain dot tld", with no pause (comma) inside.
            let clean = |t: &str| {
                !t.trim_end_matches(['.', '!', '?'])
                    .contains([',', ';', ':'])
            };
            if let Some(d) = (i + 2..(i + 5).min(tokens.len())).find(|&d| plain(tokens[d]) == "dot")
                && d + 1 < tokens.len()
                && TLDS.contains(&plain(tokens[d + 1]).as_str())
                && tokens[i - 1..d].iter().all(|t| clean(t))
            {
                for k in kinds.iter_mut().take(d + 2).skip(i - 1) {
                    *k = Tok::Email;
                }
            }
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < kinds.len() {
            match kinds[i] {
                Tok::Email => {
                    let start = i;
                    while i < kinds.len() && kinds[i] == Tok::Email {
                        i += 1;
                    }
                    out.push((start, i, "[email]"));
                }
                Tok::Digits(..) | Tok::Read(_) | Tok::Spoken => {
                    let start = i;
                    while i < kinds.len()
                        && matches!(kinds[i], Tok::Digits(..) | Tok::Read(_) | Tok::Spoken)
                    {
                        i += 1;
                    }
                    if let Some(tag) = self.tag(&kinds[start..i]) {
                        out.push((start, i, tag));
                    }
                }
                Tok::Other => i += 1,
            }
        }
        out
    }

    /// `text` with personal numbers and addresses replaced.
    pub fn text(&self, text: &str) -> String {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let runs = self.runs(&tokens);
        if runs.is_empty() {
            return text.to_string();
        }
        let mut out: Vec<String> = Vec::new();
        let mut i = 0;
        for (a, b, tag) in runs {
            out.extend(tokens[i..a].iter().map(|t| t.to_string()));
            // Keep sentence punctuation after the run.
            let last = tokens[b - 1];
            let trail: String = last
                .chars()
                .rev()
                .take_while(|c| matches!(c, ',' | '.' | '?' | '!' | ';' | ':'))
                .collect();
            out.push(format!("{tag}{}", trail.chars().rev().collect::<String>()));
            i = b;
        }
        out.extend(tokens[i..].iter().map(|t| t.to_string()));
        out.join(" ")
    }

    /// Redact a segment's text and its words (a redacted run becomes one word with the tag).
    pub fn segment(&self, seg: &mut TranscriptSegment) {
        seg.text = self.text(&seg.text);
        let tokens: Vec<&str> = seg.words.iter().map(|w| w.word.as_str()).collect();
        let runs = self.runs(&tokens);
        if runs.is_empty() {
            return;
        }
        let mut words: Vec<Word> = Vec::with_capacity(seg.words.len());
        let mut i = 0;
        for (a, b, tag) in runs {
            words.extend_from_slice(&seg.words[i..a]);
            words.push(Word {
                word: tag.to_string(),
                start_s: seg.words[a].start_s,
                end_s: seg.words[b - 1].end_s,
                p: seg.words[a..b].iter().map(|w| w.p).fold(1.0, f32::min),
            });
            i = b;
        }
        words.extend_from_slice(&seg.words[i..]);
        seg.words = words;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn r() -> Redactor {
        Redactor::new(Config::default().phrase_set())
    }

    #[test]
    fn written_numbers() {
        let r = r();
        assert_eq!(
            r.text("My card is 4111 1111 1111 1111, expiry soon."),
            "My card is [card], expiry soon."
        );
        assert_eq!(r.text("Card 4111-1111-1111-1111."), "Card [card].");
        assert_eq!(r.text("SSN 123-45-6789 please"), "SSN [number] please");
        assert_eq!(
            r.text("Account number 12345678."),
            "Account number [number]."
        );
        assert_eq!(
            r.text("Call me on +44 20 7946 0958 or 07700 900123"),
            "Call me on [phone] or [phone]"
        );
        assert_eq!(
            r.text("Write to jane.doe@example.com today"),
            "Write to [email] today"
        );
        assert_eq!(r.text("it's jane at example dot com."), "it's [email].");
        // "at ... dot" without a domain-like shape stays.
        assert_eq!(
            r.text("I'm at home, dot the i's"),
            "I'm at home, dot the i's"
        );
    }

    #[test]
    fn spoken_numbers() {
        let r = r();
        assert_eq!(
            r.text("it's four one one one, one one one one, double one, two two"),
            "it's [number]"
        );
        assert_eq!(
            r.text("my PIN is four five six seven."),
            "my PIN is [number]."
        );
        // Digits read one at a time, as the recogniser writes them.
        assert_eq!(
            r.text("My card number is 4-1-1-1-1"),
            "My card number is [number]"
        );
        assert_eq!(r.text("the code is 1 2 3 4."), "the code is [number].");
    }

    #[test]
    fn ordinary_numbers_are_kept() {
        let r = r();
        for keep in [
            "Press 8 to forward the message",
            "I've waited 45 minutes since 2024",
            "Use the 7 key for Q and the 9 key for Z.",
            "one of our agents will be with you",
            "two or three days",
        ] {
            assert_eq!(r.text(keep), keep);
        }
    }

    #[test]
    fn words_are_redacted_with_their_timing() {
        let r = r();
        let w = |word: &str, t: f64| Word {
            word: word.into(),
            start_s: t,
            end_s: t + 0.3,
            p: 0.9,
        };
        let mut seg = TranscriptSegment {
            speaker: crate::events::Speaker::Customer,
            start_s: 0.0,
            end_s: 3.0,
            text: "It's 4111 1111 1111 1111.".into(),
            words: vec![
                w("It's", 0.0),
                w("4111", 0.5),
                w("1111", 0.9),
                w("1111", 1.3),
                w("1111.", 1.7),
            ],
            avg_logprob: -0.2,
            no_speech_prob: 0.0,
            fallback: None,
            repaired: false,
        };
        r.segment(&mut seg);
        assert_eq!(seg.text, "It's [card].");
        assert_eq!(seg.words.len(), 2);
        assert_eq!(seg.words[1].word, "[card]");
        assert!(
            (seg.words[1].start_s - 0.5).abs() < 1e-9 && (seg.words[1].end_s - 2.0).abs() < 1e-9
        );
    }
}
