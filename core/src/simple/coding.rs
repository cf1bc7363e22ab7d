//! Content codings (RFC 9110 sections 8.4 and 12.5.3): which of the codings
//! a server can produce a client accepts, by `Accept-Encoding` q-values.

use crate::http::Headers;

/// A content coding the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentCoding {
    /// `br` (Brotli).
    Brotli,
    /// `zstd` (Zstandard).
    Zstd,
    /// `gzip`.
    Gzip,
}

impl ContentCoding {
    /// Every coding, in the server's order of preference (smallest output
    /// first) for equal q-values.
    pub const ALL: [ContentCoding; 3] = [ContentCoding::Brotli, ContentCoding::Zstd, ContentCoding::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            ContentCoding::Brotli => "br",
            ContentCoding::Zstd => "zstd",
            ContentCoding::Gzip => "gzip",
        }
    }

    /// The file name suffix of a precompressed sibling (`x.br` beside `x`).
    pub fn suffix(self) -> &'static str {
        match self {
            ContentCoding::Brotli => ".br",
            ContentCoding::Zstd => ".zst",
            ContentCoding::Gzip => ".gz",
        }
    }

    fn matches(self, token: &str) -> bool {
        token.eq_ignore_ascii_case(self.token())
            || (self == ContentCoding::Gzip && token.eq_ignore_ascii_case("x-gzip"))
    }
}

/// What a client's `Accept-Encoding` allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptEncoding {
    /// Codings the client takes at least as gladly as no coding, best
    /// first (q-value, then the server's preference).
    pub preferred: Vec<ContentCoding>,
    /// Whether the unencoded representation is acceptable (`identity;q=0`,
    /// or `*;q=0` without `identity`, rule it out).
    pub identity: bool,
}

/// Read every `Accept-Encoding` field of `headers` against `offered`.
/// With none, the client gets no coding (RFC 9110 allows any, but a client
/// that says nothing may not decode one).
pub fn accept_encoding(headers: &Headers, offered: &[ContentCoding]) -> AcceptEncoding {
    let mut fields = headers.get_all("Accept-Encoding").peekable();
    if fields.peek().is_none() {
        return AcceptEncoding { preferred: Vec::new(), identity: true };
    }
    // (token, q in thousandths) for each element.
    let mut elements: Vec<(String, u16)> = Vec::new();
    for value in fields {
        for element in value.split(',') {
            let mut params = element.split(';');
            let token = params.next().unwrap_or("").trim_matches(|c| c == ' ' || c == '\t');
            if token.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in params {
                let param = param.trim_matches(|c| c == ' ' || c == '\t');
                let (name, value) = param.split_once('=').unwrap_or((param, ""));
                if name.trim_end_matches([' ', '\t']).eq_ignore_ascii_case("q") {
                    // `q = 0` is not the grammar: unreadable, not 1.
                    q = if name.len() == 1 { parse_qvalue(value) } else { None };
                }
            }
            // An element with a malformed weight is ignored.
            if let Some(q) = q {
                elements.push((token.to_ascii_lowercase(), q));
            }
        }
    }
    let weight = |matches: &dyn Fn(&str) -> bool| -> Option<u16> {
        elements.iter().filter(|(t, _)| matches(t)).map(|(_, q)| *q).max()
    };
    let star = weight(&|t| t == "*");
    let named_identity = weight(&|t| t == "identity");
    // Identity is acceptable unless ruled out, but only beats a coding the
    // client weighed when it is weighed itself (by name, or by `*`).
    let identity = named_identity.or(star).map_or(true, |q| q > 0);
    let threshold = named_identity.or(star).unwrap_or(0);
    let mut ranked: Vec<(u16, usize, ContentCoding)> = Vec::new();
    for (rank, coding) in offered.iter().enumerate() {
        let q = weight(&|t| coding.matches(t)).or(star).unwrap_or(0);
        if q > 0 && q >= threshold {
            ranked.push((q, rank, *coding));
        }
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    AcceptEncoding { preferred: ranked.into_iter().map(|(_, _, c)| c).collect(), identity }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = match s.find('.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths =
        frac.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContentCoding::*;

    fn accept(values: &[&str]) -> AcceptEncoding {
        let mut h = Headers::default();
        for v in values {
            h.push("Accept-Encoding", v);
        }
        accept_encoding(&h, &ContentCoding::ALL)
    }

    #[test]
    fn no_header_means_identity_only() {
        assert_eq!(accept(&[]), AcceptEncoding { preferred: vec![], identity: true });
        assert_eq!(accept(&[""]), AcceptEncoding { preferred: vec![], identity: true });
    }

    #[test]
    fn browsers_get_the_servers_preference_on_ties() {
        assert_eq!(accept(&["gzip, deflate, br, zstd"]).preferred, vec![Brotli, Zstd, Gzip]);
        assert_eq!(accept(&["gzip"]).preferred, vec![Gzip]);
        assert_eq!(accept(&["x-gzip"]).preferred, vec![Gzip]);
        assert_eq!(accept(&["GZIP", "BR"]).preferred, vec![Brotli, Gzip]);
    }

    #[test]
    fn q_values_are_honoured() {
        assert_eq!(accept(&["br;q=0.5, gzip;q=0.9"]).preferred, vec![Gzip, Brotli]);
        assert_eq!(accept(&["br;q=0, gzip"]).preferred, vec![Gzip]);
        assert_eq!(accept(&["*"]).preferred, vec![Brotli, Zstd, Gzip]);
        assert_eq!(accept(&["*;q=0.1, gzip;q=0"]).preferred, vec![Brotli, Zstd]);
        // Identity preferred over a coding: the coding is not used.
        assert_eq!(accept(&["gzip;q=0.5, identity"]).preferred, vec![]);
        assert_eq!(accept(&["gzip;q=0.5, identity;q=0.5"]).preferred, vec![Gzip]);
        // Malformed weights drop their element.
        assert_eq!(accept(&["gzip;q=2, br;q=0.1234, zstd;q=1.0"]).preferred, vec![Zstd]);
        assert_eq!(accept(&["gzip;q = 0, br"]).preferred, vec![Brotli]);
        // `*` weighs identity too when it is not named.
        assert_eq!(accept(&["*;q=0.5, gzip;q=0.1, br;q=0"]).preferred, vec![Zstd]);
    }

    #[test]
    fn identity_can_be_ruled_out() {
        let a = accept(&["gzip, identity;q=0"]);
        assert_eq!((a.preferred, a.identity), (vec![Gzip], false));
        assert!(!accept(&["*;q=0"]).identity);
        assert!(accept(&["*;q=0, identity"]).identity);
        assert!(accept(&["gzip"]).identity);
    }

    #[test]
    fn qvalue_grammar() {
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.125"), Some(125));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1.001"), None);
        assert_eq!(parse_qvalue(".5"), None);
        assert_eq!(parse_qvalue("0.5x"), None);
    }
}
