//! What a bench leaves behind besides its printed report: its figures as CSV, charts as SVG
//! (throughput and p99 by scenario with the goal marked; report latency against row count on a
//! log axis), and each target's figure beside its goal, met or missed.

use std::{fmt::Write as _, path::Path};

use crate::render::chart::{Chart, Row, Scale, esc};

/// One scenario's figures, as the CSV holds them.
#[derive(Debug, Clone)]
pub struct Record {
    pub backend: &'static str,
    /// What the data held (cascade attendance rows; 0 where it does not apply).
    pub rows: usize,
    pub scenario: String,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub errors: usize,
    /// One request alone (median), where measured.
    pub alone_ms: Option<f64>,
    /// The server's CPU time per request under the load.
    pub server_cpu_ms: Option<f64>,
    /// The server's thread switches per request under the load.
    pub server_switches: Option<f64>,
}

/// A target: its figure beside its goal.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub figure: String,
    pub goal: String,
    pub met: bool,
}

impl Target {
    pub fn new(name: impl Into<String>, figure: String, goal: &str, met: bool) -> Self {
        Self {
            name: name.into(),
            figure,
            goal: goal.to_owned(),
            met,
        }
    }
}

/// The targets as printed lines: "name  figure  (goal …: met)".
pub fn targets(list: &[Target]) -> String {
    let mut out = String::from("targets:\n");
    for t in list {
        let _ = writeln!(
            out,
            "  {:<58}{:>16}   (goal {}: {})",
            t.name,
            t.figure,
            t.goal,
            if t.met { "met" } else { "MISSED" }
        );
    }
    out
}

/// The records as CSV, one line per scenario and backend.
pub fn csv(records: &[Record]) -> String {
    let mut out = String::from(
        "backend,rows,scenario,req_per_s,p50_ms,p95_ms,p99_ms,errors,alone_ms,server_cpu_ms,\
         server_switches_per_request\n",
    );
    for r in records {
        let _ = writeln!(
            out,
            "{},{},\"{}\",{:.1},{:.2},{:.2},{:.2},{},{},{},{}",
            r.backend,
            r.rows,
            r.scenario.replace('"', "'"),
            r.per_second,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.errors,
            r.alone_ms.map_or_else(String::new, |v| format!("{v:.2}")),
            r.server_cpu_ms
                .map_or_else(String::new, |v| format!("{v:.3}")),
            r.server_switches
                .map_or_else(String::new, |v| format!("{v:.1}"))
        );
    }
    out
}

/// A bar chart of one figure by scenario and backend, each bar marked with its goal if it has one.
pub fn bars(
    id: &str,
    title: &str,
    records: &[&Record],
    label: impl Fn(&Record) -> String,
    value: impl Fn(&Record) -> f64,
    goal: impl Fn(&Record) -> Option<f64>,
) -> String {
    let rows = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = Row::count(format!("{id}-{i}"), label(r), value(r).round() as i64);
            row.target = goal(r).map(|g| g.round() as i64);
            row
        })
        .collect();
    document(
        &Chart {
            id: id.to_owned(),
            title: title.to_owned(),
            scale: Scale::Common,
            rows,
        }
        .svg(),
    )
}

/// A chart as a standalone SVG file (the dashboard's charts are inline in a page).
fn document(svg: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{svg}\n")
}

/// One line of a latency chart: (row count, milliseconds) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Latency against row count, both axes logarithmic, one line per series; a dashed line marks
/// the goal.
pub fn latency_by_rows(title: &str, series: &[Series], goal_ms: f64) -> String {
    const W: f64 = 720.0;
    const H: f64 = 400.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 250.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    const COLOURS: [&str; 8] = [
        "#1d70b8", "#d4351c", "#00703c", "#6f72af", "#f47738", "#912b88", "#28a197", "#505a5f",
    ];
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x_min, x_max) = decades(all().map(|p| p.0));
    let (y_min, y_max) = decades(all().map(|p| p.1).chain([goal_ms]));
    let x = |v: f64| LEFT + (v.log10() - x_min) / (x_max - x_min).max(1.0) * (W - LEFT - RIGHT);
    let y = |v: f64| {
        H - BOTTOM - (v.max(1e-3).log10() - y_min) / (y_max - y_min).max(1.0) * (H - TOP - BOTTOM)
    };
    let mut desc = String::new();
    for s in series {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(r, ms)| format!("{ms:.1} ms at {r:.0} rows"))
            .collect();
        let _ = write!(desc, "{}: {}. ", s.name, points.join(", "));
    }
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         font-family=\"sans-serif\" font-size=\"12\"><title>{}</title><desc>{}Goal {goal_ms} ms.</desc>\
         <rect width=\"{W}\" height=\"{H}\" fill=\"#fff\"/>\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        esc(title),
        esc(&desc),
        esc(title)
    );
    for d in (x_min as i32)..=(x_max as i32) {
        let px = x(10f64.powi(d));
        let _ = write!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">10^{d}</text>",
            H - BOTTOM,
            H - BOTTOM + 18.0
        );
    }
    for d in (y_min as i32)..=(y_max as i32) {
        let py = y(10f64.powi(d));
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} ms</text>",
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            trim(10f64.powi(d))
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">cascade attendance rows</text>\
         <line x1=\"{LEFT}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\" stroke=\"#0b0c0c\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\">goal {goal_ms} ms</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0,
        W - RIGHT,
        LEFT + 6.0,
        y(goal_ms) - 6.0,
        gy = y(goal_ms)
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(r, ms)| format!("{:.1},{:.1}", x(*r), y(*ms)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for (r, ms) in &s.points {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                x(*r),
                y(*ms)
            );
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            W - RIGHT + 20.0,
            W - RIGHT + 40.0,
            W - RIGHT + 46.0,
            ly + 4.0,
            esc(&s.name)
        );
    }
    svg.push_str("</svg>");
    document(&svg)
}

/// The whole decades (log10) that hold every value.
fn decades(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let (lo, hi) = (lo.log10().floor(), hi.log10().ceil());
    (lo, hi.max(lo + 1.0))
}

fn trim(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Writes a bench's files into `dir` and says where they went.
pub fn save(dir: &Path, files: &[(String, String)]) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir)?;
    let mut out = String::from("written:");
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::write(&path, body)?;
        let _ = write!(out, " {}", path.display());
    }
    out.push('\n');
    Ok(out)
}
