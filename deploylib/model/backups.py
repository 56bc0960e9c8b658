"""Logical backups and restores of the managed databases: names, schedule, scripts (pure).

Running a backup now is an operation: ``deploylib.operations.backups``."""

from __future__ import annotations

import functools
import re
import shlex
from datetime import UTC, datetime

import jinja2

from .config import CONTROL_RE, project_dir, scope_tag

# One script, schedule and log per environment (staging and prod may share a host, with
# different database lists): <name>-<environment>. The names without it are from before.
_SCRIPT = "/usr/local/sbin/hatchet-owlclaw-backup"
_CRON = "/etc/cron.d/hatchet-owlclaw-backup"  # no dot: cron ignores names with one
_LOG = "/var/log/hatchet-owlclaw-backup"
LEGACY_FILES = (_SCRIPT, _CRON)

# Backups (every environment's) and restores never run at the same time on a host: both
# scripts hold this flock (released by the kernel when the script ends, however it ends);
# the second waits at most EXCLUSIVE_WAIT seconds, then stops naming the first.
EXCLUSIVE_LOCK = "/run/lock/hatchet-owlclaw-backup.lock"
EXCLUSIVE_WAIT = 3600


def exclusive_values() -> dict:
    return {"exclusive_lock": EXCLUSIVE_LOCK, "exclusive_wait": EXCLUSIVE_WAIT}


def script_path(environment: str) -> str:
    """'/usr/local/sbin/hatchet-owlclaw-backup-prod'."""
    return f"{_SCRIPT}-{scope_tag(environment)}"


def cron_path(environment: str) -> str:
    """'/etc/cron.d/hatchet-owlclaw-backup-prod'."""
    return f"{_CRON}-{scope_tag(environment)}"


def log_path(environment: str) -> str:
    """'/var/log/hatchet-owlclaw-backup-prod.log'."""
    return f"{_LOG}-{scope_tag(environment)}.log"

MARKER = "Managed by the hatchet-owlclaw deploy (templates/backup.sh.j2); changes are overwritten."

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
DUMP_NAME_RE = re.compile(r"(?P<db>[a-z_][a-z0-9_]*)-(?P<stamp>[0-9]{8}T[0-9]{6}Z)\.dump")
MAX_IDENTIFIER = 63


class RestoreNameError(ValueError):
    pass


def utc_stamp(now: datetime | None = None) -> str:
    """'20250102T031700Z': the timestamp in backup file names (UTC, sorts by time)."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime(STAMP_FORMAT)


def dump_path(backup_dir: str, database: str, stamp: str) -> str:
    return f"{backup_dir}/{database}/{database}-{stamp}.dump"


def parse_dump_name(filename: str) -> tuple[str, datetime] | None:
    """(database, UTC time) of a file named like the backup script names dumps, else None."""
    match = DUMP_NAME_RE.fullmatch(filename.rsplit("/", 1)[-1])
    if not match:
        return None
    when = datetime.strptime(match["stamp"], STAMP_FORMAT).replace(tzinfo=UTC)
    return match["db"], when


def restore_names(database: str, stamp: str) -> tuple[str, str]:
    """(new database, what the current one is renamed to on swap) for a restore at `stamp`."""
    suffix = stamp.lower().replace("t", "_").rstrip("z")  # 20250102_031700
    new, old = f"{database}_restore_{suffix}", f"{database}_before_restore_{suffix}"
    if len(old) > MAX_IDENTIFIER:
        raise RestoreNameError(
            f"database name {database!r} is too long for {old!r} (PostgreSQL allows {MAX_IDENTIFIER})"
        )
    return new, old


def cron_file(schedule: str, environment: str) -> str:
    script, log = script_path(environment), log_path(environment)
    return (
        f"# {MARKER.replace('templates/backup.sh.j2', 'backup_schedule in group_data')}\n"
        "SHELL=/bin/bash\n"
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"{schedule} root {script} >> {log} 2>&1\n"
    )


@functools.cache  # one per run: templates are compiled once, not once per host
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(project_dir() / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell scripts, not HTML
        # bash's ${#array[@]} is not a comment
        comment_start_string="{##",
        comment_end_string="##}",
    )
    env.filters["quote"] = lambda value: ShellSafe(shlex.quote(str(value)))
    env.filters["comment"] = lambda value: ShellSafe(CONTROL_RE.sub("?", str(value)))
    env.finalize = shell_safe
    return env


class ShellSafe(str):
    """Template output made safe for its place: quoted (| quote) or for a comment (| comment)."""


# What a template may print without a filter: numbers and words of this alphabet.
SAFE_WORD_RE = re.compile(r"[A-Za-z0-9_./@+:=%-]*")


def shell_safe(value):
    """Every {{ value }} of a shell template: quoted, a comment, or a safe word; anything
    else is refused at render time (never rendered as shell syntax)."""
    if isinstance(value, ShellSafe) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and SAFE_WORD_RE.fullmatch(value):
        return value
    raise ValueError("a shell template value is neither quoted (| quote), a comment (| comment) "
                     f"nor a word of [A-Za-z0-9_./@+:=%-] ({type(value).__name__})")


def render(template: str, **values) -> str:
    return _environment().get_template(template).render(**values)


def backup_script(settings, port: int, cluster_id: str) -> str:
    """The backup script for a host, from templates/backup.sh.j2."""
    return render(
        "backup.sh.j2",
        marker=MARKER,
        cluster_id=cluster_id,
        backup_dir=settings.backup_dir,
        retention_days=settings.backup_retention_days,
        port=int(port),
        databases=list(settings.databases),
        script_path=script_path(settings.environment),
        environment=scope_tag(settings.environment),
        **exclusive_values(),
    )
