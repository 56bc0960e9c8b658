"""dev: this machine by default (PostgreSQL here + Hatchet in a container).

Set DEV_HOST=[user@]server[:port] to deploy to a shared dev server instead,
without editing this file.
"""

import os

from deploylib.inventory import environment_hosts, parse_host_spec

dev = environment_hosts("dev", [parse_host_spec(os.environ.get("DEV_HOST", "@local"))])
