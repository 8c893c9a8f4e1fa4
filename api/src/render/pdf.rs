//! Drawing helpers shared by the PDFs: an embedded DejaVu Sans (subset on save), text measured
//! from its glyph advances, and rectangles.

use std::sync::OnceLock;

use printpdf::{
    Color, FontId, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfFontHandle, Point, Polygon,
    PolygonRing, Pt, Rgb, TextItem, WindingOrder,
};

pub const PAGE_W: f32 = 297.0;
pub const PAGE_H: f32 = 210.0;
const MM_PER_PT: f32 = 25.4 / 72.0;

pub fn font() -> &'static ParsedFont {
    static FONT: OnceLock<ParsedFont> = OnceLock::new();
    FONT.get_or_init(|| {
        ParsedFont::from_bytes(dejavu::sans::regular(), 0, &mut Vec::new())
            .unwrap_or_else(|| unreachable!("the bundled DejaVu Sans font parses"))
    })
}

/// The width of `text` at `size` points, in millimetres, from the font's glyph advances.
pub fn text_width_mm(text: &str, size: f32) -> f32 {
    let f = font();
    let units = f32::from(f.pdf_font_metrics.units_per_em.max(1));
    let advance: u32 = text
        .chars()
        .map(|c| {
            u32::from(
                f.lookup_glyph_index(c as u32)
                    .map_or(0, |g| f.get_horizontal_advance(g)),
            )
        })
        .sum();
    advance as f32 / units * size * MM_PER_PT
}

pub fn grey(level: f32) -> Color {
    Color::Rgb(Rgb {
        r: level,
        g: level,
        b: level,
        icc_profile: None,
    })
}

pub fn text(ops: &mut Vec<Op>, font: &FontId, s: &str, size: f32, x_mm: f32, y_mm: f32) {
    ops.extend([
        Op::StartTextSection,
        Op::SetTextCursor {
            pos: Point::new(Mm(x_mm), Mm(y_mm)),
        },
        Op::SetFont {
            font: PdfFontHandle::External(font.clone()),
            size: Pt(size),
        },
        Op::ShowText {
            items: vec![TextItem::Text(s.to_owned())],
        },
        Op::EndTextSection,
    ]);
}

/// Centred text, shrunk to fit the page's inner width when it would not.
pub fn centred(ops: &mut Vec<Op>, font: &FontId, s: &str, size: f32, y_mm: f32) {
    let max = PAGE_W - 50.0;
    let mut size = size;
    let mut width = text_width_mm(s, size);
    if width > max {
        size *= max / width;
        width = text_width_mm(s, size);
    }
    text(ops, font, s, size, (PAGE_W - width) / 2.0, y_mm);
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
