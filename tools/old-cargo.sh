#!/usr/bin/env bash
# Build the crate in the current directory with Debian's Rust 1.63 and its
# cargo, offline: generate a version-3 lock file resolved for rust-version
# 1.63, vendor the crates with the current cargo (the old one cannot reach
# the registry), point the old cargo at them, and run it with "$@".
# Installs the Debian packages named in $DEBIAN_PACKAGES when missing.
set -euo pipefail
missing=()
for pkg in rustc cargo ${DEBIAN_PACKAGES:-}; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
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
RUSTC=/usr/bin/rustc /usr/bin/cargo build --offline --quiet "$@"
