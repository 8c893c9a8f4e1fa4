//! Certificate PDFs: A4 landscape, real (extractable) text shaped in the built-in fonts (see
//! `render::text`) so a name in any of their scripts prints exactly as recorded, and a QR code
//! of the verification link drawn as vector squares.

use chrono::NaiveDate;
use printpdf::{Op, PaintMode, Pt};
use qrcode::{QrCode, types::Color as QrColor};

/// What a certificate shows.
#[derive(Debug, Clone)]
pub struct CertificateText {
    /// A trainer licence rather than a course completion.
    pub licence: bool,
    pub name: String,
    pub title: String,
    pub programme: String,
    pub completed_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
    pub cpd_hours: f64,
    pub issuer: String,
    pub issued_on: NaiveDate,
    pub number: String,
    pub code: String,
    pub verify_url: String,
}

use super::{
    pdf::{Canvas, PAGE_H, PAGE_W, grey, rect},
    text::Unprintable,
};

/// The QR code of `data` as filled squares (runs of dark modules merged), `size` mm wide.
fn qr(canvas: &mut Canvas, data: &str, x: f32, y: f32, size: f32) {
    let Ok(code) = QrCode::new(data.as_bytes()) else {
        return;
    };
    let n = code.width();
    let quiet = 2;
    let module = size / (n + 2 * quiet) as f32;
    canvas.op(Op::SetFillColor { col: grey(0.0) });
    for row in 0..n {
        let mut col = 0;
        while col < n {
            if code[(col, row)] == QrColor::Dark {
                let start = col;
                while col < n && code[(col, row)] == QrColor::Dark {
                    col += 1;
                }
                let top = y + size - (row + quiet) as f32 * module;
                canvas.op(rect(
                    x + (start + quiet) as f32 * module,
                    top - module,
                    (col - start) as f32 * module,
                    module,
                    PaintMode::Fill,
                ));
            } else {
                col += 1;
            }
        }
    }
}

fn date(d: NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

fn hours(h: f64) -> String {
    let s = format!("{h:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} CPD hour{}", if h == 1.0 { "" } else { "s" })
}

fn page(canvas: &mut Canvas, c: &CertificateText) -> Result<(), Unprintable> {
    canvas.op(Op::SetOutlineColor { col: grey(0.35) });
    canvas.op(Op::SetOutlineThickness { pt: Pt(1.5) });
    canvas.op(rect(
        10.0,
        10.0,
        PAGE_W - 20.0,
        PAGE_H - 20.0,
        PaintMode::Stroke,
    ));
    canvas.op(Op::SetFillColor { col: grey(0.1) });
    let heading = if c.licence {
        "Trainer licence"
    } else {
        "Certificate of completion"
    };
    canvas.centred(heading, 30.0, 168.0)?;
    canvas.centred("This certifies that", 14.0, 150.0)?;
    canvas.centred(&c.name, 32.0, 132.0)?;
    let verb = if c.licence {
        "is licensed to deliver"
    } else {
        "has completed"
    };
    canvas.centred(verb, 14.0, 118.0)?;
    // A licence reads as one sentence naming its programme once: "… is licensed to deliver Five
    // to Thrive as an accredited trainer"; a completion names the course, then its programme.
    if c.licence {
        canvas.centred(&c.programme, 20.0, 105.0)?;
        canvas.centred("as an accredited trainer", 14.0, 95.0)?;
    } else {
        canvas.centred(&c.title, 20.0, 105.0)?;
        canvas.centred(&c.programme, 14.0, 95.0)?;
    }
    let mut details = vec![format!(
        "{} {}",
        if c.licence { "Accredited" } else { "Completed" },
        date(c.completed_on)
    )];
    if c.cpd_hours > 0.0 {
        details.push(hours(c.cpd_hours));
    }
    if let Some(expires) = c.expires_on {
        details.push(format!("Valid until {}", date(expires)));
    }
    canvas.centred(&details.join("  ·  "), 12.0, 82.0)?;
    canvas.centred(
        &format!("Issued by {} on {}", c.issuer, date(c.issued_on)),
        12.0,
        70.0,
    )?;
    canvas.text(&format!("Certificate {}", c.number), 10.0, 20.0, 36.0)?;
    canvas.text(&format!("Verification code {}", c.code), 10.0, 20.0, 29.0)?;
    canvas.text(&format!("Verify at {}", c.verify_url), 9.0, 20.0, 22.0)?;
    qr(canvas, &c.verify_url, PAGE_W - 55.0, 15.0, 40.0);
    Ok(())
}

/// Renders certificates, one page each, into one PDF; refused when a name (or any other text
/// on them) has a character no built-in font can print.
pub fn render(certificates: &[CertificateText]) -> Result<Vec<u8>, Unprintable> {
    let mut canvas = Canvas::new();
    for (i, c) in certificates.iter().enumerate() {
        if i > 0 {
            canvas.next_page();
        }
        page(&mut canvas, c)?;
    }
    Ok(canvas.save("Certificates"))
}
