"""Defaults for every environment. Each key is documented here, once.

Layers (later wins): this file -> group_data/<env>.py -> the inventory's host
data -> the file named by $DEPLOY_OVERRIDES. Every key is validated before any
host is contacted (deploylib/model/config.py); an unknown key is an error.
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

# Add the PostgreSQL project's apt repository (apt.postgresql.org, signed with
# the key Debian's postgresql-common ships) so extensions the distribution does
# not package (pgvector on Debian 12) can be installed. Off: distribution only.
pgdg_apt_repository = False

# ---------------------------------------------------------------- PostgreSQL server

# Which cluster to manage, as "<version>/<name>" (Debian's pg_lsclusters), e.g.
# "17/main". None: the only cluster on the host (an error if there are several).
pg_cluster = None

# postgresql.conf listen_addresses, as a list. Changing it restarts PostgreSQL
# (unless pg_allow_restart is False). '*', '0.0.0.0' and '::' are refused outside
# dev (policy_exceptions: "network_wide_listen").
pg_listen_addresses = ["localhost"]

# Any other postgresql.conf settings, name -> value (bool, number, string or
# list of strings). Written to one managed drop-in under the cluster's
# include_dir (Debian: conf.d/), or a managed block at the end of
# postgresql.conf when there is no include_dir.
pg_settings = {"password_encryption": "scram-sha-256"}

# Networks (CIDR) allowed to reach PostgreSQL over TCP: app hosts, the compose
# projects' Docker networks. Outside dev none wider than /8 (IPv4) or /32 (IPv6)
# (policy_exceptions: "network_wide_clients"). Each yields one pg_hba rule per managed database
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

# staging and prod may share a host, hence one PostgreSQL: pg_listen_addresses and
# pg_settings are the server's, in one file that records which environment wrote it.
# When another environment wrote them and this run's differ: None = stop with an
# error naming the differences (make them equal); the name of an environment = its
# settings win: its runs overwrite the other's, the other's runs leave them (and say so).
pg_server_settings_owner = None

# A managed setting that a file read after the deploy's overrides (ALTER SYSTEM's
# postgresql.auto.conf) would silently stay in effect: False = the run stops before
# changing anything, naming the file, the line and the fix (ALTER SYSTEM RESET
# <name>); True = the deploy runs ALTER SYSTEM RESET itself, then reloads/restarts
# as usual. An override in another included file always stops the run.
pg_reset_overrides = False

# How many backups of pg_hba.conf / the managed postgresql.conf file to keep
# (in deploy_state_dir/backups) before each change.
pg_config_backups_keep = 10

# ---------------------------------------------------------------- firewall

# Which host firewall keeps PostgreSQL's port open to pg_client_networks (the
# same list as the pg_hba rules) plus loopback, and closed to everyone else:
# "ufw", "firewalld", "nftables" (a table of its own, inet
# hatchet_owlclaw_deploy, concerning that port only), "none" (leave the
# firewall alone), or "auto": an active ufw, else a running firewalld, else an
# installed ufw, else nftables. Only rules tagged hatchet-owlclaw-deploy are
# ever changed or removed.
firewall_backend = "auto"

# Turn the firewall on when it is off (ufw enable, firewalld started, the
# nftables table loaded and kept across reboots). The SSH port of the current
# connection is allowed first, and the run stops, changing nothing, if a
# service listening on another port would be cut off. Never turns a firewall
# off. False: the rules are written anyway and the run says the firewall is off.
firewall_enable = False

# ---------------------------------------------------------------- one-time host bootstrap (bootstrap.py)

# Distribution packages bootstrap.py installs (besides Docker, and pgvector's
# postgresql-<major>-pgvector when the host's apt sources have it).
bootstrap_packages = ["postgresql", "ufw", "git", "rsync", "sudo", "cron", "ca-certificates"]

# Docker Engine and the compose plugin, as distribution packages (bootstrap.py
# and the app step). None: the distribution's own (Debian: docker.io +
# docker-compose, which is Compose v2 from trixie on; docker-cli is added
# where the CLI is packaged apart; Ubuntu: docker.io + docker-compose-v2).
# Debian 12 ships only Compose v1: use Docker's repository and list
# docker-ce, docker-ce-cli, docker-compose-plugin here.
docker_packages = None

# The OS user deploy.py connects as after bootstrap: member of the docker
# group, passwordless sudo (a rule in /etc/sudoers.d, checked with visudo).
deploy_user = "deploy"

# The operator's SSH public key on the controller (~ expanded; relative paths
# from the repository), installed as the deploy user's authorized key.
deploy_user_public_key_file = "~/.ssh/id_ed25519.pub"

# Parent of the application checkouts (/data/<app>, /data/<app>_staging),
# owned by the deploy user, 0750.
data_dir = "/data"

# ---------------------------------------------------------------- backups and restore

# Logical backups: backup_dir/<db>/<db>-<UTC timestamp>.dump (pg_dump -F c)
# and backup_dir/globals/globals-<environment>-<UTC timestamp>.sql (pg_dumpall
# --globals-only: roles with their password verifiers). Directories 0700,
# files 0600, owned by root.
backup_dir = "/var/backups/hatchet-owlclaw"

# Backups older than this many days are deleted after a successful backup
# (never the newest one of a database).
backup_retention_days = 7

# When the backup runs (/etc/cron.d), as 5 cron fields in the host's time zone:
# minute hour day-of-month month day-of-week.
backup_schedule = "17 3 * * *"

# Take a backup of every managed database right before the application is
# deployed (the app step runs the installed backup script first).
backup_before_deploy = False

# restore.py only: which managed database to restore, from which dump file on
# the host (absolute path, e.g. a file in backup_dir). Set them for one run:
#   pyinfra inventory/<env>.py restore.py --data restore_database=owlclaw \
#       --data restore_file=/var/backups/hatchet-owlclaw/owlclaw/owlclaw-....dump
# The dump is restored into a new database <db>_restore_<UTC timestamp> and
# verified (pg_restore's exit code, every table's row count against the dump).
restore_database = None
restore_file = None

# restore.py: after a verified restore, make it the live database: connections
# to <db> are terminated, <db> is renamed <db>_before_restore_<timestamp> and
# the restored one becomes <db>. Off: the restored copy is left beside it.
restore_swap = False

# restore.py with restore_swap: DROP the <db>_before_restore_<timestamp>
# database after the swap. Off: it is kept (drop it by hand when sure).
restore_drop_old = False

# restore.py: a point-in-time restore from pgBackRest (pgbackrest_enabled) instead of a dump:
# "latest" (everything archived) or an ISO 8601 time with its offset, e.g.
#   pyinfra inventory/<env>.py restore.py --data restore_target_time=2026-12-02T01:15:00Z
# The whole cluster is restored into a side cluster on the database host (its own data
# directory /var/lib/postgresql/<version>/pitr-<stamp> and port restore_port; the live cluster
# keeps serving), verified (recovery reached the target, tables and row counts shown) and left
# running for inspection. With restore_swap = True it then becomes the live cluster (the live
# data directory is kept as <dir>.before-pitr-<stamp>). Not with restore_database/restore_file.
restore_target_time = None

# The port the side cluster of a point-in-time restore listens on (local socket only).
restore_port = 5439

# ---------------------------------------------------------------- pgBackRest (WAL archive, base backups)

# Continuous WAL archiving and base backups with pgBackRest, to an encrypted repository
# (aes-256-cbc) on a separate backup host: the inventory's `backup_hosts` group (one per
# environment, e.g. backup_hosts = environment_hosts("prod", ["prod-backup.example.internal"],
# ...) in inventory/prod.py). The database host gets archive_mode, archive_command and
# wal_level (through pg_settings' path: archive_mode needs a restart, which pg_allow_restart
# governs; until it happens archiving waits), the stanza is created and checked, and the backup
# host takes the backups on the schedules below. The repository's passphrase is the secret
# PGBACKREST_<ENV>_CIPHER_PASS (secrets/README.md), written only to the backup host's
# pgbackrest.conf (0640 root:pgbackrest_repo_user). The pg_dump backups above stay.
pgbackrest_enabled = False

# The repository directory on the backup host (owned by pgbackrest_repo_user, 0750).
pgbackrest_repo_path = "/var/lib/pgbackrest"

# The backup host's system user owning the repository (created by bootstrap.py).
pgbackrest_repo_user = "pgbackrest"

# How many full backups to keep; differential backups kept per full backup's chain.
pgbackrest_retention_full = 2
pgbackrest_retention_diff = 7

# When the backup host takes full and differential backups (/etc/cron.d on the backup host,
# 5 cron fields in its time zone). Every backup writes its status for node_exporter's
# textfile collector (/var/lib/prometheus/node-exporter/pgbackrest_backup_<env>.prom); the
# database host writes its WAL archiving status (pg_stat_archiver) there every 5 minutes.
pgbackrest_full_schedule = "30 1 * * 0"
pgbackrest_diff_schedule = "30 1 * * 1-6"

# Every deploy run warns (prod: fails its final check, undoing nothing) when the newest
# successful backup is older than this many hours, or WAL archiving is failing.
pgbackrest_max_age_hours = 26

# Whether that check fails the run's final operation (after everything else ran, undoing
# nothing; the run exits non-zero) instead of only warning. True in group_data/prod.py.
pgbackrest_freshness_fails = False

# ---------------------------------------------------------------- prod guard

# A prod run that would change something and does not stop at pyinfra's
# confirmation prompt (-y) must be confirmed: confirm_prod = True (for one
# run: --data confirm_prod=True), or the environment variable CONFIRM_PROD=yes.
# Without it the run shows the plan and stops before executing anything.
confirm_prod = False

# ---------------------------------------------------------------- application

# The application repository (git URL the host clones from), or None; staging
# and prod set it in their own file. None together with app_local_dir None: the docker and
# application steps are skipped (a PostgreSQL-only host). No password or token in it
# (https://user:token@...: refused; it would be in git, on command lines and in .git/config):
# an SSH URL with app_deploy_key.
app_repo = None

# What to deploy from app_repo: a branch, a tag or a full commit id. The host
# fetches and checks out only when the commit it names differs from the one
# checked out (no re-clone).
app_ref = "main"

# Optional private key (a path on the controller) for cloning app_repo over
# SSH: uploaded mode 0600 to <app_dir>/.git/deploy-key (owned by app_user) and used
# through GIT_SSH_COMMAND. None: the host's own credentials (or a public URL).
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

# The docker compose project name (`-p`): containers, networks and volumes are
# named after it. staging and prod on one machine: "owlclaw" vs "owlclaw_staging".
compose_project = "owlclaw"

# The repository's compose files (relative to app_dir), in order; the deploy's
# own overlay (rendered from templates/compose.overlay.yml.j2, kept under
# deploy_state_dir/app/<project>/) always comes last.
compose_files = ["deploy/docker-compose.lite.hatchet-only.yml"]

# What this environment's overlay changes, per compose service of compose_files
# (list only services those files define; services not listed are left as the
# base files define them). Fields:
#   ports:        the published ports, replacing the base file's
#                 ("HOST:CONTAINER"; bound to compose_bind_address); [] = none
#   disabled:     True: not started here (profiles: ["disabled"]); every listed
#                 service's depends_on on it is removed (compose refuses a
#                 dependency on a disabled service). A containerised PostgreSQL
#                 (OwlClaw's owlclaw-db) is disabled: the host's PostgreSQL serves
#   host_gateway: add host.docker.internal -> the host (default True), so the
#                 service reaches the host's PostgreSQL
#   database_env: VAR -> "<database>" (its URL) or "<database>.<part>", part one
#                 of url, user, password, host, port, name; <database> a key of
#                 `databases`. The overlay sets VAR to ${<DATABASE>_DATABASE_<PART>}
#                 from the .env (no secret in the overlay): the host's PostgreSQL
#                 at host.docker.internal, the managed cluster's real port, the
#                 database's owner role and its secret, whatever the base file
#                 says. Before `up` the effective configuration (`docker compose
#                 config`) is checked: every PostgreSQL URL of every enabled
#                 service must name exactly that, or the run stops.
#   environment:  VAR -> a literal, non-secret value; "{published:N}" is the
#                 host port `ports` publishes container port N on, so advertised
#                 addresses follow each environment's ports
# The OwlClaw repository's services (README, Application) and what they read:
#   hatchet-lite (deploy/docker-compose.lite.hatchet-only.yml, root
#     docker-compose.dev.yml): DATABASE_URL -> hatchet; advertises
#     SERVER_GRPC_BROADCAST_ADDRESS (gRPC, container port 7078) and SERVER_URL (8888)
#   hatchet-server (hatchet-engine; deploy/docker-compose.prod.yml, .cron.yml):
#     DATABASE_URL -> hatchet
#   owlclaw (deploy/docker-compose.cron.yml): OWLCLAW_DATABASE_URL -> owlclaw
#   langfuse (root docker-compose.dev.yml, profile "full"): DATABASE_URL and
#     DIRECT_URL -> its own langfuse database, which the deploy does not manage:
#     disabled unless `databases` gets one
#   owlclaw-db: the containerised PostgreSQL, disabled
# The default is for the default compose_files (Hatchet Lite only).
compose_services = {
    "hatchet-lite": {
        "ports": ["17077:7078", "8888:8888"],
        "database_env": {"DATABASE_URL": "hatchet"},
        "environment": {
            "SERVER_GRPC_BROADCAST_ADDRESS": "host.docker.internal:{published:7078}",
            "SERVER_URL": "http://host.docker.internal:{published:8888}",
        },
    },
}

# The application's secrets besides database passwords, by variable name (e.g.
# "HATCHET_API_TOKEN", which OwlClaw reads as ${HATCHET_API_TOKEN:-}): each from
# the environment variable of that name, else secrets/<env>.env, written to the
# .env for compose to interpolate. staging and prod stop, before any host is
# contacted, when one is missing; dev leaves it out (the file's default applies).
app_secrets = []

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

# Whether `up` pulls images first (compose's `up --pull`): "policy" (no flag: each service's
# own pull_policy, compose's default), "missing" (only images not on the host), "never", or
# "always" (every run pulls and runs `up`, so the compose operation reports a change, and
# backup_before_deploy dumps, on every run; compose recreates only the services whose image
# changed). Whatever the value, a service whose image name now names another image ID than
# the one the last `up` started (re-tagged or pulled by hand) is started again by the next run.
compose_pull = "policy"

# ---------------------------------------------------------------- configuration policy

# staging and prod refuse dangerous settings before any host is touched; dev only
# warns. Each refusal can be accepted by naming its exception here (printed on
# every run while it is in effect):
#   "network_wide_listen":      pg_listen_addresses '*', '0.0.0.0' or '::';
#                               compose_bind_address '0.0.0.0' or '::'
#   "network_wide_clients":     a network wider than /8 (IPv4) or /32 (IPv6) in
#                               pg_client_networks, compose_subnet or a network
#                               pg_hba_rules entry (0.0.0.0/0, ::/0, 'all')
#   "insecure_network_auth":    a network pg_hba_rules entry with trust,
#                               password or md5; pg_hba_auth_method = "md5"
#   "weak_password_encryption": pg_settings password_encryption other than
#                               scram-sha-256
# Refused everywhere, no exception: reserved names (PostgreSQL's postgres,
# template0/1, pg_*; system users such as root, daemon, nobody, www-data), paths
# that are not absolute and normalised or lie in a system or PostgreSQL
# directory, pg_hba options a method does not take or is missing (ldap without
# ldapserver, radius without radiussecrets, ...), staging/prod names (databases,
# roles, password variables) the other environment's data file uses.
policy_exceptions = []
