#!/usr/bin/env bash
# Build httpserver-core with Debian's Rust 1.63 (installed when missing).
set -euo pipefail
cd "$(dirname "$0")"
../old-cargo.sh
echo "httpserver-core builds with $(/usr/bin/rustc --version)"
