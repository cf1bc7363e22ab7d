# The verbs a user and CI type. `make run` serves the current directory on
# port 8000 (override: make run PORT=9000 DIR=/srv); `make test` runs
# everything CI runs.

PORT ?= 8000
DIR ?= .
CARGO ?= cargo

.PHONY: run build test lint unit msrv clean bench

run:
	$(CARGO) run --release --quiet -p httpserver -- -d "$(DIR)" $(PORT)

build:
	$(CARGO) build --release -p httpserver

test: lint unit msrv

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings

unit:
	$(CARGO) test --workspace

# httpserver-core with Debian's Rust 1.63 (installed when missing).
msrv:
	tools/msrv/build.sh

clean:
	$(CARGO) clean
	rm -rf tools/msrv/target tools/msrv/vendor tools/msrv/.cargo

# Side-by-side throughput and memory against python3 -m http.server and
# nginx (installs wrk and nginx when missing); about 5 minutes.
bench:
	python3 bench/bench.py
