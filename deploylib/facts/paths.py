"""Several files and directories described by one remote command (host code: a pyinfra fact)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra.api import FactBase

from ..model import shell
from ..model.tagged import Tagged


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
        return shell.script("paths_state", *paths) if paths else "true"

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output: list[str]) -> dict[str, PathState]:
        return parse_paths(output)


def parse_paths(lines: list[str]) -> dict[str, PathState]:
    """Lines "kind\t<kind>\t<path>", "meta\t<user> <group> <mode>\t<path>" (the path
    last: whatever it holds stays in it) and sha256sum's "<hex>  <path>" -> {path: PathState}."""
    kinds: dict[str, str] = {}
    metas: dict[str, tuple[str, str, str]] = {}
    digests: dict[str, str] = {}
    for line in lines:
        item = Tagged.parse(line)
        if item.tag == "kind":
            kind, path = item.fields(2)
            kinds[path] = kind
        elif item.tag == "meta":
            owner_group_mode, path = item.fields(2)
            user, group, mode = owner_group_mode.split()
            metas[path] = (user, group, mode)
        elif len(line) > 66 and line[64:66] == "  ":
            digests[line[66:]] = line[:64]
    return {
        path: PathState(kind, *metas[path], digests.get(path) if kind == "file" else None)
        for path, kind in kinds.items()
        if path in metas
    }


class DumpFile(FactBase):
    """
    Returns what ``path`` is for a restore: ``ok`` (a readable pg_dump custom-format
    archive: it starts with PGDMP), ``missing``, ``not a file``, ``empty``,
    ``unreadable`` or ``not a dump``.
    """

    def command(self, path: str = "") -> str:
        f = shlex.quote(path)
        return (
            f"if [ ! -e {f} ]; then echo missing; elif [ ! -f {f} ]; then echo 'not a file'; "
            f"elif [ ! -s {f} ]; then echo empty; elif [ ! -r {f} ]; then echo unreadable; "
            f"elif [ \"$(head -c 5 {f})\" != PGDMP ]; then echo 'not a dump'; else echo ok; fi"
        )

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else "missing"
