"""staging: deployed by hand from a chosen branch; may share a machine with prod."""

environment = "staging"

# staging's own databases and roles: prod's (hatchet, owlclaw) may be on the same
# PostgreSQL. Passwords: HATCHET_STAGING_DB_PASSWORD, OWLCLAW_STAGING_DB_PASSWORD.
databases = {
    "hatchet_staging": {"owner": "hatchet_staging", "settings": {"timezone": "UTC"}},
    "owlclaw_staging": {"owner": "owlclaw_staging", "extensions": ["vector"]},
}

# Loopback plus the default Docker bridge gateway only.
pg_listen_addresses = ["localhost", "172.17.0.1"]

# Only the configured networks: staging's own compose network.
pg_client_networks = ["172.17.0.0/16"]

# Turn the firewall on if it is off (SSH is allowed first; the run stops if
# another listening service would be cut off).
firewall_enable = True

# The application: staging's own clone, project and network, beside prod's.
# Your application repository, e.g. "git@git.example.internal:owlclaw/owlclaw.git".
# None until set: the application step is skipped (PostgreSQL, firewall, backups only).
app_repo = None
app_ref = "main"  # deployed by hand from a chosen branch
app_dir = "/data/owlclaw_staging"
compose_project = "owlclaw_staging"
compose_subnet = "172.30.1.0/24"

# Host ports per the staging plan (STACK.md): prod's ports + 1 (Hatchet: 17078,
# 8889, and the addresses it advertises follow them); staging's own database;
# services staging does not need are disabled.
compose_services = {
    "hatchet-lite": {
        "ports": ["17078:7078", "8889:8888"],
        "database_env": {"DATABASE_URL": "hatchet_staging"},
        "environment": {
            "SERVER_GRPC_BROADCAST_ADDRESS": "host.docker.internal:{published:7078}",
            "SERVER_URL": "http://host.docker.internal:{published:8888}",
        },
    },
}

# A backup of every database right before each application deploy.
backup_before_deploy = True
