"""Build pyinfra inventory groups whose host data carries validated Settings."""

from __future__ import annotations

import sys

from . import cli_messages, prod_guard, pyinfra_speedups
from .model.config import ConfigError, Layer, connection_data, host_layers, validate


def environment_hosts(environment: str, hosts: list) -> list[tuple[str, dict]]:
    """[(name, data)] for pyinfra, each host's data holding `settings` (validated).

    `hosts` are names or (name, data) tuples. Any configuration problem stops
    the run here: pyinfra loads inventories before it connects to anything.
    """
    prod_guard.capture_run_mode()
    # Every run (deploy, bootstrap, restore) loads an inventory first: the place to
    # make pyinfra cheaper per operation call (deploylib/pyinfra_speedups.py).
    pyinfra_speedups.install()
    cli_messages.install()  # the deploy's refusals shown as messages, not crashes
    result = []
    warnings: list[str] = []
    with_secrets = needs_secrets(entry_points())
    try:
        for entry in hosts:
            name, data = entry if isinstance(entry, tuple) else (entry, {})
            layers = host_layers(environment, name, data, cli_data_layers())
            settings = validate(environment, layers, with_secrets=with_secrets)
            warnings += [w for w in settings.warnings if w not in warnings]
            result.append((name, {**connection_data(layers), "settings": settings}))
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        print("no host was contacted.", file=sys.stderr)
        raise SystemExit(2)
    # Policy exceptions in effect (and dev's policy warnings): on every run, never silent.
    for warning in warnings:
        print(warning, file=sys.stderr)
    return result


def cli_data_layers() -> list[Layer]:
    """`pyinfra ... --data key=value` (highest precedence), parsed like pyinfra parses it.

    pyinfra adds these to host data itself, after the inventory is loaded; reading them
    here too puts them through the same validation, before any host is contacted.
    """
    import click

    context = click.get_current_context(silent=True)
    pairs = (context.params.get("data") if context else None) or ()
    if not pairs:
        return []
    # Only inside pyinfra's CLI: importing pyinfra_cli monkey-patches the process for gevent.
    from pyinfra_cli.util import parse_cli_arg

    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--data {pair}: expected key=value")
        values[key] = parse_cli_arg(value)
    return [Layer("--data", values)] if values else []


# Entry points that create no database and run no application: no password needed.
WITHOUT_SECRETS = frozenset({"bootstrap.py"})


def entry_points() -> tuple[str, ...]:
    """The deploy files the pyinfra CLI was given (empty outside it)."""
    import click

    context = click.get_current_context(silent=True)
    operations = context.params.get("operations") if context is not None else None
    return tuple(str(op) for op in operations or ())


def needs_secrets(files: tuple[str, ...]) -> bool:
    """Only a run of bootstrap.py alone goes without the database passwords."""
    return not files or not all(f.rsplit("/", 1)[-1] in WITHOUT_SECRETS for f in files)


def parse_host_spec(spec: str) -> str | tuple[str, dict]:
    """'@local', 'host', 'user@host' or 'user@host:port' -> a pyinfra host entry."""
    if spec.startswith("@"):
        return spec
    data: dict = {}
    if "@" in spec:
        data["ssh_user"], spec = spec.split("@", 1)
    if ":" in spec:
        spec, port = spec.rsplit(":", 1)
        data["ssh_port"] = int(port)
    return (spec, data) if data else spec
