"""httpserver: Python's http.server, rebuilt in Rust.

This package only locates the `httpserver` binary installed with it;
`python -m httpserver ARGS...` runs that binary with ARGS.
"""

import os
import shutil
import sys
import sysconfig

__all__ = ["find_binary"]


def _user_scheme():
    if sys.version_info >= (3, 10):
        return sysconfig.get_preferred_scheme("user")
    if sys.platform == "darwin" and getattr(sys, "_framework", ""):
        return "osx_framework_user"
    return "posix_user"


def find_binary():
    """The path of the installed `httpserver` binary.

    Looked for where pip and pipx put a wheel's scripts: the interpreter's
    scripts directory (a venv's bin/), the user scheme's (`pip install
    --user`), bin/ beside the package (`pip install --target`); then on
    PATH. Raises FileNotFoundError when it is in none of them.
    """
    name = "httpserver" + (sysconfig.get_config_var("EXE") or "")
    dirs = [
        sysconfig.get_path("scripts"),
        sysconfig.get_path("scripts", _user_scheme()),
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin"),
    ]
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError("the httpserver binary is not installed (looked in %s and on PATH)" % ", ".join(dirs))
    return path
