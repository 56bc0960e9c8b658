"""The sandbox's throwaway hosts (`python -m sandbox up N`), as environment
$SANDBOX_ENV (default dev): try a deploy here before staging."""

import os
import sys

from deploylib.inventory import environment_hosts
from sandbox.hosts import inventory_hosts

# The hosts this checkout started (another checkout or test run may share the sandbox),
# or exactly those SANDBOX_HOSTS names, e.g. "41,42".
named = os.environ.get("SANDBOX_HOSTS")
running = inventory_hosts({int(index) for index in named.split(",")} if named else None)
if not running:
    sys.exit(
        "no sandbox host of this checkout is running: start one with "
        "`.venv/bin/python -m sandbox up 1` (or name hosts with SANDBOX_HOSTS=1,2)"
    )

# SANDBOX_BACKUP_HOSTS names the hosts (e.g. "73") that serve as the environment's backup
# host (pgBackRest's repository, group backup_hosts) instead of running the stack.
backup_indexes = {int(index) for index in os.environ.get("SANDBOX_BACKUP_HOSTS", "").split(",") if index}
environment = os.environ.get("SANDBOX_ENV", "dev")
sandbox = environment_hosts(environment, [h for h in running if h[1]["sandbox_index"] not in backup_indexes])
backup_hosts = environment_hosts(environment, [h for h in running if h[1]["sandbox_index"] in backup_indexes])
