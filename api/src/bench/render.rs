//! Benchmarks that print numbers (never timed tests). `cascade bench render` measures the pure
//! renderers: certificate PDFs and calendar feeds.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};

use crate::render::{
    calendar_ics::{self, Calendar, Event, Method},
    certificate_pdf::{self, CertificateText},
};

fn sample_certificate(i: usize) -> CertificateText {
    named_certificate(i, &format!("Zoë Łukasiewicz-Ó Briain {i}"))
}

fn named_certificate(i: usize, name: &str) -> CertificateText {
    let date = NaiveDate::from_ymd_opt(2026, 6, 12).unwrap_or_default();
    CertificateText {
        licence: false,
        name: name.to_owned(),
        title: "Five to Thrive champion training".into(),
        programme: "Five to Thrive: Attachment, Trauma and Resilience".into(),
        completed_on: date,
        expires_on: date.checked_add_months(chrono::Months::new(36)),
        cpd_hours: 6.0,
        issuer: crate::config::DEFAULT_ISSUER.into(),
        issued_on: date,
        number: format!("CAS-2026-{i:06}"),
        code: "K7QM-3XRT-9PLD-W2HF-6VZB".into(),
        verify_url: "https://cascade.example.org/verify/K7QM-3XRT-9PLD-W2HF-6VZB".into(),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs the rendering benchmark and returns its report.
pub fn render_report() -> String {
    // The first render parses the font: measure it apart.
    let start = Instant::now();
    let first = certificate_pdf::render(&[sample_certificate(0)]).unwrap_or_default();
    let cold = start.elapsed();
    let singles: Vec<Duration> = (1..=50)
        .map(|i| {
            let t = Instant::now();
            let _ = certificate_pdf::render(&[sample_certificate(i)]);
            t.elapsed()
        })
        .collect();
    let single = median(singles);
    let batch: Vec<CertificateText> = (0..50).map(sample_certificate).collect();
    let bulk: Vec<(Duration, usize)> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let bytes = certificate_pdf::render(&batch).unwrap_or_default();
            (t.elapsed(), bytes.len())
        })
        .collect();
    let bulk_time = median(bulk.iter().map(|b| b.0).collect());
    let bulk_size = bulk.first().map_or(0, |b| b.1);

    let mut scripts = String::new();
    for (script, name) in crate::render::text::SAMPLE_NAMES {
        let runs: Vec<(Duration, usize)> = (0..20)
            .map(|i| {
                let t = Instant::now();
                let bytes =
                    certificate_pdf::render(&[named_certificate(i, name)]).unwrap_or_default();
                (t.elapsed(), bytes.len())
            })
            .collect();
        let time = median(runs.iter().map(|r| r.0).collect());
        let size = runs.first().map_or(0, |r| r.1);
        scripts.push_str(&format!(
            "certificate PDF, {script:<22} {:>9.2} ms  {:>7.1} KB  {}\n",
            time.as_secs_f64() * 1000.0,
            size as f64 / 1024.0,
            if size <= 40 * 1024 && time.as_millis() < 5 {
                "(goal <= 40 KB, <= 5 ms: met)"
            } else {
                "(goal <= 40 KB, <= 5 ms: MISSED)"
            }
        ));
    }

    let base = Utc
        .with_ymd_and_hms(2027, 1, 4, 9, 30, 0)
        .single()
        .unwrap_or_default();
    let events: Vec<Event> = (0..500)
        .map(|i| Event {
            uid: format!("session-{i}-sitting-1@cascade"),
            sequence: 3,
            start: base + chrono::Duration::days(i),
            end: base + chrono::Duration::days(i) + chrono::Duration::hours(6),
            summary: "Hyfforddiant Pencampwyr Pump i Ffynnu: Ymlyniad, Trawma a Gwydnwch".into(),
            description:
                "Five to Thrive champion training\nFacilitators: Siân Roberts, Zoë Ashworth".into(),
            location: Some("Corn Exchange, Market Place, Devizes".into()),
            url: None,
            cancelled: i % 10 == 0,
            organizer: None,
            attendee: None,
        })
        .collect();
    let calendar = Calendar {
        method: Method::Publish,
        name: Some("Training".into()),
        stamp: base,
        events,
    };
    let feeds: Vec<(Duration, usize)> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let body = calendar_ics::render(&calendar);
            (t.elapsed(), body.len())
        })
        .collect();
    let feed_time = median(feeds.iter().map(|f| f.0).collect());
    let feed_size = feeds.first().map_or(0, |f| f.1);

    format!(
        "rendering (median of repeated runs)\n\
         certificate PDF, first (font parsed)   {:>9.2} ms  {:>7.1} KB\n\
         certificate PDF, one page              {:>9.2} ms  {:>7.1} KB\n\
         session PDF, 50 pages                  {:>9.2} ms  {:>7.1} KB\n\
         {scripts}\
         calendar feed, 500 events              {:>9.2} ms  {:>7.1} KB\n\
         certificates per second, one core: {:.0} as single PDFs, {:.0} in 50-page PDFs\n",
        cold.as_secs_f64() * 1000.0,
        first.len() as f64 / 1024.0,
        single.as_secs_f64() * 1000.0,
        first.len() as f64 / 1024.0,
        bulk_time.as_secs_f64() * 1000.0,
        bulk_size as f64 / 1024.0,
        feed_time.as_secs_f64() * 1000.0,
        feed_size as f64 / 1024.0,
        1.0 / single.as_secs_f64(),
        50.0 / bulk_time.as_secs_f64(),
    )
}
