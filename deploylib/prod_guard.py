"""Prod guard: a prod run that would change something needs an explicit confirmation (host code:
imports pyinfra's DeployError and deploylib.pyinfra_compat for the plan and the CLI's parameters).

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

import os
from dataclasses import dataclass

from pyinfra.api.exceptions import DeployError

from . import pyinfra_compat

CONFIRM_ENV = "CONFIRM_PROD"


class ProdNotConfirmed(DeployError):
    """A prod run would change something and nobody confirmed it: nothing was executed."""


@dataclass
class RunMode:
    yes: bool  # -y: execute without pyinfra's prompt
    dry: bool  # --dry: plan only
    json_output: bool  # --json without -y: plan only, no prompt


def run_mode() -> RunMode:
    """How the pyinfra CLI was invoked (captured while the inventory loaded); unknown counts
    as -y (the guard applies)."""
    cli = pyinfra_compat.captured_cli()
    if cli is None:
        return RunMode(yes=True, dry=False, json_output=False)
    return RunMode(yes=cli.yes, dry=cli.dry, json_output=cli.json_output)


def will_execute_unprompted(mode: RunMode) -> bool:
    """True when pyinfra would go from the plan straight to executing it."""
    return mode.yes and not mode.dry


# The spellings of CONFIRM_PROD people use; anything else is named back, never guessed at.
CONFIRM_YES = frozenset({"yes", "y", "true", "on", "1"})
CONFIRM_NO = frozenset({"", "no", "n", "false", "off", "0"})


def confirmed(confirm_prod: bool, environ=os.environ) -> bool:
    return bool(confirm_prod) or environ.get(CONFIRM_ENV, "").strip().lower() in CONFIRM_YES


def unrecognised_confirmation(environ=os.environ) -> str | None:
    """A sentence when CONFIRM_PROD holds something that is neither a yes nor a no."""
    value = environ.get(CONFIRM_ENV, "")
    if value.strip().lower() in CONFIRM_YES | CONFIRM_NO:
        return None
    return f"{CONFIRM_ENV}={value!r} is not a confirmation: use {CONFIRM_ENV}=yes."


def refusal(
    environment: str,
    host_name: str,
    mode: RunMode,
    is_confirmed: bool,
    changes: list[str],
    entry_point: str,
    note: str | None = None,
    announcements: list[str] = (),
    diffs: list[str] = (),
) -> str | None:
    """The message to stop with, or None when the run may go on (pure). ``note``: a line
    said first (e.g. an unrecognised CONFIRM_PROD value); ``announcements``: what the
    plan will do in the operator's words (deploylib/announce.py); ``diffs``: the masked
    diff lines of the managed files it changes (deploylib/show_diff.py)."""
    if environment != "prod" or is_confirmed or not changes or not will_execute_unprompted(mode):
        return None
    plan = "\n".join(f"      - {name}" for name in changes)
    if announcements:
        plan += "\n    That is:\n" + "\n".join(f"      - {sentence}" for sentence in announcements)
    if diffs:
        plan += "\n    Files it changes (secrets masked):\n" + "\n".join(f"      {line}" for line in diffs)
    return (
        f"prod guard: {host_name}: {len(changes)} operation(s) would change this prod host:\n"
        + (f"    {note}\n" if note else "")
        + f"{plan}\n"
        "    Nothing was executed on any host. Next: review the plan "
        f"(pyinfra inventory/prod.py {entry_point} --dry --diff), then confirm with one of\n"
        f"      {CONFIRM_ENV}=yes pyinfra -y inventory/prod.py {entry_point}\n"
        f"      pyinfra -y inventory/prod.py {entry_point} --data confirm_prod=True\n"
        f"      pyinfra inventory/prod.py {entry_point}   (no -y: confirm at pyinfra's prompt)"
    )


def pending_changes(state, host) -> list[str]:
    """Names of this host's planned operations that would change something (pyinfra's own
    change detection: its answer without -y, the operation's commands created now with -y)."""
    return [
        pyinfra_compat.operation_names(state, op_hash)
        for op_hash, op_data in pyinfra_compat.planned_operations(state, host)
        if pyinfra_compat.will_change(op_data)
    ]
