"""prod hosts. SSH settings here; everything else in group_data/prod.py."""

from deploylib.inventory import environment_hosts

prod = environment_hosts(
    "prod",
    [
        # (host name, SSH settings): replace with your production server.
        ("prod-db.example.internal", {"ssh_user": "deploy", "_sudo": True}),
    ],
)
