"""A marked block in a text file the deploy shares with others (pure: imports nothing).

The deploy owns the lines between a BEGIN and an END marker line and nothing else: every
other byte of the file is kept. Used by pg_hba.conf (one block per environment, tagged)
and postgresql.conf (one untagged block); anything else with a marked block uses it too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

# A BEGIN/END line is recognised by its prefix, optionally followed by " (<tag>)": the
# environment that owns the block (staging and prod may share one pg_hba.conf, each with
# its own block). Text after that (a reworded suffix) does not matter.
BEGIN_PREFIX = "# BEGIN managed by hatchet-owlclaw deploy"
END_PREFIX = "# END managed by hatchet-owlclaw deploy"
_EDIT_NOTE = "(do not edit inside this block)"
# The untagged markers: postgresql.conf's block (server-wide), and pg_hba blocks written
# before blocks carried an environment.
BEGIN_MARKER = f"{BEGIN_PREFIX} {_EDIT_NOTE}"
END_MARKER = END_PREFIX
TAG_RE = re.compile(r"[a-z][a-z0-9_-]*")
_MARKER_RE = re.compile(
    rf"(?P<kind>{re.escape(BEGIN_PREFIX)}|{re.escape(END_PREFIX)})"
    rf"(?: \((?P<tag>{TAG_RE.pattern})\))?(?:\s.*)?"
)


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping the endings: ``"".join(split_lines(t)) == t``."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def markers(tag: str | None = None) -> tuple[str, str]:
    """(BEGIN line, END line) of the block owned by ``tag`` (None: the untagged block)."""
    if tag is None:
        return BEGIN_MARKER, END_MARKER
    if not TAG_RE.fullmatch(tag):
        raise ValueError(f"block tag {tag!r}: expected a lowercase word such as 'prod'")
    return f"{BEGIN_PREFIX} ({tag}) {_EDIT_NOTE}", f"{END_PREFIX} ({tag})"


@functools.lru_cache(maxsize=8192)  # every line of postgresql.conf, several times per host
def marker_of(line: str) -> tuple[str, str | None] | None:
    """("BEGIN" or "END", tag or None) when ``line`` is a block marker, else None."""
    match = _MARKER_RE.fullmatch(line.strip())
    if not match:
        return None
    return ("BEGIN" if match["kind"] == BEGIN_PREFIX else "END"), match["tag"]


def _label(tag: str | None) -> str:
    return f"({tag}) " if tag else "(untagged) "


def find_blocks(lines: Sequence[str]) -> dict[str | None, tuple[int, int]]:
    """Every managed block: tag (None: untagged) -> indexes of its BEGIN and END lines.

    ValueError for BEGIN without END, END without its BEGIN, a BEGIN inside a
    block, or two blocks with the same tag.
    """
    blocks: dict[str | None, tuple[int, int]] = {}
    open_tag: str | None = None
    open_at: int | None = None
    for i, line in enumerate(lines):
        marker = marker_of(line)
        if marker is None:
            continue
        kind, tag = marker
        if kind == "BEGIN":
            if open_at is not None:
                raise ValueError(
                    f"managed block markers: second BEGIN marker on line {i + 1} "
                    f"(the {_label(open_tag)}block opened on line {open_at + 1} has no END yet); "
                    "keep exactly one block per environment"
                )
            if tag in blocks:
                raise ValueError(
                    f"managed block markers: second BEGIN marker on line {i + 1} "
                    f"(the {_label(tag)}block's first on line {blocks[tag][0] + 1}); "
                    "keep exactly one block per environment"
                )
            open_tag, open_at = tag, i
        else:
            if open_at is None or tag != open_tag:
                raise ValueError(
                    f"managed block markers: {_label(tag)}END marker on line {i + 1} "
                    f"without a BEGIN before it"
                )
            blocks[tag] = (open_at, i)
            open_tag, open_at = None, None
    if open_at is not None:
        raise ValueError(
            f"managed block markers: {_label(open_tag)}BEGIN marker on line {open_at + 1} has no END"
        )
    return blocks


def find_block(lines: Sequence[str], tag: str | None = None) -> tuple[int, int] | None:
    """Indexes of the BEGIN and END lines of ``tag``'s block, None if there is none.

    Another tag's block is foreign text. With a tag and no block of that tag, an
    untagged block (written before blocks carried an environment) is this one:
    the first tagged run takes it over. ValueError as :func:`find_blocks`.
    """
    blocks = find_blocks(lines)
    if tag is not None and tag not in blocks:
        return blocks.get(None)
    return blocks.get(tag)


def newline_of(text: str) -> str:
    """The file's line ending, judged by its first line: "\\r\\n" or "\\n"."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def splice_block(
    text: str,
    body: Sequence[str],
    insert_at: Callable[[list[str]], int],
    tag: str | None = None,
) -> str:
    """Put ``body`` lines between ``tag``'s markers; every other byte of ``text`` is kept
    (other tags' blocks included).

    An existing block is replaced in place; otherwise the block goes before line
    index ``insert_at(lines)``. An empty ``body`` removes the block.
    """
    begin, end = markers(tag)
    lines = split_lines(text)
    span = find_block(lines, tag)
    nl = newline_of(text)
    block = [begin + nl, *(line + nl for line in body), end + nl] if body else []
    if span is not None:
        return "".join(lines[: span[0]] + block + lines[span[1] + 1 :])
    if not block:
        return text
    index = insert_at(lines)
    if index == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += nl
    return "".join(lines[:index] + block + lines[index:])
