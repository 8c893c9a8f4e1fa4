//! CSV (RFC 4180): a header row, one record per line (CRLF), every field quoted.

pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let line = |fields: &mut dyn Iterator<Item = String>| -> String {
        let quoted: Vec<String> = fields
            .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
            .collect();
        format!("{}\r\n", quoted.join(","))
    };
    let mut out = line(&mut header.iter().map(|h| (*h).to_owned()));
    for row in rows {
        out.push_str(&line(&mut row.iter().cloned()));
    }
    out
}
