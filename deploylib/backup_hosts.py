"""The two hosts of pgBackRest (the database host, the backup host in the inventory's
backup_hosts group) and what each asks about itself and its peer, in one command per host
(host code: may import facts, the model, managed_paths and postgres_rules)."""

from __future__ import annotations

from pyinfra.api.exceptions import DeployError

from .facts import cached_fact
from .facts.pgbackrest import (  # noqa: F401 - the hosts' requests live with their fact
    HOST_KEY,
    POSTGRES_HOME,
    backup_host_paths,
    is_backup_host,
    key_files,
    repo_home,
    state_request,
)
from .model import pgbackrest


class BackupHostError(DeployError):
    """pgBackRest's hosts are not as the configuration says: stop before changing anything."""


def address(host) -> str:
    """How the peer reaches `host`: its SSH address (host data ssh_hostname) or its name."""
    return host.data.get("ssh_hostname") or host.name


def peers(host) -> list:
    """The hosts of the other role in this environment, from the whole inventory."""
    environment = host.data.settings.environment
    mine = is_backup_host(host)
    return [
        other for other in host.inventory
        if other is not host and is_backup_host(other) != mine
        and getattr(other.data.get("settings"), "environment", None) == environment
    ]


def peer(host):
    """The one peer (backup host for a database host and back), or None when it is not part
    of this run (--limit, unreachable): then nothing that needs it is planned."""
    found = peers(host)
    if not is_backup_host(host) and not found:
        raise BackupHostError(
            f"{host.name}: pgbackrest_enabled, but inventory/{host.data.settings.environment}.py "
            f"names no backup host (group {pgbackrest.BACKUP_GROUP}). Nothing was changed."
        )
    if len(found) > 1:
        raise BackupHostError(
            f"{host.name}: several {'database' if is_backup_host(host) else 'backup'} hosts in "
            f"{host.data.settings.environment}: " + ", ".join(h.name for h in found)
            + " (pgBackRest here serves one database host per environment). Nothing was changed."
        )
    if not found:
        return None
    other = found[0]
    return other if other in host.state.active_hosts and other.connected else None


def database_cluster(host):
    """The database host's managed cluster (PostgresServer, from its own prefetch)."""
    from . import managed_paths, postgres_rules

    managed_paths.prefetch_host_facts(host, host.data.settings)
    return postgres_rules.server_and_cluster(host, host.data.settings)


def host_state(host):
    """PgBackRestHost for either role (asked through the host's prefetch)."""
    from . import managed_paths

    managed_paths.prefetch_host_facts(host, host.data.settings)
    fact_cls, kwargs = state_request(host)
    return cached_fact(host, fact_cls, **kwargs)


def public_key_or_refusal(host, state) -> str:
    """The repository/postgres user's public key, or stop: bootstrap.py generates it."""
    settings = host.data.settings
    home = repo_home(settings) if is_backup_host(host) else POSTGRES_HOME
    key = state.files.get(key_files(home)["public_key"], "").strip()
    if not key or not state.files.get(HOST_KEY, "").strip():
        raise BackupHostError(
            f"{host.name}: no SSH key of {'the repository user' if is_backup_host(host) else 'postgres'} "
            f"({key_files(home)['public_key']}) or no host key ({HOST_KEY}): run bootstrap.py on the "
            "database and backup hosts first. Nothing was changed."
        )
    return key


def archiving_after_run(db_host) -> bool:
    """Will WAL archiving be on once this run's server settings are applied? (archive_mode
    needs a restart, which pg_allow_restart and the other environments' policies govern.)"""
    from .model.postgres_rules import settings_plan_args
    from .postgres_rules import settings_plan

    settings = db_host.data.settings
    server, cluster = database_cluster(db_host)
    current = cluster.settings.get("archive_mode")
    plan = settings_plan(db_host, server, cluster, **settings_plan_args(settings))
    if plan.refusal:
        return False
    if "archive_mode" in plan.restart_for:
        return plan.may_restart
    return current is not None and current.value == "on"


def ssh_files(host, state, peer_host, peer_state, environment: str) -> dict[str, str]:
    """authorized_keys and known_hosts of `host`'s pgBackRest user: the peer's key allowed to
    run pgbackrest only, the peer's host key pinned at the address this host dials. A
    known_hosts that already pins it is left out: ssh rewrites that file itself (it adds the
    peer's other host keys once the pinned one is verified), so its bytes and mode drift."""
    home = repo_home(host.data.settings) if is_backup_host(host) else POSTGRES_HOME
    files = key_files(home)
    peer_key = public_key_or_refusal(peer_host, peer_state)
    wanted = {
        files["authorized_keys"]: pgbackrest.merge_lines(
            state.files.get(files["authorized_keys"]), [pgbackrest.authorized_line(peer_key, environment)],
            environment,
        ),
        files["known_hosts"]: pgbackrest.merge_lines(
            state.files.get(files["known_hosts"]),
            [pgbackrest.known_hosts_line(address(peer_host), peer_state.files[HOST_KEY], environment)],
            environment,
        ),
    }
    known_hosts = state.files.get(files["known_hosts"])
    if known_hosts is not None and wanted[files["known_hosts"]] == known_hosts:
        del wanted[files["known_hosts"]]
    return wanted
