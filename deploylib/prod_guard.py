"""Prod guard, the host side: how the CLI was invoked, what the plan changes, the error that stops
the run (host code: imports pyinfra's DeployError and deploylib.pyinfra_compat for the plan and the
CLI's parameters; the decision and its message are model/prod_guard.py).

pyinfra computes the whole plan (every operation of every host) before it
executes anything; this check runs as the last step of that planning, per host.
When pyinfra itself will show the plan and stop at its "Press enter to
execute" prompt (no -y), or will not execute at all (--dry; --json without
-y), the operator confirms there. With -y nothing would stop the run: then a
prod plan with changes needs ``confirm_prod = True`` (``--data
confirm_prod=True``) or ``CONFIRM_PROD=yes``, else the run stops with the plan
before any operation executed, on any host.
"""

from __future__ import annotations

from pyinfra.api.exceptions import DeployError

from . import pyinfra_compat
from .model.prod_guard import RunMode


class ProdNotConfirmed(DeployError):
    """A prod run would change something and nobody confirmed it: nothing was executed."""


def run_mode() -> RunMode:
    """How the pyinfra CLI was invoked (captured while the inventory loaded); unknown counts
    as -y (the guard applies)."""
    cli = pyinfra_compat.captured_cli()
    if cli is None:
        return RunMode(yes=True, dry=False, json_output=False)
    return RunMode(yes=cli.yes, dry=cli.dry, json_output=cli.json_output)


def pending_changes(state, host) -> list[str]:
    """Names of this host's planned operations that would change something (pyinfra's own
    change detection: its answer without -y, the operation's commands created now with -y)."""
    return [
        pyinfra_compat.operation_names(state, op_hash)
        for op_hash, op_data in pyinfra_compat.planned_operations(state, host)
        if pyinfra_compat.will_change(op_data)
    ]
