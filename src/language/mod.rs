//! Language analysis of transcripts: phrases that matter for coaching, names, repeated lines,
//! and redaction of personal numbers.
//!
//! Matching works on normalised words (lower case, punctuation dropped, contractions expanded),
//! whole words in order, with one letter of slack in longer words, because recognisers slip.
//! A phrase negated in its own clause ("I don't want to cancel", "I won't be able to") does not
//! count: a word list cannot tell what is meant, but it can avoid saying the opposite.

pub mod redact;
pub mod roles;

use std::collections::BTreeSet;

use crate::config::{Config, PhraseSet};
use crate::events::{PhraseEvent, PhraseKind, Speaker, TranscriptSegment};

pub use redact::Redactor;
pub use roles::RoleVotes;

/// Words of a text: lower case, punctuation removed (apostrophes inside words kept), and
/// contractions expanded with `contractions`.
pub fn words(text: &str, contractions: &[[String; 2]]) -> Vec<String> {
    words_in_clauses(text, contractions).0
}

/// [`words`], with each word's clause number: a clause ends at `, . ; : ? !`, so that a
/// negation in one clause does not reach a phrase in the next ("No, I will not. I will call
/// you back").
fn words_in_clauses(text: &str, contractions: &[[String; 2]]) -> (Vec<String>, Vec<u32>) {
    let (mut out, mut clause_of) = (Vec::new(), Vec::new());
    let mut clause = 0;
    for raw in text.split(|c: char| c.is_whitespace() || c == '-' || c == '/') {
        let w: String = raw
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '\'' || *c == '’')
            .map(|c| if c == '’' { '\'' } else { c })
            .flat_map(char::to_lowercase)
            .collect();
        // A lone `*` is a phrase's wildcard (one word), kept.
        let w = if raw == "*" {
            "*"
        } else {
            w.trim_matches('\'')
        };
        if !w.is_empty() {
            match contractions.iter().find(|[from, _]| from == w) {
                Some([_, to]) => out.extend(to.split_whitespace().map(str::to_string)),
                None => out.push(w.to_string()),
            }
            clause_of.resize(out.len(), clause);
        }
        if raw.ends_with([',', '.', ';', ':', '?', '!']) {
            clause += 1;
        }
    }
    (out, clause_of)
}

/// Whether two words match allowing a recogniser's slip: equal, or (5+ letters) one edit apart.
fn word_match(pattern: &str, word: &str) -> bool {
    if pattern == "*" || pattern == word {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (pattern.chars().collect(), word.chars().collect());
    if a.len() < 5 || b.len() < 5 || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    // Edit distance <= 1.
    let (mut i, mut j, mut edits) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            i += 1;
            j += 1;
            continue;
        }
        edits += 1;
        if edits > 1 {
            return false;
        }
        match a.len().cmp(&b.len()) {
            std::cmp::Ordering::Greater => i += 1,
            std::cmp::Ordering::Less => j += 1,
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    edits + (a.len() - i) + (b.len() - j) <= 1
}

/// A list of phrases, each as normalised words.
#[derive(Debug, Clone)]
pub struct PhraseList(Vec<Vec<String>>);

impl PhraseList {
    /// Compile `phrases` with the language's contractions.
    pub fn new(phrases: &[String], contractions: &[[String; 2]]) -> Self {
        Self(
            phrases
                .iter()
                .map(|p| words(p, contractions))
                .filter(|w| !w.is_empty())
                .collect(),
        )
    }

    /// Word ranges `(start, end)` in `text` where some phrase matches, first match per position.
    pub fn find(&self, text: &[String]) -> Vec<(usize, usize)> {
        self.matches(text)
            .into_iter()
            .map(|(a, b, _)| (a, b))
            .collect()
    }

    /// [`find`](Self::find), with the phrase that matched (its words).
    fn matches<'a>(&'a self, text: &[String]) -> Vec<(usize, usize, &'a [String])> {
        let mut hits = Vec::new();
        let mut i = 0;
        while i < text.len() {
            let hit = self.0.iter().find(|p| {
                i + p.len() <= text.len() && p.iter().zip(&text[i..]).all(|(a, b)| word_match(a, b))
            });
            match hit {
                Some(p) => {
                    hits.push((i, i + p.len(), p.as_slice()));
                    i += p.len();
                }
                None => i += 1,
            }
        }
        hits
    }
}

/// The compiled phrase lists of one language.
#[derive(Debug, Clone)]
pub struct Phrases {
    contractions: Vec<[String; 2]>,
    acknowledgement: PhraseList,
    apology: PhraseList,
    specific_markers: Vec<String>,
    apology_generic: BTreeSet<String>,
    ownership: PhraseList,
    blame: PhraseList,
    thanks: PhraseList,
    manager_request: PhraseList,
    threat: PhraseList,
    escalation: PhraseList,
    profanity: PhraseList,
    insults: PhraseList,
    self_reference: PhraseList,
    closing: PhraseList,
    name_intro: PhraseList,
    not_names: BTreeSet<String>,
    negations: Vec<String>,
    subjects: Vec<String>,
}

impl Phrases {
    /// Compile a phrase set from the configuration.
    pub fn new(p: &PhraseSet) -> Self {
        let c = &p.contractions;
        let list = |v: &[String]| PhraseList::new(&expand_slots(v, &p.slots), c);
        Self {
            contractions: c.clone(),
            acknowledgement: list(&p.acknowledgement),
            apology: list(&p.apology),
            specific_markers: p
                .specific_markers
                .iter()
                .map(|s| s.to_lowercase())
                .collect(),
            apology_generic: p
                .apology_generic_words
                .iter()
                .flat_map(|g| words(g, c))
                .collect(),
            ownership: list(&p.ownership),
            blame: list(&p.blame),
            thanks: list(&p.thanks),
            manager_request: list(&p.manager_request),
            threat: list(&p.threat),
            escalation: list(&p.escalation),
            profanity: list(&p.profanity),
            insults: list(&p.insults),
            self_reference: list(&p.self_reference),
            closing: list(&p.closing),
            name_intro: list(&p.name_intro),
            not_names: p.not_names.iter().map(|s| s.to_lowercase()).collect(),
            negations: p.negations.iter().flat_map(|n| words(n, c)).collect(),
            subjects: p.subjects.iter().flat_map(|n| words(n, c)).collect(),
        }
    }

    /// Normalised words of `text` in this language.
    pub fn words(&self, text: &str) -> Vec<String> {
        words(text, &self.contractions)
    }
}

/// `phrases` with each `{slot}` replaced by every entry of that slot, after up to two other
/// words (`*`): "let me {action}" is "let me check", "let me just check", "let me have a
/// quick look", ... A phrase naming a slot that is not there is left out (the configuration
/// is checked for that when it is loaded).
fn expand_slots(
    phrases: &[String],
    slots: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    fn expand(
        phrase: &str,
        slots: &std::collections::BTreeMap<String, Vec<String>>,
        out: &mut Vec<String>,
    ) {
        let Some((head, rest)) = phrase.split_once('{') else {
            out.push(phrase.to_string());
            return;
        };
        let Some((name, tail)) = rest.split_once('}') else {
            return;
        };
        for entry in slots.get(name).into_iter().flatten() {
            for gap in ["", "* ", "* * "] {
                expand(&format!("{head}{gap}{entry}{tail}"), slots, out);
            }
        }
    }
    let mut out = Vec::new();
    for p in phrases {
        expand(p, slots, &mut out);
    }
    out
}

/// How far before a phrase a negation reaches: "I do not want to cancel my account" (the "not"
/// is three words before "cancel").
const NEGATION_REACH: usize = 3;

/// Whether the phrase `phrase` found at words `a..b` is negated: a negation up to
/// [`NEGATION_REACH`] words before it in its clause (unless the phrase starts with its own
/// subject, "i will cancel"), or where the phrase has a `*` ("I will not check" is "i will *
/// check").
fn negated(
    w: &[String],
    clause: &[u32],
    p: &Phrases,
    (a, b, phrase): (usize, usize, &[String]),
) -> bool {
    let is_neg = |i: usize| clause[i] == clause[a] && p.negations.contains(&w[i]);
    let own_subject = phrase.first().is_some_and(|s| p.subjects.contains(s));
    (!own_subject && (a.saturating_sub(NEGATION_REACH)..a).any(is_neg))
        || (a..b).any(|i| phrase[i - a] == "*" && is_neg(i))
}

/// Per-call language state: finds phrases in each transcript segment as it arrives.
pub struct Analyzer {
    phrases: Phrases,
    name: Option<String>,
    /// Words the agent may address the customer by: the given name, and with a name from the
    /// call's details its surname too ("Ms Connor").
    name_words: Vec<String>,
    agent_sentences: Vec<(f64, Vec<String>)>,
    repeat_similarity: f32,
    repeat_min_words: usize,
}

impl Analyzer {
    /// An analyser with the configured language and thresholds.
    pub fn new(cfg: &Config) -> Self {
        Self {
            phrases: Phrases::new(cfg.phrase_set()),
            name: None,
            name_words: Vec::new(),
            agent_sentences: Vec::new(),
            repeat_similarity: cfg.coach.rules.repeat_similarity,
            repeat_min_words: cfg.coach.rules.repeat_min_words,
        }
    }

    /// The customer's name, once they have said it.
    pub fn customer_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The customer's name from the call's details (a CRM or softphone), before anything is
    /// said: its first word is the name the agent is expected to use, and any of its words
    /// counts as a use. `None` when it holds no word that can be a name.
    pub fn know_customer_name(&mut self, full: &str) -> Option<&str> {
        let words: Vec<String> = self
            .phrases
            .words(full)
            .into_iter()
            .filter(|n| {
                n.chars().filter(|c| c.is_alphabetic()).count() >= 2
                    && n.chars().all(|c| c.is_alphabetic() || c == '\'')
                    && !self.phrases.not_names.contains(n)
            })
            .collect();
        let first = words.first()?.clone();
        self.name = Some(first);
        self.name_words = words;
        self.name.as_deref()
    }

    /// Phrases in one segment.
    pub fn analyse(&mut self, seg: &TranscriptSegment) -> Vec<PhraseEvent> {
        let p = &self.phrases;
        let (w, clause) = words_in_clauses(&seg.text, &p.contractions);
        // Phrases that are not negated, as word ranges.
        let affirmed = |list: &PhraseList| -> Vec<(usize, usize)> {
            list.matches(&w)
                .into_iter()
                .filter(|&m| !negated(&w, &clause, p, m))
                .map(|(a, b, _)| (a, b))
                .collect()
        };
        let mut out = Vec::new();
        let mut found = |kind: PhraseKind, text: String, detail: Option<String>| {
            out.push(PhraseEvent {
                speaker: seg.speaker,
                kind,
                start_s: seg.start_s,
                end_s: seg.end_s,
                text,
                detail,
            })
        };
        let span = |(a, b): (usize, usize)| w[a..b].join(" ");
        let agent_side = seg.speaker != Speaker::Customer;
        let customer_side = seg.speaker != Speaker::Agent;
        if agent_side {
            let acks = affirmed(&p.acknowledgement);
            for &r in &acks {
                found(PhraseKind::Acknowledgement, span(r), None);
            }
            // "Sorry" inside an acknowledgement ("sorry to hear that") is sympathy, not an
            // apology that should say what for.
            let sympathy = |r: &(usize, usize)| acks.iter().any(|&(a, b)| a <= r.0 && r.1 <= b);
            for (a, b) in affirmed(&p.apology).into_iter().filter(|r| !sympathy(r)) {
                // Specific: "sorry for/about/that" + at least two more words of the same
                // clause, and not only words that name nothing ("the inconvenience caused").
                let object: Vec<&String> = (b + 1..w.len())
                    .take_while(|&i| clause[i] == clause[b])
                    .map(|i| &w[i])
                    .collect();
                let specific = w
                    .get(b)
                    .is_some_and(|m| p.specific_markers.contains(m) && clause[b] == clause[a])
                    && object.len() >= 2
                    && object.iter().any(|o| !p.apology_generic.contains(*o));
                let kind = if specific {
                    PhraseKind::SpecificApology
                } else {
                    PhraseKind::BareApology
                };
                let end = if specific { (b + 4).min(w.len()) } else { b };
                found(kind, span((a, end)), None);
            }
            for r in affirmed(&p.ownership) {
                found(PhraseKind::Ownership, span(r), None);
            }
            for r in p.blame.find(&w) {
                found(PhraseKind::Blame, span(r), None);
            }
            if let Some(name) = &self.name
                && let Some(i) = w
                    .iter()
                    .position(|x| x == name || self.name_words.contains(x))
            {
                found(PhraseKind::NameUsed, span((i, i + 1)), Some(name.clone()));
            }
        }
        for r in p.thanks.find(&w) {
            found(PhraseKind::Thanks, span(r), None);
        }
        if customer_side {
            for r in affirmed(&p.manager_request) {
                found(PhraseKind::ManagerRequest, span(r), None);
            }
            for r in affirmed(&p.threat) {
                found(PhraseKind::Threat, span(r), None);
            }
            for r in affirmed(&p.escalation) {
                found(PhraseKind::EscalationWords, span(r), None);
            }
            for r in p.profanity.find(&w) {
                found(PhraseKind::Profanity, span(r), None);
            }
            // An insult the caller says of themselves ("I feel so stupid") insults no one:
            // a self-reference ending up to two words before it, in its clause.
            let selves = p.self_reference.find(&w);
            for (a, b) in p.insults.find(&w) {
                let of_self = selves
                    .iter()
                    .any(|&(_, e)| e <= a && a - e <= 2 && clause[e - 1] == clause[a]);
                if !of_self {
                    found(PhraseKind::Profanity, span((a, b)), None);
                }
            }
            for r in p.closing.find(&w) {
                found(PhraseKind::Closing, span(r), None);
            }
            for (a, b, phrase) in p.name_intro.matches(&w) {
                let wildcard = phrase.iter().position(|w| w == "*").map(|k| a + k);
                // The (first) name, if it can be one: the word the phrase's `*` stands for
                // ("this is * speaking"), or else the word after it ("my name is").
                if let Some(n) = w.get(wildcard.unwrap_or(b)).filter(|n| {
                    n.len() >= 2 && n.chars().all(char::is_alphabetic) && !p.not_names.contains(*n)
                }) {
                    let n = n.clone();
                    // Who is on the line wins over the call's details (another member of the
                    // household); the details' words still count as uses.
                    self.name = Some(n.clone());
                    if !self.name_words.contains(&n) {
                        self.name_words.push(n.clone());
                    }
                    found(PhraseKind::NameGiven, n.clone(), Some(n));
                }
            }
        }
        if seg.speaker == Speaker::Agent {
            // Near-identical sentences: share of shared words over the larger sentence. Only
            // earlier utterances count: a sentence twice within one segment is a recogniser
            // loop far more often than a real repeat, so it is neither flagged nor compared.
            let mut this_segment: Vec<(f64, Vec<String>)> = Vec::new();
            for sentence in seg.text.split(['.', '?', '!']) {
                let sw = p.words(sentence);
                if sw.len() < self.repeat_min_words {
                    continue;
                }
                let set: BTreeSet<&String> = sw.iter().collect();
                let earlier = self.agent_sentences.iter().find(|(_, prev)| {
                    let pset: BTreeSet<&String> = prev.iter().collect();
                    let common = set.intersection(&pset).count() as f32;
                    common / set.len().max(pset.len()) as f32 >= self.repeat_similarity
                });
                if let Some((t, _)) = earlier
                    && !this_segment.iter().any(|(_, prev)| *prev == sw)
                {
                    found(
                        PhraseKind::RepeatedLine,
                        sw.join(" "),
                        Some(format!("{t:.1}")),
                    );
                }
                this_segment.push((seg.start_s, sw));
            }
            self.agent_sentences.extend(this_segment);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(speaker: Speaker, t: f64, text: &str) -> TranscriptSegment {
        TranscriptSegment::from_text(speaker, t, t + 2.0, text)
    }

    fn kinds(a: &mut Analyzer, s: TranscriptSegment) -> Vec<PhraseKind> {
        a.analyse(&s).into_iter().map(|p| p.kind).collect()
    }

    #[test]
    fn contractions_punctuation_and_slips() {
        let c = Config::default();
        let w = words(
            "I'm SO sorry, that's... not our fault!",
            &c.phrase_set().contractions,
        );
        assert_eq!(
            w,
            [
                "i", "am", "so", "sorry", "that", "is", "not", "our", "fault"
            ]
        );
        assert!(word_match("frustrating", "frustratin"));
        assert!(word_match("supervisor", "supervisors"));
        assert!(!word_match("sue", "see"), "short words must match exactly");
    }

    #[test]
    fn a_wildcard_stands_for_one_word() {
        let mut a = Analyzer::new(&Config::default());
        // name_intro's "this is * speaking".
        let k = kinds(
            &mut a,
            seg(Speaker::Customer, 1.0, "Hello, this is Maria speaking."),
        );
        assert_eq!(k, [PhraseKind::NameGiven]);
        assert_eq!(a.customer_name(), Some("maria"));
        // "it is * here": a name, but not "all" or "right".
        let k = kinds(
            &mut a,
            seg(Speaker::Customer, 2.0, "It's all here. Thanks."),
        );
        assert!(!k.contains(&PhraseKind::NameGiven), "{k:?}");
        let k = kinds(&mut a, seg(Speaker::Customer, 3.0, "Hi, it's Tom here."));
        assert!(k.contains(&PhraseKind::NameGiven), "{k:?}");
        assert_eq!(a.customer_name(), Some("tom"));
    }

    /// Each of `yes` is found as `kind` alone, none of `no` is found as `kind`.
    fn found_in(speaker: Speaker, kind: PhraseKind, yes: &[&str], no: &[&str]) {
        let mut a = Analyzer::new(&Config::default());
        for text in yes {
            assert_eq!(kinds(&mut a, seg(speaker, 1.0, text)), [kind], "{text}");
        }
        for text in no {
            let k = kinds(&mut a, seg(speaker, 1.0, text));
            assert!(!k.contains(&kind), "{text}: {k:?}");
        }
    }

    #[test]
    fn ownership_says_what_will_be_done() {
        found_in(
            Speaker::Agent,
            PhraseKind::Ownership,
            &[
                "Let me check that for you.",
                "I'll just quickly check the order.",
                "Let me have a quick look.",
                "I'm going to send you a replacement.",
                "I will get that sorted today.",
            ],
            &[
                "Let me finish.",
                "I will be honest with you.",
                "I'll tell you what the policy says.",
            ],
        );
    }

    #[test]
    fn blame_is_not_information_or_a_question() {
        found_in(
            Speaker::Agent,
            PhraseKind::Blame,
            &[
                "You should have read the terms.",
                "Well, you didn't pay on time.",
                "You should have just called us first.",
            ],
            &[
                "You should have received a text with the code.",
                "You didn't get the email?",
                "You should have it by Friday.",
            ],
        );
    }

    #[test]
    fn insults_said_of_oneself_are_no_abuse() {
        found_in(
            Speaker::Customer,
            PhraseKind::Profanity,
            &[
                "You idiot.",
                "This company is pathetic.",
                "I am calling again, you are incompetent.",
            ],
            &[
                "I feel so stupid, I forgot my password.",
                "My stupid phone broke.",
                "Sorry, I was being an idiot.",
            ],
        );
    }

    #[test]
    fn acknowledgements_that_name_a_feeling() {
        found_in(
            Speaker::Agent,
            PhraseKind::Acknowledgement,
            &[
                "That sounds really frustrating.",
                "Oh, that must have been so stressful for you.",
                "I know how annoying this is.",
                "I realise this is difficult.",
                "I understand.",
                // Sympathy alone, not also an apology that should say what for.
                "I'm so sorry to hear that.",
            ],
            &[
                "That sounds good.",
                "That must be the old address.",
                "I know how to fix this.",
                "I realise I forgot the reference number.",
            ],
        );
    }

    #[test]
    fn negated_phrases_do_not_count_in_their_clause() {
        let mut a = Analyzer::new(&Config::default());
        let customer = |a: &mut Analyzer, text: &str| kinds(a, seg(Speaker::Customer, 1.0, text));
        let agent = |a: &mut Analyzer, text: &str| kinds(a, seg(Speaker::Agent, 1.0, text));
        // Said and meant.
        assert_eq!(
            customer(&mut a, "I want to cancel my account."),
            [PhraseKind::Threat]
        );
        assert_eq!(
            customer(&mut a, "If you don't fix it I will cancel."),
            [PhraseKind::Threat],
            "a negation five words back is the condition, not the threat"
        );
        assert_eq!(
            customer(&mut a, "No, I want a manager."),
            [PhraseKind::ManagerRequest]
        );
        // Said and not meant.
        assert!(customer(&mut a, "I don't want to cancel, I want it fixed.").is_empty());
        assert!(customer(&mut a, "I do not need a manager").is_empty());
        // Someone named, no one asked for.
        assert!(customer(&mut a, "My manager approved the order.").is_empty());
        assert!(customer(&mut a, "Someone else used my card.").is_empty());
        for asked in [
            "Can I speak to your supervisor?",
            "Put me through to someone else.",
            "Manager, please.",
            "I want to talk to someone who can actually help.",
        ] {
            assert_eq!(
                customer(&mut a, asked),
                [PhraseKind::ManagerRequest],
                "{asked}"
            );
        }
        assert!(customer(&mut a, "I'm never going to complain").is_empty());
        // Requests and names threaten nothing.
        for request in [
            "Can you cancel the old payment?",
            "Please switch to my other card.",
            "I'll leave you my number.",
            "Hi, this is Sue.",
        ] {
            assert!(
                !customer(&mut a, request).contains(&PhraseKind::Threat),
                "{request}"
            );
        }
        for threat in [
            "I'm going to cancel my whole broadband contract.",
            "I will take you to court.",
            "I'll switch to another provider.",
        ] {
            assert_eq!(customer(&mut a, threat), [PhraseKind::Threat], "{threat}");
        }
        // A negation in the clause before does not reach.
        assert_eq!(
            customer(&mut a, "I did not call before. Now I want to cancel."),
            [PhraseKind::Threat]
        );
        // Ownership: negated after it too.
        assert_eq!(
            agent(&mut a, "I will send you a new card today."),
            [PhraseKind::Ownership]
        );
        assert!(agent(&mut a, "I won't be able to do that.").is_empty());
        assert!(agent(&mut a, "I will not refund it").is_empty());
        assert_eq!(
            agent(&mut a, "I will not, no. Let me check instead."),
            [PhraseKind::Ownership]
        );
        assert!(agent(&mut a, "I'm not sorry.").is_empty());
        // Blame and profanity keep their own "not".
        assert_eq!(agent(&mut a, "That is not our fault."), [PhraseKind::Blame]);
        assert_eq!(
            customer(&mut a, "This is not fucking fair"),
            [PhraseKind::Profanity]
        );
        // A language without negation words negates nothing.
        let mut cfg = Config::default();
        for set in cfg.phrases.values_mut() {
            set.negations.clear();
        }
        let mut b = Analyzer::new(&cfg);
        assert_eq!(
            customer(&mut b, "I don't want to cancel my account"),
            [PhraseKind::Threat]
        );
    }

    #[test]
    fn bare_versus_specific_apologies() {
        let mut a = Analyzer::new(&Config::default());
        assert_eq!(
            kinds(&mut a, seg(Speaker::Agent, 1.0, "Sorry.")),
            [PhraseKind::BareApology]
        );
        assert_eq!(
            kinds(&mut a, seg(Speaker::Agent, 2.0, "I'm so sorry about that.")),
            [PhraseKind::BareApology]
        );
        assert_eq!(
            kinds(
                &mut a,
                seg(
                    Speaker::Agent,
                    3.0,
                    "I apologise for the delay with your order."
                )
            ),
            [PhraseKind::SpecificApology]
        );
        assert_eq!(
            kinds(
                &mut a,
                seg(
                    Speaker::Agent,
                    4.0,
                    "Sorry for the wrong charge on your bill"
                )
            ),
            [PhraseKind::SpecificApology]
        );
        // What follows the marker must be in the same clause and name something.
        let apologies = |a: &mut Analyzer, text: &str| {
            let mut k = kinds(a, seg(Speaker::Agent, 5.0, text));
            k.retain(|k| matches!(k, PhraseKind::BareApology | PhraseKind::SpecificApology));
            k
        };
        for bare in [
            "Sorry about that, let me check your order.",
            "I'm sorry for the inconvenience.",
            "We apologise for any inconvenience this may have caused you.",
            "I'm so sorry that happened to you.",
            "Sorry. For the record, your order is late.",
        ] {
            assert_eq!(apologies(&mut a, bare), [PhraseKind::BareApology], "{bare}");
        }
        for specific in [
            "Sorry for the trouble with your parcel.",
            "I'm sorry that you were charged twice.",
        ] {
            assert_eq!(
                apologies(&mut a, specific),
                [PhraseKind::SpecificApology],
                "{specific}"
            );
        }
    }

    #[test]
    fn a_name_from_the_call_details_counts_its_first_name_and_surname_as_uses() {
        let mut a = Analyzer::new(&Config::default());
        assert_eq!(a.know_customer_name("  Mrs Sarah O'Connor "), Some("sarah"));
        let used = |a: &mut Analyzer, text: &str| {
            a.analyse(&seg(Speaker::Agent, 5.0, text))
                .iter()
                .any(|p| p.kind == PhraseKind::NameUsed)
        };
        assert!(used(&mut a, "Thank you, Sarah."));
        assert!(used(&mut a, "Thank you, Ms O'Connor."));
        assert!(!used(&mut a, "Thank you for waiting."));
        // Nothing that can be a name: nothing known.
        let mut b = Analyzer::new(&Config::default());
        assert_eq!(b.know_customer_name("42 / -"), None);
        assert_eq!(b.customer_name(), None);
    }

    #[test]
    fn name_is_captured_and_later_use_counted() {
        let mut a = Analyzer::new(&Config::default());
        let k = kinds(
            &mut a,
            seg(
                Speaker::Customer,
                1.0,
                "Hi, my name is Sarah Connor and I'm calling about my bill.",
            ),
        );
        assert_eq!(k, [PhraseKind::NameGiven]);
        assert_eq!(a.customer_name(), Some("sarah"));
        let used = a.analyse(&seg(Speaker::Agent, 5.0, "Thanks Sarah, let me check."));
        assert!(
            used.iter()
                .any(|p| p.kind == PhraseKind::NameUsed && p.detail.as_deref() == Some("sarah"))
        );
        assert!(used.iter().any(|p| p.kind == PhraseKind::Ownership));
        // "My name is not important" gives no name.
        let mut b = Analyzer::new(&Config::default());
        b.analyse(&seg(Speaker::Customer, 1.0, "my name is not important"));
        assert_eq!(b.customer_name(), None);
    }

    #[test]
    fn customer_requests_threats_and_abuse_are_not_agent_phrases() {
        let mut a = Analyzer::new(&Config::default());
        let k = kinds(
            &mut a,
            seg(
                Speaker::Customer,
                1.0,
                "This is ridiculous, get me your supervisor or I'll cancel, you useless idiot",
            ),
        );
        for want in [
            PhraseKind::EscalationWords,
            PhraseKind::ManagerRequest,
            PhraseKind::Threat,
            PhraseKind::Profanity,
        ] {
            assert!(k.contains(&want), "{want:?} in {k:?}");
        }
        // The same words from the agent are not customer signals.
        let k = kinds(
            &mut a,
            seg(Speaker::Agent, 3.0, "My supervisor says you could cancel."),
        );
        assert!(
            !k.contains(&PhraseKind::ManagerRequest) && !k.contains(&PhraseKind::Threat),
            "{k:?}"
        );
    }

    #[test]
    fn near_identical_agent_sentences_are_repeats() {
        let mut a = Analyzer::new(&Config::default());
        assert!(
            kinds(
                &mut a,
                seg(
                    Speaker::Agent,
                    1.0,
                    "I understand, your refund is being processed."
                )
            )
            .iter()
            .all(|k| *k != PhraseKind::RepeatedLine)
        );
        let r = a.analyse(&seg(
            Speaker::Agent,
            20.0,
            "Your refund is being processed, I understand.",
        ));
        let rep = r
            .iter()
            .find(|p| p.kind == PhraseKind::RepeatedLine)
            .expect("repeat");
        assert_eq!(rep.detail.as_deref(), Some("1.0"));
        // Different content is not a repeat.
        assert!(
            kinds(
                &mut a,
                seg(
                    Speaker::Agent,
                    30.0,
                    "Let me call the warehouse about your parcel."
                )
            )
            .iter()
            .all(|k| *k != PhraseKind::RepeatedLine)
        );
    }

    #[test]
    fn a_sentence_twice_in_one_segment_is_not_a_repeated_line() {
        let mut a = Analyzer::new(&Config::default());
        // A recogniser loop inside one utterance: not something the agent said twice.
        let k = kinds(
            &mut a,
            seg(
                Speaker::Agent,
                8.0,
                "Yes, what can I help you? Yes, what can I help you?",
            ),
        );
        assert!(!k.contains(&PhraseKind::RepeatedLine), "{k:?}");
        // Said again in a later utterance: a repeat, flagged once.
        let r = a.analyse(&seg(
            Speaker::Agent,
            40.0,
            "Yes, what can I help you? Yes, what can I help you?",
        ));
        let reps: Vec<_> = r
            .iter()
            .filter(|p| p.kind == PhraseKind::RepeatedLine)
            .collect();
        assert_eq!(reps.len(), 1, "{r:?}");
        assert_eq!(reps[0].detail.as_deref(), Some("8.0"));
    }
}
