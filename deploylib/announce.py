"""What a run will do and what it did, per host, in the operator's words (host code: imports
pyinfra's commands and deploylib.pyinfra_compat for the plan).

pyinfra's plan says "PostgreSQL 17/main settings (postgresql.conf) 1 (host)" whether the
run reloads or restarts PostgreSQL. Operations whose effect matters to the people using
the host (a restart, a password rotated, packages installed, containers recreated) say
it here instead, in two tenses:

- ``will(host, sentence)`` while the operation decides (before its first command): the
  plan, printed per host once every operation is planned (``print_plan``), and listed by
  the prod guard;
- ``yield did(host, sentence)`` as the operation's last command: recorded only when every
  command before it succeeded, so the end-of-run summary never tells of something that did
  not happen (a --dry run, a failed or refused run).

``once(message)`` says something once per run, whatever the number of hosts (a default in
use that matters). Everything is printed on stderr: stdout stays pure JSON with --json.
"""

from __future__ import annotations

import atexit
import sys

from pyinfra.api import FunctionCommand

from . import pyinfra_compat

_planned: dict[str, list[str]] = {}  # host name -> "restart PostgreSQL 17/main for ..."
_done: dict[str, list[str]] = {}  # host name -> "restarted PostgreSQL 17/main for ..."
_once: list[str] = []
_printed_plan: set[str] = set()
_summary_registered = False


def _append(table: dict[str, list[str]], name: str, sentence: str) -> None:
    lines = table.setdefault(name, [])
    if sentence not in lines:  # generators run at planning and again at execution
        lines.append(sentence)


def will(host, sentence: str) -> None:
    """Record what this host's run will do (call it before the operation's first command)."""
    _append(_planned, host.name, sentence)


def did(host, sentence: str) -> FunctionCommand:
    """A command to yield last: records ``sentence`` for the end-of-run summary when it runs."""
    name = host.name
    return FunctionCommand(_record_done, (name, sentence), {})


def _record_done(name: str, sentence: str) -> None:
    global _summary_registered
    _append(_done, name, sentence)
    if not _summary_registered:
        _summary_registered = True
        atexit.register(print_summary)


def did_with_report(host, sentence: str, report_command: str) -> FunctionCommand:
    """Like ``did``, and the summary also shows the lines ``report_command`` prints on the
    host then (run with the operation's own connection arguments: sudo...)."""
    from pyinfra.api import StringCommand

    op_hash = pyinfra_compat.current_operation_hash(host)

    def record(state, host) -> None:
        op_data = state.get_op_data_for_host(host, op_hash)
        arguments = pyinfra_compat.connector_arguments(op_data.global_arguments)
        ok, output = host.run_shell_command(StringCommand(report_command), **arguments)
        lines = output.stdout_lines if ok else ["(the report could not be read)"]
        lines = [f"      {line}" for line in lines]
        _record_done(host.name, "\n".join([sentence, *lines]))

    return FunctionCommand(record, (), {})


def once(message: str) -> None:
    """Say ``message`` once per run (at the first host's plan)."""
    if message not in _once:
        _once.append(message)


def planned(state, host) -> list[str]:
    """This host's announcements, once every operation is planned. With -y (or --dry
    without changes checks) pyinfra has not run the operations' generators yet, and with
    change checks it stopped each at its first command: run each one to its end here, as
    pyinfra will at execution (nothing is executed: commands are only created)."""
    for op_hash, op_data in pyinfra_compat.planned_operations(state, host):
        pyinfra_compat.run_commands(host, op_hash, op_data)
    return list(_planned.get(host.name, []))


def plan_text(host_name: str, sentences: list[str], once_messages: list[str]) -> str:
    """The block printed after planning (pure)."""
    lines = [f"--> Planned on {host_name}:"]
    lines += [f"    {s}" for s in sentences] or ["    nothing disruptive"]
    lines += [f"    note: {m}" for m in once_messages]
    return "\n".join(lines)


def print_plan(state, host) -> list[str]:
    """Print this host's plan (once per run and host); returns its sentences."""
    sentences = planned(state, host)
    if host.name not in _printed_plan:
        _printed_plan.add(host.name)
        said = [m for m in _once if m not in _once_said]
        _once_said.update(said)
        if sentences or said:
            print(plan_text(host.name, sentences, said), file=sys.stderr)
    return sentences


_once_said: set[str] = set()


def summary_text(done: dict[str, list[str]]) -> str:
    """The end-of-run summary (pure)."""
    lines = ["--> Done:"]
    for name, sentences in done.items():
        lines += [f"    [{name}] {s}" for s in sentences]
    return "\n".join(lines)


def print_summary() -> None:
    if _done:
        print("\n" + summary_text(_done), file=sys.stderr)
