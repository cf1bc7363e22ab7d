//! `translate_path` never leaves the root and never panics.
#![no_main]

use httpserver_core::cgi::url_collapse_path;
use httpserver_core::simple::translate_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text: String = data.iter().map(|&b| b as char).collect();
    let path = translate_path(&text);
    for seg in path.segments() {
        assert!(!seg.is_empty());
        assert!(seg.as_slice() != b"." && seg.as_slice() != b"..");
        assert!(!seg.contains(&b'/'));
    }
    if let Some(c) = url_collapse_path(&text) {
        assert!(c.starts_with('/'));
    }
});
