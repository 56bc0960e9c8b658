"""prod: deployed from master. Nothing restarts PostgreSQL without an operator."""

environment = "prod"

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
