"""prod hosts. SSH settings here; everything else in group_data/prod.py."""

from deploylib.inventory import environment_hosts

prod = environment_hosts(
    "prod",
    [
        # (host name, SSH settings): replace with your production server.
        ("prod-db.example.internal", {"ssh_user": "deploy", "_sudo": True}),
    ],
)

# The backup host (pgBackRest's repository; pgbackrest_enabled in group_data/prod.py): its own
# group, the same environment's data. Uncomment and name yours:
# backup_hosts = environment_hosts(
#     "prod", [("prod-backup.example.internal", {"ssh_user": "deploy", "_sudo": True})]
# )
