"""Operations on a PostgreSQL server's configuration files: pg_hba.conf and postgresql.conf.

Both follow the same safe path: compute the wanted file from the current bytes
(only our marked block or our drop-in changes), and only when it differs:
back the old file up, put the new one in place, ask PostgreSQL whether it can
load what is on disk, put the old file back if not (the running server never
saw it), and only then reload, or restart when a setting needs it.
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation

from .. import file_swap, notices, pg_commands
from ..facts.postgres import PgCluster, PgServer
from ..pg_conf import (
    apply_managed_lines,
    include_dirs,
    managed_part,
    parse_conf,
    render_dropin,
    unquote_value,
    written_by,
)
from ..pg_hba import apply_block, format_shadow, shadowing


def _install(path: str, content: str, backup_dir: str, keep: int, validate: str, planned: str | None):
    """Replace `path` with `content` (validated, backed up), only while it still holds
    `planned`, the text the plan was computed from (None or "": absent)."""
    staged = file_swap.staged_name(path)
    yield FileUploadCommand(StringIO(content), staged)
    yield _bash(
        pg_commands.install_file(
            path, staged, backup_dir, keep, validate, planned_sha256=file_swap.text_sha256(planned)
        )
    )


def _bash(script: str) -> StringCommand:
    return StringCommand("bash", "-c", shlex.quote(script))


@operation()
def hba_rules(
    cluster: PgCluster,
    rules: list,
    backup_dir: str,
    backups_keep: int = 10,
    on_shadowed: str = "fail",
    tag: str | None = None,
):
    """
    Keep ``tag``'s managed block of pg_hba.conf equal to ``rules`` (in order);
    every line outside the block (another environment's block too) is kept byte
    for byte. Validated with
    ``pg_hba_file_rules`` before a reload; rolled back on any error.

    + cluster: the ``PgCluster`` from the ``PostgresServer`` fact
    + rules: ``HbaRule`` list; empty removes the block
    + backup_dir: where backups of the previous file go
    + backups_keep: how many backups of pg_hba.conf to keep
    + on_shadowed: ``warn`` or ``fail`` when an earlier foreign line would
      match every connection a managed rule matches (first match wins)
    + tag: the environment owning the block (``config.scope_tag``)
    """
    current = cluster.hba_text or ""
    shadows = shadowing(current, rules, tag=tag)
    if shadows:
        message = f"{cluster.hba_file}: " + "; ".join(format_shadow(s) for s in shadows)
        if on_shadowed == "fail":
            raise OperationError(
                message + " (set pg_hba_on_shadowed = 'warn' to write the block anyway)"
            )
        logger.warning(f"{host.print_prefix}{message}")
        notices.add(host, message)
    wanted = apply_block(current, rules, tag=tag)
    validate = pg_commands.hba_errors(cluster.port, cluster.hba_file)
    if wanted != current:
        yield from _install(cluster.hba_file, wanted, backup_dir, backups_keep, validate, current)
    elif cluster.changed_since_reload("hba"):
        # Edited after the last reload (by hand, or a run that stopped half-way).
        yield _bash(pg_commands.refuse_if(validate, cluster.hba_file))
    else:
        host.noop(f"pg_hba.conf managed block ({tag}) of {cluster.id} is up to date and loaded")
        return
    yield pg_commands.reload_and_wait(cluster.port)


def changed_setting_names(old_text: str | None, new_text: str) -> set[str]:
    old = {name: unquote_value(raw) for _, name, raw in parse_conf(old_text or "")}
    new = {name: unquote_value(raw) for _, name, raw in parse_conf(new_text)}
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


def shared_settings_decision(
    writer: str | None, environment: str | None, owner: str | None, differ: bool
) -> str:
    """What a run does with server settings another environment may have written:
    "write" (no other writer, or this environment owns them), "keep" (the other's file
    has the same settings), "leave" (they differ, the writer owns them: notice),
    "fail" (they differ and nobody, or a third environment, owns them)."""
    if not writer or not environment or writer == environment or owner == environment:
        return "write"
    if not differ:
        return "keep"
    return "leave" if owner == writer else "fail"


def server_settings_conflict(
    writer: str, environment: str, owner: str | None, old_managed: str, new_managed: str
) -> str:
    """What differs between the server settings ``writer`` wrote and ``environment``'s,
    and what to do about it (an error, or with ``owner == writer`` a notice)."""
    old = {name: unquote_value(raw) for _, name, raw in parse_conf(old_managed)}
    new = {name: unquote_value(raw) for _, name, raw in parse_conf(new_managed)}
    diffs = "; ".join(
        f"{name}: {writer} {old.get(name, '(unset)')!r}, {environment} {new.get(name, '(unset)')!r}"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    )
    if owner == writer:
        return (
            f"server settings (postgresql.conf) on this host belong to {writer} "
            f"(pg_server_settings_owner); {environment}'s differ and were left as {writer} wrote "
            f"them: {diffs}"
        )
    return (
        f"{environment} and {writer} disagree on server settings for this host: {diffs}. "
        "PostgreSQL has one postgresql.conf: make pg_listen_addresses/pg_settings equal in "
        f"group_data/{environment}.py and group_data/{writer}.py, or set pg_server_settings_owner "
        f"(in both) to the environment whose settings win. Nothing was changed."
    )


def dropin_path(cluster: PgCluster, dropin_name: str) -> str | None:
    """Our drop-in's path, when postgresql.conf includes a directory."""
    dirs = include_dirs(cluster.conf_text or "")
    if not dirs:
        return None
    directory = dirs[-1]
    if not directory.startswith("/"):
        directory = cluster.config_file.rsplit("/", 1)[0] + "/" + directory
    return f"{directory}/{dropin_name}"


@operation()
def server_settings(
    server: PgServer,
    cluster: PgCluster,
    settings: dict,
    dropin_name: str,
    backup_dir: str,
    backups_keep: int = 10,
    allow_restart: bool = True,
    environment: str | None = None,
    owner: str | None = None,
):
    """
    Keep ``settings`` (name -> value) in one managed drop-in under the
    cluster's ``include_dir``, or a managed block at the end of
    postgresql.conf when there is none. Values are validated by PostgreSQL
    (``postgres -C``, ``pg_file_settings``) before activation. Reloads; restarts
    only when PostgreSQL reports ``pending_restart`` (a changed setting of
    context ``postmaster``), and only if ``allow_restart``.

    The settings are the server's, not an environment's: the file records the
    ``environment`` that wrote it. When another environment wrote it and these
    settings differ from its (see :func:`server_settings_conflict`), ``owner``
    (``pg_server_settings_owner``) decides.
    """
    path = dropin_path(cluster, dropin_name)
    if path:
        which, current = "dropin", cluster.dropin_text or ""
        wanted = render_dropin(settings, environment=environment)
        old_managed, new_managed = current, wanted
    else:
        which, path, current = "conf", cluster.config_file, cluster.conf_text or ""
        wanted = apply_managed_lines(current, settings, environment)
        old_managed, new_managed = managed_part(current), managed_part(wanted)

    changed = changed_setting_names(old_managed, new_managed)
    writer = written_by(old_managed)
    decision = shared_settings_decision(writer, environment, owner, bool(changed))
    if decision in ("fail", "leave"):
        message = server_settings_conflict(writer, environment, owner, old_managed, new_managed)
        if decision == "fail":
            raise OperationError(message)
        notices.add(host, message)
    if decision != "write":
        # Another environment's file with the same settings (or theirs to decide): kept
        # as it is, header included, so alternating runs change nothing.
        wanted, changed = current, set()
    restart_for = sorted(
        {n for n in changed if n in cluster.settings and cluster.settings[n].context == "postmaster"}
        | set(cluster.pending_restart)
    )
    restart_command = pg_commands.restart(
        server.service_manager, server.has_pg_ctlcluster, cluster.version, cluster.name
    )
    if restart_for and not allow_restart:
        notices.add(
            host,
            f"PostgreSQL {cluster.id} needs a restart for {', '.join(restart_for)}; "
            "pg_allow_restart is False, so it is not restarted. "
            f"Restart it in a maintenance window: {restart_command}",
        )

    file_changes = wanted != current
    if not (file_changes or cluster.changed_since_reload(which) or (restart_for and allow_restart)):
        host.noop(f"postgresql.conf settings of {cluster.id} are up to date and loaded")
        return

    validate = pg_commands.conf_errors(
        cluster.port, cluster.postgres_bin, cluster.data_directory, cluster.config_file
    )
    if file_changes:
        yield from _install(path, wanted, backup_dir, backups_keep, validate, current)
    else:
        yield _bash(pg_commands.refuse_if(validate, path))
    yield pg_commands.reload_and_wait(cluster.port)
    yield _bash(pg_commands.restart_if_pending(cluster.port, restart_command, allow_restart))
