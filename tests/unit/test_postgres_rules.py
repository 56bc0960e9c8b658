import pytest

from deploylib import postgres_rules
from deploylib.model import postgres_rules as wanted
from deploylib.model.pg_hba import HbaRule
from deploylib.model.postgres_state import PgCluster, PgServer


class FakeSettings:
    pg_client_networks = ["10.0.0.0/24", "10.0.0.0/24", "10.1.0.0/24"]
    pg_hba_rules = [HbaRule(type="host", database="all", user="all", address="10.9.0.0/16",
                            method="reject")]
    pg_hba_auth_method = "scram-sha-256"
    databases = {"hatchet": {"owner": "hatchet"}, "owlclaw": {"owner": "owlclaw"}}
    pg_listen_addresses = ["localhost"]
    pg_settings = {"password_encryption": "scram-sha-256"}
    compose_subnet = None
    pgbackrest_enabled = False


def test_networks_deduplicated_in_order():
    assert wanted.client_networks(FakeSettings) == ["10.0.0.0/24", "10.1.0.0/24"]


def test_ipv6_routes_asked_only_when_a_checked_network_is_ipv6():
    """An IPv4 client network is only ever matched with IPv4 routes: the IPv6 routes' ip
    process runs only when pg_client_networks or a pg_hba_rules address is IPv6."""
    from deploylib.facts.host import NetworkInterfaces

    assert wanted.network_request(FakeSettings) == {"ipv6_routes": False}
    assert "-6" not in NetworkInterfaces().command(**wanted.network_request(FakeSettings))

    class WithIpv6(FakeSettings):
        pg_hba_rules = [HbaRule(type="host", database="all", user="all", address="fd00::/64",
                                method="reject")]

    assert wanted.network_request(WithIpv6) == {"ipv6_routes": True}
    assert "ip -o -6 route show" in NetworkInterfaces().command(**wanted.network_request(WithIpv6))


def test_hba_rules_explicit_first_then_one_per_network_and_database():
    rules = wanted.hba_rules(FakeSettings)
    assert rules[0].method == "reject"
    assert [(r.database, r.user, r.address) for r in rules[1:]] == [
        ("hatchet", "hatchet", "10.0.0.0/24"),
        ("owlclaw", "owlclaw", "10.0.0.0/24"),
        ("hatchet", "hatchet", "10.1.0.0/24"),
        ("owlclaw", "owlclaw", "10.1.0.0/24"),
    ]


def test_server_settings_include_listen_addresses():
    assert wanted.server_settings(FakeSettings) == {
        "listen_addresses": ["localhost"],
        "password_encryption": "scram-sha-256",
    }


def cluster(version, name, status="online", hba="/x/pg_hba.conf"):
    found = PgCluster(version, name, 5432, status)
    if hba:
        from deploylib.model.postgres_state import PgSetting

        found.settings["hba_file"] = PgSetting(hba, "sighup", False)
        found.hba_text, found.conf_text = "local all all peer\n", ""
    return found


def test_select_cluster():
    one = PgServer("systemd", True, [cluster("17", "main")])
    assert postgres_rules.select_cluster(one, None, "h").id == "17/main"
    two = PgServer("systemd", True, [cluster("15", "main"), cluster("17", "main")])
    with pytest.raises(postgres_rules.ClusterChoiceError, match="several PostgreSQL clusters"):
        postgres_rules.select_cluster(two, None, "h")
    assert postgres_rules.select_cluster(two, "15/main", "h").id == "15/main"
    with pytest.raises(postgres_rules.ClusterChoiceError, match="'16/main' not found"):
        postgres_rules.select_cluster(two, "16/main", "h")
    down = PgServer("systemd", True, [cluster("17", "main", status="down", hba=None)])
    with pytest.raises(postgres_rules.ClusterChoiceError, match="is down; start it first"):
        postgres_rules.select_cluster(down, None, "h")
    with pytest.raises(postgres_rules.ClusterChoiceError, match="no PostgreSQL cluster"):
        postgres_rules.select_cluster(PgServer("systemd", False, []), None, "h")


def test_restart_command_follows_service_manager():
    from deploylib.model import pg_commands

    assert pg_commands.restart("systemd", True, "17", "main") == "systemctl restart postgresql@17-main"
    assert pg_commands.restart("sysvinit", True, "17", "main") == "pg_ctlcluster 17 main restart"
    assert pg_commands.restart("systemd", False, "", "default") == "systemctl restart postgresql"
    assert pg_commands.restart("sysvinit", False, "", "default") == "service postgresql restart"
