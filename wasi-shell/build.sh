#!/usr/bin/env bash
# `make wasi`: build target/wasm32-wasi/release/httpserver-wasi.wasm with
# Debian's Rust 1.63 and its wasm32-wasi standard library, offline, from
# crates vendored by the current cargo. Installs the toolchain if missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
need=()
[ -x /usr/bin/rustc ] || need+=(rustc)
[ -x /usr/bin/cargo ] || need+=(cargo)
[ -d /usr/lib/rustlib/wasm32-wasi ] || need+=(libstd-rust-dev-wasm32)
[ -d /usr/lib/wasm32-wasi ] || [ -d /usr/share/wasi-sysroot ] || dpkg -s wasi-libc >/dev/null 2>&1 || need+=(wasi-libc)
command -v wasm-ld >/dev/null || command -v rust-lld >/dev/null || dpkg -s lld >/dev/null 2>&1 || need+=(lld)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -f Cargo.lock ]; then
    CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile
fi
sed -i 's/^version = 4$/version = 3/' Cargo.lock
cargo vendor --locked --versioned-dirs vendor >/dev/null 2>&1 || cargo vendor --versioned-dirs vendor >/dev/null
mkdir -p .cargo
cat > .cargo/config.toml <<'CFG'
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"
CFG
RUSTC=/usr/bin/rustc /usr/bin/cargo build --offline --release --target wasm32-wasi --quiet
wasm=target/wasm32-wasi/release/httpserver-wasi.wasm
echo "$here/$wasm $(stat -c %s "$wasm") bytes"
