"""Every shell template and command builder, rendered with hostile values for every string
parameter: each rendered script passes `bash -n`, and running it (in a scratch directory,
every external command replaced by a harmless stub) never executes the payload.

The payloads write a marker file with shell redirection only (no external command), so a
stub can never hide a successful injection. A builder may also refuse a value (ValueError):
refusing is safe; the test counts what rendered so it cannot pass by refusing everything.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from deploylib.facts import app as app_facts
from deploylib.model import backups, compose, shell
from deploylib.operations import app as app_ops
from deploylib.operations import backups as backup_ops
from deploylib.operations import packages as package_ops

MARKER = "P"


def payloads(marker: Path) -> list[str]:
    m = str(marker)
    return [
        f"$(echo x>{m})",
        f"`echo x>{m}`",
        f"'; echo x>{m}; '",
        f"\"; echo x>{m}; \"",
        f"a\necho x>{m}\n",
        f"SQL\necho x>{m}\nSQL",
        f"x;echo x>{m}",
        f"x&&echo x>{m}",
        f"x||echo x>{m}",
        f"x|echo x>{m}",
        f"-oDPkg::Pre-Invoke::=echo x>{m}",
        f"--upload-pack=echo x>{m}",
        f"${{IFS}}echo${{IFS}}x>{m}",
        f"x\recho x>{m}",
        f"\\'$(echo x>{m})",
        f"$'\\n'echo x>{m}",
        f"x # \n echo x>{m}",
        f"}}; echo x>{m}; {{",
        f"EOF\necho x>{m}",
    ]


# Each external command a built script may call: a stub that does nothing (exit 0), except
# those that run another command, which run it (so nested scripts are exercised too).
STUB = "#!/bin/bash\nexit 0\n"
RUNNERS = {
    "runuser": '#!/bin/bash\nwhile [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done; shift; exec "$@"\n',
    "timeout": '#!/bin/bash\nshift; exec "$@"\n',
    "env": '#!/bin/bash\nwhile [ $# -gt 0 ]; do case $1 in -C) shift 2;; *=*) export "$1"; shift;; '
           '-*) shift;; *) break;; esac; done; [ $# -gt 0 ] && exec "$@"; exit 0\n',
    "date": '#!/bin/bash\nread -r n < "$STUB_CLOCK" 2>/dev/null || n=0; n=$((n + 1000)); '
            'echo $n > "$STUB_CLOCK"; echo $n\n',
}
COMMANDS = ("runuser timeout env date git apt-get apt-cache psql pg_dump pg_restore pg_dumpall docker "
            "docker-compose install mv rm cat chmod chgrp chown getent cut sed awk tail wc id ssh sleep "
            "seq hostname tee stat grep find ls head sort mkdir dirname touch cp ln sudo systemctl "
            "service pg_lsclusters rsync mktemp printf-").split()


@pytest.fixture
def scratch(tmp_path):
    # The marker's path is short (it is part of each payload, and database names are at most
    # 63 characters: a longer payload would only test the length check).
    short = Path(tempfile.mkdtemp(prefix="q", dir="/tmp"))
    yield from _scratch(tmp_path, short)
    shutil.rmtree(short)


def _scratch(tmp_path, work):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in COMMANDS:
        (bin_dir / name).write_text(RUNNERS.get(name, STUB))
        (bin_dir / name).chmod(0o755)
    for name in ("bash", "sh"):
        (bin_dir / name).symlink_to("/bin/bash")
    yield SimpleNamespace(bin=bin_dir, work=work, marker=work / MARKER, clock=tmp_path / "clock")


def run_script(scratch, script: str) -> None:
    """bash -n, then run it with only the stubs on PATH; the marker must not appear."""
    checked = subprocess.run(["/bin/bash", "-n", "-c", script], capture_output=True, text=True)
    assert checked.returncode == 0, f"bash -n failed: {checked.stderr}\n{script}"
    subprocess.run(["/bin/bash", "-c", script], cwd=scratch.work, capture_output=True, timeout=20,
                   env={"PATH": str(scratch.bin), "HOME": str(scratch.work), "STUB_CLOCK": str(scratch.clock),
                        "SUDO_USER": "deploy"}, stdin=subprocess.DEVNULL)
    assert not scratch.marker.exists(), f"the payload ran:\n{script}"


def settings_ns(**values):
    base = {"backup_dir": "/var/backups/hatchet-owlclaw", "backup_retention_days": 7,
            "databases": {"hatchet": {}}, "environment": "dev"}
    return SimpleNamespace(**{**base, **values})


# builder name -> (function, {parameter: a good value}); every str parameter gets each payload.
BUILDERS = {
    "restore.sh.j2": (backup_ops.restore_script, dict(
        port=5432, database="hatchet", owner="hatchet", file="/var/backups/x.dump", stamp="20250102T031700Z",
        settings={"timezone": "UTC", "search_path": ["a", "b"]}, other_owners=["owlclaw"],
        backup_dir="/var/backups/hatchet-owlclaw", comment="managed", swap=True, drop_old=True)),
    "restore.sh.j2 (setting value)": (
        lambda value: backup_ops.restore_script(5432, "hatchet", "hatchet", "/x.dump", "20250102T031700Z",
                                                {"search_path": [value], "timezone": value}, [], "/b", "c"),
        dict(value="x")),
    "backup.sh.j2": (
        lambda backup_dir, database, cluster_id: backups.backup_script(
            settings_ns(backup_dir=backup_dir, databases={database: {}}), 5432, cluster_id),
        dict(backup_dir="/var/backups/h", database="hatchet", cluster_id="17/main")),
    "as_user": (lambda user: shell.as_user(user, "true"), dict(user="deploy")),
    "git_in": (lambda path, arg: shell.git_in(path, "rev-parse", arg), dict(path="/data/o", arg="HEAD")),
    "git_ssh_command": (lambda key: f"export GIT_SSH_COMMAND={shell.quote(shell.git_ssh_command(key))}; "
                        "eval \"$GIT_SSH_COMMAND\"", dict(key="/data/o/.git/deploy-key")),
    "bash_c": (lambda a, b: shell.bash_c('echo "$1" "$2"', a, b), dict(a="x", b="y")),
    # (relative paths where the script cds or writes: it runs on, past them, in the scratch directory)
    "checkout_script": (app_ops.checkout_script, dict(path=".", url="git://h/app.git", ref="main",
                                                      key_path="k")),
    "install_secret_script": (app_ops.install_secret_script, dict(
        uploaded="upload", path="env-file", user="deploy", group="docker", mode="600")),
    "wait_script": (lambda project, word: app_ops.wait_script(["docker", "compose", "-p", word], project, 5),
                    dict(project="owlclaw", word="owlclaw")),
    "GitCheckout": (lambda path, url, key_path, user:
                    app_facts.GitCheckout().command(path, url, key_path, user),
                    dict(path="/data/o", url="git://h/a.git", key_path="/data/o/.git/k", user="deploy")),
    "TextFile": (lambda path: app_facts.TextFile().command(path), dict(path="/x")),
    "ComposeContainers": (lambda project: app_facts.ComposeContainers().command(project), dict(project="o")),
    "DockerEngine": (lambda package: app_facts.DockerEngine().command([package]), dict(package="docker.io")),
    "run_backup_script": (backup_ops.run_backup_script, dict(script="/usr/local/sbin/b")),
    "apt_install_command": (lambda package: package_ops.apt_install_command([package, "git"]),
                            dict(package="curl")),
    "compose.shell": (lambda word: compose.shell(["docker", "compose", "-p", word, "ps"]), dict(word="o")),
    "upload_dir_script": (lambda: app_ops.upload_dir_script(), {}),
}


def string_parameters(defaults: dict) -> list[str]:
    return [name for name, value in defaults.items() if isinstance(value, str)]


CASES = [(builder, parameter) for builder, (_, defaults) in BUILDERS.items()
         for parameter in string_parameters(defaults) or [None]]


@pytest.mark.parametrize(("builder", "parameter"), CASES, ids=[f"{b}-{p}" for b, p in CASES])
def test_hostile_values_never_run(scratch, builder, parameter):
    function, defaults = BUILDERS[builder]
    rendered = 0
    values = payloads(scratch.marker) if parameter else [None]
    for payload in values:
        arguments = dict(defaults)
        if parameter:
            arguments[parameter] = payload
        try:
            script = function(**arguments)
        except ValueError:
            continue  # refused: never rendered as shell syntax
        rendered += 1
        run_script(scratch, script)
    # Builders that quote render every payload, except where a refusal is the design: the
    # backup template's unquoted comment words, and database names past 63 characters.
    refusing = {("backup.sh.j2", "backup_dir"), ("backup.sh.j2", "cluster_id"),
                ("restore.sh.j2", "database"), ("restore.sh.j2", "stamp")}
    if (builder, parameter) in refusing:
        assert builder == "backup.sh.j2" or rendered >= len(values) // 2, (builder, rendered)
    else:
        assert rendered == len(values), f"{builder}: only {rendered} of {len(values)} rendered"


def test_the_stubs_do_not_hide_an_injection(scratch):
    """Control: an unquoted value does run the payload under the same harness."""
    payload = payloads(scratch.marker)[0]
    with pytest.raises(AssertionError, match="the payload ran"):
        run_script(scratch, f"git -C {payload} status")


def test_every_shell_builder_module_function_is_covered():
    """A new builder in these modules is added to BUILDERS (names ending in _script/_command)."""
    covered = {getattr(f, "__name__", "") for f, _ in BUILDERS.values()} | set(BUILDERS)
    for module in (app_ops, backup_ops, package_ops, shell):
        for name, member in inspect.getmembers(module, inspect.isfunction):
            if member.__module__ == module.__name__ and name.endswith(("_script", "_command")):
                assert name in covered, f"{module.__name__}.{name} is not in BUILDERS"


def test_runs_under_a_clean_path_only():
    assert os.path.exists("/bin/bash")
