//! Certificate PDFs: A4 landscape, real (extractable) text in an embedded DejaVu Sans subset so
//! names in Latin, Greek, Cyrillic and many other scripts print exactly as recorded, and a QR
//! code of the verification link drawn as vector squares.

use chrono::NaiveDate;
use printpdf::{FontId, Mm, Op, PaintMode, PdfDocument, PdfPage, PdfSaveOptions, Pt};
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

use super::pdf::{PAGE_H, PAGE_W, centred, font, grey, rect, text};

/// The QR code of `data` as filled squares (runs of dark modules merged), `size` mm wide.
fn qr(ops: &mut Vec<Op>, data: &str, x: f32, y: f32, size: f32) {
    let Ok(code) = QrCode::new(data.as_bytes()) else {
        return;
    };
    let n = code.width();
    let quiet = 2;
    let module = size / (n + 2 * quiet) as f32;
    ops.push(Op::SetFillColor { col: grey(0.0) });
    for row in 0..n {
        let mut col = 0;
        while col < n {
            if code[(col, row)] == QrColor::Dark {
                let start = col;
                while col < n && code[(col, row)] == QrColor::Dark {
                    col += 1;
                }
                let top = y + size - (row + quiet) as f32 * module;
                ops.push(rect(
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

fn page(font_id: &FontId, c: &CertificateText) -> PdfPage {
    let mut ops = vec![
        Op::SetOutlineColor { col: grey(0.35) },
        Op::SetOutlineThickness { pt: Pt(1.5) },
    ];
    ops.push(rect(
        10.0,
        10.0,
        PAGE_W - 20.0,
        PAGE_H - 20.0,
        PaintMode::Stroke,
    ));
    ops.push(Op::SetFillColor { col: grey(0.1) });
    let heading = if c.licence {
        "Trainer licence"
    } else {
        "Certificate of completion"
    };
    centred(&mut ops, font_id, heading, 30.0, 168.0);
    centred(&mut ops, font_id, "This certifies that", 14.0, 150.0);
    centred(&mut ops, font_id, &c.name, 32.0, 132.0);
    let verb = if c.licence {
        "is licensed to deliver"
    } else {
        "has completed"
    };
    centred(&mut ops, font_id, verb, 14.0, 118.0);
    // A licence reads as one sentence naming its programme once: "… is licensed to deliver Five
    // to Thrive as an accredited trainer"; a completion names the course, then its programme.
    if c.licence {
        centred(&mut ops, font_id, &c.programme, 20.0, 105.0);
        centred(&mut ops, font_id, "as an accredited trainer", 14.0, 95.0);
    } else {
        centred(&mut ops, font_id, &c.title, 20.0, 105.0);
        centred(&mut ops, font_id, &c.programme, 14.0, 95.0);
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
    centred(&mut ops, font_id, &details.join("  ·  "), 12.0, 82.0);
    centred(
        &mut ops,
        font_id,
        &format!("Issued by {} on {}", c.issuer, date(c.issued_on)),
        12.0,
        70.0,
    );
    text(
        &mut ops,
        font_id,
        &format!("Certificate {}", c.number),
        10.0,
        20.0,
        36.0,
    );
    text(
        &mut ops,
        font_id,
        &format!("Verification code {}", c.code),
        10.0,
        20.0,
        29.0,
    );
    text(
        &mut ops,
        font_id,
        &format!("Verify at {}", c.verify_url),
        9.0,
        20.0,
        22.0,
    );
    qr(&mut ops, &c.verify_url, PAGE_W - 55.0, 15.0, 40.0);
    PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops)
}

/// Renders certificates, one page each, into one PDF.
pub fn render(certificates: &[CertificateText]) -> Vec<u8> {
    let mut doc = PdfDocument::new("Certificates");
    let font_id = doc.add_font(font());
    let pages = certificates.iter().map(|c| page(&font_id, c)).collect();
    doc.with_pages(pages);
    let opts = PdfSaveOptions {
        subset_fonts: true,
        ..Default::default()
    };
    doc.save(&opts, &mut Vec::new())
}
