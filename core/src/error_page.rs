//! Error pages in CPython's default `error_message_format`.

use crate::status::status_text;

/// The `Content-Type` of error pages (CPython's, with no space).
pub const ERROR_CONTENT_TYPE: &str = "text/html;charset=utf-8";

/// The message and explanation `send_error` settles on: the given ones, or
/// the status table's, or `???` for a code the table lacks.
pub fn error_texts<'a>(code: u16, message: Option<&'a str>, explain: Option<&'a str>) -> (&'a str, &'a str) {
    let (short, long) = status_text(code).unwrap_or(("???", "???"));
    (message.unwrap_or(short), explain.unwrap_or(long))
}

/// The HTML body of `send_error(code, message, explain)`.
pub fn error_page(code: u16, message: Option<&str>, explain: Option<&str>) -> Vec<u8> {
    let (message, explain) = error_texts(code, message, explain);
    format!(
        "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        \
<title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        \
<p>Error code: {code}</p>\n        <p>Message: {}.</p>\n        \
<p>Error code explanation: {code} - {}.</p>\n    </body>\n</html>\n",
        escape(message),
        escape(explain)
    )
    .into_bytes()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cpython_404() {
        let page = String::from_utf8(error_page(404, Some("File not found"), None)).unwrap();
        let want = "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        <p>Error code: 404</p>\n        <p>Message: File not found.</p>\n        <p>Error code explanation: 404 - Nothing matches the given URI.</p>\n    </body>\n</html>\n";
        assert_eq!(page, want);
        assert_eq!(page.len(), 335); // CPython's Content-Length for this page
    }

    #[test]
    fn escapes_and_defaults() {
        let page = String::from_utf8(error_page(400, Some("Bad request syntax ('<x>&')"), None)).unwrap();
        assert!(page.contains("Message: Bad request syntax ('&lt;x&gt;&amp;')."));
        let unknown = String::from_utf8(error_page(299, None, None)).unwrap();
        assert!(unknown.contains("Message: ???.") && unknown.contains("299 - ???."));
    }
}
