"""docs/RUNBOOK.md stays true: every command names a real entry point, inventory and key,
and every test it cites exists (those tests run the commands against sandbox hosts)."""

import re
import shlex
from pathlib import Path

from deploylib.config import PASSTHROUGH_PREFIXES, SCHEMA

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = (REPO / "docs" / "RUNBOOK.md").read_text()


def pyinfra_commands():
    for line in RUNBOOK.splitlines():
        stripped = line.strip()
        if ".venv/bin/pyinfra " in stripped and not stripped.startswith("*"):
            yield shlex.split(stripped.replace("<env>", "staging"))


def test_runbook_has_commands():
    assert len(list(pyinfra_commands())) >= 8


def test_every_command_names_real_files_and_keys():
    for argv in pyinfra_commands():
        start = next(i for i, a in enumerate(argv) if a.endswith("pyinfra"))
        positional = [a for a in argv[start + 1:] if not a.startswith("-") and "=" not in a]
        inventory, entry = positional[0], positional[1]
        assert (REPO / inventory).is_file(), inventory
        assert entry in ("deploy.py", "bootstrap.py", "restore.py"), entry
        assert (REPO / entry).is_file(), entry
        for index, arg in enumerate(argv):
            if arg == "--data":
                key = argv[index + 1].split("=", 1)[0]
                assert key in SCHEMA or key.startswith(PASSTHROUGH_PREFIXES), key


def test_every_cited_test_exists():
    cited = re.findall(r"`(tests/e2e/[a-z_]+\.py)(?:::([a-z_]+))?`", RUNBOOK)
    assert len(cited) >= 10
    for path, name in cited:
        text = (REPO / path).read_text()
        if name:
            assert f"def {name}(" in text, f"{path}::{name}"


def test_stale_lock_clearing_command_is_the_one_runs_print():
    from deploylib import run_lock

    printed = run_lock.clear_command(run_lock.ssh_target("db1.example.com", "deploy", 22))
    assert re.search(rf"^ +{re.escape(printed)}$", RUNBOOK, re.MULTILINE), printed
