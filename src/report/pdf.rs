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

fn lay_out(s: &Subject) -> Flow {
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
    if let Some((first, last)) = s.gap {
        f.mute(
            &format!(
                "events #{first} to #{last} are not listed here; `ledger log` lists every one"
            ),
            0,
        );
    }
    for e in &s.listed {
        f.bold(
            &format!(
                "#{}  {}  {}  {}",
                e.seq,
                plain(&e.time),
                plain(e.author.as_str()),
                e.kind
            ),
            3.0,
        );
        f.indented(&plain(&e.summary), 2);
        if let Some(n) = &e.notes {
            f.mute(&plain_block(n), 4);
        }
        f.mute(&format!("hash {}", e.hash), 2);
    }
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
    if let Some(e) = s.listed.last() {
        f.indented(&format!("ledger export {dir} --event {0} --out . && openssl pkeyutl -verify -pubin -inkey event-{0}.pub -rawin -in event-{0}.tbs -sigfile event-{0}.sig", e.seq), 2);
    }
    f.body("docs/FORMAT.md specifies the bytes (§3-§5), the replay (§6), the tree (§12) and checkpoints (§13).");
    f.body(
        "This PDF carries the ledger's files as attachments (events.cbor, checkpoints, documents).",
    );
    f
}

fn plain_block(s: &str) -> String {
    s.split('\n').map(plain).collect::<Vec<_>>().join("\n")
}

fn line_height(style: Style) -> f32 {
    style.size() * 1.3
}

/// The PDF's bytes. `attachments` are embedded in the given order.
pub fn render(s: &Subject, attachments: Vec<Attachment>) -> Result<Vec<u8>, PdfError> {
    let flow = lay_out(s);
    // Pages first, so that each can say "page N of M".
    let mut pages: Vec<Vec<(f32, &Line)>> = vec![Vec::new()];
    let mut y = MARGIN;
    for l in &flow.lines {
        let h = line_height(l.style) + l.before;
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
