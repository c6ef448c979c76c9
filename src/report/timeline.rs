//! The timeline picture: an inline SVG with one lane per party, sessions
//! as bands, each event a mark at its claimed time, and one track per
//! document from its draft to its execution. Past [`MAX_MARKS`] events it
//! draws density instead (how many events fall in each slice of time), so
//! that a ledger of any size stays a picture a person can read, of bounded
//! size. Ledger text appears only as escaped SVG text and `<title>`s.

use std::fmt::Write as _;

use super::escape::attr;
use super::{Mark, Subject};

/// Up to this many events, one mark each; beyond, density.
pub const MAX_MARKS: usize = 600;
/// Documents drawn as tracks; the rest are counted.
const MAX_TRACKS: usize = 30;
/// Density columns across the plot.
const COLUMNS: usize = 160;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 945.0;
const TOP: f64 = 34.0;
const LANE: f64 = 26.0;

fn short(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    attr(&out)
}

struct Scale {
    t0: i64,
    t1: i64,
}

impl Scale {
    fn x(&self, t: i64) -> f64 {
        let span = (self.t1 - self.t0).max(1) as f64;
        LEFT + (t - self.t0) as f64 / span * (RIGHT - LEFT)
    }
}

fn colour(kind: &str) -> &'static str {
    match kind {
        "ledger-created" => "#444",
        "session-opened" | "session-closed" => "#2b6cb0",
        "document-drafted" | "document-amended" => "#805ad5",
        "document-approved" => "#b7791f",
        "document-signed" => "#2f855a",
        "key-added" | "key-rotated" | "key-revoked" => "#c53030",
        _ => "#718096",
    }
}

fn date(t: i64, with_time: bool) -> String {
    let s = crate::base::time::Timestamp::from_unix(t)
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    let n = if with_time { 16 } else { 10 };
    s.get(..n).unwrap_or(&s).replace('T', " ")
}

/// The SVG, or `None` when there is no event to draw.
pub fn svg(s: &Subject) -> Option<String> {
    let marks = &s.marks;
    let t0 = marks.iter().map(|m| m.time).min()?;
    let t1 = marks.iter().map(|m| m.time).max()?;
    let scale = Scale { t0, t1 };
    let lanes = s.lanes.len();
    let tracks: Vec<_> = s.acts.iter().take(MAX_TRACKS).collect();
    let docs_top = TOP + lanes as f64 * LANE + 18.0;
    let height = docs_top + tracks.len() as f64 * LANE + 28.0;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"timeline\" class=\"timeline\">"
    );
    // Axis: ticks with dates.
    let with_time = t1 - t0 < 3 * 86_400;
    for i in 0..=4 {
        let t = t0 + (t1 - t0) * i / 4;
        let x = scale.x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            o,
            "<line x1=\"{x:.1}\" y1=\"{y0}\" x2=\"{x:.1}\" y2=\"{y1:.0}\" class=\"tick\"/><text x=\"{x:.1}\" y=\"14\" text-anchor=\"{anchor}\" class=\"axis\">{}</text>",
            date(t, with_time),
            y0 = 20,
            y1 = height - 20.0,
        );
    }
    // Sessions: bands across the party lanes.
    let lanes_bottom = TOP + lanes as f64 * LANE;
    for b in &s.bands {
        let x0 = scale.x(b.opened.1);
        let x1 = scale.x(b.closed.map_or(t1, |c| c.1)).max(x0 + 2.0);
        let _ = write!(
            o,
            "<rect x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.0}\" class=\"band\"><title>session {} (#{}{})</title></rect><text x=\"{x0:.1}\" y=\"{:.0}\" class=\"band-label\">{}</text>",
            x1 - x0,
            lanes_bottom - TOP,
            attr(&b.session),
            b.opened.0,
            b.closed.map_or(", not closed".to_owned(), |c| format!("–#{}", c.0)),
            TOP - 3.0,
            short(&b.session, 18)
        );
    }
    for (i, p) in s.lanes.iter().enumerate() {
        let y = TOP + i as f64 * LANE + LANE / 2.0;
        let _ = write!(
            o,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{RIGHT}\" y2=\"{y:.1}\" class=\"lane\"/><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\" class=\"who\">{}</text>",
            LEFT - 8.0,
            y + 4.0,
            short(p.as_str(), 16)
        );
    }
    if marks.len() <= MAX_MARKS {
        for m in marks {
            let _ = write!(
                o,
                "<a href=\"#e{}\"><circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{}\"><title>#{} {}</title></circle></a>",
                m.seq,
                scale.x(m.time),
                TOP + m.lane as f64 * LANE + LANE / 2.0,
                colour(m.kind),
                m.seq,
                m.kind
            );
        }
    } else {
        density(&mut o, marks, lanes, &scale);
    }
    // Documents: one track each, from the draft to the last act.
    let _ = write!(
        o,
        "<text x=\"{LEFT}\" y=\"{:.0}\" class=\"axis\">documents</text>",
        docs_top - 4.0
    );
    for (i, (doc, acts)) in tracks.iter().enumerate() {
        let y = docs_top + i as f64 * LANE + LANE / 2.0;
        let (Some(first), Some(last)) = (acts.first(), acts.last()) else {
            continue;
        };
        let executed = s
            .audit
            .as_ref()
            .and_then(|a| a.ledger.documents.iter().find(|d| d.id == **doc))
            .and_then(|d| d.executed_at);
        let _ = write!(
            o,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\" class=\"who\">{}</text><line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" class=\"track\"/>",
            LEFT - 8.0,
            y + 4.0,
            short(doc.as_str(), 16),
            scale.x(first.time),
            scale.x(last.time).max(scale.x(first.time) + 1.0)
        );
        // One mark per kind and pixel: a document signed ten thousand
        // times still draws a bounded track.
        let mut drawn = std::collections::BTreeSet::new();
        for a in acts.iter() {
            let x = scale.x(a.time);
            if !drawn.insert((a.kind, x as i64)) && executed != Some(a.seq) {
                continue;
            }
            let shape = match a.kind {
                "document-drafted" => format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"9\" fill=\"{}\"",
                    x - 4.5,
                    y - 4.5,
                    colour(a.kind)
                ),
                "document-amended" => format!(
                    "<path d=\"M{x:.1} {:.1}l5 5l-5 5l-5 -5z\" fill=\"{}\"",
                    y - 5.0,
                    colour(a.kind)
                ),
                "document-approved" => format!(
                    "<path d=\"M{x:.1} {:.1}l5 9h-10z\" fill=\"{}\"",
                    y - 5.0,
                    colour(a.kind)
                ),
                _ => format!(
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{}\" fill=\"{}\"{}",
                    if executed == Some(a.seq) { 7 } else { 5 },
                    colour(a.kind),
                    if executed == Some(a.seq) {
                        " stroke=\"#1a202c\" stroke-width=\"2\""
                    } else {
                        ""
                    }
                ),
            };
            let what = if executed == Some(a.seq) {
                format!("{}, executing it", a.kind)
            } else {
                a.kind.to_owned()
            };
            let _ = write!(
                o,
                "<a href=\"#e{}\">{shape}><title>#{} {} by {}</title>{}</a>",
                a.seq,
                a.seq,
                what,
                attr(a.author.as_str()),
                match a.kind {
                    "document-drafted" => "</rect>",
                    "document-amended" | "document-approved" => "</path>",
                    _ => "</circle>",
                }
            );
        }
    }
    if s.acts.len() > MAX_TRACKS {
        let _ = write!(
            o,
            "<text x=\"{LEFT}\" y=\"{:.0}\" class=\"axis\">and {} more documents (listed below)</text>",
            height - 8.0,
            s.acts.len() - MAX_TRACKS
        );
    }
    o.push_str("</svg>");
    Some(o)
}

/// Events per party and slice of time, as shaded cells, darker for more.
fn density(o: &mut String, marks: &[Mark], lanes: usize, scale: &Scale) {
    let mut cells = vec![0u64; lanes * COLUMNS];
    let span = (scale.t1 - scale.t0).max(1) as i128;
    for m in marks {
        let c = (((m.time - scale.t0) as i128 * COLUMNS as i128) / (span + 1)) as usize;
        if let Some(cell) = cells.get_mut(m.lane * COLUMNS + c.min(COLUMNS - 1)) {
            *cell += 1;
        }
    }
    let max = cells.iter().copied().max().unwrap_or(1).max(1) as f64;
    let w = (RIGHT - LEFT) / COLUMNS as f64;
    for lane in 0..lanes {
        for c in 0..COLUMNS {
            let n = cells[lane * COLUMNS + c];
            if n == 0 {
                continue;
            }
            let from = scale.t0 + (span * c as i128 / COLUMNS as i128) as i64;
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.0}\" fill=\"#2b6cb0\" fill-opacity=\"{:.2}\"><title>{n} events from {}</title></rect>",
                LEFT + c as f64 * w,
                TOP + lane as f64 * LANE + 4.0,
                w.max(1.0),
                LANE - 8.0,
                0.15 + 0.85 * (n as f64 / max),
                date(from, true)
            );
        }
    }
}
