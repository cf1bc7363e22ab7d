#!/usr/bin/env bash
# `make wasi`: build target/wasm32-wasi/release/httpserver-wasi.wasm with
# Debian's Rust 1.63 and its wasm32-wasi standard library (installed when
# missing), offline, from crates vendored by the current cargo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
DEBIAN_PACKAGES="libstd-rust-dev-wasm32 wasi-libc lld" ../tools/old-cargo.sh --release --target wasm32-wasi
wasm=target/wasm32-wasi/release/httpserver-wasi.wasm
echo "$here/$wasm $(stat -c %s "$wasm") bytes"
