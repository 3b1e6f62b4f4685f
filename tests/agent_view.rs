//! Snapshot of the agent's terminal view (ratatui's test backend): a small terminal beside a
//! softphone, mid-call, with an escalated customer and a cue on screen.

use calmline::events::{
    BaselineValues, Because, Cue, CueKind, DeviceStatus, Event, EventBody, Levels, Speaker, Status,
    TranscriptSegment,
};
use calmline::ui::AgentView;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn ev(t_s: f64, body: EventBody) -> Event {
    Event { t_s, body }
}

fn seg(speaker: Speaker, t: f64, text: &str) -> EventBody {
    EventBody::Transcript(TranscriptSegment::from_text(speaker, t, t + 2.0, text))
}

fn render(view: &AgentView, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| view.draw(f, f.area())).unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn scripted() -> AgentView {
    let mut v = AgentView {
        cue_display_s: 6.0,
        ..Default::default()
    };
    let events = vec![
        ev(
            30.0,
            EventBody::Baseline {
                speaker: Speaker::Customer,
                baseline: BaselineValues {
                    loudness_db: -41.0,
                    pitch_hz: 148.0,
                    tilt_db: -14.0,
                    pace_sps: 4.2,
                    voiced_s: 5.0,
                    loudness_uncertainty_db: Some(0.6),
                    pitch_uncertainty_st: Some(0.3),
                },
            },
        ),
        ev(
            52.0,
            seg(Speaker::Agent, 50.0, "Let me check that order for you."),
        ),
        ev(
            55.0,
            seg(
                Speaker::Customer,
                53.0,
                "This is the third time I have called!",
            ),
        ),
        ev(
            55.1,
            EventBody::Levels(Levels {
                speaker: Speaker::Agent,
                loudness_db: -44.0,
                pitch_hz: None,
                voiced: false,
                active: false,
                escalation: 0.0,
                escalated: false,
                over_baseline: None,
            }),
        ),
        ev(
            55.1,
            EventBody::Levels(Levels {
                speaker: Speaker::Customer,
                loudness_db: -28.0,
                pitch_hz: Some(210.0),
                voiced: true,
                active: true,
                escalation: 1.6,
                escalated: true,
                over_baseline: None,
            }),
        ),
        ev(
            55.2,
            EventBody::Cue(Cue {
                kind: CueKind::Acknowledge,
                headline: "Acknowledge how they feel.".into(),
                example: Some("I can see why this is frustrating.".into()),
                priority: 4,
                evidence: Because {
                    figures: Default::default(),
                    moments: vec![54.9],
                    // As the detector words it (samples/escalating_call.flac's first cue).
                    sentence: "escalation started: customer +16.5 dB, +10.3 semitones, +2.1 dB spectral tilt over baseline for 0.2 s".into(),
                },
            }),
        ),
        ev(
            56.0,
            EventBody::Status(Status {
                devices: vec![DeviceStatus {
                    name: "call_out.monitor".into(),
                    carries: "agent+customer".into(),
                    connected: true,
                    delay_ms: Some(40.0),
                }],
                dropped_samples: 0,
                drift_ppm: 0.0,
                drift_corrections: 0,
                transcript_lag_s: Some(0.7),
                transcripts_skipped: 0,
                model: Some("models/ggml-tiny.en-q8_0.bin".into()),
                outbox: None,
            }),
        ),
    ];
    for e in &events {
        v.apply(e);
    }
    v
}

const EXPECTED: &str = include_str!("snapshots/agent_view_60x16.txt");

#[test]
fn agent_view_mid_call() {
    let got = render(&scripted(), 60, 16);
    if std::env::var("CALMLINE_UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/snapshots/agent_view_60x16.txt"
            ),
            format!("{got}\n"),
        )
        .unwrap();
    }
    assert_eq!(got, EXPECTED.trim_end_matches('\n'), "\n{got}");
}

/// The reason under a cue is what makes it believable: before, the cue pane had three rows
/// whatever the width, and a real reason (101 characters) lost its end in a 60-column terminal
/// ("... +2.1 dB spectral tilt over") and all of itself beside a softphone at 50x14.
#[test]
fn the_cue_and_its_whole_reason_fit_a_small_terminal() {
    for (w, h) in [(50, 14), (60, 16), (100, 30)] {
        let screen = render(&scripted(), w, h);
        let text: String = screen
            .lines()
            .map(|l| l.trim_matches('│').trim())
            .collect::<Vec<_>>()
            .join(" ");
        for needle in [
            "Acknowledge how they feel.",
            "because escalation started",
            "tilt over baseline for 0.2 s",
        ] {
            assert!(text.contains(needle), "{w}x{h}: {needle}\n{screen}");
        }
        // The transcript keeps its latest line, wrapped, or at least its start.
        assert!(
            text.contains("0:53 customer: This is the third time"),
            "{w}x{h}\n{screen}"
        );
    }
}

#[test]
fn cue_leaves_the_screen_after_its_display_time() {
    let mut v = scripted();
    v.apply(&ev(
        60.0,
        EventBody::Levels(Levels {
            speaker: Speaker::Customer,
            loudness_db: -40.0,
            pitch_hz: None,
            voiced: false,
            active: false,
            escalation: 0.4,
            escalated: false,
            over_baseline: None,
        }),
    ));
    assert!(v.cue.is_some(), "still within 6 s");
    v.apply(&ev(
        62.0,
        EventBody::Levels(Levels {
            speaker: Speaker::Customer,
            loudness_db: -40.0,
            pitch_hz: None,
            voiced: false,
            active: false,
            escalation: 0.4,
            escalated: false,
            over_baseline: None,
        }),
    ));
    assert!(v.cue.is_none());
    assert!(render(&v, 60, 16).contains("no cue"));
}

#[test]
fn rising_turns_the_gauge_amber_until_confirmed_or_settled() {
    use calmline::events::Evidence;
    let levels = |t: f64, score: f32, voiced: bool, escalated: bool| {
        ev(
            t,
            EventBody::Levels(Levels {
                speaker: Speaker::Customer,
                loudness_db: -30.0,
                pitch_hz: voiced.then_some(180.0),
                voiced,
                active: voiced,
                escalation: score,
                escalated,
                over_baseline: None,
            }),
        )
    };
    let rising = ev(
        10.0,
        EventBody::Rising {
            speaker: Speaker::Customer,
            start_s: 9.9,
            evidence: Evidence::new(Speaker::Customer, 7.0, 2.0, 0.0, 0.0, 0.1),
        },
    );
    let mut v = AgentView::default();
    v.apply(&levels(9.9, 0.8, true, false));
    assert!(!render(&v, 60, 16).contains("rising"));
    v.apply(&rising);
    v.apply(&levels(10.0, 1.3, true, false));
    assert!(render(&v, 60, 16).contains("customer 1.3 rising"));
    // A pause keeps it; the voice settling clears it.
    v.apply(&levels(10.1, 0.9, false, false));
    assert!(render(&v, 60, 16).contains("rising"));
    v.apply(&levels(10.2, 0.3, true, false));
    assert!(!render(&v, 60, 16).contains("rising"));
    // Confirmed: red and ESCALATED instead.
    v.apply(&rising);
    v.apply(&levels(10.3, 1.6, true, true));
    let screen = render(&v, 60, 16);
    assert!(
        screen.contains("ESCALATED") && !screen.contains("rising"),
        "{screen}"
    );
}

#[test]
fn sides_that_look_swapped_stay_on_screen_above_the_transcript() {
    let mut v = scripted();
    let message = "the words fit the two sides the other way round (3 phrases against 0): the \
                   customer looks to be on the left channel; if so, restart with \
                   --customer-channel left. The left channel (taken as the agent) says what \
                   callers say: \"i'm looking for\".";
    v.apply(&ev(
        57.0,
        EventBody::Warning {
            message: message.into(),
        },
    ));
    let screen = render(&v, 60, 16);
    println!("{screen}");
    let at = screen.find("the words fit the two sides").expect("shown");
    assert!(at < screen.find("transcript").unwrap(), "{screen}");
    // Still there after other warnings and events; the transcript keeps its latest line.
    v.apply(&ev(
        58.0,
        EventBody::Warning {
            message: "device x is back".into(),
        },
    ));
    v.apply(&ev(59.0, seg(Speaker::Customer, 57.0, "Why is it late?")));
    let screen = render(&v, 60, 16);
    assert!(screen.contains("the words fit the two sides"), "{screen}");
    assert!(screen.contains("Why is it late?"), "{screen}");
}

/// A long sentence wraps instead of running off the right edge (it was cut at the border), and
/// the latest lines still end at the bottom.
#[test]
fn long_transcript_lines_wrap_instead_of_running_off_the_edge() {
    let mut v = scripted();
    v.apply(&ev(
        58.0,
        seg(
            Speaker::Customer,
            56.0,
            "I have been waiting since Tuesday for somebody to call me back about the refund you promised.",
        ),
    ));
    let screen = render(&v, 60, 16);
    let text: String = screen
        .lines()
        .map(|l| l.trim_matches('│').trim())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains("0:56 customer: I have been waiting")
            && text.contains("the refund you promised.")
            && text.contains("0:53 customer: This is the third time"),
        "{screen}"
    );
}
