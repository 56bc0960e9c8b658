"""Restore one database (restore_database) from a dump on the host (restore_file)."""

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from deploylib import postgres_rules
from deploylib.facts.paths import DumpFile
from deploylib.model import backups, pg_sql
from deploylib.operations import backups as backup_ops

settings = host.data.settings
if settings.restore_database is None or settings.restore_file is None:
    raise DeployError(
        f"{host.name}: restore.py needs restore_database and restore_file; nothing was changed. "
        "Next: pyinfra inventory/<env>.py restore.py --data restore_database=<db> "
        f"--data restore_file={settings.backup_dir}/<db>/<db>-<stamp>.dump "
        f"(ls -lt {settings.backup_dir}/<db>/ on the host lists the dumps)"
    )

_, cluster = postgres_rules.server_and_cluster(host, settings)
database = settings.restore_database
spec = settings.databases[database]

# While planning (--dry too): the dump must be there and readable, or nothing is planned.
dump = host.get_fact(DumpFile, path=settings.restore_file)
if dump != "ok":
    raise DeployError(
        f"{host.name}: restore_file {settings.restore_file}: {dump}"
        + (" (not a pg_dump custom-format archive)" if dump == "not a dump" else "")
        + f". Nothing was changed. Next: pick a dump from: ls -lt {settings.backup_dir}/{database}/"
    )

backup_ops.restore(
    name=f"Restore {database} from {settings.restore_file}"
    + (" and swap it in" if settings.restore_swap else ""),
    port=cluster.port,
    database=database,
    owner=spec["owner"],
    file=settings.restore_file,
    stamp=backups.utc_stamp(),
    settings=spec["settings"],
    other_owners=[s["owner"] for name, s in settings.databases.items() if name != database],
    backup_dir=settings.backup_dir,
    comment=pg_sql.managed_comment(settings.environment),
    swap=settings.restore_swap,
    drop_old=settings.restore_drop_old,
)
