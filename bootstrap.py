"""One-time host bootstrap: a freshly installed Debian/Ubuntu server to ready for deploy.py.

    pyinfra inventory/<env>.py bootstrap.py --data ssh_user=root

Runs as root (or a sudo user); afterwards deploy.py connects as deploy_user with sudo.
Idempotent: safe to run again.
"""

from pyinfra import host, local

from deploylib import pyinfra_compat
from deploylib.backup_hosts import is_backup_host

# First, before any fact or operation: pyinfra made cheaper per operation and per remote
# command (TCP_NODELAY), the deploy's refusals shown as messages (deploylib/pyinfra_compat.py).
pyinfra_compat.install(host)

local.include("tasks/run_lock.py")  # first: stop if another run holds this host
if not is_backup_host(host):  # a backup host (pgBackRest's repository) gets none of these
    local.include("tasks/bootstrap_packages.py")  # PostgreSQL (+ pgvector where packaged), ufw, git, rsync
    local.include("tasks/bootstrap_docker.py")  # Docker Engine + compose from the distribution
local.include("tasks/bootstrap_pgbackrest.py")  # pgbackrest_enabled: packages, repository user, SSH keys
local.include("tasks/deploy_user.py")  # deploy user: SSH key, docker group, sudo rule (visudo-checked)
if not is_backup_host(host):
    local.include("tasks/directories.py")  # data and backup directories
local.include("tasks/announce_plan.py")  # what will happen, in the operator's words
local.include("tasks/prod_guard.py")  # once the plan is known: prod changes need confirmation
local.include("tasks/run_unlock.py")  # after the guard: lock at the first change, release at the end
