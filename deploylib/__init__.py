"""The Hatchet + OwlClaw deploy's library: model/ (pure), facts/ and operations/ (host code), glue.

Each module's first paragraph says what it is and what it may import (README: Layout)."""

import os
import sys

# pyinfra's CLI turns bytecode caching off for the whole process (it execs deploy files,
# which need none). This package is imported as usual: with its bytecode cached, a run
# no longer compiles its ~50 modules from source every time (~0.2 s of controller CPU).
# PYTHONDONTWRITEBYTECODE, when set, is still obeyed.
if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
    sys.dont_write_bytecode = False
