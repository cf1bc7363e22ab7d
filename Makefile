# The verbs a user and CI type. `make run` serves the current directory on
# port 8000 (override: make run PORT=9000 DIR=/srv); `make test` runs
# everything CI runs.

PORT ?= 8000
DIR ?= .
CARGO ?= cargo

.PHONY: run build wheel tls-cert test test-deps lint unit msrv clean bench fuzz soak wasi wasi-deps test-wasi-socket

run:
	$(CARGO) run --release --quiet -p httpserver -- -d "$(DIR)" $(PORT)

build:
	$(CARGO) build --release -p httpserver

# The Python wheel (python/pyproject.toml; maturin installed when missing):
# `pip install` or `pipx install` target/wheels/httpserver_rs-*.whl puts
# httpserver on PATH, and `python -m httpserver` runs it too.
wheel:
	command -v maturin >/dev/null || python3 -m pip install --quiet "maturin>=1.5,<2"
	cd python && maturin build --release --locked --out ../target/wheels

# A throwaway certificate for trying HTTPS here: target/tls/cert.pem and
# key.pem (localhost, 127.0.0.1 and ::1; 30 days). Browsers will still warn:
# it is signed by nobody they trust.
tls-cert:
	mkdir -p target/tls
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
		-keyout target/tls/key.pem -out target/tls/cert.pem
	@echo "now: httpserver --tls-cert target/tls/cert.pem --tls-key target/tls/key.pem"

test: lint wasi test-deps unit test-wasi-socket msrv

# Real clients the black-box tests drive (curl, wget, aria2c, Chromium with
# playwright-core, ffmpeg for the test video), installed when missing.
test-deps:
	tools/test-deps.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p httpserver-core --no-deps --quiet

unit:
	$(CARGO) test --workspace

# httpserver-core with Debian's Rust 1.63 (installed when missing).
msrv:
	tools/msrv/build.sh

clean:
	$(CARGO) clean
	rm -rf tools/msrv/target tools/msrv/vendor tools/msrv/.cargo wasi-shell/target wasi-shell/vendor wasi-shell/.cargo

# Side-by-side throughput, latency under 10,000 connections, memory and
# instructions per request (callgrind) against nginx, static-web-server,
# miniserve and python3 -m http.server (installs wrk, nginx and valgrind
# when missing; the two Rust peers, pinned, into target/bench-peers the
# first time, a few minutes each); about 19 minutes. BENCH_CASES picks rows
# (see bench/bench.py). BASELINE=/path/to/httpserver adds an earlier build
# to every round.
bench:
	BENCH_BASELINE="$(BASELINE)" python3 bench/bench.py

# cargo-fuzz targets (nightly), each for FUZZ_SECS seconds, starting from
# the committed seed corpus (new inputs go to fuzz/corpus-run, not committed).
FUZZ_SECS ?= 60
FUZZ_TARGETS = connection translate_path chunked multipart
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

# The WASI build (Debian's Rust 1.63 + wasm32-wasi std, installed when
# missing), and what its tests run it with: the wasmtime wheel and socat.
wasi: wasi-deps
	wasi-shell/build.sh

wasi-deps:
	python3 -c "import wasmtime" 2>/dev/null || python3 -m pip install --quiet wasmtime
	command -v socat >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat >/dev/null)

# The preopened-socket mode needs the wasmtime 46 command line (the last
# with preview-1 socket preopens; about ten minutes to build, once).
WASMTIME46 ?= $(HOME)/.cargo/bin/wasmtime
test-wasi-socket: wasi
	test -x "$(WASMTIME46)" && "$(WASMTIME46)" --version | grep -q "^wasmtime 46\." || cargo install wasmtime-cli@46.0.3 --locked
	WASMTIME46="$(WASMTIME46)" $(CARGO) test -p httpserver --features wasi-socket --test wasi_socket
