"""Show, while planning, the diff of every managed file a run would change (host code).

pyinfra 3's ``--diff`` (``state.config.DIFF``) makes its own ``files`` operations print,
while the operation is planned, ``Will modify <path>`` and the changed lines
(``host.log`` + ``logger.info``). Our operations that write a managed file call
:func:`show` with the file's current text (from their facts, or a callable reading it:
called only when a diff is wanted and the file differs) and the wanted text; the lines
come from the pure ``plan_diff`` (masked) and are printed the same way.

The prod guard lists them too (:func:`diffs`), so they are computed when ``--diff`` is
given or when this host's prod guard would stop the run (prod, -y, not confirmed), and
never while pyinfra executes (the operations' generators run again then). Without either,
nothing is computed, read or printed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pyinfra import logger
from pyinfra.api.output import format_text

from . import prod_guard
from .model import plan_diff
from .model import prod_guard as guard

_diffs: dict[str, dict[str, list[str]]] = {}  # host name -> {what: rendered lines}


def _guard_lists(host) -> bool:
    settings = getattr(host.data, "settings", None)
    if settings is None or getattr(settings, "environment", None) != "prod":
        return False
    return guard.will_execute_unprompted(prod_guard.run_mode()) and not guard.confirmed(
        getattr(settings, "confirm_prod", False)
    )


def wanted(host) -> bool:
    """Is a diff to be computed for this host now (planning, with --diff or a prod guard
    that will list the plan)?"""
    state = host.state
    if state is None or getattr(state, "is_executing", True):
        return False
    return _diff_flag(host) or _guard_lists(host)


def _diff_flag(host) -> bool:
    """pyinfra's --diff."""
    return bool(getattr(getattr(host.state, "config", None), "DIFF", False))


def run_secrets(host) -> list[str]:
    """The run's secret strings (database passwords, app secrets): masked wherever they
    appear in a diff."""
    settings = getattr(host.data, "settings", None)
    if settings is None:
        return []
    values = [*getattr(settings, "secrets", {}).values(), *getattr(settings, "app_secret_values", {}).values()]
    return [secret.reveal() for secret in values]


def _colour(line: str) -> str:
    if line.startswith("  - "):
        return format_text(line, "red")
    if line.startswith("  + "):
        return format_text(line, "green")
    return line


def show(
    host,
    what: str,
    old: str | None | Callable[[], str | None],
    new: str | None,
    kind: str = "text",
    secrets: Iterable[str] = (),
) -> None:
    """Record (and with --diff print) the diff of ``what`` from ``old`` to ``new``
    (None: absent). ``old`` may be a callable: it is called only when a diff is wanted.
    Call it in the operation before its first command."""
    if not wanted(host):
        return
    shown = _diffs.setdefault(host.name, {})
    if what in shown:  # the generator runs at the change check and again for the plan
        return
    if callable(old):
        old = old()
    lines = plan_diff.render(what, old, new, kind, [*run_secrets(host), *secrets])
    if not lines:
        return
    shown[what] = lines
    if _diff_flag(host):
        host.log(format_text(lines[0], bold=True), logger.info)
        for line in lines[1:]:
            logger.info("  %s", _colour(line))
        logger.info("")


GUARD_LINES_PER_FILE = 40  # a created backup script alone is 100 lines


def diffs(host, entry_point: str = "deploy.py") -> list[str]:
    """This host's recorded diff lines (headings and lines), for the prod guard: at most
    GUARD_LINES_PER_FILE per file, the rest left to --dry --diff."""
    more = f"pyinfra inventory/prod.py {entry_point} --dry --diff shows them"
    return [
        line
        for lines in _diffs.get(host.name, {}).values()
        for line in plan_diff.shortened(lines, GUARD_LINES_PER_FILE, more)
    ]
