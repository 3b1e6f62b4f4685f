//! The folder summary: one row per call, failed files included with their error.

use super::Review;
use crate::events::Speaker;

/// Column names of `summary.csv`.
pub const HEADER: &[&str] = &[
    "file",
    "agent",
    "duration_s",
    "agent_talk_ratio",
    "customer_episodes",
    "customer_escalated_s",
    "customer_peak",
    "agent_interruptions",
    "customer_interruptions",
    "overlap_s",
    "longest_silence_s",
    "acknowledgements",
    "bare_apologies",
    "specific_apologies",
    "cues",
    "alerts",
    "warnings",
    "error",
];

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One CSV line (with newline) for a reviewed call or for a file that failed; `agent` is the
/// agent's name from the call's details (a review's own, [`Review::agent`], comes first).
pub fn row(file: &str, agent: Option<&str>, outcome: Result<&Review, &str>) -> String {
    let cells: Vec<String> = match outcome {
        Ok(r) => {
            // Language items are empty when the call was not transcribed.
            let card = |k: &str| {
                r.scorecard
                    .agent
                    .get(k)
                    .map_or(String::new(), |i| i.value.to_string())
            };
            let c = r.speakers.get(&Speaker::Customer);
            let s = &r.conversation.summary;
            vec![
                file.into(),
                r.agent().or(agent).unwrap_or_default().into(),
                format!("{:.2}", r.duration_s),
                s.talk_ratio_agent
                    .map_or(String::new(), |v| format!("{v:.3}")),
                c.map_or(String::new(), |c| c.episodes.to_string()),
                c.map_or(String::new(), |c| format!("{:.1}", c.escalated_s)),
                c.map_or(String::new(), |c| format!("{:.2}", c.peak_escalation)),
                s.agent_interruptions.to_string(),
                s.customer_interruptions.to_string(),
                format!("{:.1}", s.overlap_s),
                format!("{:.1}", s.longest_silence_s),
                card("acknowledgements"),
                card("bare_apologies"),
                card("specific_apologies"),
                r.cues.len().to_string(),
                r.alerts.len().to_string(),
                r.warnings.join("; "),
                String::new(),
            ]
        }
        Err(e) => {
            let mut v = vec![file.to_string(), agent.unwrap_or_default().to_string()];
            v.extend(std::iter::repeat_n(String::new(), HEADER.len() - 3));
            v.push(e.to_string());
            v
        }
    };
    let mut line = cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

/// The cells of one line made by [`row`].
pub fn cells(line: &str) -> Vec<String> {
    ::csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes())
        .records()
        .next()
        .and_then(|r| r.ok())
        .map(|r| r.iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The header line (with newline).
pub fn header() -> String {
    format!("{}\n", HEADER.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rows_keep_the_column_count_and_quote() {
        let line = row("bad, file.wav", Some("Ann"), Err("is \"empty\""));
        assert_eq!(
            line,
            "\"bad, file.wav\",Ann,,,,,,,,,,,,,,,,\"is \"\"empty\"\"\"\n"
        );
        let back = cells(&line);
        assert_eq!(back.len(), HEADER.len());
        assert_eq!(back[0], "bad, file.wav");
        assert_eq!(back[HEADER.len() - 1], "is \"empty\"");
    }
}
