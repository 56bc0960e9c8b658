"""Things the operator must read, printed once more at the very end of the run (pure: imports
nothing; operations add to it).

Operations add a notice at plan time (for example: a restart is pending but
not allowed); pyinfra's own output scrolls past, so they are repeated after
pyinfra has finished, on stderr (stdout stays pure JSON with --json).
"""

from __future__ import annotations

import atexit
import sys

_notices: list[str] = []


def _print_all() -> None:
    if _notices:
        print("\n--> Attention:", file=sys.stderr)
        for line in _notices:
            print(f"    {line}", file=sys.stderr)


def add(host, message: str) -> None:
    line = f"[{host.name}] {message}"
    if line in _notices:
        return
    if not _notices:
        atexit.register(_print_all)
    _notices.append(line)
