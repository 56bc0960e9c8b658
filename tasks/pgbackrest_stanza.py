"""pgBackRest, on both of its hosts at once (the same operations, so that both hosts' earlier
steps are done before these run): the stanza created and checked and the first full backup
(on the backup host), then the freshness check: backups too old, WAL archiving failing."""

from pyinfra import host

from deploylib import backup_hosts
from deploylib.facts.pgbackrest import stanza_status
from deploylib.model import pgbackrest
from deploylib.operations import pgbackrest as pgbackrest_ops

settings = host.data.settings
if settings.pgbackrest_enabled:
    environment = settings.environment
    mine = backup_hosts.host_state(host)
    repo_user = script = status = None
    archiving = False
    if backup_hosts.is_backup_host(host):
        database = backup_hosts.peer(host)
        status = stanza_status(mine.info)
        if database is not None:
            repo_user, script = settings.pgbackrest_repo_user, pgbackrest.script_path(environment)
            archiving = backup_hosts.archiving_after_run(database)
        path = pgbackrest.status_path(environment, "backup")
        # A stanza without a backup gets its first one in this run (or, while archiving waits for
        # a restart, once it happened: the database host says so): judged from then on.
        problems = [] if status != 0 else pgbackrest.backup_problems(
            pgbackrest.parse_prom(mine.files.get(path)), mine.now, settings.pgbackrest_max_age_hours, path,
        )
    else:
        problems = pgbackrest.archiver_problems(backup_hosts.database_cluster(host)[1].archiver)

    pgbackrest_ops.stanza(
        name=f"pgBackRest stanza {pgbackrest.stanza(environment)} (create, check)",
        environment=environment, repo_user=repo_user, status=status, archiving=archiving,
    )
    pgbackrest_ops.first_backup(
        name="pgBackRest first full backup",
        environment=environment, script=script, status=status, archiving=archiving,
    )
    pgbackrest_ops.freshness(  # a name without ", " (the audit log's separator of names)
        name="pgBackRest backups fresh and WAL archiving working",
        problems=problems, fail=settings.pgbackrest_freshness_fails,
    )
