//! Text for the PDFs in any script a name is written in: each character gets a font that has
//! it (see `api/fonts/README.md`), runs are put in visual order by the Unicode bidirectional
//! algorithm (`unicode-bidi`), and each run is shaped by `rustybuzz` (HarfBuzz's shaping in
//! Rust), so Arabic letters join, Hebrew and Arabic read right to left and Indic conjuncts and
//! vowel signs form. A character no font has is refused (`Unprintable`), never drawn as a box.

use std::{ops::Range, sync::OnceLock};

use rustybuzz::{Direction, UnicodeBuffer};
use unicode_bidi::BidiInfo;
use unicode_normalization::char::is_combining_mark;

/// The fonts built into the binary, in the order they are tried.
const DEJAVU: usize = 0;
const ARABIC: usize = 1;
const HEBREW: usize = 2;
const DEVANAGARI: usize = 3;
const BENGALI: usize = 4;
const CJK: usize = 5;
const KOREAN: usize = 6;

static FONT_FILES: [&[u8]; 6] = [
    include_bytes!("../../fonts/NotoSansArabic-Regular.ttf"),
    include_bytes!("../../fonts/NotoSansHebrew-Regular.ttf"),
    include_bytes!("../../fonts/NotoSansDevanagari-Regular.ttf"),
    include_bytes!("../../fonts/NotoSansBengali-Regular.ttf"),
    include_bytes!("../../fonts/DroidSansFallbackFull.ttf"),
    include_bytes!("../../fonts/NanumSquareR.ttf"),
];

/// One built-in font: its file (to subset) and its parsed face (to shape).
pub struct Font {
    pub data: &'static [u8],
    face: rustybuzz::Face<'static>,
}

/// The built-in fonts, parsed once.
pub fn fonts() -> &'static [Font] {
    static FONTS: OnceLock<Vec<Font>> = OnceLock::new();
    FONTS.get_or_init(|| {
        std::iter::once(dejavu::sans::regular())
            .chain(FONT_FILES)
            .map(|data| Font {
                data,
                face: rustybuzz::Face::from_slice(data, 0)
                    .unwrap_or_else(|| unreachable!("a built-in font parses")),
            })
            .collect()
    })
}

/// A name in each script the built-in fonts cover, as it would be recorded (the rendering
/// benchmark and the certificate tests print these).
pub const SAMPLE_NAMES: [(&str, &str); 11] = [
    ("Chinese", "王秀英"),
    ("Japanese", "山田 花子"),
    ("Korean", "김민준"),
    ("Arabic", "محمد عبد الله"),
    ("Hebrew", "שרה כהן"),
    ("Devanagari", "अनुष्का शर्मा"),
    ("Bengali", "স্বাতী মুখোপাধ্যায়"),
    ("Greek", "Αικατερίνη Παπαδοπούλου"),
    ("Cyrillic", "Анастасия Кузнецова"),
    ("Welsh", "Siân Llewellyn-Ŵyn"),
    ("Polish", "Zofia Wójcik-Łęczyńska"),
];

/// One glyph of a shaped line. Positions are in ems (multiply by the size in points).
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    pub font: usize,
    pub id: u16,
    pub x: f32,
    pub y: f32,
    /// The text this glyph stands for (for copy and search); empty for the second and later
    /// glyphs of one cluster.
    pub text: String,
}

/// A line of text shaped and in visual order, `width` ems wide.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    pub glyphs: Vec<Glyph>,
    pub width: f32,
    /// Whether any of it reads right to left.
    pub has_rtl: bool,
}

/// Characters no built-in font can print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprintable {
    pub text: String,
    pub missing: Vec<char>,
}

impl std::fmt::Display for Unprintable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let chars: Vec<String> = self
            .missing
            .iter()
            .map(|c| format!("{c} (U+{:04X})", u32::from(*c)))
            .collect();
        write!(
            f,
            "{:?} cannot be printed: no font built into Cascade has {}",
            self.text,
            chars.join(", ")
        )
    }
}

/// The font a script's own characters are printed in, where a script has one.
fn script_font(c: char) -> Option<usize> {
    match u32::from(c) {
        0x0600..=0x06FF | 0x0750..=0x077F | 0x08A0..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Some(ARABIC)
        }
        0x0590..=0x05FF | 0xFB1D..=0xFB4F => Some(HEBREW),
        0x0900..=0x097F | 0xA8E0..=0xA8FF | 0x1CD0..=0x1CFF => Some(DEVANAGARI),
        0x0980..=0x09FF => Some(BENGALI),
        0x1100..=0x11FF | 0x3130..=0x318F | 0xA960..=0xA97F | 0xAC00..=0xD7FF => Some(KOREAN),
        _ => None,
    }
}

fn has(font: usize, c: char) -> bool {
    fonts()[font].face.glyph_index(c).is_some()
}

/// The first font that has `c`: its script's own, else DejaVu Sans, else the Chinese and Japanese
/// font, else any.
fn font_for(c: char) -> Option<usize> {
    script_font(c)
        .into_iter()
        .chain([DEJAVU, CJK, KOREAN, ARABIC, HEBREW, DEVANAGARI, BENGALI])
        .find(|f| has(*f, c))
}

/// Characters that belong with the one before: combining marks, joiners, variation selectors
/// and other format characters.
fn clings(c: char) -> bool {
    is_combining_mark(c)
        || matches!(u32::from(c),
            0x00AD | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F
            | 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// Splits a run of one direction into runs of one font, in logical order. Spaces, digits and
/// punctuation stay in the font before them when it has them, so a name shapes as one run.
fn font_runs(text: &str, range: Range<usize>) -> Vec<(usize, Range<usize>)> {
    let mut runs: Vec<(usize, Range<usize>)> = Vec::new();
    let mut previous: Option<usize> = None;
    for (i, c) in text[range.clone()].char_indices() {
        let start = range.start + i;
        let font = match previous {
            Some(p) if clings(c) || (!c.is_alphabetic() && has(p, c)) => p,
            _ => font_for(c).or(previous).unwrap_or(DEJAVU),
        };
        match runs.last_mut() {
            Some((f, r)) if *f == font => r.end = start + c.len_utf8(),
            _ => runs.push((font, start..start + c.len_utf8())),
        }
        previous = Some(font);
    }
    runs
}

/// Shapes one line (a line break is read as a space).
pub fn shape(text: &str) -> Result<Shaped, Unprintable> {
    let line = text.replace(['\n', '\r'], " ");
    let bidi = BidiInfo::new(&line, None);
    let mut glyphs = Vec::new();
    let mut missing = Vec::new();
    let mut pen = 0.0f32;
    let mut has_rtl = false;
    for paragraph in &bidi.paragraphs {
        let (levels, runs) = bidi.visual_runs(paragraph, paragraph.range.clone());
        for run in runs {
            let rtl = levels[run.start].is_rtl();
            has_rtl |= rtl;
            let mut pieces = font_runs(&line, run);
            if rtl {
                pieces.reverse();
            }
            for (font, range) in pieces {
                let piece = &line[range];
                let face = &fonts()[font].face;
                let mut buffer = UnicodeBuffer::new();
                buffer.push_str(piece);
                buffer.set_direction(if rtl {
                    Direction::RightToLeft
                } else {
                    Direction::LeftToRight
                });
                let shaped = rustybuzz::shape(face, &[], buffer);
                let per_em = 1.0 / f32::from(face.units_per_em().max(1) as u16);
                let infos = shaped.glyph_infos();
                let mut starts: Vec<usize> = infos.iter().map(|g| g.cluster as usize).collect();
                starts.sort_unstable();
                starts.dedup();
                let mut seen = Vec::new();
                for (info, pos) in infos.iter().zip(shaped.glyph_positions()) {
                    let cluster = info.cluster as usize;
                    let end = starts
                        .iter()
                        .copied()
                        .find(|s| *s > cluster)
                        .unwrap_or(piece.len());
                    let cluster_text = piece.get(cluster..end).unwrap_or_default();
                    if info.glyph_id == 0 {
                        missing.extend(cluster_text.chars().filter(|c| !clings(*c)));
                    }
                    let first = !seen.contains(&cluster);
                    seen.push(cluster);
                    glyphs.push(Glyph {
                        font,
                        id: u16::try_from(info.glyph_id).unwrap_or(0),
                        x: pen + pos.x_offset as f32 * per_em,
                        y: pos.y_offset as f32 * per_em,
                        text: if first {
                            cluster_text.to_owned()
                        } else {
                            String::new()
                        },
                    });
                    pen += pos.x_advance as f32 * per_em;
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(Shaped {
            glyphs,
            width: pen,
            has_rtl,
        })
    } else {
        missing.dedup();
        Err(Unprintable {
            text: text.to_owned(),
            missing,
        })
    }
}

/// Whether every character of `text` can be printed.
pub fn printable(text: &str) -> Result<(), Unprintable> {
    shape(text).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_script_gets_its_font_and_direction() {
        let fonts_of = |s: &str| -> Vec<usize> {
            let mut f: Vec<usize> = shape(s)
                .expect("printable")
                .glyphs
                .iter()
                .map(|g| g.font)
                .collect();
            f.dedup();
            f
        };
        assert_eq!(fonts_of("Siân Łęczyńska"), [DEJAVU]);
        assert_eq!(fonts_of("王秀英"), [CJK]);
        assert_eq!(fonts_of("김민준"), [KOREAN]);
        assert_eq!(fonts_of("محمد عبد الله"), [ARABIC]);
        assert_eq!(fonts_of("אנה כהן"), [HEBREW]);
        assert_eq!(fonts_of("अनुष्का शर्मा"), [DEVANAGARI]);
        assert_eq!(fonts_of("স্বাতী"), [BENGALI]);
        assert!(shape("שרה").expect("printable").has_rtl);
        assert!(!shape("Sara").expect("printable").has_rtl);
        // Arabic joins: the same letter takes different forms, so different glyphs.
        let ha = shape("ههه").expect("printable");
        assert_ne!(ha.glyphs[0].id, ha.glyphs[1].id);
    }

    #[test]
    fn a_character_no_font_has_is_refused() {
        let err = shape("Ann \u{1200}\u{1201}").expect_err("Ethiopic has no built-in font");
        assert_eq!(err.missing, ['\u{1200}', '\u{1201}']);
        assert!(err.to_string().contains("U+1200"), "{err}");
    }
}
