"""Run the real pyinfra CLI against sandbox hosts and read its JSON results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def _short(name: str) -> str:
    """'tasks/base.py | Base packages' -> 'Base packages'."""
    return name.split(" | ", 1)[-1].strip()


class UnreadableRun(AssertionError):
    """pyinfra's --json output could not be read: the harness refuses to judge the run."""


def parse_run_json(stdout: str) -> dict | None:
    """The payload `pyinfra --json` prints as its last line of stdout (None if there is none)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            payload = json.loads(line)
        except json.JSONDecodeError:
            return None
        return payload if isinstance(payload, dict) and "plan" in payload else None
    return None


@dataclass
class DeployResult:
    returncode: int
    stdout: str
    stderr: str
    payload: dict | None
    dry: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def results(self) -> dict | None:
        return self.payload.get("results") if self.payload else None

    def _operations(self) -> list[dict]:
        """The per-operation results; never silently empty when they could not be read."""
        if self.dry:
            raise UnreadableRun("a --dry run has no results to judge changes by:\n" + self.describe())
        results = self.results
        if not isinstance(results, dict) or not isinstance(results.get("operations"), list):
            raise UnreadableRun("pyinfra's --json results could not be read:\n" + self.describe())
        return results["operations"]

    @property
    def changed(self) -> list[str]:
        """Names of operations that changed something on any host."""
        return [_short(op["name"]) for op in self._operations() if op["success"]]

    @property
    def failed(self) -> list[str]:
        return [_short(op["name"]) for op in self._operations() if op["error"]]

    def describe(self) -> str:
        if isinstance(self.results, dict) and isinstance(self.results.get("operations"), list):
            ops = self.results["operations"]
            changed = [_short(op["name"]) for op in ops if op["success"]]
            failed = [_short(op["name"]) for op in ops if op["error"]]
            summary = f"changed={changed}\nfailed={failed}"
        else:
            summary = "results: unreadable or absent"
        return f"rc={self.returncode}\n{summary}\n--- stderr ---\n{self.stderr[-6000:]}"

    def check_readable(self) -> DeployResult:
        """A run pyinfra calls successful must have results the harness can read."""
        if self.ok and self.payload is None:
            raise UnreadableRun(
                "pyinfra exited 0 but printed no readable --json payload:\n"
                + self.describe() + "\n--- stdout ---\n" + self.stdout[-3000:]
            )
        if self.ok and not self.dry:
            self._operations()
        return self


# Debian 12 has no pgvector package (and the sandbox cannot reach apt.postgresql.org):
# on bookworm hosts the full deploy runs with databases that need no extension package.
DATABASES_WITHOUT_VECTOR = {
    "hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
    "owlclaw": {"owner": "owlclaw"},
}


def suite_data(host) -> dict:
    """Overrides a host's suite needs for the full deploy to converge."""
    return {"databases": DATABASES_WITHOUT_VECTOR} if host.suite == "bookworm" else {}


def write_overrides(path: Path, data: dict) -> Path:
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in data.items()))
    return path


def deploy_command(
    host,
    *,
    env: str = "dev",
    overrides: dict | None = None,
    workdir: Path | None = None,
    extra_args: tuple = ("-y", "--json"),
    deploy_file: str = "deploy.py",
    extra_env: dict | None = None,
    suite_defaults: bool = True,
) -> tuple[list[str], dict]:
    """(argv, environment) of `pyinfra <extra_args> --limit <host> inventory/sandbox.py <deploy_file>`
    as environment `env`. `overrides` go to a DEPLOY_OVERRIDES file, on top of what the
    host's suite needs (suite_data) unless suite_defaults is False."""
    if suite_defaults:
        overrides = {**suite_data(host), **(overrides or {})}
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_", "SANDBOX_ENV"))}
    environ["SANDBOX_ENV"] = env
    environ["PYINFRA_PROGRESS"] = "off"
    if overrides:
        target = (workdir or Path("/tmp")) / f"overrides-{host.name}-{env}.py"
        environ["DEPLOY_OVERRIDES"] = str(write_overrides(target, overrides))
    environ.update(extra_env or {})
    argv = [PYINFRA, *extra_args, "--limit", host.name, "inventory/sandbox.py", deploy_file]
    return argv, environ


def run_deploy(host, *, extra_args: tuple = (), project: Path | None = None, **kwargs) -> DeployResult:
    """`pyinfra -y --json --limit <host> inventory/sandbox.py deploy.py` as environment `env`
    (arguments: deploy_command's), its JSON results read. `project`: run in a copy of the
    project (its own group_data, secrets/) instead of the repository."""
    argv, environ = deploy_command(host, extra_args=("-y", "--json", *extra_args), **kwargs)
    proc = subprocess.run(argv, cwd=project or REPO, env=environ, capture_output=True, text=True,
                          timeout=900)
    return result_of(proc.returncode, proc.stdout, proc.stderr, dry="--dry" in extra_args)


def result_of(returncode: int, stdout: str, stderr: str, dry: bool = False) -> DeployResult:
    return DeployResult(returncode, stdout, stderr, parse_run_json(stdout), dry=dry).check_readable()


def converge(host, **kwargs) -> DeployResult:
    """converge -> idempotence: apply, apply again, require zero changes the second time."""
    first = run_deploy(host, **kwargs)
    assert first.ok, "converge failed:\n" + first.describe()
    second = run_deploy(host, **kwargs)
    assert second.ok, "second run failed:\n" + second.describe()
    assert second.changed == [], "not idempotent, second run changed:\n" + second.describe()
    return first


def ssh(host, command: str, check: bool = True) -> subprocess.CompletedProcess:
    from sandbox import hosts

    proc = subprocess.run(
        [*hosts.ssh_command(host), command], capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"ssh {host.name} {command!r}: rc={proc.returncode}\n{proc.stderr}")
    return proc


def in_client(name: str, ip: str, argv: list[str], timeout: float = 60, check: bool = True):
    """Run argv inside a probe namespace at `ip` on the sandbox bridge (a non-zero exit fails
    the test unless check is False: a crashed probe must not read as an answer)."""
    from sandbox import hosts

    netns = hosts.client(name, ip)
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"probe {name} at {ip} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


PG_PROBE = """
import sys, psycopg2
host, user, password, dbname = sys.argv[1:5]
try:
    conn = psycopg2.connect(host=host, port=5432, user=user, password=password, dbname=dbname,
                            connect_timeout=5)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    print("connected")
except psycopg2.OperationalError as error:
    print("refused: " + str(error).strip().replace("\\n", " "))
"""


def pg_connect_from(client_ip: str, host, user: str, password: str, dbname: str) -> str:
    """Connect with psycopg2 over TCP from a probe namespace at `client_ip`: 'connected' or 'refused: …'."""
    name = "p" + client_ip.rsplit(".", 1)[-1]
    result = in_client(
        name, client_ip, [sys.executable, "-c", PG_PROBE, host.ip, user, password, dbname]
    )
    return probe_answer(result, ("connected", "refused: "))


def probe_answer(result: subprocess.CompletedProcess, answers: tuple[str, ...]) -> str:
    """A probe's one-line answer, which must start with one of `answers` (anything else fails)."""
    answer = result.stdout.strip()
    if not answer.startswith(answers):
        raise AssertionError(f"probe gave no answer of {answers}: {answer!r}\n{result.stderr[-3000:]}")
    return answer


def psql(host, sql: str, database: str = "postgres") -> str:
    """Run SQL on the host as the postgres superuser (over SSH; test setup and inspection only)."""
    import shlex

    command = (
        f"cd / && runuser -u postgres -- psql -X -A -t -q -v ON_ERROR_STOP=1 -d {database} "
        f"-c {shlex.quote(sql)}"
    )
    return ssh(host, command).stdout.strip()


def server_times(host) -> tuple[str, str]:
    """(postmaster start time, last configuration load time)."""
    start, loaded = psql(host, "SELECT pg_postmaster_start_time(), pg_conf_load_time()").split("|")
    return start, loaded


def hba_path(host) -> str:
    return psql(host, "SHOW hba_file")
