from deploylib.inventory import parse_host_spec


def test_parse_host_spec():
    assert parse_host_spec("@local") == "@local"
    assert parse_host_spec("dev.example") == "dev.example"
    assert parse_host_spec("me@dev.example") == ("dev.example", {"ssh_user": "me"})
    assert parse_host_spec("me@dev.example:2222") == (
        "dev.example",
        {"ssh_user": "me", "ssh_port": 2222},
    )
