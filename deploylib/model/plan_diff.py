"""What a run would change in a managed file, as a unified diff with the secrets masked
(pure: imports nothing of pyinfra).

``--dry --diff`` and the prod guard's listing show it for every managed file the plan
changes (pg_hba.conf's block, the postgresql.conf drop-in, the backup script and its cron
entry, the compose overlay, the .env, the firewall rule set). The lines look like pyinfra's
own ``files.put`` diff (``@@`` hunks, two lines of context, ``- ``/``+ `` prefixes).

Masking, so that no verbosity shows a secret:

- ``.env`` files (``kind="env"``): only the names of the keys added, removed or changed,
  never a value, never a line of the file;
- everywhere else: SCRAM verifiers and md5 hashes, the value of a ``password``/``secret``/
  ``token``-like key (``KEY=value``, ``key: value``, ``key = 'value'``, ldapbindpasswd=...,
  radiussecrets=...), the password of a URL (``scheme://user:password@``) and every
  string of ``secrets`` (the run's passwords and app secrets) become ``***``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

MASK = "***"
CONTEXT_LINES = 2  # as pyinfra's files operations show
# Shorter secrets are not searched for in the text: dev's default passwords equal the role
# names ("hatchet"), which would mask every mention of the role. Key names and patterns
# still mask them where they are a value.
MIN_SECRET_LENGTH = 8

_VERIFIER = re.compile(r"SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+")
_MD5_HASH = re.compile(r"\bmd5[0-9a-f]{32}\b")
_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:password|passwd|passphrase|secret|token|api_?key|credential)[A-Za-z0-9_.-]*"
# key = value, key=value, key: value ("value", 'value' or a word, or a comma-separated list of
# them: pg_hba's radiussecrets); a quote inside quotes is doubled (pg_hba, postgresql.conf,
# YAML). ${VAR} references are kept.
_VALUE_ITEM = r"(?:\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'|[^\s,;\"']+)"
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(\b" + _SECRET_NAME + r"\b[\"']?\s*[:=]\s*)(?!\$\{)(" + _VALUE_ITEM + r"(?:," + _VALUE_ITEM + r")*)"
)
# scheme://user:password@ (the user may be empty: redis://:password@host)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)([^\s@/]+)(@)", re.IGNORECASE)
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


def mask_line(line: str, secrets: Iterable[str] = ()) -> str:
    """``line`` with every secret-looking value replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        line = line.replace(secret, MASK)
    line = _VERIFIER.sub("SCRAM-SHA-256$" + MASK, line)
    line = _MD5_HASH.sub("md5" + MASK, line)
    line = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), line)
    return _SECRET_ASSIGNMENT.sub(lambda m: m.group(0) if _not_secret(m.group(1)) else m.group(1) + MASK, line)


# Names that look like a secret's but name a setting whose value is not one.
NOT_SECRET_NAMES = frozenset({"password_encryption"})


def _not_secret(assignment: str) -> bool:
    name = re.split(r"[\s:=\"']", assignment.strip(), maxsplit=1)[0]
    return name.lower() in NOT_SECRET_NAMES


def env_keys(text: str) -> dict[str, str]:
    """``KEY=value`` lines of a .env file -> {KEY: value} (comments and blank lines skipped)."""
    found = {}
    for line in text.splitlines():
        match = _ENV_LINE.match(line)
        if match and not line.lstrip().startswith("#"):
            found[match.group(1)] = match.group(2)
    return found


def env_diff(old: str | None, new: str) -> list[str]:
    """The names of the keys a .env change adds, removes or changes: never a value."""
    if old is None:
        return [f"+ {key} (added)" for key in env_keys(new)]
    before, after = env_keys(old), env_keys(new)
    lines = [f"- {key} (removed)" for key in before if key not in after]
    lines += [f"~ {key} (value changed, not shown)" for key in after if key in before and before[key] != after[key]]
    lines += [f"+ {key} (added)" for key in after if key not in before]
    if not lines and old != new:
        lines.append("  (comments, order or blank lines changed; every value is the same)")
    return lines


def _range(start: int, stop: int) -> str:
    """A hunk's range as unified diffs write it (line numbers start at 1)."""
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    return f"{start + 1 if length else start},{length}"


def text_diff(old: str | None, new: str | None, secrets: Iterable[str] = ()) -> list[str]:
    """Unified diff lines (``@@`` hunks, ``  ``/``- ``/``+ `` prefixes) from ``old`` to
    ``new`` (None: the file is absent), each line masked."""
    secrets = tuple(secrets)
    before = (old or "").splitlines()
    after = (new or "").splitlines()
    lines = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        first, last = group[0], group[-1]
        lines.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [f"  {mask_line(line, secrets)}" for line in before[i1:i2]]
                continue
            lines += [f"- {mask_line(line, secrets)}" for line in before[i1:i2]]
            lines += [f"+ {mask_line(line, secrets)}" for line in after[j1:j2]]
    if not lines and old != new:
        lines.append("  (only line endings or the final newline change)")
    return lines


def file_diff(old: str | None, new: str | None, kind: str = "text", secrets: Iterable[str] = ()) -> list[str]:
    """The diff to show for one managed file: ``kind`` "env" (key names only), "secret"
    (nothing of the content) or "text" (masked unified diff). ``old``/``new`` None: the file is absent before/after. Empty
    when nothing changes."""
    if old == new:
        return []
    if kind == "secret":
        return ["  (secret content: not shown)"]
    if kind == "env":
        return env_diff(old, new or "")
    return text_diff(old, new, secrets)


def heading(what: str, old: str | None, new: str | None) -> str:
    """'Will create/modify/remove <what>', as pyinfra's files operations say it."""
    verb = "create" if old is None else "remove" if new is None else "modify"
    return f"Will {verb} {what}"


def render(what: str, old: str | None, new: str | None, kind: str = "text", secrets: Iterable[str] = ()) -> list[str]:
    """The heading and the indented diff lines; empty when nothing changes."""
    lines = file_diff(old, new, kind, secrets)
    if not lines:
        return []
    return [heading(what, old, new), *(f"  {line}" for line in lines)]


def shortened(rendered: list[str], limit: int, more: str) -> list[str]:
    """``render``'s lines cut after ``limit`` diff lines, saying how many more and where
    to see them (``more``): a created file is all added lines."""
    if len(rendered) <= limit + 1:
        return rendered
    return [*rendered[: limit + 1], f"  ... {len(rendered) - limit - 1} more lines ({more})"]
