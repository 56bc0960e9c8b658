"""Several files and directories described by one remote command."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase


@dataclass(frozen=True)
class PathState:
    kind: str  # "file", "directory", "other"
    user: str
    group: str
    mode: str  # octal, as stat %a prints it ("600", "2750")
    sha256: str | None  # files only


class PathsState(FactBase):
    """
    Returns ``{path: PathState | None}`` for every path asked for (None: absent):
    its type, owner, group, mode and, for a regular file, the SHA-256 of its
    content. pyinfra's own file facts take a command per question; the deploy
    asks this once per host.
    """

    def command(self, paths=()) -> str:
        checks = []
        for path in paths:
            q = shlex.quote(path)
            checks.append(
                f"if [ -d {q} ]; then printf '%s\\tdirectory\\t%s\\n' {q} \"$(stat -c '%U %G %a' {q})\"; "
                f"elif [ -f {q} ]; then printf '%s\\tfile\\t%s\\t%s\\n' {q} \"$(stat -c '%U %G %a' {q})\" "
                f"\"$(sha256sum {q} | cut -d' ' -f1)\"; "
                f"elif [ -e {q} ]; then printf '%s\\tother\\t%s\\n' {q} \"$(stat -c '%U %G %a' {q})\"; fi"
            )
        return "; ".join(checks) + "; true"

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output: list[str]) -> dict[str, PathState]:
        return parse_paths(output)


def parse_paths(lines: list[str]) -> dict[str, PathState]:
    found = {}
    for line in lines:
        path, kind, owner_group_mode, *rest = line.split("\t")
        user, group, mode = owner_group_mode.split()
        found[path] = PathState(kind, user, group, mode, rest[0] if rest else None)
    return found
