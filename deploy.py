"""Take a Debian/Ubuntu host to a running Hatchet + OwlClaw stack on its own PostgreSQL.

    pyinfra inventory/<env>.py deploy.py

Each step is one task file; the order is the runbook's.
"""

from pyinfra import local

local.include("tasks/base.py")  # packages, state directory
# Before PostgreSQL's configuration: the Docker bridge address it listens on must exist.
local.include("tasks/docker.py")  # Docker engine + compose v2 (when the app is deployed)
local.include("tasks/postgres_config.py")  # postgresql.conf + pg_hba.conf, reload/restart
local.include("tasks/app.py")  # app repo at app_ref, .env, overlay, compose up (+ backup first)
