"""Restore one managed database from a pg_dump custom-format file on the host.

    pyinfra inventory/<env>.py restore.py --data restore_database=owlclaw \\
        --data restore_file=/var/backups/hatchet-owlclaw/owlclaw/owlclaw-<stamp>.dump

Restores into a new database and verifies it; swaps only with restore_swap = True.

    pyinfra inventory/<env>.py restore.py --data restore_target_time=2026-12-02T01:15:00Z

Point-in-time restore of the whole cluster from pgBackRest (or restore_target_time=latest)
into a side cluster, verified; made live only with restore_swap = True.
"""

from pyinfra import host, local

from deploylib import pyinfra_compat
from deploylib.backup_hosts import is_backup_host

# First, before any fact or operation: pyinfra made cheaper per operation and per remote
# command (TCP_NODELAY), the deploy's refusals shown as messages (deploylib/pyinfra_compat.py).
pyinfra_compat.install(host)

local.include("tasks/run_lock.py")  # first: stop if another run holds this host
if host.data.settings.restore_target_time is not None:
    if not is_backup_host(host):  # the backup host serves the restore; nothing runs there
        local.include("tasks/restore_pitr.py")  # pgBackRest to a time: side cluster, verify, swap when asked
else:
    local.include("tasks/restore.py")  # restore into <db>_restore_<ts>, verify, swap when asked
local.include("tasks/announce_plan.py")  # what will happen, in the operator's words
local.include("tasks/prod_guard.py")  # once the plan is known: prod changes need confirmation
local.include("tasks/run_unlock.py")  # after the guard: lock at the first change, release at the end
