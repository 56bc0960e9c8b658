"""The sandbox's throwaway hosts (`python -m sandbox up N`), as environment
$SANDBOX_ENV (default dev): try a deploy here before staging."""

import os
import sys

from deploylib.inventory import environment_hosts
from sandbox.hosts import inventory_hosts

running = inventory_hosts()
if os.environ.get("SANDBOX_HOSTS"):  # e.g. "41,42": only these indexes
    wanted = {int(index) for index in os.environ["SANDBOX_HOSTS"].split(",")}
    running = [(name, data) for name, data in running if data["sandbox_index"] in wanted]
if not running:
    sys.exit("no sandbox host is running: start one with `.venv/bin/python -m sandbox up 1`")

sandbox = environment_hosts(os.environ.get("SANDBOX_ENV", "dev"), running)
