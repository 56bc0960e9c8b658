"""The sandbox's throwaway hosts (`python -m sandbox up N`), as environment
$SANDBOX_ENV (default dev): try a deploy here before staging."""

import os
import sys

from deploylib.inventory import environment_hosts
from sandbox.hosts import inventory_hosts

running = inventory_hosts()
if not running:
    sys.exit("no sandbox host is running: start one with `.venv/bin/python -m sandbox up 1`")

sandbox = environment_hosts(os.environ.get("SANDBOX_ENV", "dev"), running)
