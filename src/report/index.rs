//! A folder's index page (`index.html` beside `summary.csv`): every call in one table, each
//! linked to its report, sortable by any column, so QA can open the worst calls first.

use super::csv::HEADER;
use super::html::{clock, esc};

/// One call of the index: its `summary.csv` cells and its report's path relative to the
/// index (none when the review failed).
pub struct IndexEntry {
    /// The call's summary row, one cell per [`HEADER`] column.
    pub cells: Vec<String>,
    /// Its report, relative to the index.
    pub report: Option<String>,
}

/// The columns shown, by summary column, with their headings.
const SHOWN: &[(&str, &str)] = &[
    ("agent", "Agent"),
    ("duration_s", "Length"),
    ("customer_episodes", "Escalations"),
    ("customer_escalated_s", "Escalated (s)"),
    ("customer_peak", "Peak score"),
    ("agent_interruptions", "Agent interrupted"),
    ("acknowledgements", "Acknowledged"),
    ("specific_apologies", "Specific apologies"),
    ("cues", "Cues"),
    ("alerts", "Alerts"),
];

/// A path relative to the index as a URL: each segment percent-encoded where needed.
pub(super) fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The index page for `folder`'s calls, self-contained (no network, like the reports).
pub fn render(folder: &str, entries: &[IndexEntry]) -> String {
    let col = |name: &str| HEADER.iter().position(|h| *h == name);
    let cell = |e: &IndexEntry, name: &str| -> String {
        col(name)
            .and_then(|i| e.cells.get(i))
            .cloned()
            .unwrap_or_default()
    };
    let failed = entries
        .iter()
        .filter(|e| !cell(e, "error").is_empty())
        .count();
    let escalated = entries
        .iter()
        .filter(|e| cell(e, "customer_episodes").parse::<u32>().unwrap_or(0) > 0)
        .count();
    let mut o = String::new();
    o.push_str(&format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Calls in {0}</title><style>{CSS}</style></head><body><h1>Calls in {0}</h1><p class="meta">{1} call(s): {2} with the customer escalated, {3} not reviewed. Click a heading to sort; the summary is also in summary.csv.</p>"#,
        esc(folder),
        entries.len(),
        escalated,
        failed
    ));
    o.push_str(&by_agent(entries, &cell));
    o.push_str(r#"<table id="calls"><thead><tr><th data-k="t">Call</th>"#);
    for (name, heading) in SHOWN {
        let kind = if *name == "agent" { "t" } else { "n" };
        o.push_str(&format!(r#"<th data-k="{kind}">{heading}</th>"#));
    }
    o.push_str(r#"<th data-k="t">Notes</th></tr></thead><tbody>"#);
    for e in entries {
        let file = cell(e, "file");
        let error = cell(e, "error");
        let class = if !error.is_empty() {
            " class=\"failed\""
        } else if cell(e, "customer_episodes").parse::<u32>().unwrap_or(0) > 0 {
            " class=\"esc\""
        } else {
            ""
        };
        o.push_str(&format!(
            r#"<tr{class} data-agent="{}">"#,
            esc(&cell(e, "agent"))
        ));
        match &e.report {
            Some(r) if error.is_empty() => o.push_str(&format!(
                r#"<td><a href="{}">{}</a></td>"#,
                esc(&href(r)),
                esc(&file)
            )),
            _ => o.push_str(&format!("<td>{}</td>", esc(&file))),
        }
        for (name, _) in SHOWN {
            let v = cell(e, name);
            let shown = match *name {
                "duration_s" => v.parse::<f64>().map_or(String::new(), clock),
                _ => v.clone(),
            };
            if *name == "agent" {
                o.push_str(&format!("<td>{}</td>", esc(&v)));
            } else {
                o.push_str(&format!(
                    r#"<td class="n" data-v="{}">{}</td>"#,
                    esc(&v),
                    esc(&shown)
                ));
            }
        }
        let notes = if error.is_empty() {
            cell(e, "warnings")
        } else {
            error
        };
        o.push_str(&format!("<td class=\"notes\">{}</td></tr>", esc(&notes)));
    }
    o.push_str("</tbody></table>");
    o.push_str(SORT_JS);
    o.push_str("</body></html>\n");
    o
}

/// Per agent, over their reviewed calls: how many escalated, for how long, whether the agent
/// acknowledged the customer's feelings in those calls, and the coaching they would have seen;
/// a click on a name shows only that agent's calls below. Empty when no call names its agent.
fn by_agent(entries: &[IndexEntry], cell: &dyn Fn(&IndexEntry, &str) -> String) -> String {
    #[derive(Default)]
    struct Tally {
        calls: u32,
        failed: u32,
        escalated: u32,
        escalated_s: f64,
        /// Escalated calls with a transcript, and those with an acknowledgement.
        heard: u32,
        acknowledged: u32,
        interruptions: u32,
        specific_apologies: u32,
        cues: u32,
    }
    let mut agents: std::collections::BTreeMap<String, Tally> = Default::default();
    for e in entries {
        let t = agents.entry(cell(e, "agent")).or_default();
        if !cell(e, "error").is_empty() {
            t.failed += 1;
            continue;
        }
        let num = |name: &str| cell(e, name).parse::<f64>().ok();
        t.calls += 1;
        if num("customer_episodes").unwrap_or(0.0) > 0.0 {
            t.escalated += 1;
            t.escalated_s += num("customer_escalated_s").unwrap_or(0.0);
            // Empty without a transcript: then nobody knows.
            if let Some(a) = num("acknowledgements") {
                t.heard += 1;
                t.acknowledged += (a > 0.0) as u32;
            }
        }
        t.interruptions += num("agent_interruptions").unwrap_or(0.0) as u32;
        t.specific_apologies += num("specific_apologies").unwrap_or(0.0) as u32;
        t.cues += num("cues").unwrap_or(0.0) as u32;
    }
    if agents.keys().all(String::is_empty) {
        return String::new();
    }
    let mut o = String::from(
        r#"<h2>By agent</h2><table id="agents"><thead><tr><th data-k="t">Agent</th><th data-k="n">Calls</th><th data-k="n">Escalated calls</th><th data-k="n">Escalated</th><th data-k="n">Acknowledged when escalated</th><th data-k="n">Agent interrupted</th><th data-k="n">Specific apologies</th><th data-k="n">Cues</th><th data-k="n">Not reviewed</th></tr></thead><tbody>"#,
    );
    // Calls without a name last.
    let order = agents
        .iter()
        .filter(|(n, _)| !n.is_empty())
        .chain(agents.iter().filter(|(n, _)| n.is_empty()));
    for (name, t) in order {
        let shown = if name.is_empty() { "(not named)" } else { name };
        let ack = if t.heard == 0 {
            (String::new(), String::new())
        } else {
            let share = t.acknowledged as f64 / t.heard as f64;
            (
                format!("{share:.3}"),
                format!("{} of {} ({:.0}%)", t.acknowledged, t.heard, share * 100.0),
            )
        };
        o.push_str(&format!(
            r#"<tr><td><button type="button" class="agent" data-agent="{0}">{1}</button></td><td class="n">{2}</td><td class="n">{3}</td><td class="n" data-v="{4:.1}">{11}</td><td class="n" data-v="{5}">{6}</td><td class="n">{7}</td><td class="n">{8}</td><td class="n">{9}</td><td class="n">{10}</td></tr>"#,
            esc(name),
            esc(shown),
            t.calls,
            t.escalated,
            t.escalated_s,
            ack.0,
            ack.1,
            t.interruptions,
            t.specific_apologies,
            t.cues,
            t.failed,
            clock(t.escalated_s)
        ));
    }
    o.push_str(r#"</tbody></table><p class="meta" id="showing">Showing every call. Click an agent to show only theirs.</p>"#);
    o
}

const CSS: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1300px;margin:0 auto;padding:1.2em}
h1{font-size:1.45em;margin:.2em 0;word-break:break-all}h2{font-size:1.15em;margin:.8em 0 .4em}#agents{margin-bottom:.4em}.meta{color:#666;margin:0 0 1em}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border-bottom:1px solid #e6e6e6;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f6f6;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
tr.esc td:first-child{border-left:4px solid #c8322a}tr.failed{color:#888}tr.failed .notes{color:#9a3412}.notes{font-size:.85em;max-width:28em}
td.n{text-align:right}button.agent{font:inherit;color:#1a4fb5;background:none;border:0;padding:0;cursor:pointer;text-decoration:underline}button.agent.on{font-weight:600;background:#fff3c4}
"#;

/// Sorting either table by a heading: numbers as numbers, the rest as text; a second click
/// reverses. A click on an agent shows only their calls; a second click shows all again.
const SORT_JS: &str = r#"<script>
['calls','agents'].forEach(function(id){var table=document.getElementById(id);if(!table)return;
table.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
var down=th.getAttribute('aria-sort')!=='descending';
table.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort')});
th.setAttribute('aria-sort',down?'descending':'ascending');
var num=th.dataset.k==='n';
function key(r){var c=r.cells[i],v=c.dataset.v!==undefined?c.dataset.v:c.textContent;if(!num)return v.toLowerCase();var x=parseFloat(v);return isNaN(x)?-Infinity:x;}
rows.sort(function(a,b){var x=key(a),y=key(b);var d=x<y?-1:x>y?1:0;return down?-d:d;});
rows.forEach(function(r){body.appendChild(r)});});});});
var shown=null;
document.querySelectorAll('button.agent').forEach(function(a){a.addEventListener('click',function(){
var who=a.dataset.agent;shown=shown===who?null:who;
document.querySelectorAll('#calls tbody tr').forEach(function(r){r.hidden=shown!==null&&r.dataset.agent!==who;});
document.querySelectorAll('button.agent').forEach(function(b){b.classList.toggle('on',shown!==null&&b===a);});
document.getElementById('showing').textContent=shown===null?'Showing every call. Click an agent to show only theirs.':'Showing the calls of '+(who||'no named agent')+' only. Click the name again to show every call.';});});
</script>"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_link_to_their_reports_and_failed_ones_do_not() {
        let row = |file: &str, episodes: &str, error: &str| {
            let mut cells = vec![String::new(); HEADER.len()];
            cells[0] = file.into();
            cells[HEADER
                .iter()
                .position(|h| *h == "customer_episodes")
                .unwrap()] = episodes.into();
            *cells.last_mut().unwrap() = error.into();
            cells
        };
        let page = render(
            "calls & co",
            &[
                IndexEntry {
                    cells: row("2026/12/07/a b.wav", "2", ""),
                    report: Some("2026/12/07/a b.html".into()),
                },
                IndexEntry {
                    cells: row("bad.wav", "", "bad.wav: is empty"),
                    report: Some("bad.html".into()),
                },
            ],
        );
        assert!(page.contains(r#"<a href="2026/12/07/a%20b.html">2026/12/07/a b.wav</a>"#));
        assert!(!page.contains("bad.html"));
        assert!(page.contains("bad.wav: is empty"));
        assert!(page.contains("Calls in calls &amp; co"));
        assert!(page.contains("2 call(s): 1 with the customer escalated, 1 not reviewed"));
        // No agent named anywhere: no table by agent.
        assert!(!page.contains("By agent"));
    }

    #[test]
    fn agents_are_summed_over_their_calls_and_filter_the_calls() {
        let row = |file: &str, agent: &str, cells: &[(&str, &str)]| {
            let mut v = vec![String::new(); HEADER.len()];
            v[0] = file.into();
            v[1] = agent.into();
            for (name, value) in cells {
                v[HEADER.iter().position(|h| h == name).unwrap()] = value.to_string();
            }
            IndexEntry {
                cells: v,
                report: Some(format!("{file}.html")),
            }
        };
        let esc_call = |ack: &'static str| {
            vec![
                ("customer_episodes", "1"),
                ("customer_escalated_s", "45.0"),
                ("acknowledgements", ack),
                ("cues", "2"),
            ]
        };
        let page = render(
            "calls",
            &[
                row("a1", "Ann", &esc_call("1")),
                row("a2", "Ann", &esc_call("0")),
                row("a3", "Ann", &[("customer_episodes", "0"), ("cues", "1")]),
                // Not transcribed: whether Bob acknowledged is unknown, not 0%.
                row("b1", "Bob", &esc_call("")),
                row("c1", "", &[("error", "c1: is empty")]),
            ],
        );
        let agents =
            &page[page.find(r#"id="agents""#).unwrap()..page.find(r#"id="calls""#).unwrap()];
        let ann = &agents[agents.find(">Ann<").unwrap()..];
        let ann = &ann[..ann.find("</tr>").unwrap()];
        for cell in [">3<", ">2<", ">1:30<", ">1 of 2 (50%)<", ">5<", ">0<"] {
            assert!(ann.contains(cell), "{cell} in {ann}");
        }
        let bob = &agents[agents.find(">Bob<").unwrap()..];
        let bob = &bob[..bob.find("</tr>").unwrap()];
        assert!(!bob.contains(" of "), "{bob}");
        // The unnamed come last, with their failed call.
        assert!(agents.find(">(not named)<").unwrap() > agents.find(">Bob<").unwrap());
        assert!(page.contains(r#"<tr class="esc" data-agent="Ann">"#));
        assert!(page.contains(r#"<tr class="failed" data-agent="">"#));
    }
}
