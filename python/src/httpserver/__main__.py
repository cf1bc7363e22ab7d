"""`python -m httpserver ARGS...`: replace this process with the installed
`httpserver` binary, run with ARGS (same pid, exit status and signals)."""

import os
import sys

from httpserver import find_binary


def main():
    try:
        binary = find_binary()
    except FileNotFoundError as e:
        print("python -m httpserver: %s" % e, file=sys.stderr)
        return 1
    os.execv(binary, [binary] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
