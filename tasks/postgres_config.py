"""postgresql.conf and pg_hba.conf: make host PostgreSQL reachable from the app's
networks, and nothing else. Reload, or restart only when a setting needs it."""

from pyinfra import host

from deploylib import postgres_rules
from deploylib.facts import cached_fact
from deploylib.facts.host import NetworkInterfaces
from deploylib.model.config import scope_tag
from deploylib.model.postgres_rules import (
    hba_rules,
    network_request,
    settings_plan_args,
    unserved_client_networks,
)
from deploylib.operations import postgres_config

settings = host.data.settings
server, cluster = postgres_rules.server_and_cluster(host, settings)
backups = f"{settings.deploy_state_dir}/backups"

settings_args = settings_plan_args(settings)
# Values PostgreSQL could not start with, a managed setting another file overrides, a
# conflict with another environment's settings: stop now, before any operation runs.
refusal = postgres_rules.settings_plan(host, server, cluster, **settings_args).refusal
if refusal:
    raise postgres_rules.SettingsRefused(f"{host.name}: {refusal}")

# Every client network must reach PostgreSQL through some listen address (pg_hba and the
# firewall letting it in would otherwise "succeed" into "Connection refused").
unserved = unserved_client_networks(settings, cached_fact(host, NetworkInterfaces, **network_request(settings)))
if unserved:
    raise postgres_rules.SettingsRefused(f"{host.name}: {unserved}")

postgres_config.server_settings(
    name=f"PostgreSQL {cluster.id} settings (postgresql.conf)",
    backup_dir=backups,
    listen_source=settings.source("pg_listen_addresses"),
    backups_keep=settings.pg_config_backups_keep,
    **settings_args,
)

postgres_config.hba_rules(
    name=f"PostgreSQL {cluster.id} client rules (pg_hba.conf)",
    rules=hba_rules(settings),
    backup_dir=backups,
    backups_keep=settings.pg_config_backups_keep,
    on_shadowed=settings.pg_hba_on_shadowed,
    tag=scope_tag(settings.environment),
)
