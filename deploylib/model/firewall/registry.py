"""The firewall backend protocol and the one list of backends (pure: no pyinfra; only this package).

A backend is a module with the attributes of ``FirewallBackend``: detect (a
snippet of the host fact's script and a rank for ``auto``), read (the script of
its state fact and its parser), plan (state + host facts + wanted state ->
commands). The host side (``deploylib.facts.firewall``,
``deploylib.operations.firewall``, ``tasks/firewall.py``) and the configuration's
allowed ``firewall_backend`` values are built from ``BACKENDS``: a new backend is
one new module here plus its entry below.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Protocol

from . import firewalld, nftables, ufw
from .common import FirewallInfo, Plan, Wanted


class FirewallBackend(Protocol):
    NAME: str  # the `firewall_backend` value
    TOOL: str  # the command detection looks for (its tag in the FirewallHost fact)
    PACKAGE: str | None  # the Debian package the deploy installs for it (None: never installs it)
    DETECT_SCRIPT: str  # shell printing `<tool>[\t<status>]` lines into the FirewallHost fact
    READ_SCRIPT: str  # shell printing its state as tagged lines (the FirewallState fact)
    # Cheap enough to read before `auto` has chosen (bundled with the run's other facts).
    READ_BEFORE_CHOICE: bool

    def detect(self, fw: FirewallInfo) -> int | None:
        """Rank for `auto` (lowest wins) on this host, None when it cannot be used."""

    def parse_state(self, lines: list[str]) -> Any:
        """READ_SCRIPT's output -> the state `plan` takes."""

    def plan(self, state: Any, fw: FirewallInfo, wanted: Wanted) -> Plan:
        """The commands from `state` to `wanted` (none when it is there); raises
        FirewallPlanError when that cannot be done safely."""


# In the order `firewall_backend`'s documentation and error messages list them.
BACKENDS: tuple[ModuleType, ...] = (ufw, firewalld, nftables)

BY_NAME: dict[str, FirewallBackend] = {backend.NAME: backend for backend in BACKENDS}

# The values `firewall_backend` accepts.
CHOICES = ("auto", *BY_NAME, "none")


def get(name: str) -> FirewallBackend:
    return BY_NAME[name]


def packages() -> list[str]:
    """Every package the deploy may install for some backend."""
    return [backend.PACKAGE for backend in BACKENDS if backend.PACKAGE]


def prefetched(wanted: str) -> list[str]:
    """The backends whose state a run reads with its first remote command: the configured
    one, or for "auto" those cheap to read on the chance detection chooses them."""
    if wanted == "none":
        return []
    if wanted != "auto":
        return [wanted]
    return [backend.NAME for backend in BACKENDS if backend.READ_BEFORE_CHOICE]


def tools() -> list[str]:
    """The commands `auto` looks for, in registry order."""
    return [backend.TOOL for backend in BACKENDS]


def detect_script() -> str:
    """The backends' detection snippets, in registry order (for the FirewallHost fact)."""
    return "".join(backend.DETECT_SCRIPT for backend in BACKENDS)


def choose_backend(wanted: str, fw: FirewallInfo) -> str:
    """The backend to manage: the configured one, or for "auto" what the host uses.

    auto: the lowest rank a backend's ``detect`` gives (an active ufw, else a running
    firewalld, else an installed ufw (the Debian/Ubuntu tool, maybe still off), else
    plain nftables), else "none".
    """
    if wanted != "auto":
        return wanted
    ranked = [(rank, backend.NAME) for backend in BACKENDS if (rank := backend.detect(fw)) is not None]
    return min(ranked)[1] if ranked else "none"
