"""Take a Debian/Ubuntu host to a running Hatchet + OwlClaw stack on its own PostgreSQL.

    pyinfra inventory/<env>.py deploy.py

Each step is one task file; the order is the runbook's. A fresh server first needs
bootstrap.py (once).
"""

from pyinfra import host, local

from deploylib import pyinfra_compat
from deploylib.backup_hosts import is_backup_host

# First, before any fact or operation: pyinfra made cheaper per operation and per remote
# command (TCP_NODELAY), the deploy's refusals shown as messages (deploylib/pyinfra_compat.py).
pyinfra_compat.install(host)

local.include("tasks/run_lock.py")  # first: stop if another run holds this host
if is_backup_host(host):  # pgBackRest's repository (inventory group backup_hosts): nothing else
    local.include("tasks/pgbackrest_repo.py")  # repository, pgbackrest.conf, SSH trust, schedules
else:
    local.include("tasks/base.py")  # packages, state directory
    # Before PostgreSQL's configuration: the Docker bridge address it listens on must exist.
    local.include("tasks/docker.py")  # Docker engine + compose v2 (when the app is deployed)
    local.include("tasks/postgres_config.py")  # postgresql.conf + pg_hba.conf, reload/restart
    local.include("tasks/firewall.py")  # PostgreSQL's port open to the client networks only
    local.include("tasks/databases.py")  # hatchet + owlclaw roles and databases, isolated, pgvector
    local.include("tasks/backups.py")  # backup script, its schedule (cron), backup directory
    local.include("tasks/pgbackrest.py")  # pgbackrest.conf, SSH trust with the backup host
    local.include("tasks/app.py")  # app repo at app_ref, .env, overlay, compose up (+ backup first)
    local.include("tasks/seed.py")  # seed SQL, once per database, after the schema exists
    local.include("tasks/migrations.py")  # state older deploys left, only where a host still has it
local.include("tasks/audit.py")  # the last run said before the plan; the audit log's rotation (both roles)
# Both pgBackRest hosts, after both hosts' own steps: stanza, first backup, freshness.
local.include("tasks/pgbackrest_stanza.py")
local.include("tasks/announce_plan.py")  # what will happen, in the operator's words
local.include("tasks/prod_guard.py")  # once the plan is known: prod changes need confirmation
local.include("tasks/run_unlock.py")  # after the guard: lock at the first change, release at the end
