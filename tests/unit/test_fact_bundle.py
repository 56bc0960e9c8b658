"""FactBundle / prefetch: several facts in one remote command, each answered as if asked alone.

The bundle's shell runs for real here (sh on this machine), with facts whose output
ends with and without a newline, an empty one, one with blank lines, and one that fails.
"""

import subprocess
import types

from pyinfra.api import FactBase

from deploylib import facts
from deploylib.facts import FactBundle, prefetch, split_bundle


class Echo(FactBase):
    def command(self, text="") -> str:
        return f"printf '%b' '{text}'"

    def process(self, output):
        return list(output)

    @staticmethod
    def default():
        return "default"


class Fails(FactBase):
    def command(self) -> str:
        return "echo partial; exit 3"

    def process(self, output):
        return list(output)


class NeedsCommand(Echo):
    def requires_command(self, **kwargs):
        return "something"


def pyinfra_lines(stdout: str) -> list[str]:
    """Lines as pyinfra's connectors split a command's stdout."""
    return [line.rstrip("\n") for line in stdout.splitlines(keepends=True)]


def run(command: str, check: bool = True):
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=check)
    return pyinfra_lines(proc.stdout)


ECHOES = ["a\\nb\\n", "no newline", "", "x\\n\\n", "\\n"]


def test_each_part_equals_the_fact_asked_alone():
    bundled = facts.BundledFacts((Echo, {"text": text}) for text in ECHOES)
    parts = split_bundle(run(FactBundle().command(facts=bundled)))
    assert [status for status, _ in parts] == [0] * len(ECHOES)
    for (_, lines), text in zip(parts, ECHOES):
        assert lines == run(Echo().command(text=text)), text
    assert str(bundled) == "Echo, Echo, Echo, Echo, Echo"


def test_a_failing_part_reports_its_status_and_the_rest_goes_on():
    bundled = facts.BundledFacts([(Fails, {}), (Echo, {"text": "after\\n"})])
    assert split_bundle(run(FactBundle().command(facts=bundled))) == [(3, ["partial"]), (0, ["after"])]


class LocalHost:
    """Just enough of a pyinfra host: get_fact runs the fact's command with sh here
    (a failing command stands for pyinfra's own handling of a failed fact)."""

    def __init__(self):
        self.name, self.state, self.asked = "local-test", types.SimpleNamespace(), []

    def get_fact(self, fact_cls, **kwargs):
        self.asked.append(fact_cls)
        try:
            lines = run(fact_cls().command(**kwargs))
        except subprocess.CalledProcessError as error:
            return f"pyinfra's failed-fact handling (exit {error.returncode})"
        return fact_cls().process(lines) if lines else fact_cls.default()


def test_prefetch_answers_cached_fact_and_leaves_failures_to_be_asked_alone():
    host = LocalHost()
    prefetch(host, [(Echo, {"text": "one\\n"}), (Echo, {"text": ""}), (Fails, {}), (NeedsCommand, {})])
    assert host.asked == [FactBundle]  # one remote command; NeedsCommand not bundled
    assert facts.cached_fact(host, Echo, text="one\\n") == ["one"]
    assert facts.cached_fact(host, Echo, text="") == "default"  # no output: the fact's default
    assert host.asked == [FactBundle]
    assert facts.cached_fact(host, Fails) == "pyinfra's failed-fact handling (exit 3)"
    assert host.asked == [FactBundle, Fails]
