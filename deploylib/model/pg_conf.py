"""postgresql.conf: render values and drop-ins, read settings, own one marked block (pure: may
import deploylib.model.managed_block only).

Pure string logic, no host access. Lexing follows PostgreSQL's ``guc-file.l``:
``name [=] value`` per line, ``#`` comments, single-quoted strings where ``''``
and ``\\'`` are quotes and backslash escapes (``\\n``, ``\\\\``, octal) apply.

Preferred: a drop-in file in an ``include_dir`` (:func:`render_dropin`). Without
one, :func:`apply_managed_lines` keeps a marked block at the end of the file
(the last setting of a name wins), with the same markers as pg_hba.conf.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence

from .managed_block import find_block, splice_block, split_lines

Value = bool | int | float | str | Sequence[str]

DIRECTIVES = frozenset({"include", "include_dir", "include_if_exists"})
_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?")

# The lexer's tokens, in guc-file.l's rule order (flex: longest match, first rule on ties).
# [A-Za-z_\x80-\U0010ffff] and [A-Za-z_0-9\x80-\U0010ffff], written as "no ASCII but ...":
# the same sets (tests/unit/test_pg_conf.py), compiled in microseconds instead of ~15 ms each.
_LETTER = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
_LETTER_OR_DIGIT = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
_ID = rf"{_LETTER}{_LETTER_OR_DIGIT}*"
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("id", re.compile(_ID)),
    ("qualified_id", re.compile(rf"{_ID}\.{_ID}")),
    ("string", re.compile(r"'(?:[^'\\\n]|\\.|'')*'")),
    ("unquoted", re.compile(rf"{_LETTER}(?:{_LETTER_OR_DIGIT}|[-._:/])*")),
    ("integer", re.compile(r"[-+]?(?:0x[0-9a-fA-F]+|[0-9]+)[a-zA-Z]*")),
    ("real", re.compile(r"[-+]?[0-9]*\.[0-9]*(?:[Ee][-+]?[0-9]+)?")),
    ("equals", re.compile(r"=")),
)
_VALUE_KINDS = frozenset({"id", "qualified_id", "string", "unquoted", "integer", "real"})
_BLANK = re.compile(r"[ \t\r]*")
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


# --------------------------------------------------------------------------- values


def _quote_string(text: str) -> str:
    if any(c in text for c in "\n\r\0"):
        raise ValueError(f"postgresql.conf values cannot contain line breaks or NUL: {text!r}")
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:  # PostgreSQL's REAL needs a dot: 1e-05 -> 1.0e-05
        text = f"{mantissa}.0e{exponent}"
    return text


def quote_value(value: Value) -> str:
    """A Python value as postgresql.conf text.

    bool -> on/off; int/float -> bare number; str -> single-quoted (``'`` doubled,
    ``\\`` escaped); list/tuple of str -> one quoted comma-joined string
    (``['localhost', '172.17.0.1']`` -> ``'localhost,172.17.0.1'``).
    ValueError on line breaks/NUL, TypeError on other types.
    """
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return _quote_string(value)
    if isinstance(value, list | tuple):
        if not all(isinstance(item, str) and item for item in value):
            raise TypeError(f"list values must be non-empty strings: {value!r}")
        return _quote_string(",".join(value))
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to postgresql.conf")


def unquote_value(raw: str) -> str:
    """The value PostgreSQL sees for raw text from the file (quotes and escapes removed)."""
    if not raw.startswith("'"):
        return raw
    if len(raw) < 2 or not raw.endswith("'"):
        raise ValueError(f"unterminated quoted value: {raw!r}")
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            i += 1
            c = body[i]
            if c in "01234567":
                digits = re.match(r"[0-7]{1,3}", body[i:]).group()  # type: ignore[union-attr]
                out.append(chr(int(digits, 8) & 0xFF))
                i += len(digits)
                continue
            out.append(_ESCAPES.get(c, c))
        elif c == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 1
        else:
            out.append(c)
        i += 1
    return "".join(out)


# --------------------------------------------------------------------------- writing


def check_name(name: str) -> str:
    """A setting name we are willing to write; ValueError otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"invalid setting name {name!r}: expected a lowercase identifier like "
            "'shared_buffers' or 'pg_stat_statements.max'"
        )
    if name in DIRECTIVES:
        raise ValueError(f"{name!r} is a directive, not a setting")
    return name


def _setting_lines(settings: Mapping[str, Value]) -> list[str]:
    return [f"{check_name(name)} = {quote_value(settings[name])}" for name in sorted(settings)]


_WRITER_PREFIX = "# Environment: "


def _writer_lines(environment: str | None) -> list[str]:
    """The line recording which environment wrote the server settings (they are the
    server's, one file for every environment on the host)."""
    if environment is None:
        return []
    if any(c in environment for c in "\r\n\0"):
        raise ValueError(f"environment must be one line: {environment!r}")
    return [_WRITER_PREFIX + environment]


def written_by(managed: str | None) -> str | None:
    """The environment recorded in a drop-in or managed block (None: not recorded)."""
    for line in split_lines(managed or ""):
        if line.startswith(_WRITER_PREFIX):
            return line[len(_WRITER_PREFIX):].strip() or None
    return None


def render_dropin(
    settings: Mapping[str, Value],
    source: str = "group_data (pg_listen_addresses, pg_settings)",
    environment: str | None = None,
) -> str:
    """A conf.d drop-in: header comment (managed; ``source``; the ``environment`` that
    wrote it), ``name = value`` sorted by name."""
    if any(c in source for c in "\r\n\0"):
        raise ValueError(f"source must be one line: {source!r}")
    header = [
        "# Managed by hatchet-owlclaw deploy: do not edit, the next run overwrites changes.",
        f"# Source: {source}",
        *_writer_lines(environment),
    ]
    return "".join(line + "\n" for line in header + _setting_lines(settings))


def apply_managed_lines(
    text: str, settings: Mapping[str, Value], environment: str | None = None
) -> str:
    """postgresql.conf text with a managed block holding ``settings`` (first, a line
    naming the ``environment`` that wrote it).

    The block is appended at the end (the last setting wins), rewritten in place
    on later runs and removed when ``settings`` is empty; other bytes are kept.
    """
    lines = _setting_lines(settings)
    return splice_block(text, [*_writer_lines(environment), *lines] if lines else [], len)


# --------------------------------------------------------------------------- reading


def _next_token(line: str, pos: int) -> tuple[str, str, int]:
    """(kind, text, end) of the token at ``pos``; kind "eol" at end of line or comment."""
    pos = _BLANK.match(line, pos).end()  # type: ignore[union-attr]
    if pos >= len(line) or line[pos] in "#\n":
        return "eol", "", len(line)
    best = ("error", line[pos], pos + 1)
    longest = pos
    for kind, pattern in _TOKENS:
        match = pattern.match(line, pos)
        if match and match.end() > longest:  # strictly longer: the earlier rule wins ties
            best, longest = (kind, match.group(), match.end()), match.end()
    return best


def _parse_line(line: str, lineno: int) -> tuple[str, str] | None:
    """(lowercased name, raw value) of an active line, None if blank or comment."""
    kind, name, pos = _next_token(line, 0)
    if kind == "eol":
        return None
    if kind not in ("id", "qualified_id"):
        raise ValueError(f"postgresql.conf line {lineno}: syntax error near {name!r}")
    kind, value, pos = _next_token(line, pos)
    if kind == "equals":
        kind, value, pos = _next_token(line, pos)
    if kind not in _VALUE_KINDS:
        raise ValueError(f"postgresql.conf line {lineno}: missing or bad value for {name!r}")
    kind, extra, _ = _next_token(line, pos)
    if kind != "eol":
        raise ValueError(f"postgresql.conf line {lineno}: unexpected {extra!r} after value")
    return name.lower(), value


def _active_lines(text: str) -> list[tuple[int, str, str]]:
    return list(_active_lines_of(text))


@functools.lru_cache(maxsize=64)
def _active_lines_of(text: str) -> tuple[tuple[int, str, str], ...]:
    # Cached: a run asks about the same postgresql.conf several times per host, and every
    # host of a fleet usually has the same one (~900 lines to tokenize each time).
    found = []
    for lineno, line in enumerate(split_lines(text), start=1):
        parsed = _parse_line(line, lineno)
        if parsed is not None:
            found.append((lineno, *parsed))
    return tuple(found)


def parse_conf(text: str) -> list[tuple[int, str, str]]:
    """Active settings as (line number, lowercased name, raw value text), in order.

    Include directives are left out (see :func:`include_dirs`). ValueError names a
    line PostgreSQL could not parse.
    """
    return [entry for entry in _active_lines(text) if entry[1] not in DIRECTIVES]


def conf_values(text: str | None) -> dict[str, str]:
    """Every setting in ``text``, name -> value as PostgreSQL reads it (the last line wins)."""
    return {name: unquote_value(raw) for _, name, raw in parse_conf(text or "")}


def include_dirs(text: str) -> list[str]:
    """The directories of active ``include_dir`` directives, unquoted, in order."""
    return [unquote_value(raw) for _, name, raw in _active_lines(text) if name == "include_dir"]


def managed_part(text: str) -> str:
    """The lines inside the managed block (markers excluded); "" without a block."""
    lines = split_lines(text)
    span = find_block(lines)
    return "" if span is None else "".join(lines[span[0] + 1 : span[1]])


def overridden_after_block(text: str) -> list[tuple[int, str, str]]:
    """Active settings after the managed block that override a setting inside it."""
    span = find_block(split_lines(text))
    if span is None:
        return []
    settings = parse_conf(text)
    managed = {name for lineno, name, _ in settings if span[0] < lineno - 1 < span[1]}
    return [entry for entry in settings if entry[0] - 1 > span[1] and entry[1] in managed]

