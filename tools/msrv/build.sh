#!/usr/bin/env bash
# Build httpserver-core with Debian's Rust 1.63, offline, from crates
# vendored by the current cargo. Installs the Debian toolchain if missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
if [ ! -x /usr/bin/rustc ] || [ ! -x /usr/bin/cargo ]; then
    echo "installing Debian's Rust 1.63 (rustc, cargo)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc cargo >/dev/null
fi
# A lock file the old cargo reads (version 3), resolved for rust-version 1.63.
if [ ! -f Cargo.lock ]; then
    CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile
fi
sed -i 's/^version = 4$/version = 3/' Cargo.lock
mkdir -p .cargo
cargo vendor --locked --versioned-dirs vendor >/dev/null 2>&1 || cargo vendor --versioned-dirs vendor >/dev/null
cat > .cargo/config.toml <<'CFG'
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"
CFG
RUSTC=/usr/bin/rustc /usr/bin/cargo build --offline --quiet
echo "httpserver-core builds with $(/usr/bin/rustc --version)"
