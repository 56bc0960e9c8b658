"""The Hatchet + OwlClaw deploy's library: model/ (pure), facts/ and operations/ (host code), glue.

Each module's first paragraph says what it is and what it may import (README: Layout)."""
