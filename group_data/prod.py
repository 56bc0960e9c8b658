"""prod: deployed from master. Nothing restarts PostgreSQL without an operator."""

environment = "prod"

# prod's own databases and roles (staging's are hatchet_staging, owlclaw_staging).
# Passwords: HATCHET_DB_PASSWORD, OWLCLAW_DB_PASSWORD.
databases = {
    "hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
    "owlclaw": {"owner": "owlclaw", "extensions": ["vector"]},
}

pg_listen_addresses = ["localhost", "172.17.0.1"]

pg_client_networks = ["172.17.0.0/16"]

# A restart of the production database is a decision, not a side effect.
pg_allow_restart = False

# Turn the firewall on if it is off (SSH is allowed first; the run stops if
# another listening service would be cut off).
firewall_enable = True

# The application, deployed from master.
# Your application repository, e.g. "git@git.example.internal:owlclaw/owlclaw.git".
# None until set: the application step is skipped (PostgreSQL, firewall, backups only).
app_repo = None
app_ref = "master"
app_dir = "/data/owlclaw"
compose_project = "owlclaw"
compose_subnet = "172.30.0.0/24"

# A backup of every database right before each application deploy.
backup_before_deploy = True

# pgBackRest (when enabled): a backup too old or WAL archiving failing fails the run.
pgbackrest_freshness_fails = True
