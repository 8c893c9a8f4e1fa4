//! The board summary: progress bars against each target, the partner table and the
//! reserved-share figure on the first page; the dashboard's breakdown charts after it.

use printpdf::{Op, PaintMode, Pt};

use super::{
    chart::{Chart, Scale},
    pdf::{Canvas, PAGE_H, PAGE_W, grey, rect, text_width_mm},
    text::Unprintable,
};

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
    /// Progress against each target (page 1).
    pub targets: Chart,
    pub partners: Vec<PartnerRow>,
    pub reserved: String,
    /// The dashboard's breakdown charts (page 2 onwards).
    pub charts: Vec<Chart>,
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
fn fit(s: &str, size: f32, max_mm: f32) -> Result<String, Unprintable> {
    if text_width_mm(s, size)? <= max_mm {
        return Ok(s.to_owned());
    }
    let mut out: String = s.to_owned();
    while !out.is_empty() && text_width_mm(&format!("{out}…"), size)? > max_mm {
        out.pop();
    }
    Ok(format!("{}…", out.trim_end()))
}

/// Draws a chart's rows from `y` down: label, bar (with its forecast and target marker) and
/// the row in words. Returns where the next thing may start.
fn draw_chart(c: &mut Canvas, chart: &Chart, mut y: f32) -> Result<f32, Unprintable> {
    if chart.rows.is_empty() {
        c.text("Nothing recorded yet.", 10.0, 20.0, y)?;
        return Ok(y - 10.0);
    }
    for (row, g) in chart.rows.iter().zip(chart.geometry()) {
        c.text(&fit(&row.label, 11.0, 95.0)?, 11.0, 20.0, y)?;
        c.op(Op::SetOutlineColor { col: grey(0.4) });
        c.op(Op::SetOutlineThickness { pt: Pt(0.8) });
        c.op(rect(120.0, y - 1.5, 100.0, 6.0, PaintMode::Stroke));
        if let Some(f) = g.forecast.filter(|f| *f > g.value) {
            c.op(Op::SetFillColor { col: grey(0.75) });
            c.op(rect(120.0, y - 1.5, 100.0 * f as f32, 6.0, PaintMode::Fill));
        }
        c.op(Op::SetFillColor { col: grey(0.35) });
        c.op(rect(
            120.0,
            y - 1.5,
            100.0 * g.value as f32,
            6.0,
            PaintMode::Fill,
        ));
        if let Some(t) = g.target.filter(|_| chart.scale == Scale::Common) {
            c.op(Op::SetFillColor { col: grey(0.0) });
            c.op(rect(
                120.0 + 100.0 * t as f32 - 0.4,
                y - 2.5,
                0.8,
                8.0,
                PaintMode::Fill,
            ));
        }
        c.op(Op::SetFillColor { col: grey(0.1) });
        let words = match (row.target, chart.scale) {
            (None, Scale::OwnTarget) => format!("{}, no target set", row.words()),
            _ => row.words(),
        };
        c.text(&fit(&words, 10.0, 70.0)?, 10.0, 225.0, y)?;
        y -= 12.0;
    }
    Ok(y)
}

/// The one-page summary; refused when a name has a character no built-in font can print.
pub fn render(board: &Board) -> Result<Vec<u8>, Unprintable> {
    let mut c = Canvas::new();
    c.op(Op::SetFillColor { col: grey(0.1) });
    let title_size = (20.0 * (PAGE_W - 40.0) / text_width_mm(&board.title, 20.0)?).min(20.0);
    c.text(&board.title, title_size, 20.0, PAGE_H - 22.0)?;
    c.text(&board.subtitle, 11.0, 20.0, PAGE_H - 30.0)?;
    let mut y = draw_chart(&mut c, &board.targets, PAGE_H - 45.0)?;
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
            c.right(name, 10.0, x, y)?;
        } else {
            c.text(name, 10.0, x, y)?;
        }
    }
    c.op(Op::SetOutlineColor { col: grey(0.4) });
    c.op(rect(20.0, y - 2.5, 240.0, 0.1, PaintMode::Stroke));
    y -= 7.0;
    let room = ((y - 28.0) / 6.0).max(0.0) as usize;
    for p in board.partners.iter().take(room) {
        c.text(&fit(&p.name, 10.0, 100.0)?, 10.0, 20.0, y)?;
        c.right(&money(p.contribution_pence), 10.0, 150.0, y)?;
        c.right(&p.used.to_string(), 10.0, 185.0, y)?;
        c.right(&p.fair_share.to_string(), 10.0, 215.0, y)?;
        c.right(&money(p.balance_pence), 10.0, 255.0, y)?;
        y -= 6.0;
    }
    if board.partners.len() > room {
        c.text(
            &format!(
                "… and {} more partners (see the partner report)",
                board.partners.len() - room
            ),
            9.0,
            20.0,
            y,
        )?;
    }
    c.text(&board.reserved, 11.0, 20.0, 16.0)?;
    // The dashboard's charts, as many to a page as fit.
    let mut y = 0.0;
    for chart in &board.charts {
        let needs = 14.0 + 12.0 * chart.rows.len().max(1) as f32;
        if y - needs < 15.0 {
            c.next_page();
            y = PAGE_H - 22.0;
        }
        c.text(&chart.title, 14.0, 20.0, y)?;
        y = draw_chart(&mut c, chart, y - 12.0)? - 6.0;
    }
    Ok(c.save("Programme board summary"))
}
