//! The report as one self-contained HTML page: inline CSS and SVG, no
//! script, nothing fetched (a Content-Security-Policy that allows nothing
//! else says so to the browser), readable on a phone and printable on A4.
//! Every string from the ledger goes through [`super::escape`]; ledger text
//! is never put in an attribute except escaped in `title="…"`.

// The page is written as it reads, each line's `\n` in its format string.
#![allow(clippy::write_with_newline)]

use std::fmt::Write as _;

use super::escape::{block, text};
use super::{timeline, Content, Subject, Verdict};
use crate::core::verify::{Entry, PartyInfo};

/// The page's policy: no script, no fetch of any kind; only the inline
/// style and `data:` images.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const STYLE: &str = r#"
:root{--ok:#276749;--ok-bg:#f0fff4;--bad:#9b2c2c;--bad-bg:#fff5f5;--mid:#975a16;--mid-bg:#fffff0;--line:#cbd5e0;--mute:#4a5568}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:62rem;padding:1rem;color:#1a202c;line-height:1.45;overflow-wrap:anywhere;word-break:break-word}
h1,h2,h3{line-height:1.2}
h2{border-bottom:2px solid var(--line);padding-bottom:.2rem;margin-top:2rem}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.88em}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7fafc;border:1px solid var(--line);padding:.5rem;margin:.3rem 0}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{border-bottom:1px solid var(--line);padding:.3rem .4rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#edf2f7}
.verdict{border:3px solid;border-radius:.5rem;padding:1rem 1.2rem;margin:.5rem 0 1rem}
.verdict h1{margin:0 0 .4rem;font-size:2.4rem;letter-spacing:.05em}
.verified{border-color:var(--ok);background:var(--ok-bg)}.verified h1{color:var(--ok)}
.refuted{border-color:var(--bad);background:var(--bad-bg)}.refuted h1{color:var(--bad)}
.interim{border-color:var(--mid);background:var(--mid-bg)}.interim h1{color:var(--mid)}
.esc{color:#c53030;background:#fed7d7;border-radius:2px;font-family:ui-monospace,monospace}
.mute{color:var(--mute)}
dl.facts{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.2rem 1rem;margin:.5rem 0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.badge{display:inline-block;padding:0 .4rem;border-radius:.3rem;font-size:.85em;font-weight:600;border:1px solid}
.b-ok{color:var(--ok)}.b-bad{color:var(--bad)}.b-mid{color:var(--mid)}
svg.timeline{width:100%;height:auto;border:1px solid var(--line);background:#fff}
svg .tick{stroke:#e2e8f0}svg .axis{font-size:11px;fill:var(--mute)}svg .lane{stroke:#a0aec0}
svg .who{font-size:12px;fill:#1a202c}svg .band{fill:#bee3f8;fill-opacity:.45}svg .band-label{font-size:10px;fill:#2b6cb0}
svg .track{stroke:#805ad5;stroke-width:2}svg .proven{stroke:#2f855a;stroke-width:3;stroke-opacity:.6}svg .witnessed{stroke:#b7791f;stroke-width:2;stroke-dasharray:3 2;stroke-opacity:.7}svg .tsa-time{stroke:#2f855a;stroke-width:1.5}svg .wit-time{stroke:#b7791f;stroke-width:1;stroke-dasharray:4 3}svg .cut{stroke:#718096;fill:none;stroke-width:1.5}
.legend span{margin-right:1rem;white-space:nowrap}
.ev th:nth-child(1){width:4rem}.ev th:nth-child(2){width:11rem}.ev th:nth-child(3){width:6rem}.ev th:nth-child(4){width:9rem}.ev th:nth-child(6){width:8.5rem}
.ev td:nth-child(2){font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.88em}
tr:target{background:#fefcbf}
.full{display:none}
.doc{border:1px solid var(--line);border-radius:.4rem;padding:.5rem .8rem;margin:.8rem 0}
@media (max-width:40rem){
 body{padding:.5rem}.verdict h1{font-size:1.8rem}
 table.ev,table.ev tbody,table.ev tr,table.ev td{display:block;width:auto!important}
 table.ev thead{display:none}table.ev tr{border-bottom:2px solid var(--line);padding:.3rem 0}
 table.ev td{border:0;padding:.1rem .3rem}
 dl.facts{grid-template-columns:1fr}
}
@page{size:A4;margin:16mm 14mm 18mm;@bottom-right{content:"page " counter(page) " of " counter(pages);font-size:9pt}}
@media print{
 body{max-width:none;padding:0;font-size:10pt}
 a{color:inherit;text-decoration:none}
 h2{break-after:avoid}tr,.doc,.verdict,svg{break-inside:avoid}
 section.events,section.evidence{break-before:page}
 .short{display:none}.full{display:inline;font-size:.8em}
 .ev code[title]{font-size:0}.ev code[title]::after{content:attr(title);font-size:7pt}
 thead{display:table-header-group}
}
"#;

fn verdict_class(v: &Verdict) -> &'static str {
    match v {
        Verdict::Verified => "verified",
        Verdict::Interim { .. } => "interim",
        Verdict::Refuted { .. } => "refuted",
    }
}

/// The page.
pub fn render(s: &Subject) -> std::io::Result<String> {
    let listed = s.listing.proven.min(s.listing.max) as usize;
    let mut o = String::with_capacity(64 * 1024 + listed * 240);
    let title = s.audit.as_ref().map_or("", |a| a.ledger.title.as_str());
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"ledger {}\">\n<title>{} — ledger report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        s.tool,
        s.verdict.word(),
        text(title)
    );
    banner(&mut o, s);
    parties(&mut o, s);
    timeline_section(&mut o, s);
    documents(&mut o, s);
    events(&mut o, s)?;
    evidence(&mut o, s);
    let _ = write!(
        o,
        "<footer class=\"mute\"><p>Made by ledger {} from the same verification as <code>ledger verify --json</code>. This page runs no script and loads nothing.</p></footer>\n</body>\n</html>\n",
        s.tool
    );
    Ok(o)
}

fn banner(o: &mut String, s: &Subject) {
    let _ = write!(
        o,
        "<header id=\"verdict\" class=\"verdict {}\">\n<h1>{}</h1>\n",
        verdict_class(&s.verdict),
        s.verdict.word()
    );
    match &s.verdict {
        Verdict::Verified => o.push_str("<p>Every event is signed by a key its party held, hash-chained to the one before, and allowed by the agreement's rules; every document that needs signatures is executed.</p>\n"),
        Verdict::Interim { awaiting } => {
            let _ = write!(o, "<p>Every event verifies, but not every document that needs signatures is executed: {} still awaiting signatures.</p>\n",
                awaiting.iter().map(|d| format!("<a href=\"#doc-{0}\">{0}</a>", text(d.as_str()))).collect::<Vec<_>>().join(", "));
        }
        Verdict::Refuted { event, offset, rule } => {
            let at = match (event, offset) {
                (Some(e), Some(off)) => format!("at event <strong>#{e}</strong>, byte offset {off} of events.cbor"),
                (None, Some(off)) => format!("at byte offset {off} of events.cbor"),
                _ => "as a whole (not one event)".to_owned(),
            };
            let _ = write!(o, "<p>The ledger fails verification {at}.</p>\n<p><strong>The rule broken:</strong> {}</p>\n", text(rule));
            let n = s.audit.as_ref().map_or(0, |a| a.ledger.count);
            let _ = write!(o, "<p>What follows is what was proven before the failure: {n} event{}. Nothing after it is shown as proven.</p>\n", if n == 1 { "" } else { "s" });
        }
    }
    o.push_str("<dl class=\"facts\">\n");
    if let Some(a) = &s.audit {
        let _ = write!(
            o,
            "<dt>Ledger</dt><dd>{} <span class=\"mono\">{}</span></dd>\n",
            text(&a.ledger.title),
            a.ledger.ledger
        );
        let _ = write!(
            o,
            "<dt>Size</dt><dd><strong>{}</strong> events{}</dd>\n<dt>Head</dt><dd><code>{}</code></dd>\n<dt>Tree root</dt><dd><code>{}</code></dd>\n",
            a.ledger.count,
            if s.audit.as_ref().is_some_and(|a| a.ledger.verified) { "" } else { " proven (before the failure)" },
            a.ledger.head,
            a.tree_root
        );
    }
    let c = &s.checked;
    let keys = if c.keys.is_empty() {
        "none given: the parties' keys are those the ledger's genesis names (compare their fingerprints below with ones you trust)".to_owned()
    } else {
        c.keys
            .iter()
            .map(|(l, f, p)| {
                format!(
                    "<code>{}</code> {}{}",
                    f,
                    text(l),
                    p.as_ref()
                        .map_or(String::new(), |p| format!(" (for {})", text(p)))
                )
            })
            .collect::<Vec<_>>()
            .join("<br>")
    };
    let _ = write!(o, "<dt>Trusted keys</dt><dd>{keys}</dd>\n");
    let witnesses = if c.witnesses.is_empty() {
        "none required".to_owned()
    } else {
        format!(
            "{}: {}",
            text(c.quorum.as_deref().unwrap_or("all")),
            c.witnesses
                .iter()
                .map(|(n, f)| format!("{} <code>{f}</code>", text(n)))
                .collect::<Vec<_>>()
                .join(", ")
        ) + if c.allow_unwitnessed_tail {
            " (an unwitnessed tail accepted)"
        } else {
            ""
        }
    };
    let _ = write!(o, "<dt>Witnesses</dt><dd>{witnesses}</dd>\n");
    let _ = write!(
        o,
        "<dt>Head pinned</dt><dd>{}</dd>\n",
        c.head.map_or("no".to_owned(), |h| format!(
            "yes, the ledger must contain <code>{h}</code>"
        ))
    );
    if !c.log_keys.is_empty() {
        let _ = write!(
            o,
            "<dt>Log keys</dt><dd>{}</dd>\n",
            c.log_keys
                .iter()
                .map(|(l, f)| format!("{} <code>{f}</code>", text(l)))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    let _ = write!(o, "<dt>Tool</dt><dd>ledger {}</dd>\n", s.tool);
    if let Some(at) = &s.at {
        let _ = write!(o, "<dt>Made at</dt><dd>{}</dd>\n", text(at));
    }
    o.push_str("</dl>\n</header>\n");
}

fn membership(p: &PartyInfo) -> String {
    let mut m = if p.joined == 0 {
        "since the genesis".to_owned()
    } else {
        format!("joined at <a href=\"#e{0}\">#{0}</a>", p.joined)
    };
    if let Some(r) = p.removed {
        let _ = write!(
            m,
            "; <strong>removed</strong> at <a href=\"#e{r}\">#{r}</a>"
        );
    }
    m
}

fn parties(o: &mut String, s: &Subject) {
    o.push_str("<section id=\"parties\" class=\"parties\">\n<h2>Parties</h2>\n");
    let Some(a) = &s.audit else {
        o.push_str("<p>None proven.</p>\n</section>\n");
        return;
    };
    o.push_str("<table><thead><tr><th style=\"width:9rem\">Party</th><th style=\"width:11rem\">Membership</th><th>Keys (fingerprint as <code>ledger fingerprint</code> prints it) and their history</th></tr></thead><tbody>\n");
    for p in &a.ledger.parties {
        let keys = p
            .keys
            .iter()
            .map(|k| {
                format!(
                    "<code>{}</code><br><span class=\"mute\">{}</span>",
                    k.fingerprint,
                    text(&k.history())
                )
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = write!(
            o,
            "<tr id=\"party-{id}\"><td><strong>{id}</strong></td><td>{}</td><td>{keys}</td></tr>\n",
            membership(p),
            id = text(p.id.as_str())
        );
    }
    o.push_str("</tbody></table>\n");
    if !a.ledger.trusted.is_empty() {
        o.push_str("<h3>Vouched for by the trusted keys</h3><ul>\n");
        for t in &a.ledger.trusted {
            let _ = write!(
                o,
                "<li>{}: {} <code>{}</code> ({})</li>\n",
                text(t.party.as_str()),
                text(&t.file),
                t.fingerprint,
                text(&t.status)
            );
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</section>\n");
}

fn timeline_section(o: &mut String, s: &Subject) {
    o.push_str("<section id=\"timeline\" class=\"timeline\">\n<h2>Timeline</h2>\n");
    match timeline::svg(s) {
        None => o.push_str("<p>No event proven.</p>\n"),
        Some(svg) => {
            let how = if s.marks.len() > timeline::MAX_MARKS {
                format!("{} events: shown as density (darker cells hold more events); {} below, and every one by <code>ledger log</code>.", s.marks.len(), if s.listing.aggregated() { "the events of interest are listed" } else { "every one is listed" })
            } else {
                "Each mark is one event at its claimed time (select it to jump to the event); bands are sessions.".to_owned()
            };
            let _ = write!(o, "<p class=\"mute\">{how}</p>\n{svg}\n");
            o.push_str("<p class=\"legend mute\"><span>■ drafted</span><span>◆ amended</span><span>▲ approved</span><span>● signed (ringed: executed)</span><span style=\"color:#c53030\">● key change</span><span style=\"color:#2b6cb0\">● session</span></p>\n");
            let proven = timeline::Proven::of(s);
            if !proven.is_empty() {
                let _ = write!(
                    o,
                    "<p class=\"legend mute proofs\">{}{}</p>\n",
                    if proven.tsa.is_empty() {
                        String::new()
                    } else {
                        format!("<span style=\"color:#2f855a\">│ a TSA's time (RFC 3161, {} token{}); ━ under an event: from its claimed time to the earliest TSA time it is proven to have existed by</span>", proven.tsa.len(), if proven.tsa.len() == 1 { "" } else { "s" })
                    },
                    if proven.witness.is_empty() {
                        String::new()
                    } else {
                        "<span style=\"color:#b7791f\">┆ a witness's cosignature time, dashed where it is the only bound: weaker, the witness's own clock, no authority's</span>".to_owned()
                    }
                );
            }
        }
    }
    o.push_str("</section>\n");
}

fn documents(o: &mut String, s: &Subject) {
    o.push_str("<section id=\"documents\" class=\"documents\">\n<h2>Documents</h2>\n");
    let Some(a) = &s.audit else {
        o.push_str("<p>None proven.</p>\n</section>\n");
        return;
    };
    if a.ledger.documents.is_empty() {
        o.push_str("<p>None.</p>\n");
    }
    let docs = &a.ledger.documents;
    if docs.len() > super::MAX_DETAILED_DOCS {
        let _ = write!(o, "<p>{} documents: the first {} in full, then one line each{}; <code>ledger show {} --document FILE</code> tells any one's story.</p>\n",
            docs.len(), super::MAX_DETAILED_DOCS,
            if docs.len() > super::MAX_LISTED_DOCS { format!(" up to {}", super::MAX_LISTED_DOCS) } else { String::new() },
            text(&s.dir_label));
    }
    for d in docs.iter().take(super::MAX_DETAILED_DOCS) {
        let (badge, class) = match d.status {
            "executed" => (
                format!("EXECUTED at #{}", d.executed_at.unwrap_or_default()),
                "b-ok",
            ),
            "no-signatures-required" => ("no signatures required".to_owned(), "b-ok"),
            _ => ("NOT EXECUTED".to_owned(), "b-mid"),
        };
        let _ = write!(
            o,
            "<div class=\"doc\" id=\"doc-{id}\">\n<h3>{id} “{}” <span class=\"badge {class}\">{badge}</span></h3>\n",
            text(&d.title),
            id = text(d.id.as_str())
        );
        let signatories = if d.signatories.is_empty() {
            "none".to_owned()
        } else {
            d.signatories
                .iter()
                .map(|p| text(p.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(o, "<p>Signatories: {signatories}",);
        if !d.awaiting.is_empty() {
            let _ = write!(
                o,
                "; awaiting signatures from <strong>{}</strong>",
                d.awaiting
                    .iter()
                    .map(|p| text(p.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        o.push_str(".</p>\n");
        let acts = s.acts.get(&d.id).map(Vec::as_slice).unwrap_or_default();
        let mut number = 0;
        for v in acts
            .iter()
            .filter(|a| matches!(a.kind, "document-drafted" | "document-amended"))
        {
            number += 1;
            let Some(h) = v.version else { continue };
            let current = h == d.version;
            let _ = write!(
                o,
                "<p><strong>Version {number}</strong>{} — SHA-256 <code>{h}</code>, {} by {} at <a href=\"#e{seq}\">#{seq}</a></p>\n",
                if current { " (current)" } else { " (superseded)" },
                if v.kind == "document-drafted" { "drafted" } else { "amended" },
                text(v.author.as_str()),
                seq = v.seq
            );
            let on: Vec<String> = acts
                .iter()
                .filter(|a| {
                    a.version == Some(h)
                        && matches!(a.kind, "document-approved" | "document-signed")
                })
                .take(200)
                .map(|a| {
                    format!(
                        "{0} by {1} at <a href=\"#e{2}\">#{2}</a>{3}",
                        if a.kind == "document-signed" {
                            "signed"
                        } else {
                            "approved"
                        },
                        text(a.author.as_str()),
                        a.seq,
                        if d.executed_at == Some(a.seq) {
                            " — <strong>executed</strong>"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            if !on.is_empty() {
                let _ = write!(o, "<ul><li>{}</li></ul>\n", on.join("</li><li>"));
            }
            match s.contents.get(&h) {
                Some(Content::Text(t)) => {
                    let _ = write!(o, "<pre>{}</pre>\n", block(t));
                }
                Some(Content::Other { bytes, kind }) => {
                    let _ = write!(o, "<p class=\"mute\">{bytes} bytes, {kind}: not shown (<code>docs/{h}</code>)</p>\n");
                }
                _ => {
                    let _ = write!(o, "<p class=\"mute\">the bytes are not readable now</p>\n");
                }
            }
        }
        o.push_str("</div>\n");
    }
    let rest =
        &docs[docs.len().min(super::MAX_DETAILED_DOCS)..docs.len().min(super::MAX_LISTED_DOCS)];
    if !rest.is_empty() {
        o.push_str("<table><thead><tr><th style=\"width:12rem\">Document</th><th>Title</th><th style=\"width:10rem\">State</th><th style=\"width:9rem\">SHA-256 (current)</th></tr></thead><tbody>\n");
        for d in rest {
            let state = match (d.status, d.executed_at) {
                ("executed", Some(n)) => format!("executed at <a href=\"#e{n}\">#{n}</a>"),
                ("no-signatures-required", _) => "no signatures required".to_owned(),
                _ => "<strong>not executed</strong>".to_owned(),
            };
            let h = d.version.to_string();
            let _ = write!(o, "<tr id=\"doc-{id}\"><td>{id}</td><td>{}</td><td>{state}</td><td><code class=\"short\" title=\"{h}\">{}…</code><code class=\"full\">{h}</code></td></tr>\n",
                text(&d.title), &h[..12], id = text(d.id.as_str()));
        }
        o.push_str("</tbody></table>\n");
    }
    if docs.len() > super::MAX_LISTED_DOCS {
        let _ = write!(
            o,
            "<p>and {} more documents.</p>\n",
            docs.len() - super::MAX_LISTED_DOCS
        );
    }
    o.push_str("</section>\n");
}

/// One event's row, as compact as it reads: the optional end tags left
/// out (HTML §13.1.2.4), the full hash once, in `title` (and printed from
/// there, see the print style), the short one as text.
pub(super) fn event_row(e: &Entry) -> String {
    let h = e.hash.to_string();
    let mut o = String::with_capacity(160 + e.summary.len());
    let _ = write!(
        o,
        "<tr id=\"e{seq}\"><td><a href=\"#e{seq}\">#{seq}</a><td>{}<td>{}<td>{}<td>{}",
        text(&e.time),
        text(e.author.as_str()),
        e.kind,
        text(&e.summary),
        seq = e.seq
    );
    if let Some(n) = &e.notes {
        let _ = write!(o, "<pre>{}</pre>", block(n));
    }
    let _ = write!(o, "<td><code title=\"{h}\">{}</code>\n", &h[..12]);
    o
}

fn events(o: &mut String, s: &Subject) -> std::io::Result<()> {
    o.push_str("<section id=\"events\" class=\"events\">\n<h2>Events</h2>\n");
    let l = &s.listing;
    if l.aggregated() {
        let _ = write!(
            o,
            "<p class=\"aggregated\"><strong>Not every event is listed:</strong> {} events are more than a person reads one by one (every one is listed up to {}). Listed: the first and last {}, every change of parties or keys, every signature that executed a document{}, and the refutation if there is one; the rest are counted per session below. <code>ledger log {}</code> lists every one.</p>\n",
            l.proven,
            l.max,
            l.edge(),
            if l.acts_listed() {
                format!(", and every draft, amendment, approval and signature ({})", l.acts)
            } else {
                format!(
                    "; the {} drafts, amendments, approvals and signatures (more than {}) are counted per session",
                    l.acts,
                    super::MAX_ACTS_LISTED
                )
            },
            text(&s.dir_label)
        );
    } else if l.proven > 0 {
        let _ = write!(
            o,
            "<p class=\"mute\">Every one of the {} events is listed.</p>\n",
            l.proven
        );
    }
    o.push_str("<table class=\"ev\"><thead><tr><th>#</th><th>Claimed time</th><th>Party</th><th>Kind</th><th>What happened</th><th>Event hash</th></tr></thead><tbody>\n");
    l.each(|item| match item {
        super::Item::Row(_, row) => o.push_str(row),
        super::Item::Gap { first, last } => {
            let _ = write!(
                o,
                "<tr class=\"gap\"><td colspan=\"6\" class=\"mute\">#{first} to #{last}: {} events not listed (counted per session below)\n",
                last - first + 1
            );
        }
    })?;
    if let Verdict::Refuted {
        event: Some(n),
        rule,
        ..
    } = &s.verdict
    {
        let _ = write!(
            o,
            "<tr id=\"e{n}\" class=\"refuted\"><td>#{n}</td><td colspan=\"5\"><strong>REFUTED</strong>: {}</td></tr>\n",
            text(rule)
        );
    }
    o.push_str("</tbody></table>\n");
    if l.aggregated() && !s.bands.is_empty() {
        o.push_str("<h3 id=\"sessions\">Events per session</h3>\n<table class=\"sessions\"><thead><tr><th>Session</th><th>Opened</th><th>Closed</th><th>Events</th><th>Drafts, approvals, signatures</th></tr></thead><tbody>\n");
        for b in s.bands.iter().take(super::MAX_SESSIONS_LISTED) {
            let _ = write!(
                o,
                "<tr><td>{}<td><a href=\"#e{1}\">#{1}</a><td>{2}<td>{3}<td>{4}\n",
                text(&b.session),
                b.opened.0,
                b.closed
                    .map_or("not closed".to_owned(), |c| format!("#{}", c.0)),
                b.events,
                b.acts
            );
        }
        o.push_str("</tbody></table>\n");
        if s.bands.len() > super::MAX_SESSIONS_LISTED {
            let _ = write!(
                o,
                "<p>and {} more sessions.</p>\n",
                s.bands.len() - super::MAX_SESSIONS_LISTED
            );
        }
    }
    o.push_str("</section>\n");
    Ok(())
}

fn evidence(o: &mut String, s: &Subject) {
    o.push_str(
        "<section id=\"evidence\" class=\"evidence\">\n<h2>Evidence and independent checks</h2>\n",
    );
    if let Some(a) = &s.audit {
        if a.checkpoints.is_empty() {
            o.push_str("<p>No signed checkpoints are stored with this ledger.</p>\n");
        } else {
            o.push_str("<h3>Checkpoints (FORMAT §13)</h3>\n<table><thead><tr><th>File</th><th style=\"width:5rem\">Size</th><th>Signed by</th><th>Cosigned by (witness, time)</th></tr></thead><tbody>\n");
            for c in &a.checkpoints {
                let state = match &c.problem {
                    Some(p) => format!(
                        " <span class=\"badge b-bad\">INVALID</span> {}",
                        text(&p.to_string())
                    ),
                    None => " <span class=\"badge b-ok\">valid</span>".to_owned(),
                };
                let cos = c
                    .cosigned_by
                    .iter()
                    .map(|w| {
                        let t = crate::base::time::Timestamp::from_unix(w.time as i64)
                            .map_or(w.time.to_string(), |t| t.as_str().to_owned());
                        format!("{} ({})", text(&w.witness), text(&t))
                    })
                    .collect::<Vec<_>>()
                    .join("<br>");
                let _ = write!(
                    o,
                    "<tr><td><code>checkpoints/{}</code>{state}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    text(&c.file),
                    c.size.map_or("?".to_owned(), |n| n.to_string()),
                    c.signed_by.iter().map(|x| text(x)).collect::<Vec<_>>().join("<br>"),
                    if cos.is_empty() { "none".to_owned() } else { cos }
                );
            }
            o.push_str("</tbody></table>\n");
        }
        if let Some(w) = &a.witness {
            let _ = write!(
                o,
                "<p>Witnessed: events #0 to #{} by the quorum's cosignatures on <code>{}</code>{}.</p>\n",
                w.size.saturating_sub(1),
                text(&w.checkpoint),
                w.unwitnessed.map_or(String::new(), |t| format!("; <strong>events #{} to #{} are NOT witnessed</strong>", t.first, t.last))
            );
        }
        // FORMAT §17.5: what the tokens and the cosignatures' times prove,
        // the lines `verify` prints, each escaped.
        let times = a.timestamps_text();
        let mut open = false;
        for line in times.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(item) = line.strip_prefix("  ") {
                if !open {
                    o.push_str("<ul>\n");
                    open = true;
                }
                let _ = write!(o, "<li>{}</li>\n", text(item));
            } else {
                if open {
                    o.push_str("</ul>\n");
                    open = false;
                }
                let _ = write!(o, "<h3>{}</h3>\n", text(line.trim_end_matches(':')));
            }
        }
        if open {
            o.push_str("</ul>\n");
        }
    }
    let dir = text(&s.dir_label);
    let args: String = s
        .verify_args
        .iter()
        .map(|a| format!(" {}", text(a)))
        .collect();
    let trust_py: String = s
        .verify_args
        .windows(2)
        .filter(|w| w[0] == "--trust" || w[0] == "--head")
        .map(|w| format!(" {} {}", text(&w[0]), text(&w[1])))
        .collect();
    let n = s.example;
    o.push_str("<h3>Re-check it without trusting this report</h3>\n<ol>\n");
    let _ = write!(
        o,
        "<li>With this tool, the same checks: <pre>ledger verify {dir}{args}</pre></li>\n"
    );
    let _ = write!(o, "<li>With the independent Python verifier (<code>tools/verify.py</code>, its dependencies pinned in <code>tools/requirements.txt</code>): <pre>python3 tools/verify.py {dir}{trust_py}</pre></li>\n");
    if let Some((seq, hash)) = n {
        let _ = write!(
            o,
            "<li>One event by hand, with openssl (FORMAT §10): event #{seq}'s signed bytes, signature and key, then its hash: <pre>ledger export {dir} --event {seq} --out .\nopenssl pkeyutl -verify -pubin -inkey event-{seq}.pub -rawin -in event-{seq}.tbs -sigfile event-{seq}.sig\nsha256sum event-{seq}.cbor   # {}</pre>Compare the key's fingerprint with the party's above (<code>ledger fingerprint event-{seq}.pub</code>).</li>\n",
            hash,
            seq = seq
        );
    }
    o.push_str("<li>From the specification alone: <code>docs/FORMAT.md</code> gives the bytes of every event (§3–§5), the rules of replay (§6), the Merkle tree (§12) and checkpoints (§13), with test vectors.</li>\n</ol>\n</section>\n");
}
