"""When a plan's file diffs are computed and printed (deploylib/show_diff.py)."""

from types import SimpleNamespace

import pytest

from deploylib import pyinfra_compat, show_diff
from deploylib.model.config import Secret


class FakeHost:
    def __init__(self, diff: bool, executing: bool = False, environment: str = "dev", secrets=None,
                 name: str = "db1"):
        self.name = name
        self.state = SimpleNamespace(is_executing=executing, config=SimpleNamespace(DIFF=diff))
        self.data = SimpleNamespace(settings=SimpleNamespace(
            environment=environment, confirm_prod=False, secrets=secrets or {}, app_secret_values={}))
        self.logged: list[str] = []

    def log(self, message, log_func):
        self.logged.append(message)


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(show_diff, "_diffs", {})
    planning_only = pyinfra_compat.CliParameters(yes=False, dry=True, in_cli=True)
    monkeypatch.setattr(pyinfra_compat, "_cli", planning_only)


def never_read():
    raise AssertionError("the current text was read although no diff is wanted")


def test_without_diff_nothing_is_read_recorded_or_printed():
    host = FakeHost(diff=False)
    show_diff.show(host, "/etc/x", never_read, "new\n")
    assert show_diff.diffs(host) == [] and host.logged == []


def test_while_executing_nothing_is_read_again():
    host = FakeHost(diff=True, executing=True)
    show_diff.show(host, "/etc/x", never_read, "new\n")
    assert show_diff.diffs(host) == [] and host.logged == []


def test_with_diff_it_is_printed_once_per_file_masked(caplog):
    host = FakeHost(diff=True, secrets={"hatchet": Secret("correct-horse-battery", "test")})
    reads = []

    def current():
        reads.append(1)
        return "a\n"

    for _ in range(2):  # the change check, then the plan: one read, one print
        show_diff.show(host, "/etc/x", current, "a\nuses correct-horse-battery\n")
    assert reads == [1]
    assert len(host.logged) == 1 and "Will modify /etc/x" in host.logged[0]
    assert show_diff.diffs(host) == ["Will modify /etc/x", "  @@ -1 +1,2 @@", "    a", "  + uses ***"]


def test_the_prod_guard_gets_the_diff_without_the_flag_and_nothing_is_printed():
    pyinfra_compat._cli = pyinfra_compat.CliParameters(yes=True, in_cli=True)  # restored by the fixture
    host = FakeHost(diff=False, environment="prod")
    show_diff.show(host, "/etc/x", "a\n", "b\n")
    assert show_diff.diffs(host)[0] == "Will modify /etc/x" and host.logged == []
    # Confirmed: the guard lists nothing, so nothing is computed.
    confirmed = FakeHost(diff=False, environment="prod", name="db2")
    confirmed.data.settings.confirm_prod = True
    show_diff.show(confirmed, "/etc/x", never_read, "b\n")
    assert show_diff.diffs(confirmed) == []
