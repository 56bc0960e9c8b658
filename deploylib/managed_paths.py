"""What the deploy manages on a host (files, directories, packages), each asked with one fact call
(host code: may import facts and the model)."""

from __future__ import annotations

from .facts import cached_fact
from .facts.paths import PathsState
from .model import audit, backups, compose, migrations
from .model.firewall import registry as firewall_registry

# Every path an operation of deploylib.operations.paths manages is declared here, once
# (managed()): the one PathsState fact describes them all, in the run's one remote command;
# an undeclared path is refused, not silently re-created on every run.


def managed(settings) -> list[str]:
    """Every path the deploy's path operations manage on a host of these settings."""
    from .facts import pgbackrest

    paths = {
        *(pgbackrest.database_host_paths(settings) if settings.pgbackrest_enabled else ()),
        settings.deploy_state_dir,
        settings.data_dir,
        settings.backup_dir,
        backups.script_path(settings.environment),
        backups.cron_path(settings.environment),
        *migrations.old_paths(),
        audit.LOGROTATE_PATH,
    }
    if compose.app_enabled(settings):
        paths |= {app_parent_dir(settings), settings.app_dir, compose.state_dir(settings),
                  compose.overlay_path(settings)}
        if settings.app_deploy_key:
            paths.add(f"{settings.app_dir}/.git")
    return sorted(paths - {"/"})


def app_parent_dir(settings) -> str:
    return settings.app_dir.rsplit("/", 1)[0] or "/"


def packages_request(settings) -> tuple[type, dict]:
    """DebInstalled for every package the deploy may install on any distribution
    (dpkg is asked about names only: a name it doesn't know costs nothing)."""
    from .facts.host import DebInstalled
    from .model.bootstrap import docker_packages

    # bootstrap.py's too: one packages operation (operations/packages.py) for every entry point.
    names = {*settings.base_packages, *settings.bootstrap_packages, audit.PACKAGE, *firewall_registry.packages()}
    for distribution in ("debian", "ubuntu"):  # bootstrap installs the engine with or without app
        names |= set(docker_packages(settings.docker_packages, distribution))
    if settings.pgbackrest_enabled:
        names |= {"pgbackrest", "python3", "sudo", "cron"}  # the backup host's too (bootstrap; logrotate above)
    if compose.app_enabled(settings):
        # docker-cli may be added on the host's side (compose.docker_packages): ask for it too.
        names |= set(compose.FACT_PACKAGES)
    return DebInstalled, {"packages": sorted(names)}


def paths_request(settings) -> tuple[type, dict]:
    return PathsState, {"paths": managed(settings)}


def installed_packages(host, settings) -> dict:
    """{package: version} of every package the deploy may install, asked once per host."""
    fact_cls, kwargs = packages_request(settings)
    return cached_fact(host, fact_cls, **kwargs)


def docker_engine(host, settings):
    """The DockerEngine fact, asked once per host (with the apt candidates of the engine's
    packages on this host's distribution)."""
    from .bootstrap import host_docker_packages
    from .facts.app import DockerEngine

    return cached_fact(host, DockerEngine,
                       packages=[*compose.FACT_PACKAGES, *host_docker_packages(host, settings)])


def host_paths(host, settings) -> list[str]:
    """The managed paths of this host: a pgBackRest backup host manages only its own."""
    from .facts import pgbackrest

    if settings.pgbackrest_enabled and pgbackrest.is_backup_host(host):
        return pgbackrest.backup_host_paths(settings)
    return managed(settings)


def state(host, settings) -> dict:
    """{path: PathState} for every managed path of this host (absent ones missing), asked
    once per host."""
    return cached_fact(host, PathsState, paths=host_paths(host, settings))


# One lock per host: pyinfra plans hosts side by side (greenlets), and pgBackRest's two hosts
# ask each other's facts (deploylib/backup_hosts.py); the second asker waits for the first
# bundle instead of sending its own.
_prefetch_locks: dict = {}


def prefetch_host_facts(host, settings) -> None:
    """What a run asks about the host, in one remote command (facts.prefetch): its
    run lock, packages, the managed paths, the PostgreSQL server with our roles and
    databases, the host's addresses and routes, the firewall (host and rules), (for the
    application) the distribution and (pgbackrest_enabled) pgBackRest's state."""
    from gevent.lock import RLock

    with _prefetch_locks.setdefault((id(host.state), host.name), RLock()):
        _prefetch_host_facts(host, settings)


def _prefetch_host_facts(host, settings) -> None:
    from pyinfra.facts.server import LinuxDistribution

    from .facts import prefetch
    from .facts.audit import AuditLast
    from .facts.host import NetworkInterfaces
    from .facts.postgres import PostgresServer
    from .facts.run_lock import RunLock
    from .model.postgres_rules import network_request, server_request

    if settings.pgbackrest_enabled:
        from .facts import pgbackrest

        if pgbackrest.is_backup_host(host):
            prefetch(host, pgbackrest.backup_host_prefetch(host))
            return
    requests = [
        (RunLock, {}),
        (AuditLast, {}),  # printed before the plan
        packages_request(settings),
        paths_request(settings),
        (PostgresServer, server_request(settings)),
        (NetworkInterfaces, network_request(settings)),  # client networks served by a listen address?
    ]
    if settings.firewall_backend != "none":
        from .facts.firewall import FirewallHost, FirewallState

        requests.append((FirewallHost, {}))
        requests += [(FirewallState, {"backend": name})
                     for name in firewall_registry.prefetched(settings.firewall_backend)]
    if compose.app_enabled(settings):
        requests.append((LinuxDistribution, {}))
    if settings.pgbackrest_enabled:
        requests.append(pgbackrest.state_request(host))
    prefetch(host, requests)
