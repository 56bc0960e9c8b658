"""Several files and directories described by one remote command (host code: a pyinfra fact)."""

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
        # Shell builtins per path, then one stat and one sha256sum for all of them:
        # process starts are what this costs on a host, on every run.
        quoted = " ".join(shlex.quote(path) for path in paths)
        return (
            f"set --; for p in {quoted}; do "
            "if [ -d \"$p\" ]; then k=directory; elif [ -f \"$p\" ]; then k=file; "
            "elif [ -e \"$p\" ]; then k=other; else continue; fi; "
            "printf 'kind\\t%s\\t%s\\n' \"$p\" \"$k\"; set -- \"$@\" \"$p\"; done; "
            "[ $# -gt 0 ] && stat --printf 'meta\\t%n\\t%U %G %a\\n' -- \"$@\"; "
            "for p in \"$@\"; do shift; [ -f \"$p\" ] && set -- \"$@\" \"$p\"; done; "
            "[ $# -gt 0 ] && sha256sum -- \"$@\"; true"
        ) if paths else "true"

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output: list[str]) -> dict[str, PathState]:
        return parse_paths(output)


def parse_paths(lines: list[str]) -> dict[str, PathState]:
    """Lines "kind\t<path>\t<kind>", "meta\t<path>\t<user> <group> <mode>" and
    sha256sum's "<hex>  <path>" -> {path: PathState}."""
    kinds: dict[str, str] = {}
    metas: dict[str, tuple[str, str, str]] = {}
    digests: dict[str, str] = {}
    for line in lines:
        tag, _, rest = line.partition("\t")
        if tag == "kind":
            path, _, kind = rest.rpartition("\t")
            kinds[path] = kind
        elif tag == "meta":
            path, _, owner_group_mode = rest.rpartition("\t")
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
