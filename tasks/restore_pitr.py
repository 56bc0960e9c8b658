"""Point-in-time restore (restore_target_time) from pgBackRest into a side cluster on the
database host; verified; made the live cluster only with restore_swap."""

from datetime import UTC, datetime

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from deploylib import postgres_rules
from deploylib.model import backups, pg_commands, pgbackrest
from deploylib.operations import pgbackrest as pgbackrest_ops

settings = host.data.settings
server, cluster = postgres_rules.server_and_cluster(host, settings)
target = settings.restore_target_time
if settings.restore_port == cluster.port:
    raise DeployError(
        f"{host.name}: restore_port {settings.restore_port} is the live cluster's port ({cluster.id}); "
        f"pick another ({settings.source('restore_port')}). Nothing was changed."
    )
if target != "latest" and pgbackrest.target_moment(target) > datetime.now(UTC):
    raise DeployError(
        f"{host.name}: restore_target_time {target} is in the future (this machine's clock: "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC); recovery could not reach it. Nothing was changed."
    )
stamp = backups.utc_stamp()
directory = pgbackrest.side_dir(cluster.version, stamp)
swap = None
if settings.restore_swap:
    swap = pgbackrest.swap_script(
        settings.environment, cluster.version, cluster.name, cluster.data_directory, settings.restore_port,
        directory, stamp,
        start=pg_commands.start(server.service_manager, server.has_pg_ctlcluster, cluster.version, cluster.name),
        stop=pg_commands.stop(server.service_manager, server.has_pg_ctlcluster, cluster.version, cluster.name),
        port=cluster.port,
    )
pgbackrest_ops.pitr_restore(
    name=f"Point-in-time restore of {cluster.id} to {target}" + (" and swap it in" if swap else ""),
    script=pgbackrest.restore_script(
        settings.environment, cluster.version, cluster.port, settings.restore_port, directory, target,
    ),
    swap_script=swap,
    target=target,
    directory=directory,
    port=settings.restore_port,
)
