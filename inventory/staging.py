"""staging hosts. SSH settings here; everything else in group_data/staging.py.

Staging may share a machine with prod: list the same host in both files.
"""

from deploylib.inventory import environment_hosts

staging = environment_hosts(
    "staging",
    [
        # (host name, SSH settings): replace with your staging server.
        ("staging-db.example.internal", {"ssh_user": "deploy", "_sudo": True}),
    ],
)

# The backup host (pgBackRest's repository; pgbackrest_enabled in group_data/staging.py): its own
# group, the same environment's data. Uncomment and name yours:
# backup_hosts = environment_hosts(
#     "staging", [("staging-backup.example.internal", {"ssh_user": "deploy", "_sudo": True})]
# )
