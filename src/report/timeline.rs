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
const TOP: f64 = 46.0;
const LANE: f64 = 26.0;

fn short(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    attr(&out)
}

/// Time to x, linear within each stretch of activity; a quiet stretch
/// longer than an eighth of the whole (and than an hour), such as the
/// night between two days of talks, is cut to a narrow break, so that the
/// marks of busy hours are not crowded together.
pub(super) struct Scale {
    pieces: Vec<Piece>,
}

/// A stretch: its (from, to) times and (from, to) x.
type Piece = ((i64, i64), (f64, f64));

const BREAK: f64 = 22.0;

impl Scale {
    pub(super) fn new(times: &[i64]) -> Scale {
        let mut t: Vec<i64> = times.to_vec();
        t.sort_unstable();
        t.dedup();
        let (first, last) = (t[0], t[t.len() - 1]);
        let quiet = ((last - first) / 8).max(3600);
        let mut stretches = vec![(first, first)];
        for &x in &t[1..] {
            match stretches.last_mut() {
                Some(s) if x - s.1 <= quiet => s.1 = x,
                _ => stretches.push((x, x)),
            }
        }
        // Each stretch as wide as its share of active time, at least a
        // few pixels; the breaks between them fixed.
        let active: i64 = stretches.iter().map(|s| s.1 - s.0).sum();
        let room = RIGHT - LEFT - BREAK * (stretches.len() - 1) as f64;
        let min = 6.0_f64.min(room / stretches.len() as f64);
        let share = room - min * stretches.len() as f64;
        let mut x = LEFT;
        let mut pieces = Vec::with_capacity(stretches.len());
        for (i, s) in stretches.iter().enumerate() {
            let w = min
                + if active > 0 {
                    share * (s.1 - s.0) as f64 / active as f64
                } else {
                    share / stretches.len() as f64
                };
            pieces.push((*s, (x, x + w)));
            x += w;
            if i + 1 < stretches.len() {
                x += BREAK;
            }
        }
        Scale { pieces }
    }

    pub(super) fn x(&self, t: i64) -> f64 {
        let mut prev: Option<&Piece> = None;
        for p in &self.pieces {
            let ((t0, t1), (x0, x1)) = *p;
            if t < t0 {
                // Inside the break before this stretch.
                return match prev {
                    Some(&((_, pt1), (_, px1))) => {
                        px1 + (x0 - px1) * (t - pt1) as f64 / (t0 - pt1).max(1) as f64
                    }
                    None => x0,
                };
            }
            if t <= t1 {
                return x0 + (x1 - x0) * (t - t0) as f64 / (t1 - t0).max(1) as f64;
            }
            prev = Some(p);
        }
        RIGHT
    }

    fn first(&self) -> i64 {
        self.pieces.first().map_or(0, |p| p.0 .0)
    }

    fn last(&self) -> i64 {
        self.pieces.last().map_or(0, |p| p.0 .1)
    }
}

pub(super) fn colour(kind: &str) -> &'static str {
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

pub(super) fn date(t: i64, with_time: bool) -> String {
    let s = crate::base::time::Timestamp::from_unix(t)
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    let n = if with_time { 16 } else { 10 };
    s.get(..n).unwrap_or(&s).replace('T', " ")
}

/// A time that bounds when events existed (FORMAT §17.5): events
/// `#0..#size-1` existed no later than `time`, says `by`.
#[derive(Debug, Clone)]
pub(super) struct Bound {
    pub size: u64,
    pub time: i64,
    pub by: String,
}

/// What the audit proves about when events existed: the valid RFC 3161
/// tokens' times, and the witnesses' cosignature times (each witness's
/// own clock: weaker, and drawn and said so). Each list at most
/// [`MAX_BOUNDS`], the earliest kept.
pub(super) struct Proven {
    pub tsa: Vec<Bound>,
    pub witness: Vec<Bound>,
}

/// Time bounds drawn, per source.
const MAX_BOUNDS: usize = 40;

impl Proven {
    pub(super) fn of(s: &Subject) -> Proven {
        let Some(a) = &s.audit else {
            return Proven {
                tsa: Vec::new(),
                witness: Vec::new(),
            };
        };
        let mut tsa: Vec<Bound> = crate::proofs::times::tsa_times(&a.timestamps)
            .into_iter()
            .map(|t| Bound {
                size: t.size,
                time: t.time,
                by: format!("TSA {} ({})", t.tsa, t.file),
            })
            .collect();
        let mut witness: Vec<Bound> = a
            .witness_times
            .iter()
            .filter_map(|w| {
                Some(Bound {
                    size: w.size,
                    time: i64::try_from(w.time).ok()?,
                    by: format!("witness {} (its own clock)", w.witness),
                })
            })
            .collect();
        for l in [&mut tsa, &mut witness] {
            l.sort_by_key(|b| (b.time, b.size));
            l.truncate(MAX_BOUNDS);
        }
        Proven { tsa, witness }
    }

    /// The earliest time `seq` is proven to have existed by, from `list`.
    pub(super) fn by(list: &[Bound], seq: u64) -> Option<&Bound> {
        list.iter().filter(|b| b.size > seq).min_by_key(|b| b.time)
    }

    fn times(&self) -> impl Iterator<Item = i64> + '_ {
        self.tsa.iter().chain(&self.witness).map(|b| b.time)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tsa.is_empty() && self.witness.is_empty()
    }
}

/// The SVG, or `None` when there is no event to draw.
pub fn svg(s: &Subject) -> Option<String> {
    let marks = &s.marks;
    let mut times: Vec<i64> = marks.iter().map(|m| m.time).collect();
    if times.is_empty() {
        return None;
    }
    let proven = Proven::of(s);
    times.extend(proven.times());
    let scale = Scale::new(&times);
    let (t0, t1) = (scale.first(), scale.last());
    let lanes = s.lanes.len();
    let tracks: Vec<_> = s.acts.iter().take(MAX_TRACKS).collect();
    let docs_top = TOP + lanes as f64 * LANE + 18.0;
    let height = docs_top + tracks.len() as f64 * LANE + 28.0;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"timeline\" class=\"timeline\">"
    );
    // Axis: a date at the start of each stretch (and the end), where
    // there is room for it; a zigzag for each break.
    let with_time = t1 - t0 < 3 * 86_400 || scale.pieces.len() > 1;
    let mut ticks: Vec<(f64, i64)> = scale.pieces.iter().map(|p| (p.1 .0, p.0 .0)).collect();
    if let Some(p) = scale.pieces.last() {
        ticks.push((p.1 .1, p.0 .1));
    }
    if scale.pieces.len() == 1 {
        for i in 1..4 {
            let t = t0 + (t1 - t0) * i / 4;
            ticks.insert(i as usize, (scale.x(t), t));
        }
    }
    // Where labels collide, the later one wins (the start of a busy
    // stretch says more than that of a lone event before it).
    let n = ticks.len();
    let mut kept: Vec<(usize, f64, i64)> = Vec::new();
    for (i, (x, t)) in ticks.into_iter().enumerate() {
        if kept.last().is_some_and(|k| x - k.1 < 120.0) {
            if i + 1 == n {
                continue;
            }
            kept.pop();
        }
        kept.push((i, x, t));
    }
    for (i, x, t) in kept {
        let last = i + 1 == n;
        let anchor = if x - LEFT < 60.0 {
            "start"
        } else if last {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            o,
            "<line x1=\"{x:.1}\" y1=\"20\" x2=\"{x:.1}\" y2=\"{:.0}\" class=\"tick\"/><text x=\"{x:.1}\" y=\"14\" text-anchor=\"{anchor}\" class=\"axis\">{}</text>",
            height - 20.0,
            date(t, with_time),
        );
    }
    for w in scale.pieces.windows(2) {
        let gap = w[1].0 .0 - w[0].0 .1;
        let x = (w[0].1 .1 + w[1].1 .0) / 2.0;
        let _ = write!(
            o,
            "<path d=\"M{:.1} 22l4 4l-4 4l4 4\" class=\"cut\"/><text x=\"{x:.1}\" y=\"{:.0}\" text-anchor=\"middle\" class=\"axis\"><title>no event for {}</title>{}</text>",
            x - 2.0,
            height - 6.0,
            span_words(gap),
            span_short(gap)
        );
    }
    // Sessions: bands across the party lanes; sessions closer together
    // than a pixel are one band (see `drawn_bands`).
    let lanes_bottom = TOP + lanes as f64 * LANE;
    let mut label_end = [f64::NEG_INFINITY; 2];
    for d in drawn_bands(&s.bands, &scale, t1, 2.0) {
        let (x0, x1) = (d.x0, d.x1);
        let (first, last) = (&s.bands[d.first], &s.bands[d.last]);
        let closed = last
            .closed
            .map_or(", not closed".to_owned(), |c| format!("–#{}", c.0));
        let (title, label) = if d.first == d.last {
            (
                format!(
                    "session {} (#{}{closed})",
                    attr(&first.session),
                    first.opened.0
                ),
                short(&first.session, 18),
            )
        } else {
            let n = d.last - d.first + 1;
            (
                format!(
                    "{n} sessions, {} to {} (#{}{closed})",
                    attr(&first.session),
                    attr(&last.session),
                    first.opened.0
                ),
                format!("{n} sessions"),
            )
        };
        // Two rows of labels, each label where it does not cover the one
        // before it; a merged band narrower than its label has none.
        let label_w = 7.0 * label.chars().count().min(19) as f64;
        let text = if d.first == d.last || x1 - x0 >= label_w {
            let row = usize::from(label_end[0] > x0 && label_end[1] <= x0);
            label_end[row] = x0 + label_w;
            format!(
                "<text x=\"{x0:.1}\" y=\"{:.0}\" class=\"band-label\">{label}</text>",
                TOP - 3.0 - 11.0 * row as f64
            )
        } else {
            String::new()
        };
        let _ = write!(
            o,
            "<rect x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.0}\" class=\"band\"><title>{title}</title></rect>{text}",
            x1 - x0,
            lanes_bottom - TOP,
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
    // What trusted time proves: each source's time as a line across the
    // lanes, and, per event drawn one by one, a bar from its claimed time
    // to the earliest time it is proven to have existed by (a TSA's; a
    // witness's only where no TSA's covers it, dashed: weaker).
    for (class, list) in [("tsa", &proven.tsa), ("wit", &proven.witness)] {
        for b in list.iter() {
            let x = scale.x(b.time);
            let _ = write!(
                o,
                "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{lanes_bottom:.0}\" class=\"{class}-time\"><title>events #0 to #{} existed by {} ({})</title></line>",
                b.size.saturating_sub(1),
                date(b.time, true),
                attr(&b.by)
            );
        }
    }
    if marks.len() <= MAX_MARKS && !proven.is_empty() {
        for m in marks {
            let (class, b) = match Proven::by(&proven.tsa, m.seq) {
                Some(b) => ("proven", b),
                None => match Proven::by(&proven.witness, m.seq) {
                    Some(b) => ("witnessed", b),
                    None => continue,
                },
            };
            let y = TOP + m.lane as f64 * LANE + LANE / 2.0 + 7.0;
            let (x0, x1) = (scale.x(m.time), scale.x(b.time));
            let _ = write!(
                o,
                "<line x1=\"{x0:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" class=\"{class}\" data-event=\"{}\"><title>#{} claimed {}, proven to exist by {} ({}{})</title></line>",
                x1.max(x0 + 1.0),
                m.seq,
                m.seq,
                date(m.time, true),
                date(b.time, true),
                attr(&b.by),
                if class == "witnessed" { "; weaker than a TSA's time" } else { "" }
            );
        }
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

fn span_short(secs: i64) -> String {
    match secs {
        s if s >= 2 * 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

fn span_words(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// Events per party and slice of time, as shaded cells, darker for more.
fn density(o: &mut String, marks: &[Mark], lanes: usize, scale: &Scale) {
    let mut cells = vec![0u64; lanes * COLUMNS];
    let w = (RIGHT - LEFT) / COLUMNS as f64;
    // The first event of each cell, to say when it begins.
    let mut from = vec![i64::MAX; COLUMNS];
    for m in marks {
        let c = (((scale.x(m.time) - LEFT) / w) as usize).min(COLUMNS - 1);
        if let Some(cell) = cells.get_mut(m.lane * COLUMNS + c) {
            *cell += 1;
        }
        from[c] = from[c].min(m.time);
    }
    let max = cells.iter().copied().max().unwrap_or(1).max(1) as f64;
    for lane in 0..lanes {
        for c in 0..COLUMNS {
            let n = cells[lane * COLUMNS + c];
            if n == 0 {
                continue;
            }
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.0}\" fill=\"#2b6cb0\" fill-opacity=\"{:.2}\"><title>{n} events from {}</title></rect>",
                LEFT + c as f64 * w,
                TOP + lane as f64 * LANE + 4.0,
                w.max(1.0),
                LANE - 8.0,
                0.15 + 0.85 * (n as f64 / max),
                date(from[c], true)
            );
        }
    }
}

/// One thing the PDF draws, in the SVG's coordinates (`WIDTH` wide).
pub(super) enum Shape {
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        rgb: (u8, u8, u8),
        alpha: f32,
    },
    Line {
        from: (f64, f64),
        to: (f64, f64),
        rgb: (u8, u8, u8),
        width: f32,
        dashed: bool,
    },
    Dot {
        x: f64,
        y: f64,
        r: f64,
        rgb: (u8, u8, u8),
    },
    /// Text, already made plain ([`super::escape::plain`]); `end`: the
    /// point is where it ends.
    Text {
        x: f64,
        y: f64,
        text: String,
        size: f32,
        rgb: (u8, u8, u8),
        end: bool,
    },
}

/// The timeline as the PDF draws it: the same scale, lanes, sessions,
/// marks (or density), proven times and document tracks as the SVG.
pub(super) struct Picture {
    pub width: f64,
    pub height: f64,
    pub shapes: Vec<Shape>,
}

fn rgb(hex: &str) -> (u8, u8, u8) {
    let h = hex.trim_start_matches('#');
    let n = |i: usize| {
        let c = h.get(i..i + 1).and_then(|c| u8::from_str_radix(c, 16).ok());
        c.unwrap_or(0)
    };
    if h.len() == 3 {
        (n(0) * 17, n(1) * 17, n(2) * 17)
    } else {
        (n(0) * 16 + n(1), n(2) * 16 + n(3), n(4) * 16 + n(5))
    }
}

fn plain_short(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    super::escape::plain(&out)
}

/// The picture, or `None` when there is no event to draw.
pub(super) fn picture(s: &Subject) -> Option<Picture> {
    let marks = &s.marks;
    let mut times: Vec<i64> = marks.iter().map(|m| m.time).collect();
    if times.is_empty() {
        return None;
    }
    let proven = Proven::of(s);
    times.extend(proven.times());
    let scale = Scale::new(&times);
    let (t0, t1) = (scale.first(), scale.last());
    let lanes = s.lanes.len();
    let tracks: Vec<_> = s.acts.iter().take(MAX_TRACKS).collect();
    let lanes_bottom = TOP + lanes as f64 * LANE;
    let docs_top = lanes_bottom + 18.0;
    let height = docs_top + tracks.len() as f64 * LANE + 10.0;
    let mute = (74, 85, 104);
    let mut v = Vec::new();
    let with_time = t1 - t0 < 3 * 86_400 || scale.pieces.len() > 1;
    // A date at the start and end of each stretch, where there is room.
    let mut last_x = f64::NEG_INFINITY;
    for p in &scale.pieces {
        for (x, t) in [(p.1 .0, p.0 .0), (p.1 .1, p.0 .1)] {
            if x - last_x < 150.0 {
                continue;
            }
            last_x = x;
            v.push(Shape::Line {
                from: (x, 20.0),
                to: (x, lanes_bottom),
                rgb: (226, 232, 240),
                width: 0.5,
                dashed: false,
            });
            v.push(Shape::Text {
                x: if x > RIGHT - 100.0 { x } else { x.max(LEFT) },
                y: 16.0,
                text: date(t, with_time),
                size: 6.0,
                rgb: mute,
                end: x > RIGHT - 100.0,
            });
        }
    }
    for d in drawn_bands(&s.bands, &scale, t1, 1.5) {
        let (x0, x1) = (d.x0, d.x1);
        v.push(Shape::Rect {
            x: x0,
            y: TOP,
            w: x1 - x0,
            h: lanes_bottom - TOP,
            rgb: (190, 227, 248),
            alpha: 0.45,
        });
    }
    for (i, p) in s.lanes.iter().enumerate() {
        let y = TOP + i as f64 * LANE + LANE / 2.0;
        v.push(Shape::Line {
            from: (LEFT, y),
            to: (RIGHT, y),
            rgb: (160, 174, 192),
            width: 0.5,
            dashed: false,
        });
        v.push(Shape::Text {
            x: LEFT - 8.0,
            y: y + 4.0,
            text: plain_short(p.as_str(), 16),
            size: 7.0,
            rgb: (26, 32, 44),
            end: true,
        });
    }
    for (c, list) in [
        ((47, 133, 90), &proven.tsa),
        ((183, 121, 31), &proven.witness),
    ] {
        for b in list.iter() {
            let x = scale.x(b.time);
            v.push(Shape::Line {
                from: (x, TOP),
                to: (x, lanes_bottom),
                rgb: c,
                width: 1.0,
                dashed: c != (47, 133, 90),
            });
        }
    }
    if marks.len() <= MAX_MARKS {
        for m in marks {
            let y = TOP + m.lane as f64 * LANE + LANE / 2.0;
            let (by, c, dashed) = match Proven::by(&proven.tsa, m.seq) {
                Some(b) => (Some(b), (47, 133, 90), false),
                None => (Proven::by(&proven.witness, m.seq), (183, 121, 31), true),
            };
            if let Some(b) = by {
                let x0 = scale.x(m.time);
                v.push(Shape::Line {
                    from: (x0, y + 7.0),
                    to: (scale.x(b.time).max(x0 + 1.0), y + 7.0),
                    rgb: c,
                    width: 2.0,
                    dashed,
                });
            }
            v.push(Shape::Dot {
                x: scale.x(m.time),
                y,
                r: 5.0,
                rgb: rgb(colour(m.kind)),
            });
        }
    } else {
        let mut cells = vec![0u64; lanes * COLUMNS];
        let w = (RIGHT - LEFT) / COLUMNS as f64;
        for m in marks {
            let c = (((scale.x(m.time) - LEFT) / w) as usize).min(COLUMNS - 1);
            if let Some(cell) = cells.get_mut(m.lane * COLUMNS + c) {
                *cell += 1;
            }
        }
        let max = cells.iter().copied().max().unwrap_or(1).max(1) as f64;
        for (i, n) in cells.iter().enumerate().filter(|(_, n)| **n > 0) {
            v.push(Shape::Rect {
                x: LEFT + (i % COLUMNS) as f64 * w,
                y: TOP + (i / COLUMNS) as f64 * LANE + 4.0,
                w: w.max(1.0),
                h: LANE - 8.0,
                rgb: (43, 108, 176),
                alpha: (0.15 + 0.85 * (*n as f64 / max)) as f32,
            });
        }
    }
    for (i, (doc, acts)) in tracks.iter().enumerate() {
        let y = docs_top + i as f64 * LANE + LANE / 2.0;
        let (Some(first), Some(last)) = (acts.first(), acts.last()) else {
            continue;
        };
        v.push(Shape::Text {
            x: LEFT - 8.0,
            y: y + 4.0,
            text: plain_short(doc.as_str(), 16),
            size: 7.0,
            rgb: (26, 32, 44),
            end: true,
        });
        let x0 = scale.x(first.time);
        v.push(Shape::Line {
            from: (x0, y),
            to: (scale.x(last.time).max(x0 + 1.0), y),
            rgb: (128, 90, 213),
            width: 1.5,
            dashed: false,
        });
        let mut drawn = std::collections::BTreeSet::new();
        for a in acts.iter() {
            let x = scale.x(a.time);
            if drawn.insert((a.kind, x as i64)) {
                v.push(Shape::Dot {
                    x,
                    y,
                    r: 4.0,
                    rgb: rgb(colour(a.kind)),
                });
            }
        }
    }
    Some(Picture {
        width: WIDTH,
        height,
        shapes: v,
    })
}

/// One band as drawn: sessions `first..=last` (indexes into the bands)
/// spanning `x0..x1`.
struct DrawnBand {
    first: usize,
    last: usize,
    x0: f64,
    x1: f64,
}

/// Up to this many sessions, each is its own band (sessions that overlap
/// in time, a plenary beside a working group, stay visible as such).
const BANDS_DRAWN: usize = 200;

/// The session bands to draw, each at least `min_w` wide. Beyond
/// [`BANDS_DRAWN`] sessions, consecutive ones that would overlap as drawn
/// are merged into one band whose title counts them: 6,667 sessions on a
/// 700-pixel axis are a few bands, not 6,667 rectangles and labels on top
/// of each other (1.2 MB of the 100k bench ledger's page).
fn drawn_bands(bands: &[super::Band], scale: &Scale, t1: i64, min_w: f64) -> Vec<DrawnBand> {
    let merge = bands.len() > BANDS_DRAWN;
    let mut out: Vec<DrawnBand> = Vec::new();
    for (i, b) in bands.iter().enumerate() {
        let x0 = scale.x(b.opened.1);
        let x1 = scale.x(b.closed.map_or(t1, |c| c.1)).max(x0 + min_w);
        match out.last_mut() {
            Some(d) if merge && x0 < d.x1 && x0 >= d.x0 => {
                d.last = i;
                d.x1 = d.x1.max(x1);
            }
            _ => out.push(DrawnBand {
                first: i,
                last: i,
                x0,
                x1,
            }),
        }
    }
    out
}
