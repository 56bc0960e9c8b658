"""docs/RUNBOOK.md, README.md and secrets/README.md stay true: every command names a real
entry point, inventory, key, `./run` and `python -m sandbox` subcommand, the secret names
are the ones each environment reads, and every test they cite exists (those tests run the
commands against sandbox hosts)."""

import re
import shlex
from pathlib import Path

from deploylib.model.config import PASSTHROUGH_PREFIXES, SCHEMA

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = (REPO / "docs" / "RUNBOOK.md").read_text()
README = (REPO / "README.md").read_text()
SECRETS_README = (REPO / "secrets" / "README.md").read_text()
DOCS = {"docs/RUNBOOK.md": RUNBOOK, "README.md": README, "secrets/README.md": SECRETS_README}


def command_lines(text: str):
    """The commands of a document's indented code blocks, comments cut off."""
    for line in text.splitlines():
        if line.startswith("    ") and not line.strip().startswith(("*", "|", "#")):
            yield line.split(" #", 1)[0].strip().rstrip("\\").strip()


def pyinfra_commands(text: str = RUNBOOK):
    for line in command_lines(text):
        words = line.split()
        program = next((w for w in words if "=" not in w), "")
        if program.endswith("pyinfra"):
            yield shlex.split(line.replace("<env>", "staging").replace("<stamp>", "x"))


def test_runbook_has_commands():
    assert len(list(pyinfra_commands())) >= 8


def test_readme_has_commands():
    assert len(list(pyinfra_commands(README))) >= 6


def test_every_command_names_real_files_and_keys():
    for argv in [*pyinfra_commands(RUNBOOK), *pyinfra_commands(README), *pyinfra_commands(SECRETS_README)]:
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


def test_run_and_sandbox_subcommands_exist():
    run_script = (REPO / "run").read_text()
    sandbox_cli = (REPO / "sandbox" / "__main__.py").read_text()
    seen = 0
    for name, text in DOCS.items():
        for line in command_lines(text):
            words = line.split()
            if words[:1] == ["./run"] and len(words) > 1:
                seen += 1
                assert re.search(rf"^ +{re.escape(words[1])}\)", run_script, re.MULTILINE), (name, line)
            if "sandbox" in words and "-m" in words and words.index("sandbox") + 1 < len(words):
                seen += 1
                sub = words[words.index("sandbox") + 1]
                assert f'"{sub}"' in sandbox_cli, (name, line)
    assert seen >= 6


def test_secret_names_are_the_ones_each_environment_reads():
    """secrets/README.md's table: per environment, the variables its databases' password_env name."""
    from deploylib.model.config import environment_layers, validate

    for row in re.findall(r"^\| ([a-z, ]+) \| (`.*)$", SECRETS_README, re.MULTILINE):
        names = set(re.findall(r"`([A-Z_]+)`", row[1]))
        for environment in row[0].split(", "):
            settings = validate(environment, environment_layers(environment), with_secrets=False)
            wanted = {spec["password_env"] for spec in settings.databases.values()}
            assert names == wanted, (environment, names, wanted)
    for variable, file in re.findall(r"echo '([A-Z_]+)=\.\.\.' >> secrets/([a-z]+)\.env", SECRETS_README):
        settings = validate(file, environment_layers(file), with_secrets=False)
        assert variable in {spec["password_env"] for spec in settings.databases.values()}, (file, variable)


def test_every_cited_test_exists():
    cited = re.findall(r"`(tests/e2e/[a-z_]+\.py)(?:::([a-z_]+))?`", RUNBOOK + README)
    assert len(cited) >= 10
    for path, name in cited:
        text = (REPO / path).read_text()
        if name:
            assert f"def {name}(" in text, f"{path}::{name}"


def test_stale_lock_clearing_command_is_the_one_runs_print():
    from deploylib.model import run_lock

    printed = run_lock.clear_command(run_lock.ssh_target("db1.example.com", "deploy", 22))
    assert re.search(rf"^ +{re.escape(printed)}$", RUNBOOK, re.MULTILINE), printed
