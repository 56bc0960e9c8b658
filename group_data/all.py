"""Defaults for every environment. Each key is documented here, once.

Layers (later wins): this file -> group_data/<env>.py -> the inventory's host
data -> the file named by $DEPLOY_OVERRIDES. Every key is validated before any
host is contacted (deploylib/config.py); an unknown key is an error.
"""

# Which environment a data file describes: "dev", "staging" or "prod". Each
# group_data/<env>.py sets it; it must match the inventory being run.
environment = "dev"

# ---------------------------------------------------------------- host basics

# Distribution packages every host gets (the one-time bootstrap installs more).
base_packages = ["postgresql", "ca-certificates", "rsync", "git"]

# Where the deploy keeps its own state on a host (backups of edited config
# files, markers). Created 0700 root.
deploy_state_dir = "/var/lib/hatchet-owlclaw-deploy"

# ---------------------------------------------------------------- databases

# The application databases on the host's PostgreSQL, name -> spec. Each is
# owned by its own login role and reachable by that role only. Fields:
#   owner:        the role that owns it (created LOGIN, never superuser); one
#                 database per role
#   extensions:   extensions created in it (pgvector is "vector")
#   settings:     ALTER DATABASE ... SET name = value
#   password_env: the environment variable holding the role's password
#                 (default <OWNER>_DB_PASSWORD); else KEY=... in the git-ignored
#                 secrets/<env>.env (mode 0600)
#   seed_sql:     optional SQL file (repository-relative) applied once, ever
databases = {
    "hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
    "owlclaw": {"owner": "owlclaw", "extensions": ["vector"]},
}

# dev only: a role without a configured password gets the upstream default
# (password = role name, as in hatchet:hatchet). Refused in staging and prod.
allow_dev_default_passwords = False

# ---------------------------------------------------------------- PostgreSQL server

# Which cluster to manage, as "<version>/<name>" (Debian's pg_lsclusters), e.g.
# "17/main". None: the only cluster on the host (an error if there are several).
pg_cluster = None

# postgresql.conf listen_addresses, as a list. Changing it restarts PostgreSQL
# (unless pg_allow_restart is False). '*' is refused outside dev.
pg_listen_addresses = ["localhost"]

# Any other postgresql.conf settings, name -> value (bool, number, string or
# list of strings). Written to one managed drop-in under the cluster's
# include_dir (Debian: conf.d/), or a managed block at the end of
# postgresql.conf when there is no include_dir.
pg_settings = {"password_encryption": "scram-sha-256"}

# Networks (CIDR) allowed to reach PostgreSQL over TCP: app hosts, the compose
# projects' Docker networks. Each yields one pg_hba rule per managed database
# (that database, its owner role, pg_hba_auth_method) and, with the firewall
# step, the firewall rules: one list, so they cannot disagree.
pg_client_networks = []

# Extra pg_hba.conf rules, in order, before the derived ones. Each a dict:
# type (host, hostssl, local, ...), database, user, address (CIDR; not for
# local), method, and optional options and comment. All managed rules live in
# one marked block; lines outside it are never changed.
pg_hba_rules = []

# Password method for the derived pg_hba rules; must match
# password_encryption. staging and prod: scram-sha-256 only.
pg_hba_auth_method = "scram-sha-256"

# When an earlier pg_hba line outside the managed block would match every
# connection a managed rule matches (first match wins, so the managed rule can
# never apply): "warn" and go on, or "fail" before writing anything.
pg_hba_on_shadowed = "fail"

# May the deploy restart PostgreSQL when a setting that needs a restart
# (pg_settings.context = 'postmaster', e.g. listen_addresses) changed? If
# False, the run ends by saying a restart is pending and why.
pg_allow_restart = True

# How many backups of pg_hba.conf / the managed postgresql.conf file to keep
# (in deploy_state_dir/backups) before each change.
pg_config_backups_keep = 10

# ---------------------------------------------------------------- application

# The application repository (git URL the host clones from), or None. staging
# and prod must set it. None together with app_local_dir None: the docker and
# application steps are skipped (a PostgreSQL-only host).
app_repo = None

# What to deploy from app_repo: a branch, a tag or a full commit id. The host
# fetches and checks out only when the commit it names differs from the one
# checked out (no re-clone).
app_ref = "main"

# Optional private key (a path on the controller) for cloning app_repo over
# SSH: uploaded mode 0600 to the app user's ~/.ssh and used through
# GIT_SSH_COMMAND. None: the host's own credentials (or a public URL).
app_deploy_key = None

# dev only: a local checkout (path on the controller) pushed to app_dir with
# rsync instead of cloning app_repo. Only when its content changed.
app_local_dir = None

# Paths rsync neither sends nor deletes (dev, app_local_dir): .env and data
# on the host stay.
app_rsync_excludes = [".git", "node_modules", ".env", "data"]

# Where the application repository is checked out on the host. staging and
# prod set their own (/data/<app>_staging vs /data/<app>): they never share it.
# Files the repository does not track (.env, data/) are never removed.
app_dir = "/data/owlclaw"

# The user owning app_dir and .env (created as a system user in the docker
# group when missing; git runs as this user).
app_user = "deploy"

# Extra, non-secret lines for .env (NAME -> value). The database URLs and
# passwords come from `databases` and their secrets (templates/app.env.j2).
app_env = {}

# Distribution packages for the Docker engine and compose v2. Debian 13:
# docker.io + docker-compose (compose v2, also the `docker compose` plugin);
# docker-cli is added when the distribution packages the CLI separately.
# Debian 12 ships only compose v1: use Docker's repository (docker-ce,
# docker-ce-cli, docker-compose-plugin) and list those here.
docker_packages = ["docker.io", "docker-compose"]

# The docker compose project name (`-p`): containers, networks and volumes are
# named after it. staging and prod on one machine: "owlclaw" vs "owlclaw_staging".
compose_project = "owlclaw"

# The repository's compose files (relative to app_dir), in order; the deploy's
# own overlay (rendered from templates/compose.overlay.yml.j2, kept under
# deploy_state_dir/app/<project>/) always comes last.
compose_files = ["deploy/docker-compose.lite.hatchet-only.yml"]

# What this environment's overlay changes, per compose service:
#   ports:        the published ports, replacing the base file's
#                 ("HOST:CONTAINER"; bound to compose_bind_address); [] = none
#   disabled:     True: not started here (profiles: ["disabled"])
#   host_gateway: add host.docker.internal -> the host (default True), so the
#                 service reaches the host's PostgreSQL
# Services not listed are left as the base files define them.
compose_services = {
    "hatchet-lite": {"ports": ["8888:8888", "17077:7077"]},
}

# The subnet (CIDR) pinned for the project's default network, or None (Docker
# picks one). It is added to the networks allowed to reach PostgreSQL (pg_hba
# and the firewall follow it). staging and prod must set distinct ones.
compose_subnet = "172.30.0.0/24"

# The host address published ports are bound to ("127.0.0.1": reachable only
# through a reverse proxy on the host; "0.0.0.0": every interface). Docker's
# published ports bypass ufw.
compose_bind_address = "127.0.0.1"

# Seconds to wait after `up` for every service to be running (and healthy,
# when it has a health check) before the deploy fails, showing `compose ps`
# and the failing services' last log lines.
compose_up_timeout = 300

# Run `up` even when nothing changed since the last successful deploy.
compose_force_up = False

# ---------------------------------------------------------------- backups

# Take a fresh `pg_dump -F c` of every database in `databases` right before
# `docker compose up` (which may run migrations). Only when `up` runs.
backup_before_deploy = False

# Where dumps go: backup_dir/<database>/<database>-<UTC time>.dump, mode 0600,
# owned by postgres.
backup_dir = "/var/backups/hatchet-owlclaw"
