#!/usr/bin/env python3
"""How long a deploy takes, how it grows with hosts, how close a no-op run is to the
floor, side by side with an ordinary Ansible playbook doing the same per-host work.

    .venv/bin/python bench/bench.py [--sizes 1,10,25,50] [--repeat 1] [--noop-repeat 3] [--first 41]
        [--skip-ansible] [--compare-with CHECKOUT]

On sandbox hosts (indexes --first..), for each size N, interleaved on the same hosts:

- reset the N hosts (fresh overlays), `pyinfra deploy.py` (converge), then the
  no-op re-run, each followed by its floor (`pyinfra <inventory> exec -- true`);
- reset them again, `ansible-playbook bench/ansible/site.yml` (converge, forks = N,
  pipelining on), then its no-op re-run, each followed by `ansible all -m ping`.

No-op / floor is the median of the ratios of adjacent pairs.

All timed as operators run them (no --debug). The controller's CPU time (user + sys
of the pyinfra or ansible process and its children, from wait4's rusage) is kept per
run: on this machine the controller and every sandbox host share the same cores, and
on real servers only the controller's share would add up with the host count. One more
pyinfra no-op with --debug, untimed, gives the remote commands per host (and proves it
changed nothing). Packages are pre-cached by a warm-up converge, so the network is not
measured. Ansible (ansible-core, pinned) and matplotlib live in bench/.venv-ansible,
created on first use from PyPI. Prints a table, writes bench/results.csv and
bench/scaling.png.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))

hosts = None  # sandbox.hosts, imported by use_own_network() (tests import remote_commands only)


def use_own_network() -> None:
    """The bench's hosts live on a network of their own (bridge, subnet, apt proxy, state):
    up to 50 hosts take addresses that other sandbox users' probes (10.213.7.200-250) would
    otherwise share. The root filesystem images are the shared sandbox's. Set in this
    process's environment (pyinfra's inventory reads it), before sandbox.hosts is imported."""
    global hosts
    shared_cache = Path(os.environ.get("SANDBOX_CACHE", REPO / ".cache" / "sandbox"))
    bench_cache = REPO / ".cache" / "sandbox-bench"
    os.environ["SANDBOX_CACHE"] = str(bench_cache)
    os.environ["SANDBOX_SUBNET"] = os.environ.get("BENCH_SUBNET", "10.213.17.0/24")
    os.environ["SANDBOX_BRIDGE"] = os.environ.get("BENCH_BRIDGE", "sbxbench0")
    bench_cache.mkdir(parents=True, exist_ok=True)
    if not (bench_cache / "images").exists():
        (shared_cache / "images").mkdir(parents=True, exist_ok=True)
        (bench_cache / "images").symlink_to(shared_cache / "images")
    from sandbox import hosts as sandbox_hosts

    hosts = sandbox_hosts


PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
COMMAND_LINE = re.compile(r"Running command on (\S+):|Attempting upload of")

ANSIBLE_VENV = BENCH / ".venv-ansible"
ANSIBLE_REQUIREMENTS = ("ansible-core==2.19.14", "matplotlib==3.10.8")
ANSIBLE_DIR = BENCH / "ansible"
RECAP_CHANGED = re.compile(r"\bchanged=(\d+)")
RECAP_FAILED = re.compile(r"\b(?:failed|unreachable)=([1-9]\d*)")


def timed(argv: list[str], env: dict, what: str, cwd: Path = REPO) -> tuple[float, str, os.struct_rusage]:
    """Run argv; (wall seconds, output, rusage of the process and its children)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{what} failed:\n{output[-4000:]}")
    return elapsed, output, usage


def run_pyinfra(
    indexes: list[int], *args: str, debug: bool = False, env_name: str = "dev", checkout: Path = REPO
) -> dict:
    """pyinfra on these hosts, from this checkout or (--compare-with) another one."""
    env = {
        **os.environ,
        "SANDBOX_HOSTS": ",".join(map(str, indexes)),
        "SANDBOX_ENV": env_name,
        "PYINFRA_PROGRESS": "off",
    }
    env.pop("DEPLOY_OVERRIDES", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as operators run it: bytecode cached
    if checkout != REPO:
        env["PYTHONPATH"] = str(checkout)  # its deploylib and sandbox, not this one's
    argv = [PYINFRA, "-y", *(["--debug"] if debug else []), "inventory/sandbox.py", *args]
    elapsed, output, usage = timed(argv, env, f"pyinfra {' '.join(args)}", cwd=checkout)
    changed = len(re.findall(r"\] Success", output))
    return {
        "seconds": elapsed,
        "maxrss_mib": usage.ru_maxrss / 1024,
        "commands": remote_commands(output),
        "changed": changed,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "output": output,
    }


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


# --------------------------------------------------------------------------- Ansible


def ansible_venv() -> Path:
    """bench/.venv-ansible with the pinned ansible-core and matplotlib (created once)."""
    stamp = ANSIBLE_VENV / (".installed-" + "-".join(ANSIBLE_REQUIREMENTS).replace("==", "_"))
    if not stamp.exists():
        print(f"creating {ANSIBLE_VENV.relative_to(REPO)} ({', '.join(ANSIBLE_REQUIREMENTS)})...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(ANSIBLE_VENV)], check=True)
        subprocess.run(
            [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", *ANSIBLE_REQUIREMENTS], check=True
        )
        stamp.touch()
    return ANSIBLE_VENV / "bin"


def ansible_inventory(indexes: list[int], directory: Path) -> Path:
    """An INI inventory of these sandbox hosts (root over SSH with the sandbox's key)."""
    lines = ["[sandbox]"]
    for name, data in hosts.inventory_hosts(set(indexes)):
        lines.append(f"{name} ansible_host={data['ssh_hostname']}")
    lines += [
        "",
        "[sandbox:vars]",
        "ansible_user=root",
        f"ansible_ssh_private_key_file={hosts.ssh_key_path()}",
    ]
    path = directory / f"hosts-{len(indexes)}.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_ansible(bin_dir: Path, inventory: Path, forks: int, *args: str, playbook: bool = True) -> dict:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(inventory.parent / "ansible-local"),
    }
    tool = "ansible-playbook" if playbook else "ansible"
    argv = [str(bin_dir / tool), "-i", str(inventory), "-f", str(forks), *args]
    elapsed, output, usage = timed(argv, env, f"{tool} {' '.join(args)}")
    if playbook and RECAP_FAILED.search(output):
        sys.exit(f"{tool} {' '.join(args)} failed on some host:\n{output[-4000:]}")
    changed = sum(int(n) for n in RECAP_CHANGED.findall(output)) if playbook else 0
    return {
        "seconds": elapsed,
        "changed": changed,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "output": output,
    }


# --------------------------------------------------------------------------- the run


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def reset(indexes: list[int], suite: str) -> None:
    """Fresh hosts (their overlays dropped), as `sandbox reset` one by one, but booted together."""
    if not indexes:  # down([]) would stop every sandbox host
        raise ValueError("no hosts to reset")
    hosts.down(indexes)
    for index in indexes:
        for sub in ("upper", "work"):
            shutil.rmtree(hosts.CACHE_DIR / "hosts" / hosts.host_name(index) / sub, ignore_errors=True)
    hosts.up(len(indexes), suite, first=indexes[0])


def measure_size(indexes: list[int], args, ansible_bin: Path, workdir: Path) -> dict:
    size = len(indexes)
    inventory = ansible_inventory(indexes, workdir)
    playbook = str(ANSIBLE_DIR / "site.yml")
    m: dict[str, list[float]] = {
        k: []
        for k in (
            "converge",
            "noop",
            "noop_cpu",
            "floor",
            "floor_cpu",
            "rss",
            "a_converge",
            "a_noop",
            "a_noop_cpu",
            "a_floor",
            "a_floor_cpu",
            "before_noop",
            "before_noop_cpu",
            "noop_over_floor",
            "a_noop_over_floor",
        )
    }
    commands = []
    for _ in range(args.repeat):
        reset(indexes, args.suite)
        first = run_pyinfra(indexes, "deploy.py")
        m["converge"].append(first["seconds"])
        m["rss"].append(first["maxrss_mib"])
        # Each no-op right next to its floor (and the other checkout's no-op): on a machine
        # shared with other work the load changes from minute to minute, so each ratio is
        # taken within a pair and the median of the pairs reported.
        for _ in range(args.noop_repeat):
            again = run_pyinfra(indexes, "deploy.py")
            if again["changed"]:
                sys.exit(f"the no-op run changed {again['changed']} operations:\n{again['output'][-6000:]}")
            m["noop"].append(again["seconds"])
            m["noop_cpu"].append(again["cpu_s"])
            m["rss"].append(again["maxrss_mib"])
            floor = run_pyinfra(indexes, "exec", "--", "true")
            m["floor"].append(floor["seconds"])
            m["floor_cpu"].append(floor["cpu_s"])
            m["noop_over_floor"].append(again["seconds"] / floor["seconds"])
            if args.compare_with:  # the same no-op by another checkout, interleaved
                before = run_pyinfra(indexes, "deploy.py", checkout=args.compare_with)
                if before["changed"]:
                    sys.exit(f"{args.compare_with}'s no-op changed {before['changed']} operations")
                m["before_noop"].append(before["seconds"])
                m["before_noop_cpu"].append(before["cpu_s"])
        # Remote commands per host, from one more (untimed) no-op run's --debug log.
        counted = run_pyinfra(indexes, "deploy.py", debug=True)
        if counted["changed"]:
            sys.exit(f"the no-op run changed {counted['changed']} operations:\n{counted['output'][-6000:]}")
        commands.append(max(counted["commands"].values()))

        if args.skip_ansible:
            continue
        reset(indexes, args.suite)
        m["a_converge"].append(run_ansible(ansible_bin, inventory, size, playbook)["seconds"])
        for _ in range(args.ansible_noop_repeat or args.noop_repeat):
            again = run_ansible(ansible_bin, inventory, size, playbook)
            if again["changed"]:
                sys.exit(
                    f"the Ansible no-op run changed {again['changed']} tasks:\n{again['output'][-6000:]}"
                )
            m["a_noop"].append(again["seconds"])
            m["a_noop_cpu"].append(again["cpu_s"])
            ping = run_ansible(ansible_bin, inventory, size, "all", "-m", "ping", playbook=False)
            m["a_floor"].append(ping["seconds"])
            m["a_floor_cpu"].append(ping["cpu_s"])
            m["a_noop_over_floor"].append(again["seconds"] / ping["seconds"])
    med = {k: statistics.median(v) for k, v in m.items() if v}
    if args.skip_ansible:  # this project's figures only; Ansible's columns stay empty
        nan = float("nan")
        for key in ("a_converge", "a_noop", "a_noop_cpu", "a_floor", "a_floor_cpu", "a_noop_over_floor"):
            med[key] = nan
            m[key] = [nan]
    row = {
        "hosts": size,
        "converge_s": med["converge"],
        "noop_s": med["noop"],
        "floor_s": med["floor"],
        "noop_over_floor": med["noop_over_floor"],  # median of the pairs' ratios
        "ansible_converge_s": med["a_converge"],
        "ansible_noop_s": med["a_noop"],
        "ansible_floor_s": med["a_floor"],
        "ansible_noop_over_floor": med["a_noop_over_floor"],
        "ansible_over_project_converge": med["a_converge"] / med["converge"],
        "ansible_over_project_noop": med["a_noop"] / med["noop"],
        "noop_controller_cpu_ms_per_host": 1000 * med["noop_cpu"] / size,
        "floor_controller_cpu_ms_per_host": 1000 * med["floor_cpu"] / size,
        "ansible_noop_controller_cpu_ms_per_host": 1000 * med["a_noop_cpu"] / size,
        "noop_commands_per_host": max(commands),
        **(
            {
                "before_noop_s": med["before_noop"],
                "before_noop_controller_cpu_ms_per_host": 1000 * med["before_noop_cpu"] / size,
            }
            if args.compare_with
            else {}
        ),
        "controller_peak_rss_mib": max(m["rss"]),
        "noop_spread_s": max(m["noop"]) - min(m["noop"]),
        "floor_spread_s": max(m["floor"]) - min(m["floor"]),
        "ansible_noop_spread_s": max(m["a_noop"]) - min(m["a_noop"]),
    }
    print(
        f"{size:>3} hosts  converge {summary(m['converge'])}  no-op {summary(m['noop'])}  "
        f"floor {summary(m['floor'])}  no-op/floor {row['noop_over_floor']:.2f}  "
        f"CPU/host {row['noop_controller_cpu_ms_per_host']:.0f} ms  "
        f"commands/host {row['noop_commands_per_host']}  peak RSS {row['controller_peak_rss_mib']:.0f} MiB\n"
        f"           Ansible: converge {summary(m['a_converge'])}  no-op {summary(m['a_noop'])}  "
        f"ping {summary(m['a_floor'])}  CPU/host {row['ansible_noop_controller_cpu_ms_per_host']:.0f} ms"
        + (
            f"\n           before ({args.compare_with}): no-op {summary(m['before_noop'])}  CPU/host "
            f"{row['before_noop_controller_cpu_ms_per_host']:.0f} ms"
            if args.compare_with
            else ""
        ),
        flush=True,
    )
    return row


def write_csv(rows: list[dict], out: Path, header: str) -> None:
    """The rows, with those of other host counts already in the file kept (a size measured
    in an earlier run, e.g. the large one run on its own); header lines say which run."""
    earlier, notes = [], []
    if out.exists():
        with out.open() as handle:
            lines = handle.read().splitlines()
        notes = [line for line in lines if line.startswith("#")]
        sizes = {row["hosts"] for row in rows}
        earlier = [
            r
            for r in csv.DictReader(line for line in lines if not line.startswith("#"))
            if int(r["hosts"]) not in sizes
        ]
    formatted = [{k: f"{v:.2f}" if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    merged = sorted(earlier + formatted, key=lambda r: int(r["hosts"]))
    fields = list(dict.fromkeys(k for r in merged for k in r))
    with out.open("w", newline="") as handle:
        if earlier:
            handle.writelines(
                f"{note} (hosts {','.join(r['hosts'] for r in earlier)})\n" for note in notes[:1]
            )
        handle.write(f"# {header} (hosts {','.join(str(r['hosts']) for r in rows)})\n")
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(merged)


def markdown_table(rows: list[dict]) -> str:
    """The RESULTS.md table of these rows."""
    lines = [
        "| hosts | converge | no-op | floor | no-op / floor | controller CPU per host (no-op) "
        "| Ansible converge | Ansible no-op | Ansible floor (ping) | Ansible no-op / floor "
        "| Ansible / project: converge | no-op | commands per host (no-op) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['hosts']} | {r['converge_s']:.1f} s | {r['noop_s']:.2f} s | {r['floor_s']:.2f} s "
            f"| {r['noop_over_floor']:.2f} | {r['noop_controller_cpu_ms_per_host']:.0f} ms "
            f"| {r['ansible_converge_s']:.1f} s | {r['ansible_noop_s']:.2f} s | {r['ansible_floor_s']:.2f} s "
            f"| {r['ansible_noop_over_floor']:.2f} | {r['ansible_over_project_converge']:.1f}x "
            f"| {r['ansible_over_project_noop']:.1f}x | {r['noop_commands_per_host']} |"
        )
    return "\n".join(lines)


def main() -> int:
    use_own_network()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,25,50")
    parser.add_argument("--repeat", type=int, default=1, help="converges per size (each on reset hosts)")
    parser.add_argument("--noop-repeat", type=int, default=3, help="no-op and floor runs per converge")
    parser.add_argument(
        "--ansible-noop-repeat", type=int, help="Ansible's no-op runs (default: --noop-repeat)"
    )
    parser.add_argument(
        "--skip-ansible", action="store_true", help="this project's runs only (no Ansible converge/no-op)"
    )
    parser.add_argument("--first", type=int, default=41)
    parser.add_argument("--suite", default=hosts.DEFAULT_SUITE)
    parser.add_argument(
        "--compare-with",
        type=Path,
        metavar="CHECKOUT",
        help="also time this other checkout's no-op (e.g. the code before a change), "
        "interleaved with this one's on the same hosts",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    all_indexes = list(range(args.first, args.first + max(sizes)))
    ansible_bin = ansible_venv()

    hosts.up(len(all_indexes), args.suite, first=args.first)
    print("warm-up converge (fills the apt cache)...", flush=True)
    run_pyinfra(all_indexes[:1], "deploy.py")

    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ansible-") as workdir:
            for size in sizes:
                rows.append(measure_size(all_indexes[:size], args, ansible_bin, Path(workdir)))
    finally:
        for index in all_indexes:  # only this bench's hosts
            hosts.down([index])
    if not rows:
        return 1

    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ")
    machine = f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}"
    out = BENCH / "results.csv"
    write_csv(
        rows,
        out,
        f"{stamp} on {machine}; suite {args.suite}; {args.repeat} converge(s), "
        f"{args.noop_repeat} no-op/floor runs each, medians",
    )
    print(f"written {out.relative_to(REPO)}")
    subprocess.run(
        [str(ansible_bin / "python"), str(BENCH / "plot.py"), str(out), str(BENCH / "scaling.png")],
        check=True,
    )
    print(f"written bench/scaling.png\n\n{markdown_table(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
