//! Which side is the agent, from the words: agents greet and offer help, callers say why they
//! call. Used where the roles are a guess (a diarised mono call's speaking order) and where they
//! are configured (a stereo file's channels), to check them.

use crate::config::Config;
use crate::events::{Speaker, TranscriptSegment};

/// How the warning for a call whose words fit its two sides the other way round begins (the
/// HTML report shows it at the top, beside the sides).
pub const SIDES_SWAPPED: &str = "the words fit the two sides the other way round";

/// Whether a warning is the one that questions the sides (every reader that singles it out
/// asks here, so the wording can change in one place).
pub fn questions_the_sides(warning: &str) -> bool {
    warning.starts_with(SIDES_SWAPPED)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// How well a transcript fits its speakers' roles, counted on the phrases only one role says
/// (`[diarise] agent_phrases` and `customer_phrases`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoleVotes {
    /// Phrases that fit the roles as assigned.
    pub as_is: usize,
    /// Phrases that fit the roles swapped.
    pub swapped: usize,
    /// The distinct phrases behind `swapped`, each with the speaker it was heard from.
    pub against: Vec<(Speaker, String)>,
}

impl RoleVotes {
    /// Count the phrases of `segments` (those of `Mixed` do not count).
    pub fn count<'a>(segments: impl Iterator<Item = &'a TranscriptSegment>, cfg: &Config) -> Self {
        let mut v = Self::default();
        for seg in segments {
            v.add(seg, cfg);
        }
        v
    }

    /// Add one segment's phrases (those of `Mixed` do not count).
    pub fn add(&mut self, seg: &TranscriptSegment, cfg: &Config) {
        if seg.speaker == Speaker::Mixed {
            return;
        }
        let text = seg.text.to_lowercase().replace('\u{2019}', "'");
        for (list, says) in [
            (&cfg.diarise.agent_phrases, Speaker::Agent),
            (&cfg.diarise.customer_phrases, Speaker::Customer),
        ] {
            for p in list.iter().filter(|p| !p.is_empty()) {
                let n = text.matches(p.as_str()).count();
                if n == 0 {
                    continue;
                }
                if seg.speaker == says {
                    self.as_is += n;
                } else {
                    self.swapped += n;
                    if !self
                        .against
                        .iter()
                        .any(|(s, q)| *s == seg.speaker && q == p)
                    {
                        self.against.push((seg.speaker, p.clone()));
                    }
                }
            }
        }
    }

    /// The warning when the roles look swapped: [`SIDES_SWAPPED`], the counts, where the customer
    /// looks to be (`where_is` names the side a speaker was taken from, e.g. "the left
    /// channel"), `fix`, and up to three phrases heard on each side.
    pub fn warning(&self, where_is: &dyn Fn(Speaker) -> String, fix: &str) -> String {
        // What to do comes before the evidence: a one-line view shows the start.
        let mut o = format!(
            "{SIDES_SWAPPED} ({} phrases against {}): the customer looks to be on {}; if so, {fix}.",
            self.swapped,
            self.as_is,
            where_is(Speaker::Agent)
        );
        for (who, role) in [(Speaker::Agent, "callers"), (Speaker::Customer, "agents")] {
            let phrases: Vec<String> = self
                .against
                .iter()
                .filter(|(s, _)| *s == who)
                .take(3)
                .map(|(_, p)| format!("\"{p}\""))
                .collect();
            if !phrases.is_empty() {
                o.push_str(&format!(
                    " {} (taken as the {who}) says what {role} say: {}.",
                    capitalise(&where_is(who)),
                    phrases.join(", ")
                ));
            }
        }
        o
    }

    /// Whether the words say the roles are the other way round beyond doubt: at least three
    /// phrases, more than twice those that fit as assigned, and from both sides (the one taken
    /// as the agent says what callers say, and the other what agents say). Agents also say "I
    /// need" or "I'd like" now and then, so one side's phrases alone never question a
    /// configured side.
    pub fn clearly_swapped(&self) -> bool {
        let from = |who: Speaker| self.against.iter().any(|(s, _)| *s == who);
        self.swapped >= 3
            && self.swapped > 2 * self.as_is
            && from(Speaker::Agent)
            && from(Speaker::Customer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(speaker: Speaker, text: &str) -> TranscriptSegment {
        TranscriptSegment::from_text(speaker, 0.0, 1.0, text)
    }

    #[test]
    fn phrases_vote_for_the_roles_that_fit_the_words() {
        let cfg = Config::default();
        // The first to speak (reviewed as the agent) is the caller here.
        let call = [
            seg(Speaker::Agent, "Hi, I\u{2019}m calling about my bill."),
            seg(Speaker::Customer, "Thanks for calling. Let me check that."),
            seg(Speaker::Customer, "Is there anything else?"),
        ];
        let v = RoleVotes::count(call.iter(), &cfg);
        assert_eq!((v.as_is, v.swapped), (0, 5));
        assert!(v.clearly_swapped());
        assert!(v.against.contains(&(Speaker::Agent, "my bill".into())));
        assert!(
            v.against
                .contains(&(Speaker::Customer, "let me check".into()))
        );
        // The same words with the roles the other way round vote for keeping them.
        let right: Vec<_> = call
            .iter()
            .map(|s| seg(s.speaker.other(), &s.text))
            .collect();
        let v = RoleVotes::count(right.iter(), &cfg);
        assert_eq!((v.as_is, v.swapped), (5, 0));
        assert!(v.against.is_empty() && !v.clearly_swapped());
        // Words that fit neither role leave the decision to the speaking order.
        let none = [seg(Speaker::Agent, "Kids are talking by the door.")];
        assert_eq!(RoleVotes::count(none.iter(), &cfg), RoleVotes::default());
    }

    #[test]
    fn a_few_stray_phrases_do_not_question_the_roles() {
        let cfg = Config::default();
        // An agent who says "I need" and "I'd like" while helping, and a caller who says
        // "please go ahead": three against, but the roles fit better as they are.
        let call = [
            seg(Speaker::Agent, "Thanks for calling, how can I help?"),
            seg(Speaker::Customer, "I'm calling about my order."),
            seg(
                Speaker::Agent,
                "I need your postcode. I'd like to check one thing.",
            ),
            seg(Speaker::Customer, "Sure, please go ahead."),
        ];
        let v = RoleVotes::count(call.iter(), &cfg);
        assert_eq!((v.as_is, v.swapped), (4, 3));
        assert!(!v.clearly_swapped());
        // Two phrases alone are not enough either.
        let two = [seg(Speaker::Agent, "I want to book. I need a table.")];
        let v = RoleVotes::count(two.iter(), &cfg);
        assert_eq!((v.as_is, v.swapped), (0, 2));
        assert!(!v.clearly_swapped());
        // Nor are many from one side only: an agent asking for details before the greeting was
        // transcribed, while the caller has said nothing telling yet.
        let one_side = [
            seg(Speaker::Agent, "I need your account number."),
            seg(
                Speaker::Agent,
                "I need the postcode. I'd like to confirm it.",
            ),
            seg(Speaker::Customer, "Sure, it is four one one."),
        ];
        let v = RoleVotes::count(one_side.iter(), &cfg);
        assert_eq!((v.as_is, v.swapped), (0, 3));
        assert!(!v.clearly_swapped());
        // The caller then answers in an agent's words: now both sides say it.
        let both: Vec<_> = one_side
            .iter()
            .cloned()
            .chain([seg(Speaker::Customer, "Please go ahead.")])
            .collect();
        assert!(RoleVotes::count(both.iter(), &cfg).clearly_swapped());
    }
}
