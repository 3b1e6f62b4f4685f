//! The self-contained HTML report: inline CSS and SVG, no scripts, no external assets, so it
//! opens from disk with no network and prints cleanly.

use std::fmt::Write;

use super::{Review, Span, Track};
use crate::events::Speaker;

/// Plot width in SVG user units; heights vary per plot.
const W: f64 = 1000.0;
/// Left margin for the axis labels.
const ML: f64 = 48.0;
/// Most points drawn per series; longer timelines are reduced to this many buckets.
const MAX_POINTS: usize = 1500;

/// Text escaped for HTML content and attribute values.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn color(s: Speaker) -> &'static str {
    match s {
        Speaker::Agent => "#1f6fb4",
        Speaker::Customer => "#c8322a",
        Speaker::Mixed => "#555555",
    }
}

/// mm:ss (or h:mm:ss) for the axis and tables.
pub(super) fn clock(t: f64) -> String {
    let t = t.max(0.0).round() as u64;
    if t >= 3600 {
        format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    } else {
        format!("{}:{:02}", t / 60, t % 60)
    }
}

struct Frame {
    duration: f64,
    y0: f64,
    y1: f64,
    h: f64,
}

impl Frame {
    fn x(&self, t: f64) -> f64 {
        ML + (W - ML - 8.0) * (t / self.duration.max(1e-9)).clamp(0.0, 1.0)
    }
    fn y(&self, v: f64) -> f64 {
        let f = ((v - self.y0) / (self.y1 - self.y0)).clamp(0.0, 1.0);
        6.0 + (self.h - 24.0) * (1.0 - f)
    }
}

/// Reduce a series to at most MAX_POINTS buckets with `pick` (e.g. max), keeping gaps.
fn reduce(values: &[Option<f32>], hop: f64, pick: fn(&[f32]) -> f32) -> Vec<(f64, Option<f32>)> {
    let n = values.len();
    let per = n.div_ceil(MAX_POINTS).max(1);
    let mut buf = Vec::with_capacity(per);
    values
        .chunks(per)
        .enumerate()
        .map(|(i, c)| {
            buf.clear();
            buf.extend(c.iter().flatten());
            let t = (i * per) as f64 * hop + hop * c.len() as f64 / 2.0;
            (t, (!buf.is_empty()).then(|| pick(&buf)))
        })
        .collect()
}

fn max_of(v: &[f32]) -> f32 {
    v.iter().copied().fold(f32::MIN, f32::max)
}

fn median_of(v: &[f32]) -> f32 {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    s[s.len() / 2]
}

fn polyline(out: &mut String, fr: &Frame, pts: &[(f64, Option<f32>)], stroke: &str, dots: bool) {
    if dots {
        for (t, v) in pts {
            if let Some(v) = v {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="1.3" fill="{stroke}"/>"#,
                    fr.x(*t),
                    fr.y(*v as f64)
                );
            }
        }
        return;
    }
    let mut seg = String::new();
    let flush = |seg: &mut String, out: &mut String| {
        if !seg.is_empty() {
            let _ = write!(
                out,
                r#"<polyline fill="none" stroke="{stroke}" stroke-width="1.2" points="{seg}"/>"#
            );
            seg.clear();
        }
    };
    for (t, v) in pts {
        match v {
            Some(v) => {
                let _ = write!(seg, "{:.1},{:.1} ", fr.x(*t), fr.y(*v as f64));
            }
            None => flush(&mut seg, out),
        }
    }
    flush(&mut seg, out);
}

fn axes(out: &mut String, fr: &Frame, ticks_y: &[f64], unit: &str) {
    let bottom = fr.h - 18.0;
    for &v in ticks_y {
        let y = fr.y(v);
        let _ = write!(
            out,
            r##"<line x1="{ML}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" class="ax" text-anchor="end">{v}{unit}</text>"##,
            W - 8.0,
            ML - 4.0,
            y + 3.5
        );
    }
    // About ten time ticks at a round step.
    let steps = [
        5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
    ];
    let step = steps
        .iter()
        .copied()
        .find(|s| fr.duration / s <= 12.0)
        .unwrap_or(3600.0);
    let mut t = 0.0;
    while t <= fr.duration + 1e-6 {
        let x = fr.x(t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="6" y2="{bottom:.1}" stroke="#f0f0f0"/><text x="{x:.1}" y="{:.1}" class="ax" text-anchor="middle">{}</text>"##,
            fr.h - 5.0,
            clock(t)
        );
        t += step;
    }
}

fn bands(out: &mut String, fr: &Frame, spans: &[Span], fill: &str, title: &str) {
    for s in spans {
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="6" width="{:.1}" height="{:.1}" fill="{fill}"><title>{title} {}–{}</title></rect>"#,
            fr.x(s.start_s),
            (fr.x(s.end_s) - fr.x(s.start_s)).max(1.0),
            fr.h - 24.0,
            clock(s.start_s),
            clock(s.end_s)
        );
    }
}

/// A plot of the call over time; its time axis (`data-x0`, `data-w`, `data-dur`) lets the
/// player seek where it is clicked and draw where it is.
fn svg_open(out: &mut String, fr: &Frame, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="tl" viewBox="0 0 {W} {}" data-x0="{ML}" data-w="{}" data-dur="{:.2}" role="img" aria-label="{}" preserveAspectRatio="none">"#,
        fr.h,
        W - ML - 8.0,
        fr.duration,
        esc(label)
    );
}

fn legend(review: &Review) -> String {
    let mut s = String::from(r#"<p class="legend">"#);
    for sp in review.timeline.speakers.keys() {
        let _ = write!(
            s,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            color(*sp),
            sp
        );
    }
    s.push_str(r#"<span><i style="background:#f6c9c5"></i>customer escalated</span><span><i style="background:#dcdcdc"></i>dead air</span><span><i style="background:#8e5bb5"></i>overlap</span><span><i style="background:#2a7d3c"></i>cue shown</span></p>"#);
    s
}

fn episode_spans(review: &Review, who: &[Speaker]) -> Vec<Span> {
    review
        .episodes
        .iter()
        .filter(|e| who.contains(&e.speaker))
        .map(|e| Span {
            start_s: e.start_s,
            end_s: e.end_s,
        })
        .collect()
}

fn context_bands(out: &mut String, fr: &Frame, review: &Review) {
    bands(
        out,
        fr,
        &episode_spans(review, &[Speaker::Customer, Speaker::Mixed]),
        "#f6c9c5",
        "escalated",
    );
    bands(
        out,
        fr,
        &review.conversation.silences,
        "#dcdcdc",
        "dead air",
    );
    // Overlaps: a strip along the bottom edge.
    for s in &review.conversation.overlaps {
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="4" fill="#8e5bb5"><title>overlap {}–{}</title></rect>"##,
            fr.x(s.start_s),
            fr.h - 22.0,
            (fr.x(s.end_s) - fr.x(s.start_s)).max(1.5),
            clock(s.start_s),
            clock(s.end_s)
        );
    }
}

fn loudness_plot(out: &mut String, review: &Review) {
    let fr = Frame {
        duration: review.duration_s,
        y0: -70.0,
        y1: -10.0,
        h: 190.0,
    };
    svg_open(out, &fr, "loudness of each speaker over time");
    context_bands(out, &fr, review);
    axes(out, &fr, &[-70.0, -55.0, -40.0, -25.0, -10.0], "");
    let hop = review.timeline.hop_s as f64;
    for (sp, tr) in &review.timeline.speakers {
        // Loudness below the floor is silence: leave a gap rather than a line along the bottom.
        let vals: Vec<Option<f32>> = tr
            .loudness_db
            .iter()
            .map(|&v| (v > -70.0).then_some(v))
            .collect();
        polyline(out, &fr, &reduce(&vals, hop, max_of), color(*sp), false);
    }
    out.push_str("</svg>");
}

fn pitch_plot(out: &mut String, review: &Review) {
    let fr = Frame {
        duration: review.duration_s,
        y0: 50.0,
        y1: 450.0,
        h: 170.0,
    };
    svg_open(out, &fr, "pitch of each speaker over time");
    context_bands(out, &fr, review);
    axes(out, &fr, &[50.0, 150.0, 250.0, 350.0, 450.0], "");
    let hop = review.timeline.hop_s as f64;
    for (sp, tr) in &review.timeline.speakers {
        polyline(
            out,
            &fr,
            &reduce(&tr.pitch_hz, hop, median_of),
            color(*sp),
            true,
        );
    }
    out.push_str("</svg>");
}

fn escalation_plot(out: &mut String, review: &Review, who: Speaker, tr: &Track) {
    let top = tr
        .escalation
        .iter()
        .copied()
        .fold(2.0f32, f32::max)
        .min(4.0)
        .ceil() as f64;
    let fr = Frame {
        duration: review.duration_s,
        y0: -1.0,
        y1: top,
        h: 160.0,
    };
    svg_open(out, &fr, &format!("{who} escalation score over time"));
    context_bands(out, &fr, review);
    let ticks: Vec<f64> = (-1..=top as i32).map(f64::from).collect();
    axes(out, &fr, &ticks, "");
    // The thresholds episodes are cut with.
    for (v, label) in [
        (review.thresholds.start, "start"),
        (review.thresholds.end, "end"),
    ] {
        let y = fr.y(v as f64);
        let _ = write!(
            out,
            r##"<line x1="{ML}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#888" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" class="ax" text-anchor="end">{label}</text>"##,
            W - 8.0,
            W - 10.0,
            y - 2.0
        );
    }
    let hop = review.timeline.hop_s as f64;
    let vals: Vec<Option<f32>> = tr.escalation.iter().map(|&v| Some(v)).collect();
    polyline(out, &fr, &reduce(&vals, hop, max_of), color(who), false);
    // Cue markers along the top edge.
    for c in &review.cues {
        let x = fr.x(c.t_s);
        let _ = write!(
            out,
            r##"<path d="M{:.1} 6 l-4 -0 l4 7 l4 -7 z" fill="#2a7d3c"><title>{} cue at {}: {}</title></path>"##,
            x,
            c.cue.kind.name(),
            clock(c.t_s),
            esc(&c.cue.headline)
        );
    }
    out.push_str("</svg>");
}

/// A cue as a line of the transcript.
fn cue_row(o: &mut String, c: &super::TimedCue) {
    let _ = write!(
        o,
        r#"<tr class="cue"><td class="t" data-t="{:.2}">{}</td><td class="who">cue</td><td>{} <span class="note">{}</span></td></tr>"#,
        c.t_s,
        clock(c.t_s),
        esc(&c.cue.headline),
        esc(&c.cue.evidence.sentence)
    );
}

/// A call-clock time linking to the transcript line said then (or the timeline), and playing
/// the recording from then where the report has a player.
fn moment_link(review: &Review, t: f64) -> String {
    let target = review
        .transcript
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, s)| s.start_s <= t + 0.05)
        .last()
        .map(|(i, _)| format!("#seg-{i}"))
        .unwrap_or_else(|| "#timeline".into());
    format!(r#"<a href="{target}" data-t="{t:.2}">{}</a>"#, clock(t))
}

/// A call-clock time that plays the recording from then where the report has a player.
fn at(t: f64) -> String {
    format!(r#"<span data-t="{t:.2}">{}</span>"#, clock(t))
}

fn fact(out: &mut String, label: &str, value: String) {
    let _ = write!(
        out,
        r#"<div class="fact"><b>{}</b><span>{}</span></div>"#,
        esc(&value),
        esc(label)
    );
}

/// Render `review` as a self-contained HTML page.
pub fn render(review: &Review) -> String {
    render_with(review, None)
}

/// Render `review` with a player for the recording at `audio` (a URL relative to the page,
/// see [`recording_href`]): every time in the report then plays the call from there. The
/// page only links the recording; it never holds its audio.
pub fn render_with(review: &Review, audio: Option<&str>) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let title = format!("Call review: {}", review.file);
    let _ = write!(
        o,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{}</title><style>{CSS}</style></head><body>"#,
        esc(&title)
    );
    let chans = if review.diarisation.is_some() {
        "mono, agent and customer separated by voice".to_string()
    } else {
        review
            .channels
            .iter()
            .map(|c| format!("{} = {}", c.position, c.speaker))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Who was on the call, where the call's details say.
    let who: String = [
        ("Agent", review.agent()),
        ("Customer", review.customer_name.as_deref()),
    ]
    .iter()
    .filter_map(|(role, name)| Some(format!("{role}: {}", esc((*name)?))))
    .collect::<Vec<_>>()
    .join(" · ");
    let who = if who.is_empty() {
        who
    } else {
        format!(r#"<p class="meta who">{who}</p>"#)
    };
    let _ = write!(
        o,
        r#"<header><h1>{}</h1>{who}<p class="meta">{} · {} Hz · {} · schema {}</p></header>"#,
        esc(&title),
        clock(review.duration_s),
        review.sample_rate,
        esc(&chans),
        super::SCHEMA
    );
    if let Some(src) = audio {
        let _ = write!(
            o,
            r#"<div class="player"><audio id="call" controls preload="metadata" src="{}"></audio> <span id="playnote" class="meta">Click any time in the report to listen from there.</span></div>"#,
            esc(src)
        );
    }
    // Everything per side below rests on the sides: a doubt about them comes first.
    for w in review
        .warnings
        .iter()
        .filter(|w| crate::language::roles::questions_the_sides(w))
    {
        let _ = write!(o, r#"<p class="notice">Check the sides: {}</p>"#, esc(w));
    }
    if !review.speaker_separation {
        o.push_str(r#"<p class="notice">Mono recording: speaker separation unavailable. Both parties are analysed together as <em>mixed</em>; talk ratio, overlaps and interruptions cannot be measured.</p>"#);
    }
    if let Some(d) = &review.diarisation {
        let by = match &d.agent_name {
            Some(name) => format!("the enrolled voice of {name}"),
            None => match d.agent_decided_by.as_str() {
                "first to speak" => "who spoke first".to_string(),
                "second to speak" => "who spoke second".to_string(),
                other => other.to_string(),
            },
        };
        o.push_str(&format!(
            r#"<p class="notice">Mono recording: the speakers were separated by diarisation (by voice), not by channel. The agent was picked by {} (confidence {:.0}%). Agent {:.0} s, customer {:.0} s of speech, {:.0} s together.</p>"#,
            esc(&by),
            100.0 * d.role_confidence,
            d.speech_s[0],
            d.speech_s[1],
            d.overlap_s
        ));
    }

    // Key facts.
    let s = &review.conversation.summary;
    o.push_str(r#"<section><h2>At a glance</h2><div class="facts">"#);
    if let Some(c) = review.caller() {
        fact(
            &mut o,
            "customer escalation episodes",
            c.episodes.to_string(),
        );
        fact(&mut o, "time escalated", format!("{:.0} s", c.escalated_s));
        fact(
            &mut o,
            "peak escalation score",
            format!("{:.2}", c.peak_escalation),
        );
    }
    if let Some(r) = s.talk_ratio_agent {
        fact(&mut o, "agent share of talk", format!("{:.0}%", r * 100.0));
    }
    if review.speaker_separation {
        fact(
            &mut o,
            "interruptions (agent / customer)",
            format!("{} / {}", s.agent_interruptions, s.customer_interruptions),
        );
        fact(
            &mut o,
            "overlapping speech",
            format!("{:.1} s", s.overlap_s),
        );
    }
    fact(
        &mut o,
        "longest dead air",
        format!("{:.1} s", s.longest_silence_s),
    );
    if let Some(m) = &s.longest_monologue {
        fact(
            &mut o,
            &format!("longest monologue ({})", m.speaker),
            format!("{:.0} s at {}", m.end_s - m.start_s, clock(m.start_s)),
        );
    }
    o.push_str("</div></section>");

    // Plots.
    o.push_str(r#"<section id="timeline"><h2>Timeline</h2>"#);
    o.push_str(&legend(review));
    o.push_str("<h3>Loudness (LUFS, 400 ms)</h3>");
    loudness_plot(&mut o, review);
    o.push_str("<h3>Pitch (Hz)</h3>");
    pitch_plot(&mut o, review);
    for who in [Speaker::Customer, Speaker::Mixed] {
        if let Some(tr) = review.timeline.speakers.get(&who) {
            let _ = write!(
                o,
                "<h3>{} escalation score (over their own baseline; dashed: episode start and end thresholds)</h3>",
                if who == Speaker::Customer {
                    "Customer"
                } else {
                    "Caller (mixed)"
                }
            );
            escalation_plot(&mut o, review, who, tr);
        }
    }
    o.push_str("</section>");

    // Episodes.
    o.push_str("<section><h2>Escalation episodes</h2>");
    if review.episodes.is_empty() {
        o.push_str("<p>None: nobody rose clearly above their own baseline.</p>");
    } else {
        o.push_str("<table><thead><tr><th>#</th><th>speaker</th><th>start</th><th>end</th><th>length</th><th>peak</th><th>ended</th><th>evidence</th></tr></thead><tbody>");
        for (i, e) in review.episodes.iter().enumerate() {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s</td><td>{:.2}</td><td>{}</td><td>{}</td></tr>",
                i + 1,
                e.speaker,
                at(e.start_s),
                at(e.end_s),
                e.end_s - e.start_s,
                e.peak,
                match e.ended_by {
                    crate::events::EpisodeEnd::Calmed => "calmed down",
                    crate::events::EpisodeEnd::WentQuiet => "went quiet",
                    crate::events::EpisodeEnd::CallEnded => "still escalated at the end",
                },
                esc(&e.evidence.sentence)
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>");

    // Conversation.
    o.push_str("<section><h2>Conversation</h2>");
    if review.speaker_separation {
        o.push_str("<h3>Interruptions</h3>");
        if review.conversation.interruptions.is_empty() {
            o.push_str("<p>None.</p>");
        } else {
            o.push_str("<table><thead><tr><th>at</th><th>who cut in</th><th>on whom</th></tr></thead><tbody>");
            for i in &review.conversation.interruptions {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    at(i.start_s),
                    i.by,
                    i.of
                );
            }
            o.push_str("</tbody></table>");
        }
        let _ = write!(
            o,
            "<p>Overlapping speech: {:.1} s in total; {} stretch(es) of at least the configured minimum.</p>",
            s.overlap_s,
            review.conversation.overlaps.len()
        );
    }
    o.push_str("<h3>Dead air</h3>");
    if review.conversation.silences.is_empty() {
        o.push_str("<p>None.</p>");
    } else {
        o.push_str("<table><thead><tr><th>from</th><th>to</th><th>length</th></tr></thead><tbody>");
        for sp in &review.conversation.silences {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{:.1} s</td></tr>",
                at(sp.start_s),
                at(sp.end_s),
                sp.end_s - sp.start_s
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>");

    // Transcript, with the cues where they were shown.
    o.push_str(r#"<section id="transcript"><h2>Transcript</h2>"#);
    match &review.transcript {
        None => o.push_str("<p>Not transcribed (reviewed with --no-transcribe).</p>"),
        Some(t) if t.is_empty() => o.push_str("<p>No words were recognised.</p>"),
        Some(t) => {
            o.push_str(r#"<table class="transcript"><tbody>"#);
            let mut cues = review.cues.iter().peekable();
            for (i, seg) in t.iter().enumerate() {
                while let Some(c) = cues.next_if(|c| c.t_s <= seg.start_s) {
                    cue_row(&mut o, c);
                }
                let escalated = review.episodes.iter().any(|e| {
                    e.speaker == seg.speaker && seg.start_s < e.end_s && seg.end_s > e.start_s
                });
                // What the recogniser had to correct, for QA to weigh the line.
                let mut mark = String::new();
                if let Some(f) = &seg.fallback {
                    let _ = write!(
                        mark,
                        r#" <span class="note" title="first decode: {}; kept: {}, {} decodes">{}</span>"#,
                        esc(&f.reason),
                        esc(&f.kept),
                        f.decodes,
                        if seg.repaired {
                            "[repeats removed]"
                        } else {
                            "[re-decoded]"
                        }
                    );
                } else if seg.repaired {
                    mark.push_str(r#" <span class="note">[repeats removed]</span>"#);
                }
                let _ = write!(
                    o,
                    r#"<tr id="seg-{i}" data-start="{:.2}"{}><td class="t" data-t="{:.2}">{}</td><td class="who" style="color:{}">{}</td><td>{}{mark}</td></tr>"#,
                    seg.start_s,
                    if escalated { r#" class="esc""# } else { "" },
                    seg.start_s,
                    clock(seg.start_s),
                    color(seg.speaker),
                    seg.speaker,
                    esc(&seg.text)
                );
            }
            for c in cues {
                cue_row(&mut o, c);
            }
            o.push_str("</tbody></table><p class=\"legend\">Shaded lines were said during an escalation episode; cue lines show what the agent saw, and when. [re-decoded]: the recogniser's first attempt failed a check (hover for why) and the line is from a second decode; [repeats removed]: a phrase the recogniser repeated more often than the speech allows was cut to one copy.</p>");
        }
    }
    o.push_str("</section>");

    // Cues and alerts, with why.
    o.push_str(r#"<section id="cues"><h2>Coaching cues</h2>"#);
    if review.cues.is_empty() {
        o.push_str("<p>None.</p>");
    } else {
        o.push_str("<table><thead><tr><th>at</th><th>cue</th><th>shown</th><th>why</th></tr></thead><tbody>");
        for c in &review.cues {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                moment_link(review, c.t_s),
                c.cue.kind.name(),
                esc(&c.cue.headline),
                c.cue
                    .example
                    .as_ref()
                    .map_or(String::new(), |e| format!("<br><em>{}</em>", esc(e))),
                esc(&c.cue.evidence.sentence)
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("<h3>Supervisor alerts</h3>");
    if review.alerts.is_empty() {
        o.push_str("<p>None.</p>");
    } else {
        o.push_str("<table><thead><tr><th>at</th><th>alert</th><th>evidence (customer side)</th><th>customer said</th></tr></thead><tbody>");
        for a in &review.alerts {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                moment_link(review, a.t_s),
                esc(&a.alert.headline),
                esc(&a.alert.evidence.sentence),
                esc(a.alert.snippet.as_deref().unwrap_or("–"))
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>");

    // Scorecard.
    o.push_str(r#"<section id="scorecard"><h2>QA scorecard</h2><p class="legend">Every item links to the moments that produced it.</p>"#);
    for (title, items) in [
        ("Customer", &review.scorecard.customer),
        ("Agent", &review.scorecard.agent),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = write!(o, "<h3>{title}</h3><table><tbody>");
        for (name, item) in items {
            let value = match &item.value {
                serde_json::Value::Bool(true) => "yes".to_string(),
                serde_json::Value::Bool(false) => "no".to_string(),
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            let moments: Vec<String> = item
                .moments
                .iter()
                .take(12)
                .map(|m| moment_link(review, *m))
                .collect();
            let more = item.moments.len().saturating_sub(12);
            let _ = write!(
                o,
                "<tr><td>{}</td><td><b>{}</b>{}</td><td>{}{}</td></tr>",
                esc(&name.replace('_', " ")),
                esc(&value),
                item.note.as_ref().map_or(String::new(), |n| format!(
                    " <span class=\"note\">{}</span>",
                    esc(n)
                )),
                moments.join(" "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</section>");

    // Speakers.
    o.push_str("<section><h2>Speakers</h2><table><thead><tr><th>speaker</th><th>talk</th><th>baseline loudness</th><th>baseline pitch</th><th>baseline pace</th><th>median pitch</th><th>pitch range</th><th>baseline learnt from</th></tr></thead><tbody>");
    let opt = |v: Option<f32>, unit: &str, prec: usize| {
        v.map_or("–".to_string(), |v| format!("{v:.prec$} {unit}"))
    };
    for sp in review.speakers.values() {
        let b = sp.baseline;
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{:.0} s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            sp.speaker,
            sp.talk_s,
            opt(b.map(|b| b.loudness_db), "dB", 1),
            opt(b.map(|b| b.pitch_hz), "Hz", 0),
            opt(b.map(|b| b.pace_sps), "syl/s", 1),
            opt(sp.pitch_median_hz, "Hz", 0),
            opt(sp.pitch_range_st, "st", 1),
            opt(b.map(|b| b.voiced_s), "s voiced", 1),
        );
    }
    o.push_str("</tbody></table></section>");

    if !review.warnings.is_empty() || !review.errors.is_empty() {
        o.push_str(r#"<section><h2>Notes on this recording</h2><ul class="warn">"#);
        for w in review.errors.iter().chain(&review.warnings) {
            let _ = write!(o, "<li>{}</li>", esc(w));
        }
        o.push_str("</ul></section>");
    }
    let _ = write!(
        o,
        r#"<footer>calmline {} · analysed on this machine; no audio or data left it.</footer>"#,
        env!("CARGO_PKG_VERSION")
    );
    if audio.is_some() {
        o.push_str(PLAYER_JS);
    }
    o.push_str("</body></html>");
    o
}

/// The recording's URL relative to a report written into `report_dir` (percent-encoded, `/`
/// between folders), so the page finds it where both were when it was written; `None` when
/// either path cannot be resolved.
pub fn recording_href(recording: &std::path::Path, report_dir: &std::path::Path) -> Option<String> {
    use std::path::Component;
    let rec = recording.canonicalize().ok()?;
    let dir = report_dir.canonicalize().ok()?;
    let (rec, dir): (Vec<Component>, Vec<Component>) =
        (rec.components().collect(), dir.components().collect());
    let common = rec.iter().zip(&dir).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None; // another drive
    }
    let up = std::iter::repeat_n("..".to_string(), dir.len() - common);
    let down = rec[common..]
        .iter()
        .map(|c| super::index::href(&c.as_os_str().to_string_lossy()));
    Some(up.chain(down).collect::<Vec<_>>().join("/"))
}

/// The player: a click on any time plays from there, the line being said is marked, and a
/// recording the browser cannot open (moved, or a format it does not play) is said once.
const PLAYER_JS: &str = r#"<script>(function(){
var a=document.getElementById('call'),note=document.getElementById('playnote');
a.addEventListener('loadedmetadata',function(){document.body.classList.add('play');});
a.addEventListener('error',function(){document.body.classList.remove('play');a.hidden=true;
note.textContent='The recording cannot be played here: it is no longer at '+decodeURI(a.getAttribute('src'))+' from this page, or this browser does not play its format (Chromium plays PCM, mu-law and A-law WAV, FLAC, MP3, OGG and Opus, WebM and AAC; not ADPCM or GSM WAV, headerless .gsm/.ul/.al/.sln files, AIFF or ALAC: convert a copy to 16-bit WAV to listen here). The times still link to the transcript.';});
document.addEventListener('click',function(e){var el=e.target.closest('[data-t]');
if(!el||!document.body.classList.contains('play'))return;a.currentTime=parseFloat(el.dataset.t);a.play().catch(function(){});});
var rows=Array.prototype.slice.call(document.querySelectorAll('tr[data-start]')),cur=null;
a.addEventListener('timeupdate',function(){var t=a.currentTime,n=null;
for(var i=0;i<rows.length&&parseFloat(rows[i].dataset.start)<=t+0.05;i++)n=rows[i];
if(n!==cur){if(cur)cur.classList.remove('now');if(n)n.classList.add('now');cur=n;}
heads.forEach(function(h){var x=h.x0+h.w*Math.min(1,t/h.dur);h.line.setAttribute('x1',x);h.line.setAttribute('x2',x);h.line.style.display='';});});
var heads=[];
document.querySelectorAll('svg.tl').forEach(function(svg){var d=svg.dataset,l=document.createElementNS(svg.namespaceURI,'line');
l.setAttribute('class','ph');l.setAttribute('y1',0);l.setAttribute('y2',svg.viewBox.baseVal.height);l.style.display='none';svg.appendChild(l);
heads.push({line:l,x0:+d.x0,w:+d.w,dur:+d.dur});
svg.addEventListener('click',function(e){if(!document.body.classList.contains('play'))return;
var p=svg.createSVGPoint();p.x=e.clientX;p.y=e.clientY;p=p.matrixTransform(svg.getScreenCTM().inverse());
a.currentTime=Math.max(0,Math.min(1,(p.x-d.x0)/d.w))*d.dur;a.play().catch(function(){});});});
})();</script>"#;

const CSS: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1100px;margin:0 auto;padding:1.2em}
h1{font-size:1.45em;margin:.2em 0;word-break:break-all}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
h3{font-size:.95em;margin:1em 0 .2em;color:#444}.meta{color:#666;margin:0}
.notice{background:#fff4d6;border:1px solid #e8c96a;padding:.6em .8em;border-radius:4px}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.6em}
.fact{border:1px solid #e2e2e2;border-radius:6px;padding:.5em .7em}.fact b{display:block;font-size:1.35em}.fact span{color:#666;font-size:.85em}
svg{width:100%;height:auto;display:block;border:1px solid #eee;background:#fff}.ax{font-size:10px;fill:#777}
.legend span{margin-right:1.2em;font-size:.85em}.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em;border-radius:2px}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border-bottom:1px solid #e6e6e6;padding:.3em .5em;text-align:left;vertical-align:top}th{background:#f6f6f6}
.warn li{margin:.2em 0}.transcript td{border:none;padding:.15em .5em}.transcript .t{color:#888;white-space:nowrap;width:3.5em}.transcript .who{font-weight:600;width:5.5em}.transcript tr.esc{background:#fbe3e1}.transcript tr.cue td{color:#2a7d3c;font-style:italic}.note{color:#777;font-size:.85em}footer{margin-top:2em;color:#888;font-size:.8em}
.player{position:sticky;top:0;z-index:2;background:#fff;padding:.4em 0;border-bottom:1px solid #eee;display:flex;align-items:center;gap:.8em;flex-wrap:wrap}.player audio{width:28em;max-width:100%}
.player~*[id],.player~section [id]{scroll-margin-top:4.5em}.play svg.tl{cursor:crosshair}svg .ph{stroke:#1a4fb5;stroke-width:2;vector-effect:non-scaling-stroke}.play [data-t]{cursor:pointer;color:#1a4fb5;text-decoration:underline dotted}.transcript tr.now{outline:2px solid #1a4fb5}
@media print{.player{display:none}body{font-size:10pt;max-width:none;padding:0}section{break-inside:avoid}svg{border:none}h2{break-after:avoid}}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_is_linked_relative_to_the_report() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for dir in ["calls/2026/12", "reviews/2026/12"] {
            std::fs::create_dir_all(p.join(dir)).unwrap();
        }
        std::fs::write(p.join("calls/2026/12/a b.wav"), b"x").unwrap();
        let rec = p.join("calls/2026/12/a b.wav");
        assert_eq!(
            recording_href(&rec, &p.join("reviews/2026/12")).as_deref(),
            Some("../../../calls/2026/12/a%20b.wav")
        );
        assert_eq!(
            recording_href(&rec, &p.join("calls/2026/12")).as_deref(),
            Some("a%20b.wav")
        );
        // Gone: no link.
        assert_eq!(recording_href(&p.join("gone.wav"), p), None);
    }
}
