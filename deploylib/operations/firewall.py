"""Operation on the host firewall: PostgreSQL's port open only to the configured sources
(host code: a pyinfra operation; what to change is decided by the backend's pure plan).

pyinfra has no ufw or firewalld operations. ``rules`` asks for its own facts
(``deploylib.facts.firewall``), lets the backend (``deploylib.model.firewall.registry``)
plan, and yields commands only when something differs, ``host.noop`` otherwise.
Only rules carrying the deploy's tag are touched. A firewall that is off is
turned on only when asked (``enable``), and only after SSH is allowed.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, OperationError, operation

from .. import announce, notices, show_diff
from ..facts import cached_fact
from ..facts.firewall import FirewallHost, FirewallState
from ..model.firewall import registry
from ..model.firewall.common import FirewallPlanError, Upload, Wanted
from ..pyinfra_compat import replayable


def _say(message: str) -> None:
    logger.warning(f"{host.print_prefix}{message}")
    notices.add(host, message)


@operation()
@replayable
def rules(
    backend: str,
    sources: list[str],
    port: int,
    enable: bool = False,
    ssh_port: int | None = None,
    tag: str | None = None,
):
    """
    Keep ``backend``'s rules for ``port``: the ``sources`` allowed, everyone else
    denied (ufw: one ``allow`` per source, then a ``deny``, commented
    ``hatchet-owlclaw-deploy <tag> postgresql``; nftables: the table ``inet
    hatchet_owlclaw_deploy``; firewalld: the deploy's ipsets and rich rules).
    Rules that are no longer wanted are removed; other environments' and foreign
    rules are never touched. While the firewall is off, SSH is allowed first, so
    enabling it can never lock the operator out.

    + backend: a ``firewall_backend`` name of the registry (not "auto", not "none")
    + sources: networks (CIDR) allowed to reach ``port``
    + port: PostgreSQL's TCP port
    + enable: turn the firewall on when it is off (never turns it off)
    + ssh_port: the SSH port when the connection does not tell (local runs)
    + tag: the environment (``config.scope_tag``), for backends that keep them apart
    """
    chosen = registry.get(backend)
    fw = cached_fact(host, FirewallHost)
    state = cached_fact(host, FirewallState, backend=backend)
    try:
        plan = chosen.plan(state, fw, Wanted(list(sources), port, enable, ssh_port, tag))
    except FirewallPlanError as error:
        raise OperationError(str(error))
    for message in plan.messages:
        _say(message)
    if not plan.commands:
        host.noop(plan.up_to_date)
        return
    if plan.rule_set:  # --diff, the prod guard
        show_diff.show(host, *plan.rule_set)
    for effect in plan.effects:
        announce.will(host, effect.will)
    for command in plan.commands:
        if isinstance(command, Upload):
            yield FileUploadCommand(StringIO(command.content), command.path)
        else:
            yield command
    for effect in plan.effects:
        yield announce.did(host, effect.did)
