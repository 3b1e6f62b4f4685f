//! WebVTT subtitles of a call's transcript (`--vtt`), one cue per segment, speaker as voice.

use std::fmt::Write;

use super::Review;

fn stamp(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The transcript as a WebVTT document (empty cue list when nothing was said).
pub fn render(review: &Review) -> String {
    let mut o = String::from("WEBVTT\n\n");
    for (i, s) in review.transcript.iter().flatten().enumerate() {
        // "-->" cannot appear in cue text; a blank line would end the cue.
        let text = s.text.replace("-->", "->").replace('\n', " ");
        let _ = write!(
            o,
            "{}\n{} --> {}\n<v {}>{}\n\n",
            i + 1,
            stamp(s.start_s),
            stamp(s.end_s.max(s.start_s + 0.001)),
            s.speaker,
            text
        );
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps() {
        assert_eq!(super::stamp(3723.4567), "01:02:03.457");
        assert_eq!(super::stamp(0.0), "00:00:00.000");
    }
}
