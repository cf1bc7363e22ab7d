#!/usr/bin/env python3
"""Run httpserver-wasi under the wasmtime wheel from PyPI (no socket
preopens there: use --stdio). stdin, stdout and stderr are the process's.

    python3 wasi-shell/run.py --dir ./site::/ MODULE.wasm --stdio [-p HTTP/1.1]

`--root HOST` is `--dir HOST::/` without colons, which socat would read as
address separators. Behind socat this is a network server, one instance
per connection:

    socat TCP-LISTEN:8000,reuseaddr,fork \
        EXEC:"python3 wasi-shell/run.py --root ./site MODULE.wasm --stdio"
"""
import sys

import wasmtime


def main(argv):
    dirs = []
    while argv and argv[0] in ("--dir", "--root"):
        if argv[0] == "--root":
            dirs.append((argv[1], "/"))
        else:
            host, _, guest = argv[1].partition("::")
            dirs.append((host, guest or host))
        argv = argv[2:]
    if not argv:
        sys.exit("usage: run.py [--dir HOST::GUEST]... MODULE.wasm [ARGS...]")
    module_path, args = argv[0], argv[1:]
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, module_path)
    cfg = wasmtime.WasiConfig()
    cfg.argv = ["httpserver-wasi"] + args
    for host, guest in dirs:
        cfg.preopen_dir(host, guest)
    cfg.inherit_stdin()
    cfg.inherit_stdout()
    cfg.inherit_stderr()
    store = wasmtime.Store(engine)
    store.set_wasi(cfg)
    instance = linker.instantiate(store, module)
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        sys.exit(e.code)


if __name__ == "__main__":
    main(sys.argv[1:])
