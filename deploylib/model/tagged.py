"""The facts' output format, read in one place (pure: imports nothing of pyinfra).

The deploy's fact scripts print one item per line, ``<tag>\\t<value>``, the value
itself tab-separated when it has several fields (``printf 'cluster\\t%s\\t%s\\n' ...``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple


class Tagged(NamedTuple):
    """One line: its tag and everything after the tag's tab ("" when there is none)."""

    tag: str
    value: str

    @classmethod
    def parse(cls, line: str) -> Tagged:
        """A line without a tab is a tag with an empty value."""
        tag, _, value = line.partition("\t")
        return cls(tag, value)

    def fields(self, count: int | None = None) -> list[str]:
        """The value split at tabs. With ``count``: exactly that many fields, missing
        ones "" and any further tabs kept in the last field."""
        if count is None:
            return self.value.split("\t")
        found = self.value.split("\t", count - 1) if count > 1 else [self.value]
        return found + [""] * (count - len(found))


def tagged(lines: Iterable[str]) -> Iterator[Tagged]:
    """Each line as a ``Tagged``."""
    return map(Tagged.parse, lines)
