"""dev: a developer's own machine (PostgreSQL on the machine + Hatchet in a container),
or a shared dev server (DEV_HOST). Convenience over lock-down."""

environment = "dev"

# Containers reach the host's PostgreSQL through the Docker bridge gateway.
pg_listen_addresses = ["*"]

# Docker's default bridge and the address pool compose networks are taken from.
pg_client_networks = ["172.17.0.0/16", "172.18.0.0/15", "172.20.0.0/14"]

pg_hba_on_shadowed = "warn"

# Upstream's hatchet:hatchet / owlclaw:owlclaw when no secret is configured.
allow_dev_default_passwords = True

# A developer's machine keeps its firewall as it is.
firewall_backend = "none"
