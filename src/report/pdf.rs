//! The report as a PDF, written by the tool itself (krilla: pure Rust, the
//! font embedded and subset, the text selectable and searchable): A4
//! pages, numbered, in DejaVu Sans Mono (shipped subset in
//! `src/report/font/`, with its licence), whose fixed advance makes line
//! breaking exact without a shaping engine's measurements. The same
//! sections as the HTML page, with ledger text shown through
//! [`super::escape::plain`] (a bidi override would reorder a PDF line
//! too). The bytes are deterministic: no date unless `--at` was given, a
//! document id derived from what the report says, and the ledger's files
//! attached (`events.cbor`, the checkpoints, the documents) in a fixed
//! order, so that the PDF alone is enough to re-verify.

use std::fmt::Write as _;

use krilla::color::rgb;
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use krilla::Document;

use super::escape::plain;
use super::{Content, Subject, Verdict};

static REGULAR: &[u8] = include_bytes!("font/DejaVuSansMono-subset.ttf");
static BOLD: &[u8] = include_bytes!("font/DejaVuSansMono-Bold-subset.ttf");

/// A4, in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 42.0;
const BODY: f32 = 8.5;
/// DejaVu Sans Mono's advance, in ems.
const ADVANCE: f32 = 0.602;

/// A file to attach: its name in the PDF and its bytes.
pub type Attachment = (String, Vec<u8>);

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the PDF: {0}")]
pub struct PdfError(String);

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Body,
    Bold,
    Heading,
    Banner,
    Mute,
}

impl Style {
    fn size(self) -> f32 {
        match self {
            Style::Banner => 26.0,
            Style::Heading => 13.0,
            _ => BODY,
        }
    }
}

struct Line {
    text: String,
    style: Style,
    colour: (u8, u8, u8),
    /// Space before it, in points.
    before: f32,
    /// The timeline picture, drawn in this line's place, this tall.
    picture: Option<f32>,
}

#[derive(Default)]
struct Flow {
    lines: Vec<Line>,
}

impl Flow {
    fn push(&mut self, text: &str, style: Style, colour: (u8, u8, u8), before: f32, indent: usize) {
        let cols = ((PAGE_W - 2.0 * MARGIN) / (style.size() * ADVANCE)) as usize;
        let width = cols.saturating_sub(indent).max(8);
        let mut first = true;
        for raw in text.split('\n') {
            let chars: Vec<char> = raw.chars().collect();
            let mut at = 0;
            loop {
                let end = (at + width).min(chars.len());
                // Break at the last space if there is one in the line.
                let cut = if end < chars.len() {
                    chars[at..end]
                        .iter()
                        .rposition(|c| *c == ' ')
                        .filter(|p| *p > width / 3)
                        .map_or(end, |p| at + p + 1)
                } else {
                    end
                };
                let piece: String = chars[at..cut].iter().collect();
                self.lines.push(Line {
                    text: format!("{}{}", " ".repeat(indent), piece.trim_end()),
                    style,
                    colour,
                    before: if first { before } else { 0.0 },
                    picture: None,
                });
                first = false;
                at = cut;
                if at >= chars.len() {
                    break;
                }
            }
        }
    }
    fn body(&mut self, text: &str) {
        self.push(text, Style::Body, (26, 32, 44), 0.0, 0);
    }
    fn indented(&mut self, text: &str, indent: usize) {
        self.push(text, Style::Body, (26, 32, 44), 0.0, indent);
    }
    fn mute(&mut self, text: &str, indent: usize) {
        self.push(text, Style::Mute, (74, 85, 104), 0.0, indent);
    }
    fn bold(&mut self, text: &str, before: f32) {
        self.push(text, Style::Bold, (26, 32, 44), before, 0);
    }
    fn heading(&mut self, text: &str) {
        self.push(text, Style::Heading, (26, 32, 44), 12.0, 0);
    }
}

fn verdict_colour(v: &Verdict) -> (u8, u8, u8) {
    match v {
        Verdict::Verified => (39, 103, 73),
        Verdict::Interim { .. } => (151, 90, 22),
        Verdict::Refuted { .. } => (155, 44, 44),
    }
}

/// Separates the lines of a spooled row; `plain` escapes every control
/// character, so ledger text never holds it.
const SEP: char = '\u{1e}';

/// One event's lines, spooled as the audit yields them (see
/// [`super::Listing`]): a style letter, then the text, each line.
pub(super) fn event_row(e: &crate::core::verify::Entry) -> String {
    let mut o = format!(
        "B#{}  {}  {}  {}{SEP}I{}",
        e.seq,
        plain(&e.time),
        plain(e.author.as_str()),
        e.kind,
        plain(&e.summary)
    );
    if let Some(n) = &e.notes {
        let _ = write!(o, "{SEP}N{}", plain_block(n));
    }
    let _ = write!(o, "{SEP}Mhash {}", e.hash);
    o
}

impl Flow {
    fn spooled(&mut self, row: &str) {
        for line in row.split(SEP) {
            let mut c = line.chars();
            match (c.next(), c.as_str()) {
                (Some('B'), t) => self.bold(t, 3.0),
                (Some('I'), t) => self.indented(t, 2),
                (Some('N'), t) => self.mute(t, 4),
                (_, t) => self.mute(t, 2),
            }
        }
    }
}

fn lay_out(s: &Subject) -> Result<Flow, PdfError> {
    let mut f = Flow::default();
    f.push(
        s.verdict.word(),
        Style::Banner,
        verdict_colour(&s.verdict),
        0.0,
        0,
    );
    match &s.verdict {
        Verdict::Verified => f.body("Every event is signed by a key its party held, hash-chained to the one before, and allowed by the agreement's rules; every document that needs signatures is executed."),
        Verdict::Interim { awaiting } => f.body(&format!(
            "Every event verifies, but not every document that needs signatures is executed: {} still awaiting signatures.",
            awaiting.iter().map(|d| plain(d.as_str())).collect::<Vec<_>>().join(", ")
        )),
        Verdict::Refuted { event, offset, rule } => {
            let at = match (event, offset) {
                (Some(e), Some(o)) => format!("at event #{e}, byte offset {o} of events.cbor"),
                (None, Some(o)) => format!("at byte offset {o} of events.cbor"),
                _ => "as a whole (not one event)".to_owned(),
            };
            f.body(&format!("The ledger fails verification {at}."));
            f.body(&format!("The rule broken: {}", plain(rule)));
            let n = s.audit.as_ref().map_or(0, |a| a.ledger.count);
            f.body(&format!("What follows is what was proven before the failure: {n} events."));
        }
    }
    f.heading("Checked");
    if let Some(a) = &s.audit {
        f.body(&format!(
            "Ledger       {} {}",
            plain(&a.ledger.title),
            a.ledger.ledger
        ));
        f.body(&format!("Size         {} events", a.ledger.count));
        f.body(&format!("Head         {}", a.ledger.head));
        f.body(&format!("Tree root    {}", a.tree_root));
    }
    let c = &s.checked;
    if c.keys.is_empty() {
        f.body("Trusted keys none given: the parties' keys are those the genesis names");
    }
    for (i, (l, fp, p)) in c.keys.iter().enumerate() {
        let label = if i == 0 { "Trusted keys" } else { "" };
        f.body(&format!(
            "{label:<12} {fp} {}{}",
            plain(l),
            p.as_ref()
                .map_or(String::new(), |p| format!(" (for {})", plain(p)))
        ));
    }
    if c.witnesses.is_empty() {
        f.body("Witnesses    none required");
    } else {
        f.body(&format!(
            "Witnesses    {}: {}",
            plain(c.quorum.as_deref().unwrap_or("all")),
            c.witnesses
                .iter()
                .map(|(n, fp)| format!("{} {fp}", plain(n)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    f.body(&format!(
        "Head pinned  {}",
        c.head.map_or("no".to_owned(), |h| format!("yes, {h}"))
    ));
    for (l, fp) in &c.log_keys {
        f.body(&format!("Log key      {} {fp}", plain(l)));
    }
    f.body(&format!("Tool         ledger {}", s.tool));
    if let Some(at) = &s.at {
        f.body(&format!("Made at      {}", plain(at)));
    }
    if let Some(p) = super::timeline::picture(s) {
        f.heading("Timeline");
        f.mute(if s.marks.len() > super::timeline::MAX_MARKS {
            "Events per party as density (darker cells hold more events); bands are sessions; below, one track per document."
        } else {
            "One dot per event at its claimed time, one lane per party; bands are sessions; below, one track per document."
        }, 0);
        f.lines.push(Line {
            text: String::new(),
            style: Style::Body,
            colour: (0, 0, 0),
            before: 4.0,
            picture: Some((p.height * f64::from(PLOT_W) / p.width) as f32),
        });
        let proven = super::timeline::Proven::of(s);
        if !proven.tsa.is_empty() {
            f.mute("Green line: a TSA's time (RFC 3161); green bar under an event: from its claimed time to the earliest TSA time it is proven to have existed by.", 0);
        }
        if !proven.witness.is_empty() {
            f.mute("Orange dashed: a witness's cosignature time, the only bound where no TSA time covers the event: weaker (the witness's own clock, no authority's).", 0);
        }
    }
    if let Some(a) = &s.audit {
        f.heading("Parties");
        for p in &a.ledger.parties {
            let mut m = if p.joined == 0 {
                "since the genesis".to_owned()
            } else {
                format!("joined at #{}", p.joined)
            };
            if let Some(r) = p.removed {
                let _ = write!(m, ", REMOVED at #{r}");
            }
            f.bold(&format!("{}  ({m})", plain(p.id.as_str())), 4.0);
            for k in &p.keys {
                f.indented(&k.fingerprint, 2);
                f.mute(&plain(&k.history()), 4);
            }
        }
        if !s.bands.is_empty() {
            f.heading("Sessions");
            for b in &s.bands {
                f.body(&format!(
                    "{}  #{}{}",
                    plain(&b.session),
                    b.opened.0,
                    b.closed
                        .map_or(" (not closed)".to_owned(), |c| format!(" to #{}", c.0))
                ));
            }
        }
        f.heading("Documents");
        if a.ledger.documents.is_empty() {
            f.body("None.");
        }
        let docs = &a.ledger.documents;
        if docs.len() > super::MAX_DETAILED_DOCS {
            f.mute(&format!("{} documents: the first {} in full, then one line each (up to {}); `ledger show` tells any one's story", docs.len(), super::MAX_DETAILED_DOCS, super::MAX_LISTED_DOCS), 0);
        }
        for d in docs.iter().take(super::MAX_DETAILED_DOCS) {
            let state = match d.status {
                "executed" => format!("EXECUTED at #{}", d.executed_at.unwrap_or_default()),
                "no-signatures-required" => "no signatures required".to_owned(),
                _ => format!(
                    "NOT EXECUTED: awaiting {}",
                    d.awaiting
                        .iter()
                        .map(|p| plain(p.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            f.bold(
                &format!("{} \"{}\"  {state}", plain(d.id.as_str()), plain(&d.title)),
                6.0,
            );
            let acts = s.acts.get(&d.id).map(Vec::as_slice).unwrap_or_default();
            let mut n = 0;
            for v in acts
                .iter()
                .filter(|a| matches!(a.kind, "document-drafted" | "document-amended"))
            {
                n += 1;
                let Some(h) = v.version else { continue };
                f.indented(
                    &format!(
                        "version {n}{}: {} by {} at #{}",
                        if h == d.version { " (current)" } else { "" },
                        v.kind,
                        plain(v.author.as_str()),
                        v.seq
                    ),
                    2,
                );
                f.indented(&format!("sha256 {h}"), 4);
                for a in acts
                    .iter()
                    .filter(|a| {
                        a.version == Some(h)
                            && matches!(a.kind, "document-approved" | "document-signed")
                    })
                    .take(200)
                {
                    f.indented(
                        &format!(
                            "{} by {} at #{}{}",
                            if a.kind == "document-signed" {
                                "signed"
                            } else {
                                "approved"
                            },
                            plain(a.author.as_str()),
                            a.seq,
                            if d.executed_at == Some(a.seq) {
                                ", executed"
                            } else {
                                ""
                            }
                        ),
                        4,
                    );
                }
                match s.contents.get(&h) {
                    Some(Content::Text(t)) => f.mute(&plain_block(t), 6),
                    Some(Content::Other { bytes, kind }) => {
                        f.mute(&format!("{bytes} bytes, {kind}"), 6)
                    }
                    _ => f.mute("the bytes are not readable now", 6),
                }
            }
        }
    }
    if let Some(a) = &s.audit {
        let docs = &a.ledger.documents;
        for d in docs
            .iter()
            .take(super::MAX_LISTED_DOCS)
            .skip(super::MAX_DETAILED_DOCS)
        {
            f.indented(
                &format!(
                    "{} \"{}\"  {}  {}",
                    plain(d.id.as_str()),
                    plain(&d.title),
                    d.status,
                    d.version
                ),
                0,
            );
        }
        if docs.len() > super::MAX_LISTED_DOCS {
            f.mute(
                &format!("and {} more documents", docs.len() - super::MAX_LISTED_DOCS),
                0,
            );
        }
    }
    f.heading("Events");
    let l = &s.listing;
    if l.aggregated() {
        f.mute(
            &format!(
                "Not every event is listed: {} events (every one is listed up to {}). Listed: the first and last {}, every change of parties or keys, every signature that executed a document{}; the rest are counted per session below. `ledger log` lists every one.",
                l.proven,
                l.max,
                l.edge(),
                if l.acts_listed() {
                    ", every draft, amendment, approval and signature".to_owned()
                } else {
                    format!("; the {} drafts, amendments, approvals and signatures are counted per session", l.acts)
                }
            ),
            0,
        );
    }
    l.each(|item| match item {
        super::Item::Row(_, row) => f.spooled(row),
        super::Item::Gap { first, last } => f.mute(
            &format!(
                "#{first} to #{last}: {} events not listed",
                last - first + 1
            ),
            0,
        ),
    })
    .map_err(|e| PdfError(format!("reading the report's spool: {e}")))?;
    if let Verdict::Refuted {
        event: Some(n),
        rule,
        ..
    } = &s.verdict
    {
        f.push(
            &format!("#{n}  REFUTED: {}", plain(rule)),
            Style::Bold,
            verdict_colour(&s.verdict),
            3.0,
            0,
        );
    }
    if l.aggregated() && !s.bands.is_empty() {
        f.bold(
            "Events per session (session, opened, closed, events, drafts/approvals/signatures)",
            6.0,
        );
        for b in s.bands.iter().take(super::MAX_SESSIONS_LISTED) {
            f.indented(
                &format!(
                    "{}  #{}  {}  {}  {}",
                    plain(&b.session),
                    b.opened.0,
                    b.closed
                        .map_or("not closed".to_owned(), |c| format!("#{}", c.0)),
                    b.events,
                    b.acts
                ),
                2,
            );
        }
    }
    f.heading("Evidence and independent checks");
    if let Some(a) = &s.audit {
        if a.checkpoints.is_empty() {
            f.body("No signed checkpoints are stored with this ledger.");
        }
        for c in &a.checkpoints {
            f.bold(
                &format!(
                    "checkpoints/{}  size {}  {}",
                    plain(&c.file),
                    c.size.unwrap_or_default(),
                    if c.problem.is_some() {
                        "INVALID"
                    } else {
                        "valid"
                    }
                ),
                3.0,
            );
            f.indented(
                &format!(
                    "signed by {}",
                    c.signed_by
                        .iter()
                        .map(|x| plain(x))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                2,
            );
            for w in &c.cosigned_by {
                f.indented(
                    &format!("cosigned by {} at {}", plain(&w.witness), w.time),
                    2,
                );
            }
        }
        // FORMAT §17.5: the lines `verify` prints of the tokens and times.
        for line in a.timestamps_text().lines().filter(|l| !l.trim().is_empty()) {
            match line.strip_prefix("  ") {
                Some(item) => f.indented(&plain(item), 2),
                None => f.bold(&plain(line.trim_end_matches(':')), 3.0),
            }
        }
    }
    let dir = plain(&s.dir_label);
    let args: String = s
        .verify_args
        .iter()
        .map(|a| format!(" {}", plain(a)))
        .collect();
    f.body("");
    f.body("Re-check it without trusting this report:");
    f.indented(&format!("ledger verify {dir}{args}"), 2);
    f.indented(&format!("python3 tools/verify.py {dir}"), 2);
    if let Some((seq, _)) = s.example {
        f.indented(&format!("ledger export {dir} --event {seq} --out . && openssl pkeyutl -verify -pubin -inkey event-{seq}.pub -rawin -in event-{seq}.tbs -sigfile event-{seq}.sig"), 2);
    }
    f.body("docs/FORMAT.md specifies the bytes (§3-§5), the replay (§6), the tree (§12) and checkpoints (§13).");
    f.body(
        "This PDF carries the ledger's files as attachments (events.cbor, checkpoints, documents).",
    );
    Ok(f)
}

fn plain_block(s: &str) -> String {
    s.split('\n').map(plain).collect::<Vec<_>>().join("\n")
}

fn line_height(l: &Line) -> f32 {
    l.picture.unwrap_or(l.style.size() * 1.3)
}

fn rect_path(r: Rect) -> Option<krilla::geom::Path> {
    let mut pb = PathBuilder::new();
    pb.push_rect(r);
    pb.finish()
}

/// A circle as four cubic Béziers (the usual 0.5523 control distance).
fn circle_path(cx: f32, cy: f32, r: f32) -> Option<krilla::geom::Path> {
    let c = 0.552_284_8 * r;
    let mut pb = PathBuilder::new();
    pb.move_to(cx + r, cy);
    pb.cubic_to(cx + r, cy + c, cx + c, cy + r, cx, cy + r);
    pb.cubic_to(cx - c, cy + r, cx - r, cy + c, cx - r, cy);
    pb.cubic_to(cx - r, cy - c, cx - c, cy - r, cx, cy - r);
    pb.cubic_to(cx + c, cy - r, cx + r, cy - c, cx + r, cy);
    pb.close();
    pb.finish()
}

/// The width the timeline is drawn at.
const PLOT_W: f32 = PAGE_W - 2.0 * MARGIN;

/// The timeline, its top left at `(MARGIN, top)`.
fn draw_picture(surface: &mut krilla::surface::Surface<'_>, s: &Subject, top: f32, font: &Font) {
    use super::timeline::Shape;
    use krilla::paint::{Stroke, StrokeDash};
    let Some(p) = super::timeline::picture(s) else {
        return;
    };
    let k = PLOT_W / p.width as f32;
    let at = |x: f64, y: f64| (MARGIN + x as f32 * k, top + y as f32 * k);
    let paint = |(r, g, b): (u8, u8, u8)| rgb::Color::new(r, g, b).into();
    let outline = Rect::from_xywh(MARGIN, top, PLOT_W, p.height as f32 * k);
    if let Some(path) = outline.and_then(rect_path) {
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke {
            paint: paint((203, 213, 224)),
            width: 0.5,
            ..Default::default()
        }));
        surface.draw_path(&path);
    }
    for shape in &p.shapes {
        match shape {
            Shape::Rect {
                x,
                y,
                w,
                h,
                rgb: c,
                alpha,
            } => {
                let (x0, y0) = at(*x, *y);
                let Some(r) = Rect::from_xywh(x0, y0, *w as f32 * k, *h as f32 * k) else {
                    continue;
                };
                surface.set_stroke(None);
                surface.set_fill(Some(Fill {
                    paint: paint(*c),
                    opacity: NormalizedF32::new(*alpha).unwrap_or(NormalizedF32::ONE),
                    rule: Default::default(),
                }));
                if let Some(path) = rect_path(r) {
                    surface.draw_path(&path);
                }
            }
            Shape::Line {
                from,
                to,
                rgb: c,
                width,
                dashed,
            } => {
                let mut pb = PathBuilder::new();
                let (a, b) = (at(from.0, from.1), at(to.0, to.1));
                pb.move_to(a.0, a.1);
                pb.line_to(b.0, b.1);
                let Some(path) = pb.finish() else { continue };
                surface.set_fill(None);
                surface.set_stroke(Some(Stroke {
                    paint: paint(*c),
                    width: width * k,
                    dash: dashed.then(|| StrokeDash {
                        array: vec![2.0, 1.5],
                        offset: 0.0,
                    }),
                    ..Default::default()
                }));
                surface.draw_path(&path);
            }
            Shape::Dot { x, y, r, rgb: c } => {
                let (cx, cy) = at(*x, *y);
                let Some(path) = circle_path(cx, cy, *r as f32 * k) else {
                    continue;
                };
                surface.set_stroke(None);
                surface.set_fill(Some(Fill {
                    paint: paint(*c),
                    opacity: NormalizedF32::ONE,
                    rule: Default::default(),
                }));
                surface.draw_path(&path);
            }
            Shape::Text {
                x,
                y,
                text,
                size,
                rgb: c,
                end,
            } => {
                let (mut tx, ty) = at(*x, *y);
                if *end {
                    tx -= text.chars().count() as f32 * size * ADVANCE;
                }
                surface.set_stroke(None);
                surface.set_fill(Some(Fill {
                    paint: paint(*c),
                    opacity: NormalizedF32::ONE,
                    rule: Default::default(),
                }));
                surface.draw_text(
                    Point::from_xy(tx.max(MARGIN), ty),
                    font.clone(),
                    *size,
                    text,
                    false,
                    TextDirection::LeftToRight,
                );
            }
        }
    }
    surface.set_stroke(None);
}

/// The PDF's bytes. `attachments` are embedded in the given order.
pub fn render(s: &Subject, attachments: Vec<Attachment>) -> Result<Vec<u8>, PdfError> {
    let flow = lay_out(s)?;
    // Pages first, so that each can say "page N of M".
    let mut pages: Vec<Vec<(f32, &Line)>> = vec![Vec::new()];
    let mut y = MARGIN;
    for l in &flow.lines {
        let h = line_height(l) + l.before;
        if y + h > PAGE_H - MARGIN - 14.0 {
            pages.push(Vec::new());
            y = MARGIN;
        }
        y += h;
        if let Some(p) = pages.last_mut() {
            p.push((y, l));
        }
    }
    let err = |e: &str| PdfError(e.to_owned());
    let regular = Font::new(krilla::Data::from(REGULAR), 0).ok_or_else(|| err("bad font"))?;
    let bold = Font::new(krilla::Data::from(BOLD), 0).ok_or_else(|| err("bad font"))?;
    let mut doc = Document::new();
    let total = pages.len();
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| err("bad page size"))?;
    let fill = |(r, g, b): (u8, u8, u8)| Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    };
    for (i, lines) in pages.iter().enumerate() {
        let mut page = doc.start_page_with(settings.clone());
        let mut surface = page.surface();
        if i == 0 {
            // The verdict's colour as a bar at the top of the first page.
            let mut pb = PathBuilder::new();
            if let Some(r) = Rect::from_xywh(0.0, 0.0, PAGE_W, 12.0) {
                pb.push_rect(r);
            }
            if let Some(path) = pb.finish() {
                surface.set_fill(Some(fill(verdict_colour(&s.verdict))));
                surface.draw_path(&path);
            }
        }
        for (y, l) in lines {
            if let Some(h) = l.picture {
                draw_picture(&mut surface, s, *y - h, &regular);
                continue;
            }
            surface.set_fill(Some(fill(l.colour)));
            let font = if matches!(l.style, Style::Bold | Style::Heading | Style::Banner) {
                bold.clone()
            } else {
                regular.clone()
            };
            if !l.text.trim().is_empty() {
                surface.draw_text(
                    Point::from_xy(MARGIN, *y - l.style.size() * 0.25),
                    font,
                    l.style.size(),
                    &l.text,
                    false,
                    TextDirection::LeftToRight,
                );
            }
        }
        surface.set_fill(Some(fill((74, 85, 104))));
        let foot = format!(
            "ledger report   {}   page {} of {total}",
            s.verdict.word(),
            i + 1
        );
        surface.draw_text(
            Point::from_xy(MARGIN, PAGE_H - MARGIN + 10.0),
            regular.clone(),
            8.0,
            &foot,
            false,
            TextDirection::LeftToRight,
        );
        surface.finish();
        page.finish();
    }
    let mut meta = Metadata::new()
        .title(format!(
            "{} - ledger report: {}",
            s.verdict.word(),
            s.audit
                .as_ref()
                .map_or(String::new(), |a| plain(&a.ledger.title))
        ))
        .creator(format!("ledger {}", s.tool))
        .document_id(hex::encode(s.digest()));
    if let Some(at) = s.at.as_deref().and_then(date_time) {
        meta = meta.creation_date(at);
    }
    doc.set_metadata(meta);
    for (name, data) in attachments {
        let file = EmbeddedFile {
            path: name,
            mime_type: MimeType::new("application/octet-stream"),
            description: Some("evidence from the ledger directory, to re-verify it".to_owned()),
            association_kind: AssociationKind::Source,
            data: data.into(),
            modification_date: None,
            compress: Some(true),
            location: None,
        };
        doc.embed_file(file);
    }
    doc.finish().map_err(|e| PdfError(format!("{e:?}")))
}

/// `--at`'s timestamp (FORMAT §5.5: `YYYY-MM-DDTHH:MM:SS…Z`) as a PDF date.
fn date_time(at: &str) -> Option<DateTime> {
    let n = |r: std::ops::Range<usize>| at.get(r).and_then(|s| s.parse::<u16>().ok());
    Some(
        DateTime::new(n(0..4)?)
            .month(n(5..7)? as u8)
            .day(n(8..10)? as u8)
            .hour(n(11..13)? as u8)
            .minute(n(14..16)? as u8)
            .second(n(17..19)? as u8)
            .utc_offset_hour(0)
            .utc_offset_minute(0),
    )
}
