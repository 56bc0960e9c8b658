"""pgBackRest on the backup host: the repository's directories, pgbackrest.conf (with the cipher
passphrase: 0640 root:<repository user>), the SSH trust with the database host, the backup
schedules and the wrapper that writes each backup's status for node_exporter."""

from pyinfra import host

from deploylib import backup_hosts, notices
from deploylib.model import pgbackrest
from deploylib.model.config import Secret
from deploylib.operations import paths
from deploylib.operations import pgbackrest as pgbackrest_ops

settings = host.data.settings
if not settings.pgbackrest_enabled:
    notices.add(host, f"in group backup_hosts, but pgbackrest_enabled is False "
                      f"({settings.source('pgbackrest_enabled')}): nothing is done on this host")
else:
    environment = settings.environment
    repo_user = settings.pgbackrest_repo_user
    mine = backup_hosts.host_state(host)
    backup_hosts.public_key_or_refusal(host, mine)  # bootstrap.py made it
    database = backup_hosts.peer(host)
    files = backup_hosts.key_files(backup_hosts.repo_home(settings))
    script = pgbackrest.script_path(environment)

    for directory, user, group, mode in (
        (settings.pgbackrest_repo_path, repo_user, repo_user, "750"),
        (pgbackrest.LOG_DIR, repo_user, repo_user, "750"),
        (pgbackrest.CONF_DIR, "root", "root", "755"),
        (files["dir"], repo_user, repo_user, "700"),
        (pgbackrest.TEXTFILE_DIR, "root", "root", "755"),
    ):
        paths.directory(
            name=f"pgBackRest directory {directory}",
            path=directory, user=user, group=group, mode=mode,
        )

    wanted = {
        script: (pgbackrest.status_script(environment, repo_user, 5432, "psql"), "root", "root", "755"),
        pgbackrest.cron_path(environment): (pgbackrest.cron_file(settings, script), "root", "root", "644"),
    }
    if database is None:
        notices.add(host, "pgBackRest: the database host is not part of this run: pgbackrest.conf and the "
                          "SSH trust were left as they are")
    else:
        theirs = backup_hosts.host_state(database)
        _, cluster = backup_hosts.database_cluster(database)
        conf = pgbackrest.repo_conf(settings, settings.pgbackrest_cipher.reveal(), backup_hosts.address(database),
                                    cluster.data_directory, cluster.port)
        pgbackrest_ops.secret_file(
            name=f"pgBackRest repository configuration {pgbackrest.CONF} (with the cipher passphrase)",
            path=pgbackrest.CONF,
            content=Secret(conf, pgbackrest.CONF),
            user="root", group=repo_user, mode="640",
        )
        for path, text in backup_hosts.ssh_files(host, mine, database, theirs, environment).items():
            wanted[path] = (text, repo_user, repo_user, "600" if path == files["authorized_keys"] else "644")

    for path, (text, user, group, mode) in wanted.items():
        paths.file_content(
            name=f"pgBackRest file {path}",
            path=path, content=text, user=user, group=group, mode=mode,
        )
