"""Client networks vs listen addresses, and listening sockets vs listen addresses."""

from deploylib.model.reachability import (
    HostNetworks,
    parse_ip_output,
    socket_forms,
    unserved_networks,
)

IP_OUTPUT = [
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever",
    "2: eth0    inet 10.213.7.101/24 scope global eth0\\       valid_lft forever",
    "2: eth0    inet6 fe80::5b:aff:fed5:765/64 scope link proto kernel_ll \\       valid_lft forever",
    "3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever",
    "default via 10.213.7.1 dev eth0 ",
    "10.213.7.0/24 dev eth0 proto kernel scope link src 10.213.7.101 ",
    "172.17.0.0/16 dev docker0 proto kernel scope link src 172.17.0.1 linkdown ",
]
HOST = parse_ip_output(IP_OUTPUT)


def test_parse():
    assert ("eth0", "10.213.7.101/24") in HOST.addresses
    assert ("default", "eth0") in HOST.routes and ("172.17.0.0/16", "docker0") in HOST.routes


def test_network_on_no_listen_address_interface_is_named():
    unserved = unserved_networks(["10.9.0.0/24", "172.17.0.0/16"], ["localhost", "172.17.0.1"], HOST)
    assert list(unserved) == ["10.9.0.0/24"]
    assert "eth0 (10.213.7.101)" in unserved["10.9.0.0/24"]


def test_served_by_wildcard_interface_or_own_address():
    assert unserved_networks(["10.9.0.0/24"], ["*"], HOST) == {}
    assert unserved_networks(["10.9.0.0/24"], ["0.0.0.0"], HOST) == {}
    assert unserved_networks(["10.213.7.192/27"], ["localhost", "10.213.7.101"], HOST) == {}
    # The Docker bridge before Docker made it: the listen address is on the network.
    assert unserved_networks(["172.17.0.0/16"], ["172.17.0.1"], HostNetworks(HOST.addresses[:2])) == {}
    assert unserved_networks(["10.213.7.192/27"], ["localhost"], HOST) != {}


def test_not_judged_without_knowledge():
    assert unserved_networks(["10.9.0.0/24"], ["localhost"], HostNetworks(HOST.addresses)) == {}
    assert unserved_networks(["10.9.0.0/24"], ["db.example"], HOST) == {}
    assert unserved_networks(["10.9.0.0/24"], ["localhost"], HostNetworks()) == {}


def test_socket_forms():
    assert "0.0.0.0:5432" in socket_forms("*", 5432)
    assert socket_forms("::1", 5432) == ["[::1]:5432"]
    assert socket_forms("db.example", 5432) is None
