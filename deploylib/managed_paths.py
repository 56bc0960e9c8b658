"""What the deploy manages on a host (files, directories, packages), each asked with one fact call."""

from __future__ import annotations

from .facts import cached_fact
from .facts.paths import PathsState
from .model import backups, compose
from .model.firewall import registry as firewall_registry


def managed(settings) -> list[str]:
    return sorted(
        {
            settings.deploy_state_dir,
            settings.backup_dir,
            backups.script_path(settings.environment),
            backups.cron_path(settings.environment),
            *backups.LEGACY_FILES,
        }
    )


def packages_request(settings) -> tuple[type, dict]:
    """DebInstalled for every package the deploy may install on any distribution
    (dpkg is asked about names only: a name it doesn't know costs nothing)."""
    from .bootstrap import docker_packages
    from .facts.host import DebInstalled

    names = {*settings.base_packages, *firewall_registry.packages()}
    if compose.app_enabled(settings):
        # docker-cli may be added on the host's side (compose.docker_packages): ask for it too.
        for distribution in ("debian", "ubuntu"):
            names |= set(docker_packages(settings.docker_packages, distribution))
        names |= set(compose.FACT_PACKAGES)
    return DebInstalled, {"packages": sorted(names)}


def paths_request(settings) -> tuple[type, dict]:
    return PathsState, {"paths": managed(settings)}


def installed_packages(host, settings) -> dict:
    """{package: version} of every package the deploy may install, asked once per host."""
    fact_cls, kwargs = packages_request(settings)
    return cached_fact(host, fact_cls, **kwargs)


def state(host, settings) -> dict:
    """{path: PathState} for every managed path (absent ones missing), asked once per host."""
    fact_cls, kwargs = paths_request(settings)
    return cached_fact(host, fact_cls, **kwargs)


def prefetch_host_facts(host, settings) -> None:
    """What a run asks about the host, in one remote command (facts.prefetch): its
    run lock, packages, the managed paths, the PostgreSQL server with our roles and
    databases, the host's addresses and routes, the firewall (host and rules) and (for the
    application) the distribution."""
    from pyinfra.facts.server import LinuxDistribution

    from .facts import prefetch
    from .facts.host import NetworkInterfaces
    from .facts.postgres import PostgresServer
    from .facts.run_lock import RunLock
    from .postgres_rules import server_request

    requests = [
        (RunLock, {}),
        packages_request(settings),
        paths_request(settings),
        (PostgresServer, server_request(settings)),
        (NetworkInterfaces, {}),  # are the client networks served by a listen address?
    ]
    if settings.firewall_backend != "none":
        from .facts.firewall import FirewallHost, FirewallState

        requests.append((FirewallHost, {}))
        requests += [(FirewallState, {"backend": name})
                     for name in firewall_registry.prefetched(settings.firewall_backend)]
    if compose.app_enabled(settings):
        requests.append((LinuxDistribution, {}))
    prefetch(host, requests)
