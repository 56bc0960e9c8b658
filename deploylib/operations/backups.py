"""Operations that take a backup now, or restore one (explicit actions, not states; host code:
pyinfra operations over deploylib.model.backups)."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

from .. import announce
from ..model import pg_sql
from ..model.backups import exclusive_values, render, restore_names, script_path
from ..pyinfra_compat import replayable


@operation()
@replayable
def backup_now(enabled: bool, about_to_change: bool, script: str):
    """
    Run the installed backup script once (databases that do not exist yet are
    skipped). Nothing happens when ``enabled`` is off or nothing is
    ``about_to_change``; a failed backup fails the host here.
    """
    if not enabled:
        host.noop("backup_before_deploy is off")
        return
    if not about_to_change:
        host.noop("nothing is about to change: no backup taken")
        return
    yield run_backup_script(script)


def pre_deploy_backup(settings, about_to_change: bool = True, name: str = "Backup before deploy"):
    """Run the installed backup script once (every managed database that exists, and the
    globals) when ``backup_before_deploy`` is on and ``about_to_change``; a failed backup
    stops the host before the application changes. Call it from the app task, before
    compose up, after tasks/backups.py installed the script."""
    return backup_now(
        name=name,
        enabled=settings.backup_before_deploy,
        about_to_change=about_to_change,
        script=script_path(settings.environment),
    )


def run_backup_script(script: str) -> str:
    """Shell: run the installed backup script once, or say how to install it."""
    q = shlex.quote(script)
    return (
        f"if [ ! -x {q} ]; then echo {q}' is not installed: run deploy.py (its backups "
        f"step installs it) before the application step' >&2; exit 1; fi; {q} --skip-missing"
    )


def restore_report(backup_dir: str, new_db: str) -> str:
    return f"{backup_dir}/restores/{new_db}.log"


def restore_script(port: int, database: str, owner: str, file: str, stamp: str, settings: dict,
                   other_owners: list[str], backup_dir: str, comment: str, swap: bool = False,
                   drop_old: bool = False) -> str:
    """The restore script (templates/restore.sh.j2) for ``restore`` (pure)."""
    new_db, old_db = restore_names(database, stamp)
    report = restore_report(backup_dir, new_db)
    prepare_sql = (
        pg_sql.isolation_sql(new_db, owner, "", other_owners)
        + pg_sql.set_database_settings(new_db, settings)
        + pg_sql.comment_on("DATABASE", new_db, comment)
    )
    old_comment = (
        f"COMMENT ON DATABASE {pg_sql.ident(old_db)} IS "
        + pg_sql.literal(f"{database} before the restore of {file} at {stamp}")
    )
    return render(
        "restore.sh.j2",
        port=int(port),
        database=database,
        owner=owner,
        new_db=new_db,
        old_db=old_db,
        file=file,
        report=report,
        backup_dir=backup_dir,
        create_sql=pg_sql.create_database(new_db, owner, "UTF8"),
        prepare_sql=prepare_sql,
        old_comment_sql=old_comment,
        swap=swap,
        drop_old=drop_old,
        **exclusive_values(),
    )


@operation(is_idempotent=False)
def restore(
    port: int,
    database: str,
    owner: str,
    file: str,
    stamp: str,
    settings: dict,
    other_owners: list[str],
    backup_dir: str,
    comment: str,
    swap: bool = False,
    drop_old: bool = False,
):
    """
    Restore the custom-format dump ``file`` (on the host) into a new database
    ``<database>_restore_<stamp>`` owned by ``owner`` (CONNECT for the owner only,
    the database ``settings``), verify it (pg_restore's exit code, table count
    and every table's row count against the dump), and with ``swap`` rename the
    current database ``<database>_before_restore_<stamp>`` and the new one
    ``database``. The old database is dropped only with ``drop_old``.
    """
    new_db, old_db = restore_names(database, stamp)
    report = restore_report(backup_dir, new_db)
    script = restore_script(port, database, owner, file, stamp, settings, other_owners, backup_dir,
                            comment, swap, drop_old)
    # Said in the future tense in the plan, in the past only once the script succeeded.
    will = f"restore {file} into a new database {new_db} and verify it"
    did = f"restored {file} into {new_db}, verified"
    if swap:
        fate = "DROPPED (restore_drop_old)" if drop_old else "kept"
        will += (f"; then terminate the connections to {database} and swap: {database} becomes "
                 f"{old_db} ({fate}), {new_db} becomes {database}")
        did += f"; swapped in as {database}, the previous one is {old_db} ({fate})"
    announce.will(host, will)
    yield StringCommand("bash", "-c", shlex.quote(script))
    yield announce.did_with_report(
        host, f"{did}; report on the host: {report}", f"sed -n 's/^restore: //p' {shlex.quote(report)}"
    )
