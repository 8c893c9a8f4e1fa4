//! Drawing shared by the PDFs: a `Canvas` of pages holding shapes and shaped text
//! (`render::text`), saved with each font subset to the glyphs the document uses (`subsetter`)
//! so a page is kilobytes whatever the script. Text is real text: each glyph carries what it
//! stands for (the PDF's ToUnicode map), and a left-to-right line carries its whole text as
//! `/ActualText`, so `pdftotext`, search and copy give back the name exactly as recorded.

use std::collections::BTreeMap;

use printpdf::{
    Codepoint, Color, DictItem, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument,
    PdfFontHandle, PdfPage, PdfSaveOptions, Point, Polygon, PolygonRing, Pt, Rgb, TextItem,
    TextMatrix, WindingOrder,
};

use super::text::{self, Shaped, Unprintable};

pub const PAGE_W: f32 = 297.0;
pub const PAGE_H: f32 = 210.0;
const PT_PER_MM: f32 = 72.0 / 25.4;

/// The width of `text` at `size` points, in millimetres.
pub fn text_width_mm(s: &str, size: f32) -> Result<f32, Unprintable> {
    Ok(text::shape(s)?.width * size / PT_PER_MM)
}

pub fn grey(level: f32) -> Color {
    Color::Rgb(Rgb {
        r: level,
        g: level,
        b: level,
        icc_profile: None,
    })
}

pub fn rect(x: f32, y: f32, w: f32, h: f32, mode: PaintMode) -> Op {
    let p = |x: f32, y: f32| LinePoint {
        p: Point::new(Mm(x), Mm(y)),
        bezier: false,
    };
    Op::DrawPolygon {
        polygon: Polygon {
            rings: vec![PolygonRing {
                points: vec![p(x, y), p(x + w, y), p(x + w, y + h), p(x, y + h)],
            }],
            mode,
            winding_order: WindingOrder::NonZero,
        },
    }
}

enum Item {
    Op(Op),
    Text {
        line: Shaped,
        logical: String,
        size: f32,
        x_pt: f32,
        y_pt: f32,
    },
}

/// Pages being drawn. Text is shaped as it is placed; fonts are subset when it is saved.
#[derive(Default)]
pub struct Canvas {
    pages: Vec<Vec<Item>>,
}

impl Canvas {
    pub fn new() -> Self {
        Self {
            pages: vec![Vec::new()],
        }
    }

    /// Starts another page.
    pub fn next_page(&mut self) {
        self.pages.push(Vec::new());
    }

    fn page(&mut self) -> &mut Vec<Item> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    pub fn op(&mut self, op: Op) {
        self.page().push(Item::Op(op));
    }

    /// `s` at `size` points, starting at (`x_mm`, `y_mm`) on the baseline.
    pub fn text(&mut self, s: &str, size: f32, x_mm: f32, y_mm: f32) -> Result<(), Unprintable> {
        let line = text::shape(s)?;
        self.place(line, s, size, (x_mm, y_mm));
        Ok(())
    }

    fn place(&mut self, line: Shaped, s: &str, size: f32, (x_mm, y_mm): (f32, f32)) {
        self.page().push(Item::Text {
            line,
            logical: s.to_owned(),
            size,
            x_pt: x_mm * PT_PER_MM,
            y_pt: y_mm * PT_PER_MM,
        });
    }

    /// `s` ending at `right_mm`.
    pub fn right(
        &mut self,
        s: &str,
        size: f32,
        right_mm: f32,
        y_mm: f32,
    ) -> Result<(), Unprintable> {
        let line = text::shape(s)?;
        let width = line.width * size / PT_PER_MM;
        self.place(line, s, size, (right_mm - width, y_mm));
        Ok(())
    }

    /// `s` centred on the page, shrunk to fit its inner width when it would not.
    pub fn centred(&mut self, s: &str, size: f32, y_mm: f32) -> Result<(), Unprintable> {
        let line = text::shape(s)?;
        let max = PAGE_W - 50.0;
        let width = line.width * size / PT_PER_MM;
        let size = if width > max {
            size * max / width
        } else {
            size
        };
        let width = line.width * size / PT_PER_MM;
        self.place(line, s, size, ((PAGE_W - width) / 2.0, y_mm));
        Ok(())
    }

    /// The document: each font used, subset to its glyphs, and every page.
    pub fn save(self, title: &str) -> Vec<u8> {
        let fonts = text::fonts();
        // Every glyph used, per font, and the text it stands for (the first non-empty one).
        let mut used: BTreeMap<usize, (subsetter::GlyphRemapper, BTreeMap<u16, String>)> =
            BTreeMap::new();
        for item in self.pages.iter().flatten() {
            if let Item::Text { line, .. } = item {
                for g in &line.glyphs {
                    let (remapper, texts) = used.entry(g.font).or_default();
                    remapper.remap(g.id);
                    let known = texts.entry(g.id).or_default();
                    if known.is_empty() {
                        known.clone_from(&g.text);
                    }
                }
            }
        }
        let mut doc = PdfDocument::new(title);
        let mut font_ids = BTreeMap::new();
        for (font, (remapper, _)) in &used {
            let subset = subsetter::subset(fonts[*font].data, 0, remapper)
                .unwrap_or_else(|e| unreachable!("a built-in font subsets: {e}"));
            if let Some(parsed) = ParsedFont::from_bytes(&subset, 0, &mut Vec::new()) {
                font_ids.insert(*font, doc.add_font(&parsed));
            }
        }
        let pages = self
            .pages
            .into_iter()
            .map(|items| {
                let mut ops = Vec::new();
                for item in items {
                    match item {
                        Item::Op(op) => ops.push(op),
                        Item::Text {
                            line,
                            logical,
                            size,
                            x_pt,
                            y_pt,
                        } => text_ops(&mut ops, &line, &logical, size, x_pt, y_pt, |g| {
                            let (remapper, texts) = &used[&g.font];
                            let id = remapper.get(g.id).unwrap_or(0);
                            let text = texts.get(&g.id).cloned().unwrap_or_default();
                            (font_ids.get(&g.font).cloned(), id, text)
                        }),
                    }
                }
                PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops)
            })
            .collect();
        doc.with_pages(pages);
        // The fonts are subset already; printpdf embeds them as they are.
        let opts = PdfSaveOptions {
            subset_fonts: false,
            ..Default::default()
        };
        doc.save(&opts, &mut Vec::new())
    }
}

/// The operations that draw one shaped line: each glyph placed where shaping put it (printpdf
/// merges glyphs on one baseline into one `TJ`), inside an `/ActualText` span when the line
/// reads left to right. (Right-to-left text is left to the viewer's own reordering of the
/// glyphs' text, which gives it back in reading order.)
fn text_ops(
    ops: &mut Vec<Op>,
    line: &Shaped,
    logical: &str,
    size: f32,
    x_pt: f32,
    y_pt: f32,
    resolve: impl Fn(&text::Glyph) -> (Option<printpdf::FontId>, u16, String),
) {
    if !line.has_rtl {
        let utf16: Vec<u8> = std::iter::once(0xFEFF_u16)
            .chain(logical.encode_utf16())
            .flat_map(u16::to_be_bytes)
            .collect();
        ops.push(Op::BeginMarkedContentWithProperties {
            tag: "Span".into(),
            properties: DictItem::Dict {
                map: BTreeMap::from([(
                    "ActualText".to_owned(),
                    DictItem::String {
                        data: utf16,
                        literal: false,
                    },
                )]),
            },
        });
    }
    ops.push(Op::StartTextSection);
    let mut current = None;
    for g in &line.glyphs {
        let (font, id, text) = resolve(g);
        let Some(font) = font else { continue };
        if current.as_ref() != Some(&font) {
            ops.push(Op::SetFont {
                font: PdfFontHandle::External(font.clone()),
                size: Pt(size),
            });
            current = Some(font);
        }
        ops.push(Op::SetTextMatrix {
            matrix: TextMatrix::Raw([1.0, 0.0, 0.0, 1.0, x_pt + g.x * size, y_pt + g.y * size]),
        });
        ops.push(Op::ShowText {
            items: vec![TextItem::GlyphIds(vec![Codepoint::with_cid(id, 0.0, text)])],
        });
    }
    ops.push(Op::EndTextSection);
    if !line.has_rtl {
        ops.push(Op::EndMarkedContent);
    }
}
