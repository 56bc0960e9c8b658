"""staging: deployed by hand from a chosen branch; may share a machine with prod."""

environment = "staging"

# Loopback plus the default Docker bridge gateway only.
pg_listen_addresses = ["localhost", "172.17.0.1"]

# Only the configured networks: staging's own compose network.
pg_client_networks = ["172.17.0.0/16"]

# Turn the firewall on if it is off (SSH is allowed first; the run stops if
# another listening service would be cut off).
firewall_enable = True

# A backup of every database right before each application deploy.
backup_before_deploy = True
