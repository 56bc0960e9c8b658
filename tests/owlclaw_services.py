"""compose_services for the OwlClaw repository's compose files (as in the README), shared by the
unit and end-to-end tests."""

HATCHET_LITE = {
    "ports": ["17077:7078", "8888:8888"],
    "database_env": {"DATABASE_URL": "hatchet"},
    "environment": {
        "SERVER_GRPC_BROADCAST_ADDRESS": "host.docker.internal:{published:7078}",
        "SERVER_URL": "http://host.docker.internal:{published:8888}",
    },
}

# root docker-compose.dev.yml
DEV_ROOT_SERVICES = {
    "owlclaw-db": {"disabled": True, "host_gateway": False},
    "langfuse": {"disabled": True},
    "redis": {"ports": ["6379:6379"]},
    "hatchet-lite": HATCHET_LITE,
}

# deploy/docker-compose.prod.yml
PROD_SERVICES = {
    "owlclaw-db": {"disabled": True, "host_gateway": False},
    "hatchet-server": {"ports": ["7077:7077", "8080:8080"], "database_env": {"DATABASE_URL": "hatchet"}},
}
