//! The core is sans-IO: its library source names no sockets, files,
//! threads, processes, clocks or environment, and has no WASI-specific
//! code. (This test reads the source; the library itself never could.)

use std::fs;
use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "std::net",
    "std::fs",
    "std::thread",
    "std::process",
    "std::env",
    "SystemTime::now",
    "Instant::now",
    "target_os = \"wasi\"",
    "unsafe ",
];

/// Every `.rs` file below `dir`.
fn sources(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().map_or(false, |e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn core_library_does_no_io() {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut checked = 0;
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for bad in FORBIDDEN {
                assert!(!code.contains(bad), "{}:{}: uses {bad}: {line}", path.display(), n + 1);
            }
        }
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} source files found");
}
