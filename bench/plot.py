"""bench/scaling.png from bench/results.csv: time against hosts, converge and no-op, this
project against Ansible and their floors. Run by bench.py with bench/.venv-ansible's Python
(matplotlib lives there, not in the project's environment):

    bench/.venv-ansible/bin/python bench/plot.py bench/results.csv bench/scaling.png
"""

import csv
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path: str) -> tuple[str, list[dict]]:
    with open(path) as handle:
        header = handle.readline().lstrip("# ").strip()
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return header, [{k: float(v) if v else float("nan") for k, v in row.items()} for row in rows]


def main(source: str, target: str) -> None:
    header, rows = read(source)
    sizes = [r["hosts"] for r in rows]
    fig, (converge, noop) = plt.subplots(1, 2, figsize=(11, 4.5))
    # (axes, column, style, colour, label): blue this project, red Ansible, dashed the floors.
    series = [
        (converge, "converge_s", "o-", "tab:blue", "this project (pyinfra)"),
        (converge, "ansible_converge_s", "s-", "tab:red", "Ansible"),
        (noop, "noop_s", "o-", "tab:blue", "this project: no-op"),
        (noop, "floor_s", "o--", "tab:blue", "floor: pyinfra exec -- true"),
        (noop, "ansible_noop_s", "s-", "tab:red", "Ansible: no-op"),
        (noop, "ansible_floor_s", "s--", "tab:red", "floor: ansible -m ping"),
    ]
    for ax, column, style, colour, label in series:
        alpha = 0.5 if "floor" in column else 1.0
        ax.plot(sizes, [r[column] for r in rows], style, color=colour, alpha=alpha, label=label)
    converge.set_title("converge (fresh hosts)")
    noop.set_title("no-op (nothing to change)")
    for ax in (converge, noop):
        ax.set_xlabel("hosts")
        ax.set_ylabel("seconds")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Deploy time against hosts (controller and all hosts on one 2-core machine)\n{textwrap.fill(header, 150)}", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:3])
