"""Prod guard, the decision: whether a prod run that would change something is confirmed, and the
message that stops it, from the run's mode, the environment and the plan (pure: may import only the
model; deploylib/prod_guard.py reads the CLI and the plan)."""

from __future__ import annotations

import os
from dataclasses import dataclass

CONFIRM_ENV = "CONFIRM_PROD"


@dataclass
class RunMode:
    yes: bool  # -y: execute without pyinfra's prompt
    dry: bool  # --dry: plan only
    json_output: bool  # --json without -y: plan only, no prompt


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
