"""Once this host's whole plan is known (before the prod guard, which lists it too): say
what the run will do that matters to the people using the host, in their words
(deploylib/announce.py), and the defaults in use that matter."""

from pyinfra import host
from pyinfra.context import ctx_host, ctx_state

from deploylib import announce

settings = host.data.settings
defaults = sorted(
    settings.databases[database]["owner"]
    for database, secret in settings.secrets.items()  # none for bootstrap.py
    if secret.source.startswith("dev default")
)
if defaults:
    announce.once(
        f"{settings.environment}: roles {', '.join(defaults)} use the upstream default password "
        "(password = role name; allow_dev_default_passwords): never expose this host"
    )
announce.print_plan(ctx_state.get(), ctx_host.get())
