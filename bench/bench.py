#!/usr/bin/env python3
"""How long a deploy takes, how it grows with hosts, how close a no-op run is to the floor.

    .venv/bin/python bench/bench.py [--sizes 1,5,10] [--repeat 3] [--first 41]

On sandbox hosts (indexes --first..): for each size N, a full converge of N fresh
hosts, a no-op re-run on the same hosts, and the floor (`pyinfra <inventory>
exec -- true`) in the same run, all timed as operators run them (no --debug);
then one more no-op run with --debug, untimed, whose log gives the remote
commands per host (and proves it changed nothing); the controller's peak memory
(ru_maxrss of the pyinfra process). Packages are pre-cached by a warm-up
converge, so the network is not measured. Prints a table and writes
bench/results.csv.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sandbox import hosts  # noqa: E402

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
COMMAND_LINE = re.compile(r"Running command on (\S+):|Attempting upload of")


def run_pyinfra(indexes: list[int], *args: str, debug: bool = False, env_name: str = "dev") -> dict:
    env = {**os.environ, "SANDBOX_HOSTS": ",".join(map(str, indexes)), "SANDBOX_ENV": env_name,
           "PYINFRA_PROGRESS": "off"}
    env.pop("DEPLOY_OVERRIDES", None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PYINFRA, "-y", *(["--debug"] if debug else []), "inventory/sandbox.py", *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"pyinfra {' '.join(args)} failed:\n{output[-4000:]}")
    changed = len(re.findall(r"\] Success", output))
    return {"seconds": elapsed, "maxrss_mib": usage.ru_maxrss / 1024, "commands": remote_commands(output),
            "changed": changed}


def remote_commands(debug_output: str) -> dict[str, int]:
    """Remote commands (and uploads) per host, from the log of a `pyinfra --debug` run."""
    per_host: dict[str, int] = {}
    current_host = None
    for line in debug_output.splitlines():
        match = COMMAND_LINE.search(line)
        if not match:
            continue
        current_host = match.group(1) or current_host
        per_host[current_host] = per_host.get(current_host, 0) + 1
    return per_host


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,5,10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--first", type=int, default=41)
    parser.add_argument("--suite", default=hosts.DEFAULT_SUITE)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    all_indexes = list(range(args.first, args.first + max(sizes)))

    hosts.up(len(all_indexes), args.suite, first=args.first)
    print("warm-up converge (fills the apt cache)...", flush=True)
    run_pyinfra(all_indexes[:1], "deploy.py")

    rows = []
    for size in sizes:
        indexes = all_indexes[:size]
        converge, noop, floor, rss, commands = [], [], [], [], []
        for _ in range(args.repeat):
            for index in indexes:
                hosts.reset(index)
            first = run_pyinfra(indexes, "deploy.py")
            converge.append(first["seconds"])
            second = run_pyinfra(indexes, "deploy.py")
            if second["changed"]:
                sys.exit(f"the no-op run changed {second['changed']} operations")
            noop.append(second["seconds"])
            rss.append(max(first["maxrss_mib"], second["maxrss_mib"]))
            floor.append(run_pyinfra(indexes, "exec", "--", "true")["seconds"])
        counted = run_pyinfra(indexes, "deploy.py", debug=True)
        if counted["changed"]:
            sys.exit(f"the no-op run changed {counted['changed']} operations")
        commands.append(max(counted["commands"].values()))
        row = {
            "hosts": size,
            "converge_s": statistics.median(converge),
            "converge_spread_s": max(converge) - min(converge),
            "noop_s": statistics.median(noop),
            "noop_spread_s": max(noop) - min(noop),
            "floor_s": statistics.median(floor),
            "floor_spread_s": max(floor) - min(floor),
            "noop_over_floor": statistics.median(n / f for n, f in zip(noop, floor, strict=True)),
            "noop_commands_per_host": max(commands),
            "controller_peak_rss_mib": max(rss),
        }
        rows.append(row)
        print(f"{size:>3} hosts  converge {summary(converge)}  no-op {summary(noop)}  "
              f"floor {summary(floor)}  no-op/floor {row['noop_over_floor']:.2f}  "
              f"commands/host {row['noop_commands_per_host']}  "
              f"peak RSS {row['controller_peak_rss_mib']:.0f} MiB",
              flush=True)

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ")
    machine = f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}"
    out = REPO / "bench" / "results.csv"
    with out.open("w", newline="") as handle:
        handle.write(f"# {stamp} on {machine}; suite {args.suite}; {args.repeat} repetitions, medians\n")
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.2f}" if isinstance(v, float) else v for k, v in row.items()})
    print(f"written {out.relative_to(REPO)}")
    for index in all_indexes:
        hosts.down([index])
    return 0


if __name__ == "__main__":
    sys.exit(main())
