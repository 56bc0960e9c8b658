"""Replacing a file on a host safely (pure: builds names and shell).

- Staged copies get a name of their own per write (two runs never share one).
- A file is replaced only while it still holds the bytes the plan was computed from:
  otherwise nothing is written and the run stops saying so.
"""

from __future__ import annotations

import hashlib
import shlex
import uuid

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def staged_name(path: str) -> str:
    """'<path>.deploy-new.<random>': unique per write; never a name PostgreSQL's include_dir
    (*.conf), sudoers.d (no dot) or cron.d (no dot) would read."""
    return f"{path}.deploy-new.{uuid.uuid4().hex[:12]}"


def text_sha256(text: str | None) -> str:
    """The sha256 of the bytes a fact read (facts decode with surrogateescape); None (absent) -> ""."""
    return hashlib.sha256((text or "").encode("utf-8", errors="surrogateescape")).hexdigest()


def unchanged_since_planning(path: str, planned_sha256: str, cleanup: str = "") -> str:
    """sh: exit 1 (after `cleanup`), writing nothing, unless `path` still has the sha256 the
    plan read (the empty file's sha256 also stands for "absent")."""
    q_path, q_sha = shlex.quote(path), shlex.quote(planned_sha256)
    return (
        f"if [ -e {q_path} ]; then now=$(sha256sum < {q_path}); now=${{now%% *}}; else now=absent; fi; "
        f'if [ "$now" != {q_sha} ] && ! {{ [ "$now" = absent ] && [ {q_sha} = {EMPTY_SHA256} ]; }}; then '
        f"{cleanup + '; ' if cleanup else ''}"
        f'echo "{path} changed since this run planned it (sha256 {planned_sha256[:12]}... then, $now now); '
        'nothing was written. Next: run again, it plans from what is there now." >&2; exit 1; fi'
    )


def replace_script(path: str, staged: str, planned_sha256: str, owner: str, mode: str) -> str:
    """sh: give `staged` its owner and mode, then move it over `path` if `path` is still
    what the plan read; the staged file never stays behind."""
    q_path, q_staged = shlex.quote(path), shlex.quote(staged)
    return (
        f"{unchanged_since_planning(path, planned_sha256, cleanup=f'rm -f {q_staged}')}; "
        f"chown {shlex.quote(owner)} {q_staged} && chmod {mode} {q_staged} && mv -f {q_staged} {q_path} "
        f"|| {{ rm -f {q_staged}; exit 1; }}"
    )
