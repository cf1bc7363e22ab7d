# The verbs a user and CI type. `make run` serves the current directory on
# port 8000 (override: make run PORT=9000 DIR=/srv); `make test` runs
# everything CI runs.

PORT ?= 8000
DIR ?= .
CARGO ?= cargo

.PHONY: run build test lint unit msrv clean bench fuzz soak

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

# cargo-fuzz targets (nightly), each for FUZZ_SECS seconds, starting from
# the committed seed corpus (new inputs go to fuzz/corpus-run, not committed).
FUZZ_SECS ?= 60
FUZZ_TARGETS = connection translate_path chunked
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus-run/$$t && cp -n corpus/$$t/* corpus-run/$$t/ && \
		cargo +nightly fuzz run $$t corpus-run/$$t -- -max_total_time=$(FUZZ_SECS) || exit 1; \
	done

# The soak test for longer than make test runs it (SOAK_SECS, default 600).
SOAK_SECS ?= 600
soak:
	SOAK_SECS=$(SOAK_SECS) $(CARGO) test --release -p httpserver --test soak -- --nocapture
