"""The end-to-end harness refuses to judge a run it cannot read (no host needed)."""

import subprocess

import pytest

from tests.e2e.harness import DeployResult, UnreadableRun, parse_run_json, probe_answer

RESULTS = (
    '{"plan": [], "results": {"operations": [{"name": "tasks/base.py | Base packages", '
    '"success": ["sbx1"], "error": [], "no_change": []}], "totals": {}, "failed_hosts": []}}'
)


def result(stdout: str, rc: int = 0, dry: bool = False) -> DeployResult:
    return DeployResult(rc, stdout, "", parse_run_json(stdout), dry=dry)


def test_readable_results_are_judged():
    run = result("--> Loading config...\n" + RESULTS + "\n").check_readable()
    assert run.changed == ["Base packages"]
    assert run.failed == []


@pytest.mark.parametrize(
    "stdout",
    ["", "no json at all\n", '{"plan": [], "results": {"operations": [', '{"unrelated": 1}\n',
     '{"plan": [], "results": null}\n'],
)
def test_successful_run_without_readable_results_fails(stdout):
    with pytest.raises(UnreadableRun):
        result(stdout).check_readable()


def test_changed_never_silently_empty():
    failed_run = result("Traceback ...\n", rc=1)
    assert failed_run.check_readable() is failed_run  # a failed run may have no results...
    with pytest.raises(UnreadableRun):
        _ = failed_run.changed  # ...but nobody may read "no changes" from it
    with pytest.raises(UnreadableRun):
        _ = failed_run.failed


def test_dry_run_has_a_plan_but_no_changes_to_judge():
    dry = result('{"plan": [], "results": null}\n', dry=True).check_readable()
    with pytest.raises(UnreadableRun):
        _ = dry.changed


def test_probe_answer_rejects_a_crash():
    crashed = subprocess.CompletedProcess([], 0, "Traceback (most recent call last)\n", "boom")
    with pytest.raises(AssertionError):
        probe_answer(crashed, ("connected", "refused: "))
    ok = subprocess.CompletedProcess([], 0, "connected\n", "")
    assert probe_answer(ok, ("connected", "refused: ")) == "connected"
