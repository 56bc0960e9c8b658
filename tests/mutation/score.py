"""The mutation score of the last `mutmut run` (./run mutate), per module.

Killed = a unit test failed (or the mutant hung and timed out). Survivors listed in
tests/mutation/equivalent.txt (one `mutant name  # reason` a line) are equivalent: they change no
behaviour, so they are left out of the score. The score is killed / (mutants - equivalent).

    .venv/bin/python tests/mutation/score.py [--survivors]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = Path(__file__).with_name("equivalent.txt")
KILLED = {1, 3, 36, -24, 24, 152, 255}  # mutmut's "killed" and "timeout" exit codes


def equivalents() -> dict[str, str]:
    found = {}
    for line in EQUIVALENT.read_text().splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            found[name.strip()] = reason.strip()
    return found


def results() -> dict[str, dict[str, int | None]]:
    """module -> mutant name -> exit code (None: not run)."""
    by_module = {}
    top = ROOT / "mutants" / "deploylib"
    for meta in sorted(top.rglob("*.py.meta")):  # packages too: firewall/common, ...
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        by_module[str(meta.relative_to(top)).removesuffix(".py.meta")] = codes
    return by_module


def main(argv: list[str]) -> int:
    by_module = results()
    if not by_module:
        print("no mutmut results: run ./run mutate first")
        return 2
    equivalent = equivalents()
    total = {"mutants": 0, "killed": 0, "equivalent": 0, "not_run": 0}
    survivors = []
    print(f"{'module':24} {'mutants':>8} {'killed':>7} {'equiv.':>7} {'alive':>6} {'score':>7}")
    for module, codes in by_module.items():
        killed = sum(code in KILLED for code in codes.values())
        equiv = sum(name in equivalent and codes[name] not in KILLED for name in codes)
        not_run = sum(code is None for code in codes.values())
        alive = [name for name, code in codes.items() if code not in KILLED and name not in equivalent]
        survivors += alive
        score = killed / max(1, len(codes) - equiv)
        print(f"{module:24} {len(codes):8} {killed:7} {equiv:7} {len(alive):6} {score:7.1%}")
        for key, value in (("mutants", len(codes)), ("killed", killed), ("equivalent", equiv),
                           ("not_run", not_run)):
            total[key] += value
    score = total["killed"] / max(1, total["mutants"] - total["equivalent"])
    print(f"{'all':18} {total['mutants']:8} {total['killed']:7} {total['equivalent']:7} "
          f"{len(survivors):6} {score:7.1%}")
    if total["not_run"]:
        print(f"({total['not_run']} mutants not run yet)")
    if "--survivors" in argv:
        print("\n".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
