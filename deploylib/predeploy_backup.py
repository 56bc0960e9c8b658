"""The pre-deploy backup hook: a fresh `pg_dump -F c` of every managed database right before
`docker compose up` (which may run migrations), when `backup_before_deploy` is on.

For now a self-contained shell script; the backup task of the operations issue is meant to
take it over (same directory layout: backup_dir/<database>/<database>-<UTC time>.dump).
"""

from __future__ import annotations

import shlex


def backup_script(settings, port: int, label: str = "predeploy") -> str:
    """Dump every database in settings.databases as postgres, into backup_dir/<db>/, mode 0600.
    A database that does not exist yet has nothing to lose: said, and skipped."""
    q = shlex.quote
    lines = [
        "set -euo pipefail",
        "umask 077",
        'stamp=$(date -u +%Y%m%dT%H%M%SZ)',
        f"install -d -m 700 -o postgres -g postgres {q(settings.backup_dir)}",
    ]
    for database in settings.databases:
        directory = f"{settings.backup_dir}/{database}"
        target = f"{directory}/{database}-$stamp-{label}.dump"
        lines += [
            f"install -d -m 700 -o postgres -g postgres {q(directory)}",
            f"if (cd / && runuser -u postgres -- psql -X -A -t -q -p {int(port)} -d postgres "
            f"-c {q(f'SELECT 1 FROM pg_database WHERE datname = {_literal(database)}')}) | grep -q 1; then",
            f"    (cd / && runuser -u postgres -- pg_dump -F c -p {int(port)} -d {q(database)} "
            f'-f "{target}.partial")',
            f'    chmod 600 "{target}.partial" && mv -f "{target}.partial" "{target}"',
            f'    echo "backup: {database} -> {target}"',
            "else",
            f'    echo "backup: database {database} does not exist yet: nothing to back up"',
            "fi",
        ]
    return "\n".join(lines)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
