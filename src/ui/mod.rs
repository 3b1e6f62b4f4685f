//! The agent's view of a live call: a terminal view (ratatui), JSON lines, or plain text.
//!
//! Each is an [`EventSink`]: it only reads the shared event vocabulary; the pipeline and coach
//! know nothing about it.

use std::collections::VecDeque;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Wrap};

use crate::events::{BaselineValues, Cue, Event, EventBody, Speaker, Status};
use crate::live::EventSink;

mod lines;
pub use lines::{Lines, QUEUE_LINES, Writer, Written};

/// Every event as one JSON object per line (`--ui json`), for scripts and tests.
pub struct JsonLines(pub Lines);

impl EventSink for JsonLines {
    fn event(&mut self, e: &Event) {
        if let Ok(line) = serde_json::to_string(e) {
            self.0.send(line);
        }
    }
}

fn clock(t: f64) -> String {
    let s = t.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Cues and transcript lines only (`--ui plain`).
pub struct Plain(pub Lines);

impl EventSink for Plain {
    fn event(&mut self, e: &Event) {
        let line = match &e.body {
            EventBody::Cue(c) => format!(
                "[{}] >> {}{}  (because {})",
                clock(e.t_s),
                c.headline,
                c.example
                    .as_ref()
                    .map_or(String::new(), |x| format!(" \"{x}\"")),
                c.evidence.sentence
            ),
            EventBody::Transcript(s) => format!("[{}] {}: {}", clock(s.start_s), s.speaker, s.text),
            EventBody::Warning { message } => format!("[{}] ! {message}", clock(e.t_s)),
            _ => return,
        };
        self.0.send(line);
    }
}

/// What the agent view shows, updated from events.
#[derive(Debug, Clone, Default)]
pub struct AgentView {
    /// Call clock (s).
    pub t: f64,
    /// Latest loudness of agent and customer (LUFS) and whether they are speaking.
    pub levels: [(f32, bool); 2],
    /// Customer escalation score and state.
    pub escalation: (f32, bool),
    /// When the customer's voice last started rising (a `rising` event), until the turn calms
    /// or an episode confirms it.
    pub rising: Option<f64>,
    /// The customer's baseline, once learnt.
    pub baseline: Option<BaselineValues>,
    /// The cue on screen and when it appeared.
    pub cue: Option<(f64, Cue)>,
    /// The last transcript lines (time, speaker, text).
    pub transcript: VecDeque<(f64, Speaker, String)>,
    /// Capture health.
    pub status: Option<Status>,
    /// The last warning (device lost, ...).
    pub warning: Option<String>,
    /// The warning that the words fit the sides the other way round: shown until the call ends,
    /// since every measurement of the customer rests on the sides.
    pub sides: Option<String>,
    /// How long a cue stays (s).
    pub cue_display_s: f64,
}

impl AgentView {
    /// Take one event into the view.
    pub fn apply(&mut self, e: &Event) {
        self.t = self.t.max(e.t_s);
        match &e.body {
            EventBody::Levels(l) => {
                let i = if l.speaker == Speaker::Agent { 0 } else { 1 };
                self.levels[i] = (l.loudness_db, l.active);
                if l.speaker != Speaker::Agent {
                    self.escalation = (l.escalation, l.escalated);
                    // Provisional: it stays on while the score is up, and leaves when the
                    // episode is confirmed (red) or the voice settles.
                    if l.escalated || (l.voiced && l.escalation < 0.5) {
                        self.rising = None;
                    }
                }
            }
            EventBody::Rising {
                speaker: Speaker::Customer | Speaker::Mixed,
                ..
            } => self.rising = Some(e.t_s),
            EventBody::Baseline {
                speaker: Speaker::Customer | Speaker::Mixed,
                baseline,
            } => self.baseline = Some(*baseline),
            EventBody::Cue(c) => self.cue = Some((e.t_s, c.clone())),
            EventBody::Transcript(s) => {
                self.transcript
                    .push_back((s.start_s, s.speaker, s.text.clone()));
                while self.transcript.len() > 20 {
                    self.transcript.pop_front();
                }
            }
            EventBody::Status(s) => self.status = Some(s.clone()),
            EventBody::Warning { message } => {
                if crate::language::roles::questions_the_sides(message) {
                    self.sides = Some(message.clone());
                }
                self.warning = Some(message.clone());
            }
            _ => {}
        }
        if let Some((at, _)) = &self.cue
            && self.t - at > self.cue_display_s.max(1.0)
        {
            self.cue = None;
        }
    }

    /// Draw the view into `area` of `f`. Fits a small terminal beside a softphone (50x14).
    pub fn draw(&self, f: &mut Frame, area: Rect) {
        let outer = Block::default()
            .borders(Borders::ALL)
            .title(format!(" calmline · live {} ", clock(self.t)));
        let inner = outer.inner(area);
        f.render_widget(outer, area);
        let cue_lines: Vec<Line> = match &self.cue {
            Some((_, c)) => {
                let mut v = vec![Line::from(Span::styled(
                    c.headline.clone(),
                    Style::default()
                        .add_modifier(Modifier::BOLD)
                        .fg(Color::Cyan),
                ))];
                if let Some(x) = &c.example {
                    v.push(Line::from(Span::styled(
                        format!("\"{x}\""),
                        Style::default().add_modifier(Modifier::ITALIC),
                    )));
                }
                v.push(Line::from(Span::styled(
                    format!("because {}", c.evidence.sentence),
                    Style::default().fg(Color::DarkGray),
                )));
                v
            }
            None => vec![Line::from(Span::styled(
                "no cue",
                Style::default().fg(Color::DarkGray),
            ))],
        };
        let cue_pane = Paragraph::new(cue_lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::TOP).title(" cue "));
        // The cue gets the rows its wrapped text needs, so the reason is not cut off in a
        // narrow terminal, as long as one transcript line still fits below it (the room left
        // by the meters, the status line, and the transcript's title and line).
        let room = inner.height.saturating_sub(3 + 1 + 2);
        let cue_h = (cue_pane.line_count(inner.width) as u16).clamp(4, room.max(4));
        let [meters, cue, transcript, status_area] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Length(cue_h),
            Constraint::Min(2),
            Constraint::Length(1),
        ])
        .areas(inner);
        let rows = Layout::vertical([Constraint::Length(1); 3]).split(meters);
        for (i, who) in ["agent", "customer"].iter().enumerate() {
            let (db, active) = self.levels[i];
            let ratio = ((db + 70.0) / 60.0).clamp(0.0, 1.0) as f64;
            let color = if active {
                Color::Green
            } else {
                Color::DarkGray
            };
            f.render_widget(
                Gauge::default()
                    .gauge_style(Style::default().fg(color))
                    .ratio(ratio)
                    .label(format!("{who:<9}{db:>6.0} dB")),
                rows[i],
            );
        }
        let (score, escalated) = self.escalation;
        let rising = !escalated && self.rising.is_some();
        let base = self.baseline.map_or("baseline: learning".to_string(), |b| {
            format!("baseline {:.0} dB {:.0} Hz", b.loudness_db, b.pitch_hz)
        });
        f.render_widget(
            Gauge::default()
                .gauge_style(Style::default().fg(if escalated {
                    Color::Red
                } else if rising {
                    Color::Yellow
                } else {
                    Color::Blue
                }))
                .ratio((score / 3.0).clamp(0.0, 1.0) as f64)
                .label(format!(
                    "customer {score:.1}{} · {base}",
                    if escalated {
                        " ESCALATED"
                    } else if rising {
                        " rising"
                    } else {
                        ""
                    }
                )),
            rows[2],
        );
        f.render_widget(cue_pane, cue);
        let transcript = match &self.sides {
            Some(w) => {
                // Up to three lines, never more than half the transcript's room.
                let h = (transcript.height / 2).clamp(1, 3);
                let [warn, rest] =
                    Layout::vertical([Constraint::Length(h), Constraint::Min(1)]).areas(transcript);
                f.render_widget(
                    Paragraph::new(w.clone())
                        .wrap(Wrap { trim: true })
                        .style(Style::default().fg(Color::Yellow)),
                    warn,
                );
                rest
            }
            None => transcript,
        };
        let lines: Vec<Line> = self
            .transcript
            .iter()
            .map(|(t, who, text)| {
                let color = if *who == Speaker::Agent {
                    Color::Blue
                } else {
                    Color::Red
                };
                Line::from(vec![
                    Span::styled(
                        format!("{} ", clock(*t)),
                        Style::default().fg(Color::DarkGray),
                    ),
                    Span::styled(format!("{who}: "), Style::default().fg(color)),
                    Span::raw(text.clone()),
                ])
            })
            .collect();
        // The latest lines that fit when wrapped, newest at the bottom; a latest line longer
        // than the room shows its start.
        let space = transcript.height.saturating_sub(1) as usize;
        let (mut used, mut first) = (0, lines.len());
        for line in lines.iter().rev() {
            let rows = Paragraph::new(line.clone())
                .wrap(Wrap { trim: true })
                .line_count(transcript.width);
            if used > 0 && used + rows > space {
                break;
            }
            used += rows;
            first -= 1;
        }
        f.render_widget(
            Paragraph::new(lines[first..].to_vec())
                .wrap(Wrap { trim: true })
                .block(Block::default().borders(Borders::TOP).title(" transcript ")),
            transcript,
        );
        let status = match &self.status {
            Some(s) => {
                let devices: Vec<String> = s
                    .devices
                    .iter()
                    .map(|d| format!("{}{}", if d.connected { "" } else { "LOST " }, d.name))
                    .collect();
                let model = s.model.as_deref().map_or("no transcript".to_string(), |m| {
                    std::path::Path::new(m)
                        .file_name()
                        .map_or(m.to_string(), |n| n.to_string_lossy().into_owned())
                });
                // Dropped audio is worth the room only when there is some.
                format!(
                    "{} · {model} · lag {}{}",
                    devices.join(" + "),
                    s.transcript_lag_s
                        .map_or("-".into(), |l| format!("{l:.1} s")),
                    if s.dropped_samples > 0 {
                        format!(" · DROPPED {} samples", s.dropped_samples)
                    } else {
                        String::new()
                    }
                )
            }
            None => "starting…".into(),
        };
        let status = match &self.warning {
            Some(w)
                if self
                    .status
                    .as_ref()
                    .is_some_and(|s| s.devices.iter().any(|d| !d.connected)) =>
            {
                w.clone()
            }
            _ => status,
        };
        f.render_widget(
            Paragraph::new(status).style(Style::default().fg(Color::DarkGray)),
            status_area,
        );
    }
}

/// The terminal view (`--ui tui`, the default on a terminal). `q` or Ctrl-C ends the call.
pub struct Tui {
    terminal: ratatui::DefaultTerminal,
    view: AgentView,
    stop: bool,
}

impl Tui {
    /// Take over the terminal (restored on drop).
    pub fn start(cue_display_s: f64) -> Self {
        Self {
            terminal: ratatui::init(),
            view: AgentView {
                cue_display_s,
                ..Default::default()
            },
            stop: false,
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

impl EventSink for Tui {
    fn event(&mut self, e: &Event) {
        self.view.apply(e);
    }

    fn tick(&mut self) {
        use ratatui::crossterm::event::{self, Event as Key, KeyCode, KeyModifiers};
        let view = &self.view;
        let _ = self.terminal.draw(|f| view.draw(f, f.area()));
        while event::poll(std::time::Duration::ZERO).unwrap_or(false) {
            if let Ok(Key::Key(k)) = event::read() {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if ctrl_c || k.code == KeyCode::Char('q') {
                    self.stop = true;
                }
            }
        }
    }

    fn wants_stop(&self) -> bool {
        self.stop
    }
}
