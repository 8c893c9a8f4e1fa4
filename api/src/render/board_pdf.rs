//! The one-page board summary: progress bars against each target, the partner table and the
//! reserved-share figure.

use printpdf::{Op, PaintMode, Pt};

use super::{
    pdf::{Canvas, PAGE_H, PAGE_W, grey, rect, text_width_mm},
    text::Unprintable,
};

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

fn value(v: i64, bp: bool) -> String {
    if bp {
        format!("{:.1}%", v as f64 / 100.0)
    } else {
        v.to_string()
    }
}

/// The one-page summary; refused when a name has a character no built-in font can print.
pub fn render(board: &Board) -> Result<Vec<u8>, Unprintable> {
    let mut c = Canvas::new();
    c.op(Op::SetFillColor { col: grey(0.1) });
    let title_size = (20.0 * (PAGE_W - 40.0) / text_width_mm(&board.title, 20.0)?).min(20.0);
    c.text(&board.title, title_size, 20.0, PAGE_H - 22.0)?;
    c.text(&board.subtitle, 11.0, 20.0, PAGE_H - 30.0)?;
    let mut y = PAGE_H - 45.0;
    for bar in &board.bars {
        c.text(&bar.name, 11.0, 20.0, y)?;
        c.op(Op::SetOutlineColor { col: grey(0.4) });
        c.op(Op::SetOutlineThickness { pt: Pt(0.8) });
        c.op(rect(120.0, y - 1.5, 100.0, 6.0, PaintMode::Stroke));
        if let Some(target) = bar.target.filter(|t| *t > 0) {
            let done = (bar.actual as f32 / target as f32).clamp(0.0, 1.0);
            c.op(Op::SetFillColor { col: grey(0.35) });
            c.op(rect(120.0, y - 1.5, 100.0 * done, 6.0, PaintMode::Fill));
            c.op(Op::SetFillColor { col: grey(0.1) });
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
        c.text(&label, 10.0, 225.0, y)?;
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
    Ok(c.save("Programme board summary"))
}
