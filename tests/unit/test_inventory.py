import pytest

from deploylib import inventory
from deploylib.inventory import parse_host_spec
from deploylib.model.config import ConfigError


def test_parse_host_spec():
    assert parse_host_spec("@local") == "@local"
    assert parse_host_spec("dev.example") == "dev.example"
    assert parse_host_spec("me@dev.example") == ("dev.example", {"ssh_user": "me"})
    assert parse_host_spec("me@dev.example:2222") == (
        "dev.example",
        {"ssh_user": "me", "ssh_port": 2222},
    )


def test_cli_data_pairs_become_the_top_layer(monkeypatch):
    import click
    import gevent.monkey

    # cli_data_layers imports pyinfra_cli (already loaded in a real run), whose import patches
    # the stdlib for gevent: in an xdist worker that breaks the worker's own threads.
    monkeypatch.setattr(gevent.monkey, "patch_all", lambda *args, **kwargs: None)

    with click.Context(click.Command("pyinfra")) as context:
        context.params["data"] = ("restore_swap=True", "restore_file=/a=b.dump", "backup_schedule=1 2 * * *")
        layers = inventory.cli_data_layers()
        assert [(layer.source, layer.values) for layer in layers] == [
            ("--data", {"restore_swap": True, "restore_file": "/a=b.dump", "backup_schedule": "1 2 * * *"})
        ]
        context.params["data"] = ()
        assert inventory.cli_data_layers() == []
        context.params["data"] = ("novalue",)
        with pytest.raises(ConfigError) as error:
            inventory.cli_data_layers()
        assert str(error.value) == "--data novalue: expected key=value"
    assert inventory.cli_data_layers() == []  # no click context: no --data
