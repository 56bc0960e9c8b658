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


@dataclass
class DeployResult:
    returncode: int
    stdout: str
    stderr: str
    results: dict | None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def changed(self) -> list[str]:
        """Names of operations that changed something on any host."""
        if not self.results:
            return []
        return [op["name"] for op in self.results["operations"] if op["success"]]

    @property
    def failed(self) -> list[str]:
        if not self.results:
            return []
        return [op["name"] for op in self.results["operations"] if op["error"]]

    def describe(self) -> str:
        return (
            f"rc={self.returncode}\nchanged={self.changed}\nfailed={self.failed}\n"
            f"--- stderr ---\n{self.stderr[-6000:]}"
        )


def write_overrides(path: Path, data: dict) -> Path:
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in data.items()))
    return path


def run_deploy(
    host,
    *,
    env: str = "dev",
    overrides: dict | None = None,
    workdir: Path | None = None,
    extra_args: tuple = (),
    deploy_file: str = "deploy.py",
    extra_env: dict | None = None,
) -> DeployResult:
    """`pyinfra -y --json --limit <host> inventory/sandbox.py deploy.py` as environment `env`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_", "SANDBOX_ENV"))}
    environ["SANDBOX_ENV"] = env
    environ["PYINFRA_PROGRESS"] = "off"
    if overrides:
        target = (workdir or Path("/tmp")) / f"overrides-{host.name}.py"
        environ["DEPLOY_OVERRIDES"] = str(write_overrides(target, overrides))
    environ.update(extra_env or {})
    proc = subprocess.run(
        [
            PYINFRA,
            "-y",
            "--json",
            "--limit",
            host.name,
            *extra_args,
            "inventory/sandbox.py",
            deploy_file,
        ],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=900,
    )
    results = None
    start = proc.stdout.find("{")
    if start >= 0:
        try:
            results = json.loads(proc.stdout[start:]).get("results")
        except json.JSONDecodeError:
            results = None
    return DeployResult(proc.returncode, proc.stdout, proc.stderr, results)


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


def in_client(name: str, ip: str, argv: list[str], timeout: float = 60):
    """Run argv inside a probe namespace at `ip` on the sandbox bridge."""
    from sandbox import hosts

    netns = hosts.client(name, ip)
    return subprocess.run(
        ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, timeout=timeout
    )
