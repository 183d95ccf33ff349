//! The pieces of a status page: plain HTML and CSS written by the binary,
//! no script and nothing fetched from elsewhere, refreshing itself.

use std::fmt::Write;

/// How often the page reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 5;

/// `text` safe inside HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole document titled `title` around `body` (HTML already escaped).
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><h1>{title}</h1>{body}\
         <p class=\"foot\">Refreshes every {REFRESH_SECONDS} s. Rates are over the last minute. \
         Metrics: <a href=\"/metrics\">/metrics</a>.</p></body></html>\n",
        title = escape(title),
    )
}

/// A table of `header` and `rows` (cells as text, escaped here).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><tr>");
    for cell in header {
        let _ = write!(out, "<th>{}</th>", escape(cell));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

/// A rate per minute as the page shows it: `12.5/min`.
pub fn rate(per_minute: f64) -> String {
    format!("{per_minute:.1}/min")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}\
table{border-collapse:collapse;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left;font-variant-numeric:tabular-nums}\
th{background:#eee}.ok{color:#176e2c;font-weight:bold}.bad{color:#b00020;font-weight:bold}\
.foot{color:#666;font-size:.9em}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_registrations_cannot_become_markup() {
        assert_eq!(
            escape("<b onclick='x'>&\"</b>"),
            "&lt;b onclick=&#39;x&#39;&gt;&amp;&quot;&lt;/b&gt;"
        );
        let table = table(&["NAME"], &[vec!["<script>".into()]]);
        assert!(
            table.contains("&lt;script&gt;") && !table.contains("<script>"),
            "{table}"
        );
    }

    #[test]
    fn the_page_refreshes_itself_and_fetches_nothing() {
        let page = document("t", "<p>x</p>");
        assert!(page.contains("http-equiv=\"refresh\""), "{page}");
        assert!(!page.contains("src="), "{page}");
        assert!(!page.contains("<link"), "{page}");
    }
}
