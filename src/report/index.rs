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
fn href(path: &str) -> String {
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
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Calls in {0}</title><style>{CSS}</style></head><body><h1>Calls in {0}</h1><p class="meta">{1} call(s): {2} with the customer escalated, {3} not reviewed. Click a heading to sort; the summary is also in summary.csv.</p><table id="calls"><thead><tr><th data-k="t">Call</th>"#,
        esc(folder),
        entries.len(),
        escalated,
        failed
    ));
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
        o.push_str(&format!("<tr{class}>"));
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

const CSS: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1300px;margin:0 auto;padding:1.2em}
h1{font-size:1.45em;margin:.2em 0;word-break:break-all}.meta{color:#666;margin:0 0 1em}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border-bottom:1px solid #e6e6e6;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f6f6;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
tr.esc td:first-child{border-left:4px solid #c8322a}tr.failed{color:#888}tr.failed .notes{color:#9a3412}.notes{font-size:.85em;max-width:28em}
td.n{text-align:right}
"#;

/// Sorting by a heading: numbers as numbers, the rest as text; a second click reverses.
const SORT_JS: &str = r#"<script>
document.querySelectorAll('#calls th').forEach(function(th,i){th.addEventListener('click',function(){
var body=document.querySelector('#calls tbody'),rows=Array.prototype.slice.call(body.rows);
var down=th.getAttribute('aria-sort')!=='descending';
document.querySelectorAll('#calls th').forEach(function(h){h.removeAttribute('aria-sort')});
th.setAttribute('aria-sort',down?'descending':'ascending');
var num=th.dataset.k==='n';
function key(r){var c=r.cells[i],v=c.dataset.v!==undefined?c.dataset.v:c.textContent;if(!num)return v.toLowerCase();var x=parseFloat(v);return isNaN(x)?-Infinity:x;}
rows.sort(function(a,b){var x=key(a),y=key(b);var d=x<y?-1:x>y?1:0;return down?-d:d;});
rows.forEach(function(r){body.appendChild(r)});});});
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
    }
}
