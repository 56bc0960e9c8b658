"""Operations on a PostgreSQL server's configuration files: pg_hba.conf and postgresql.conf (host
code: pyinfra operations; may import facts, the model, announce and notices).

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

from .. import announce, notices, postgres_rules, show_diff
from ..model import file_swap, pg_commands, pg_safety
from ..model.pg_hba import format_shadow, plan_block
from ..model.postgres_state import PgCluster, PgServer
from ..model.server_settings import settings_action
from ..pyinfra_compat import replayable


def managed_cluster() -> tuple[PgServer, PgCluster]:
    """The PostgresServer fact and the cluster the deploy manages (asked once per host)."""
    return postgres_rules.server_and_cluster(host, host.data.settings)


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
@replayable
def hba_rules(
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

    + rules: ``HbaRule`` list; empty removes the block
    + backup_dir: where backups of the previous file go
    + backups_keep: how many backups of pg_hba.conf to keep
    + on_shadowed: ``warn`` or ``fail`` when an earlier foreign line would
      match every connection a managed rule matches (first match wins)
    + tag: the environment owning the block (``config.scope_tag``)
    """
    _, cluster = managed_cluster()
    current = cluster.hba_text or ""
    shadows, wanted = plan_block(current, tuple(rules), tag)
    if shadows:
        message = f"{cluster.hba_file}: " + "; ".join(format_shadow(s) for s in shadows)
        if on_shadowed == "fail":
            raise OperationError(
                message + " (set pg_hba_on_shadowed = 'warn' to write the block anyway)"
            )
        logger.warning(f"{host.print_prefix}{message}")
        notices.add(host, message)
    show_diff.show(host, cluster.hba_file, cluster.hba_text, wanted)  # --diff, the prod guard
    validate = pg_commands.hba_errors(cluster.port, cluster.hba_file)
    if wanted != current:
        yield from _install(cluster.hba_file, wanted, backup_dir, backups_keep, validate, current)
    elif cluster.changed_since_reload("hba"):
        # Edited after the last reload (by hand, or a run that stopped half-way).
        yield _bash(pg_commands.refuse_if(validate, cluster.hba_file))
    else:
        host.noop(f"pg_hba.conf managed block ({tag}) of {cluster.id} is up to date and loaded")
        return
    announce.will(host, f"reload PostgreSQL {cluster.id} for its client rules (pg_hba.conf), no restart")
    yield pg_commands.reload_and_wait(cluster.port)
    yield announce.did(host, f"reloaded PostgreSQL {cluster.id} for its client rules (pg_hba.conf)")


@operation()
@replayable
def server_settings(
    settings: dict,
    dropin_name: str,
    backup_dir: str,
    backups_keep: int = 10,
    allow_restart: bool = True,
    environment: str | None = None,
    owner: str | None = None,
    restart_policies: dict | None = None,
    reset_overrides: bool = False,
    listen_source: str = "group_data",
):
    """
    Keep ``settings`` (name -> value) in one managed drop-in under the
    cluster's ``include_dir``, or a managed block at the end of
    postgresql.conf when there is none. Values are validated by PostgreSQL
    (``postgres -C``, ``pg_file_settings``) before activation. Reloads; restarts
    only when PostgreSQL reports ``pending_restart`` for one of these settings, and
    only if every environment whose state is on the server allows it
    (``allow_restart`` for this one, ``restart_policies`` for the others).

    Before anything changes (:func:`deploylib.model.server_settings.plan_server_settings`), the run stops when a value
    could not start PostgreSQL (shared memory beyond the host's memory, a preload
    library without its file), or when a file read after ours overrides a managed
    setting (ALTER SYSTEM: reset with ``reset_overrides``). A restart PostgreSQL does
    not come back from is rolled back (the previous file, or the values it ran with,
    started again) and fails the run. After activation every managed setting must be
    in effect (``pg_settings``), and PostgreSQL listening on every listen address (its
    sockets: it starts even when it cannot bind one), or the run fails
    (``listen_source``: where pg_listen_addresses is set, for the message).

    The settings are the server's, not an environment's: the file records the
    ``environment`` that wrote it. When another environment wrote it and these
    settings differ from its (see :func:`deploylib.model.server_settings.server_settings_conflict`), ``owner``
    (``pg_server_settings_owner``) decides.
    """
    server, cluster = managed_cluster()
    plan = postgres_rules.settings_plan(
        host, server, cluster, settings=settings, dropin_name=dropin_name,
        allow_restart=allow_restart, environment=environment, owner=owner,
        restart_policies=restart_policies, reset_overrides=reset_overrides,
    )
    if plan.refusal:
        raise OperationError(plan.refusal)
    for message in plan.notices:
        notices.add(host, message)
    file_changes = plan.wanted != plan.current
    if file_changes:  # --diff, the prod guard
        show_diff.show(host, plan.path, cluster.dropin_text if plan.which == "dropin" else cluster.conf_text, plan.wanted)
    if not (
        file_changes or cluster.changed_since_reload(plan.which) or (plan.restart_for and plan.may_restart)
        or plan.resets or plan.not_in_effect
    ):
        host.noop(f"postgresql.conf settings of {cluster.id} are up to date and loaded")
        return

    will, did = settings_action(plan, cluster.id)
    announce.will(host, will)
    validate = pg_commands.conf_errors(
        cluster.port, cluster.postgres_bin, cluster.data_directory, cluster.config_file
    )
    if file_changes:
        yield from _install(plan.path, plan.wanted, backup_dir, backups_keep, validate, plan.current)
    elif cluster.changed_since_reload(plan.which):
        yield _bash(pg_commands.refuse_if(validate, plan.path))
    if plan.resets:
        yield pg_commands.alter_system_reset(cluster.port, plan.resets)
    yield pg_commands.reload_and_wait(cluster.port)
    if plan.may_restart:
        fallback = f"{plan.path}.deploy-fallback"
        if not plan.fallback_absent:
            yield FileUploadCommand(StringIO(plan.fallback), fallback)
        yield _bash(
            pg_commands.restart_with_rollback(
                cluster.port, cluster.id,
                pg_commands.restart(server.service_manager, server.has_pg_ctlcluster, cluster.version, cluster.name),
                plan.path, fallback, sorted(plan.ours),
                pg_commands.log_file(server.has_pg_ctlcluster, cluster.version, cluster.name),
                previous_absent=plan.fallback_absent,
            )
        )
    kinds = {
        n: (cluster.settings[n].vartype, cluster.settings[n].unit) for n in plan.in_file if n in cluster.settings
    }
    check = pg_safety.effective_check_sql(plan.in_file, kinds, skip_pending=not plan.may_restart)
    yield _bash(pg_commands.effective_errors(cluster.port, cluster.id, check))
    listen = settings.get("listen_addresses")
    if listen and not ("listen_addresses" in plan.restart_for and not plan.may_restart):
        yield _bash(
            pg_commands.listening_errors(
                cluster.port, cluster.id, listen,
                pg_commands.log_file(server.has_pg_ctlcluster, cluster.version, cluster.name), listen_source,
            )
        )
    yield announce.did(host, did)
