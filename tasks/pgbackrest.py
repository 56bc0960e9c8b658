"""pgBackRest on the database host: the package, pgbackrest.conf (the repository is on the
backup host), the SSH trust with the backup host, the WAL archiving status for node_exporter.
archive_mode/archive_command come with the server settings (tasks/postgres_config.py)."""

from pyinfra import host

from deploylib import backup_hosts, notices, postgres_rules
from deploylib.model import pg_commands, pgbackrest
from deploylib.operations import packages, paths

settings = host.data.settings
if settings.pgbackrest_enabled:
    environment = settings.environment
    _, cluster = postgres_rules.server_and_cluster(host, settings)
    mine = backup_hosts.host_state(host)
    backup_hosts.public_key_or_refusal(host, mine)  # bootstrap.py made it
    backup = backup_hosts.peer(host)
    files = backup_hosts.key_files(backup_hosts.POSTGRES_HOME)
    script = pgbackrest.script_path(environment)
    cron = pgbackrest.cron_path(environment)

    packages.apt_present(
        name="pgBackRest package",
        packages=["pgbackrest"],
    )
    for directory, owner, mode in (
        (pgbackrest.CONF_DIR, "root", "755"),
        (files["dir"], "postgres", "700"),
        (pgbackrest.TEXTFILE_DIR, "root", "755"),
    ):
        paths.directory(
            name=f"pgBackRest directory {directory}",
            path=directory, user=owner, group=owner, mode=mode,
        )
    if backup is None:
        notices.add(host, "pgBackRest: the backup host is not part of this run: pgbackrest.conf and the "
                          "SSH trust were left as they are")
        wanted = {}
    else:
        theirs = backup_hosts.host_state(backup)
        wanted = {
            pgbackrest.CONF: (
                pgbackrest.db_conf(environment, backup_hosts.address(backup), settings.pgbackrest_repo_user,
                                   cluster.data_directory, cluster.port),
                "root", "postgres", "640",
            ),
            **{
                path: (text, "postgres", "postgres", "600" if path == files["authorized_keys"] else "644")
                for path, text in backup_hosts.ssh_files(host, mine, backup, theirs, environment).items()
            },
        }
    wanted[script] = (
        pgbackrest.status_script(environment, settings.pgbackrest_repo_user, cluster.port,
                                 pg_commands.psql_program(cluster.version)),
        "root", "root", "755",
    )
    wanted[cron] = (pgbackrest.archive_cron_file(script), "root", "root", "644")
    for path, (text, user, group, mode) in wanted.items():
        paths.file_content(
            name=f"pgBackRest file {path}",
            path=path, content=text, user=user, group=group, mode=mode,
        )
    if not backup_hosts.archiving_after_run(host):
        notices.add(host, f"pgBackRest: WAL archiving of PostgreSQL {cluster.id} waits for the restart "
                          "above (archive_mode); until then no WAL is archived and no backup is taken")
