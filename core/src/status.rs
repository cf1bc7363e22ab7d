//! CPython's `BaseHTTPRequestHandler.responses` table (`http.HTTPStatus`),
//! and which statuses never carry a body. [`crate::Config`] layers a
//! server's own `responses` entries over the table.

use crate::python_tables::STATUS;

/// The short phrase and long explanation CPython pairs with `code`
/// (`responses[code]`), or `None` for a code `HTTPStatus` does not know.
pub(crate) fn status_text(code: u16) -> Option<(&'static str, &'static str)> {
    STATUS.binary_search_by_key(&code, |&(c, _, _)| c).ok().map(|i| (STATUS[i].1, STATUS[i].2))
}

/// Whether a response with this status never carries a body (RFC 9112
/// section 6.3: 1xx, 204, 304; plus 205, which CPython also leaves empty).
pub(crate) fn status_forbids_body(code: u16) -> bool {
    code < 200 || code == 204 || code == 205 || code == 304
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookups_match_cpython() {
        assert_eq!(status_text(404), Some(("Not Found", "Nothing matches the given URI")));
        assert_eq!(status_text(414), Some(("Request-URI Too Long", "URI is too long")));
        assert_eq!(status_text(418).map(|t| t.0), Some("I'm a Teapot"));
        assert_eq!(status_text(299), None);
    }

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(STATUS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn bodyless_statuses() {
        for code in [100, 101, 204, 205, 304] {
            assert!(status_forbids_body(code), "{code}");
        }
        for code in [200, 301, 404, 500] {
            assert!(!status_forbids_body(code), "{code}");
        }
    }
}
