"""The plausible bugs of issue 18, each applied alone: the unit tests must fail on every one;
the file is restored right after. Run from the repository root:

    .venv/bin/python tests/mutation/known_bugs.py [index ...]
"""

import pathlib
import subprocess
import sys

# (file, text, the bug that replaces it)
BUGS = [
    ("deploylib/model/scram.py", "iterations=int(iterations_text))", "iterations=DEFAULT_ITERATIONS)"),
    ("deploylib/model/scram.py", "if method != SCRAM_SHA_256 or not", "if not"),
    ("deploylib/model/compose.py", '.replace(\'"\', \'\\\\"\').replace("$", "$$")',
     '.replace(\'"\', \'\\\\"\')'),
    ("deploylib/model/compose.py", ".replace('\"', '\\\\\"')", ""),
    ("deploylib/model/compose.py", 'value.replace("\\\\", "\\\\\\\\")', "value"),
    ("deploylib/model/pg_sql.py", 'if grantees is None or "" in grantees:', "if grantees is None:"),
    ("deploylib/model/pg_sql.py", '    "rolbypassrls": ("BYPASSRLS", "NOBYPASSRLS", False),\n', ""),
    ("deploylib/model/firewall/common.py", 'self.address.strip("[]").split("%", 1)[0]',
     'self.address.split("%", 1)[0]'),
    ("deploylib/model/firewall/common.py", "if not item.loopback and", "if"),
    ("deploylib/model/pg_hba.py", 'return (earlier.address or "").lower() == (managed.address or "").lower()',
     "return earlier.address == managed.address"),
    ("deploylib/model/config.py", 'if settings.pg_hba_auth_method != "scram-sha-256":',
     'if settings.environment == "staging" and settings.pg_hba_auth_method != "scram-sha-256":'),
    ("deploylib/model/config.py", "if settings.restore_drop_old and not settings.restore_swap:", "if False:"),
    ("deploylib/model/config.py", "if settings.app_repo and settings.app_local_dir:", "if False:"),
    ("deploylib/model/config.py", "if mode & 0o077:", "if mode & 0o007:"),
    ("group_data/prod.py", "pg_allow_restart = False", "pg_allow_restart = True"),
    ("group_data/prod.py", "firewall_enable = True", "firewall_enable = False"),
    ("restore.py", 'local.include("tasks/prod_guard.py")', "pass"),
    ("bootstrap.py", 'local.include("tasks/prod_guard.py")', "pass"),
    ("deploy.py", 'local.include("tasks/prod_guard.py")', "pass"),
    ("deploylib/operations/app.py", "if checkout.tracked_changes:", "if False:"),
    ("deploylib/operations/app.py", "'git checkout -q --detach", "'git checkout -q -f --detach"),
    ("deploylib/operations/app.py", "/health: starting|unhealthy/", "/health: starting/"),
    ("deploylib/operations/app.py", '[ "$good" -ge 2 ]', '[ "$good" -ge 1 ]'),
]
TESTS = ["tests/unit/test_known_bugs.py", "tests/unit/test_properties.py"]


def main(only: list[str]) -> int:
    missed = 0
    for index, (name, text, bug) in enumerate(BUGS):
        if only and str(index) not in only:
            continue
        path = pathlib.Path(name)
        original = path.read_text()
        if original.count(text) != 1:
            print(f"[{index}] NOT FOUND in {name}: {text!r}")
            missed += 1
            continue
        path.write_text(original.replace(text, bug))
        try:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *TESTS],
                capture_output=True, text=True,
            )
        finally:
            path.write_text(original)
        caught = run.returncode != 0
        missed += not caught
        summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
        verdict = "caught" if caught else "MISSED"
        print(f"[{index}] {verdict}  {name}: {text[:50]!r} -> {bug[:30]!r}  ({summary})")
    print(f"{missed} missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
