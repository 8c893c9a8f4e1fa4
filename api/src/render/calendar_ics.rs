//! iCalendar (RFC 5545) with iTIP methods (RFC 5546): lines folded at 75 octets without splitting
//! a character, text escaped, parameter values quoted, DTSTAMP in UTC, times in Europe/London
//! with its VTIMEZONE.

use chrono::{DateTime, Utc};
use chrono_tz::Europe::London;

/// The iTIP method of a calendar object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A feed or download: no scheduling intent.
    Publish,
    /// An invitation or an update to one.
    Request,
    /// A withdrawal: calendar clients remove the events with these UIDs.
    Cancel,
}

impl Method {
    /// As `METHOD:` and a `text/calendar; method=` parameter write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Publish => "PUBLISH",
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
        }
    }
}

/// Someone named in an event.
#[derive(Debug, Clone)]
pub struct Party {
    pub name: String,
    pub email: String,
}

/// One VEVENT.
#[derive(Debug, Clone)]
pub struct Event {
    /// Stable across every version of the event.
    pub uid: String,
    /// Rises with every change; never falls.
    pub sequence: i32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub description: String,
    pub location: Option<String>,
    pub url: Option<String>,
    pub cancelled: bool,
    pub organizer: Option<Party>,
    pub attendee: Option<Party>,
}

/// A VCALENDAR.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub method: Method,
    /// Shown by clients as the calendar's name (for feeds).
    pub name: Option<String>,
    pub stamp: DateTime<Utc>,
    pub events: Vec<Event>,
}

const VTIMEZONE: &[&str] = &[
    "BEGIN:VTIMEZONE",
    "TZID:Europe/London",
    "BEGIN:DAYLIGHT",
    "TZOFFSETFROM:+0000",
    "TZOFFSETTO:+0100",
    "TZNAME:BST",
    "DTSTART:19810329T010000",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "END:DAYLIGHT",
    "BEGIN:STANDARD",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0000",
    "TZNAME:GMT",
    "DTSTART:19961027T020000",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
    "END:STANDARD",
    "END:VTIMEZONE",
];

/// Escapes a TEXT value: backslash, semicolon, comma and newlines.
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.replace("\r\n", "\n").chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' | '\r' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A quoted parameter value (e.g. `CN`): double quotes cannot appear inside, so they become
/// single quotes; control characters are dropped.
pub fn quote_param(value: &str) -> String {
    let inner: String = value
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' { '\'' } else { c })
        .collect();
    format!("\"{inner}\"")
}

/// Folds a content line at 75 octets, never inside a UTF-8 character; continuation lines start
/// with a space.
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3);
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
    out
}

fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&London).format("%Y%m%dT%H%M%S").to_string()
}

pub fn render(calendar: &Calendar) -> String {
    let mut lines: Vec<String> = vec![
        "BEGIN:VCALENDAR".into(),
        "VERSION:2.0".into(),
        "PRODID:-//Cascade//Workforce training//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        format!("METHOD:{}", calendar.method.as_str()),
    ];
    if let Some(name) = &calendar.name {
        // RFC 7986's NAME is TEXT, escaped as the standard says. Clients show X-WR-CALNAME as
        // written, backslashes included, so it carries the name with nothing that needs escaping.
        lines.push(format!("NAME:{}", escape_text(name)));
        let plain: String = name
            .chars()
            .map(|c| {
                if matches!(c, ',' | ';' | '\\') {
                    ' '
                } else {
                    c
                }
            })
            .filter(|c| !c.is_control())
            .collect();
        lines.push(format!(
            "X-WR-CALNAME:{}",
            plain.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
        lines.push("X-WR-TIMEZONE:Europe/London".into());
    }
    lines.extend(VTIMEZONE.iter().map(|l| (*l).to_owned()));
    for e in &calendar.events {
        lines.push("BEGIN:VEVENT".into());
        lines.push(format!("UID:{}", escape_text(&e.uid)));
        lines.push(format!("DTSTAMP:{}", utc(calendar.stamp)));
        lines.push(format!("SEQUENCE:{}", e.sequence.max(0)));
        lines.push(format!("DTSTART;TZID=Europe/London:{}", local(e.start)));
        lines.push(format!("DTEND;TZID=Europe/London:{}", local(e.end)));
        lines.push(format!("SUMMARY:{}", escape_text(&e.summary)));
        if !e.description.is_empty() {
            lines.push(format!("DESCRIPTION:{}", escape_text(&e.description)));
        }
        if let Some(location) = &e.location {
            lines.push(format!("LOCATION:{}", escape_text(location)));
        }
        if let Some(url) = &e.url {
            // A URI value is ASCII: non-ASCII characters are percent-encoded (and a host in
            // punycode), as the url crate writes it.
            let url = url::Url::parse(url).map_or_else(
                |_| {
                    url.chars()
                        .filter(char::is_ascii_graphic)
                        .collect::<String>()
                },
                String::from,
            );
            lines.push(format!("URL:{url}"));
        }
        lines.push(format!(
            "STATUS:{}",
            if e.cancelled {
                "CANCELLED"
            } else {
                "CONFIRMED"
            }
        ));
        lines.push("TRANSP:OPAQUE".into());
        if let Some(o) = &e.organizer {
            lines.push(format!(
                "ORGANIZER;CN={}:mailto:{}",
                quote_param(&o.name),
                o.email
            ));
        }
        if let Some(a) = &e.attendee {
            let partstat = if e.cancelled { "DECLINED" } else { "ACCEPTED" };
            lines.push(format!(
                "ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT={partstat};RSVP=FALSE:mailto:{}",
                quote_param(&a.name),
                a.email
            ));
        }
        lines.push("END:VEVENT".into());
    }
    lines.push("END:VCALENDAR".into());
    lines.iter().map(|l| fold(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_as_rfc_5545_says() {
        assert_eq!(
            escape_text("a\\b;c,d\r\ne\nf\u{7}"),
            "a\\\\b\\;c\\,d\\ne\\nf"
        );
        assert_eq!(quote_param("Zoë \"Z\" Ashworth"), "\"Zoë 'Z' Ashworth\"");
    }

    #[test]
    fn lines_fold_at_75_octets_never_inside_a_character() {
        let short = fold("SUMMARY:Five to Thrive");
        assert_eq!(short, "SUMMARY:Five to Thrive\r\n");
        let long = format!("SUMMARY:{}", "ŵ".repeat(60));
        let folded = fold(&long);
        for line in folded.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        let unfolded = folded.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{long}\r\n"));
    }
}
