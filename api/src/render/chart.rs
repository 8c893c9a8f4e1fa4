//! Horizontal bar charts: one model drawn as SVG for the coordinators' dashboard and into the
//! board PDF ([`super::board_pdf`]), with the text alternative both carry. A chart this plain
//! needs no plotting library: a label, a bar, a forecast and a target marker per row.

use std::fmt::Write as _;

/// How values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    /// Values in basis points, read as a percentage.
    BasisPoints,
    /// Values in pence, read as pounds.
    Pence,
}

impl Unit {
    pub fn show(self, v: i64) -> String {
        match self {
            Unit::Count => v.to_string(),
            Unit::BasisPoints => format!("{:.1}%", v as f64 / 100.0),
            Unit::Pence => super::board_pdf::money(v),
        }
    }
}

/// One row: a value, and optionally what it is forecast to reach and the target it is against.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: String,
    pub label: String,
    pub unit: Unit,
    pub value: i64,
    pub forecast: Option<i64>,
    pub target: Option<i64>,
}

impl Row {
    pub fn count(key: impl Into<String>, label: impl Into<String>, value: i64) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            unit: Unit::Count,
            value,
            forecast: None,
            target: None,
        }
    }

    /// The row in words: "412 of 600 (forecast 450)".
    pub fn words(&self) -> String {
        let mut s = self.unit.show(self.value);
        if let Some(t) = self.target {
            let _ = write!(s, " of {}", self.unit.show(t));
        }
        if let Some(f) = self.forecast.filter(|f| *f != self.value) {
            let _ = write!(s, " (forecast {})", self.unit.show(f));
        }
        s
    }

    /// The largest figure the row draws.
    fn reach(&self) -> i64 {
        self.value
            .max(self.forecast.unwrap_or(0))
            .max(self.target.unwrap_or(0))
    }
}

/// A chart's scale: rows on one common scale, or each row against its own target (progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Common,
    OwnTarget,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// An id for the page (`chart-<id>`), the CSV and the tests.
    pub id: String,
    pub title: String,
    pub scale: Scale,
    pub rows: Vec<Row>,
}

/// Where a row's bar, forecast and target fall, as fractions of the bar's full width.
pub struct Geometry {
    pub value: f64,
    pub forecast: Option<f64>,
    pub target: Option<f64>,
}

impl Chart {
    /// The text alternative: every row in words.
    pub fn summary(&self) -> String {
        if self.rows.is_empty() {
            return format!("{}: nothing recorded yet.", self.title);
        }
        let lines: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("{}: {}", r.label, r.words()))
            .collect();
        format!("{}. {}.", self.title, lines.join("; "))
    }

    /// Each row's bar, forecast and target in [0, 1] of the full width.
    pub fn geometry(&self) -> Vec<Geometry> {
        let common = self.rows.iter().map(Row::reach).max().unwrap_or(0).max(1) as f64;
        self.rows
            .iter()
            .map(|r| {
                let full = match self.scale {
                    Scale::Common => common,
                    Scale::OwnTarget => {
                        r.target.filter(|t| *t > 0).unwrap_or(r.reach()).max(1) as f64
                    }
                };
                let at = |v: i64| (v.max(0) as f64 / full).min(1.0);
                Geometry {
                    value: at(r.value),
                    forecast: r.forecast.map(at),
                    target: r.target.map(at),
                }
            })
            .collect()
    }

    /// The chart as an inline SVG image: `role="img"`, titled and described by its summary.
    pub fn svg(&self) -> String {
        const WIDTH: f64 = 640.0;
        const LABEL: f64 = 210.0;
        const FIGURE: f64 = 150.0;
        const ROW: f64 = 30.0;
        let bar_width = WIDTH - LABEL - FIGURE;
        let height = (self.rows.len().max(1) as f64) * ROW + 10.0;
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} \
             {height}\" role=\"img\" aria-labelledby=\"chart-{id}-title chart-{id}-desc\" \
             font-family=\"Arial, sans-serif\" font-size=\"14\">\
             <title id=\"chart-{id}-title\">{title}</title>\
             <desc id=\"chart-{id}-desc\">{desc}</desc>",
            id = esc(&self.id),
            title = esc(&self.title),
            desc = esc(&self.summary()),
        );
        if self.rows.is_empty() {
            let _ = write!(
                s,
                "<text x=\"0\" y=\"24\" fill=\"#505a5f\">Nothing recorded yet</text>"
            );
        }
        for (i, (row, g)) in self.rows.iter().zip(self.geometry()).enumerate() {
            let y = 5.0 + i as f64 * ROW;
            let _ = write!(
                s,
                "<text x=\"0\" y=\"{ty}\" fill=\"#0b0c0c\">{label}</text>\
                 <rect x=\"{LABEL}\" y=\"{by}\" width=\"{bar_width}\" height=\"18\" fill=\"#f3f2f1\"/>",
                ty = y + 18.0,
                by = y + 4.0,
                label = esc(&clip(&row.label, 28)),
            );
            if let Some(f) = g.forecast.filter(|f| *f > g.value) {
                let _ = write!(
                    s,
                    "<rect x=\"{LABEL}\" y=\"{by}\" width=\"{w:.1}\" height=\"18\" \
                     fill=\"#8eb8dc\"/>",
                    by = y + 4.0,
                    w = f * bar_width,
                );
            }
            let _ = write!(
                s,
                "<rect x=\"{LABEL}\" y=\"{by}\" width=\"{w:.1}\" height=\"18\" fill=\"#1d70b8\"/>",
                by = y + 4.0,
                w = g.value * bar_width,
            );
            if let Some(t) = g.target {
                let _ = write!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{by}\" width=\"3\" height=\"26\" fill=\"#0b0c0c\"/>",
                    x = LABEL + t * bar_width - 1.5,
                    by = y,
                );
            }
            let _ = write!(
                s,
                "<text x=\"{x}\" y=\"{ty}\" fill=\"#0b0c0c\">{words}</text>",
                x = LABEL + bar_width + 8.0,
                ty = y + 18.0,
                words = esc(&clip(&row.words(), 22)),
            );
        }
        s.push_str("</svg>");
        s
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// Text and attribute values escaped for SVG.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_rows_scale_to_their_own_target_and_say_it_in_words() {
        let chart = Chart {
            id: "targets".into(),
            title: "Progress <against> targets".into(),
            scale: Scale::OwnTarget,
            rows: vec![
                Row {
                    forecast: Some(450),
                    target: Some(600),
                    ..Row::count("champions", "Champions trained", 300)
                },
                Row {
                    unit: Unit::BasisPoints,
                    target: Some(1000),
                    ..Row::count("share", "Voluntary share", 1250)
                },
            ],
        };
        let g = chart.geometry();
        assert!((g[0].value - 0.5).abs() < 1e-9);
        assert_eq!(g[0].forecast, Some(0.75));
        assert_eq!(g[1].value, 1.0);
        assert_eq!(chart.rows[0].words(), "300 of 600 (forecast 450)");
        assert_eq!(chart.rows[1].words(), "12.5% of 10.0%");
        let svg = chart.svg();
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("Progress &lt;against&gt; targets"));
        assert!(svg.contains("Champions trained: 300 of 600 (forecast 450)"));
    }
}
