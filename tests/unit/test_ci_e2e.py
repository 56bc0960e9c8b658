"""CI must fail, not pass green with zero end-to-end tests, when they cannot run there."""

import os
import subprocess
import sys

from tests.conftest import REPO

# pytest run in-process with a non-root euid: the e2e conftest's real hook decides.
AS_NON_ROOT = """
import os, sys, pytest
os.geteuid = lambda: 1000
sys.exit(pytest.main(["-p", "no:cacheprovider", "-q", "-rs", "tests/e2e/test_foundation.py"]))
"""


def run_as_non_root(ci: str | None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        environ["CI"] = ci
    return subprocess.run(
        [sys.executable, "-c", AS_NON_ROOT], cwd=REPO, env=environ, capture_output=True, text=True,
        timeout=120,
    )


def test_ci_without_root_fails_with_the_reason():
    proc = run_as_non_root("true")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "end-to-end tests need root" in output and "CI is set" in output, output


def test_outside_ci_without_root_skips_with_the_reason():
    proc = run_as_non_root(None)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "skipped" in output and "end-to-end tests need root" in output, output


def test_ci_false_is_not_ci():
    proc = run_as_non_root("false")
    assert proc.returncode == 0, proc.stdout + proc.stderr
