//! The one-page board summary: progress bars against each target, the partner table and the
//! reserved-share figure.

use printpdf::{Mm, Op, PaintMode, PdfDocument, PdfPage, PdfSaveOptions, Pt};

use super::pdf::{PAGE_H, PAGE_W, font, grey, rect, text, text_width_mm};

/// One target's bar.
#[derive(Debug, Clone)]
pub struct Bar {
    pub name: String,
    pub actual: i64,
    pub target: Option<i64>,
    pub forecast: i64,
    /// Shown as a percentage (values in basis points).
    pub basis_points: bool,
}

/// One row of the partner table.
#[derive(Debug, Clone)]
pub struct PartnerRow {
    pub name: String,
    pub contribution_pence: i64,
    pub used: i64,
    pub fair_share: i64,
    pub balance_pence: i64,
}

/// What the board sees.
#[derive(Debug, Clone)]
pub struct Board {
    pub title: String,
    pub subtitle: String,
    pub bars: Vec<Bar>,
    pub partners: Vec<PartnerRow>,
    pub reserved: String,
}

/// £1,234.56 from pence.
pub fn money(pence: i64) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    let p = pence.unsigned_abs();
    let pounds = (p / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in pounds.chars().enumerate() {
        if i > 0 && (pounds.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}£{grouped}.{:02}", p % 100)
}

/// `s` cut with an ellipsis to fit `max_mm` at `size`.
fn fit(s: &str, size: f32, max_mm: f32) -> String {
    if text_width_mm(s, size) <= max_mm {
        return s.to_owned();
    }
    let mut out: String = s.to_owned();
    while !out.is_empty() && text_width_mm(&format!("{out}…"), size) > max_mm {
        out.pop();
    }
    format!("{}…", out.trim_end())
}

fn value(v: i64, bp: bool) -> String {
    if bp {
        format!("{:.1}%", v as f64 / 100.0)
    } else {
        v.to_string()
    }
}

fn right(ops: &mut Vec<Op>, font: &printpdf::FontId, s: &str, size: f32, right_mm: f32, y: f32) {
    text(ops, font, s, size, right_mm - text_width_mm(s, size), y);
}

pub fn render(board: &Board) -> Vec<u8> {
    let mut doc = PdfDocument::new("Programme board summary");
    let f = doc.add_font(font());
    let mut ops = vec![Op::SetFillColor { col: grey(0.1) }];
    let title_size = (20.0 * (PAGE_W - 40.0) / text_width_mm(&board.title, 20.0)).min(20.0);
    text(&mut ops, &f, &board.title, title_size, 20.0, PAGE_H - 22.0);
    text(&mut ops, &f, &board.subtitle, 11.0, 20.0, PAGE_H - 30.0);
    let mut y = PAGE_H - 45.0;
    for bar in &board.bars {
        text(&mut ops, &f, &bar.name, 11.0, 20.0, y);
        ops.push(Op::SetOutlineColor { col: grey(0.4) });
        ops.push(Op::SetOutlineThickness { pt: Pt(0.8) });
        ops.push(rect(120.0, y - 1.5, 100.0, 6.0, PaintMode::Stroke));
        if let Some(target) = bar.target.filter(|t| *t > 0) {
            let done = (bar.actual as f32 / target as f32).clamp(0.0, 1.0);
            ops.push(Op::SetFillColor { col: grey(0.35) });
            ops.push(rect(120.0, y - 1.5, 100.0 * done, 6.0, PaintMode::Fill));
            ops.push(Op::SetFillColor { col: grey(0.1) });
        }
        let actual = value(bar.actual, bar.basis_points);
        let forecast = value(bar.forecast, bar.basis_points);
        let label = match bar.target {
            Some(t) => format!(
                "{actual} of {}  (forecast {forecast})",
                value(t, bar.basis_points)
            ),
            None => format!("{actual}, no target set  (forecast {forecast})"),
        };
        text(&mut ops, &f, &label, 10.0, 225.0, y);
        y -= 12.0;
    }
    y -= 4.0;
    let columns = [
        ("Partner", 20.0, false),
        ("Contribution", 150.0, true),
        ("Places used", 185.0, true),
        ("Fair share", 215.0, true),
        ("Balance", 255.0, true),
    ];
    for (name, x, align_right) in columns {
        if align_right {
            right(&mut ops, &f, name, 10.0, x, y)
        } else {
            text(&mut ops, &f, name, 10.0, x, y)
        }
    }
    ops.push(Op::SetOutlineColor { col: grey(0.4) });
    ops.push(rect(20.0, y - 2.5, 240.0, 0.1, PaintMode::Stroke));
    y -= 7.0;
    let room = ((y - 28.0) / 6.0).max(0.0) as usize;
    for p in board.partners.iter().take(room) {
        text(&mut ops, &f, &fit(&p.name, 10.0, 100.0), 10.0, 20.0, y);
        right(&mut ops, &f, &money(p.contribution_pence), 10.0, 150.0, y);
        right(&mut ops, &f, &p.used.to_string(), 10.0, 185.0, y);
        right(&mut ops, &f, &p.fair_share.to_string(), 10.0, 215.0, y);
        right(&mut ops, &f, &money(p.balance_pence), 10.0, 255.0, y);
        y -= 6.0;
    }
    if board.partners.len() > room {
        text(
            &mut ops,
            &f,
            &format!(
                "… and {} more partners (see the partner report)",
                board.partners.len() - room
            ),
            9.0,
            20.0,
            y,
        );
    }
    text(&mut ops, &f, &board.reserved, 11.0, 20.0, 16.0);
    doc.with_pages(vec![PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops)]);
    doc.save(
        &PdfSaveOptions {
            subset_fonts: true,
            ..Default::default()
        },
        &mut Vec::new(),
    )
}
