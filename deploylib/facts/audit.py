"""The audit trail's last entry, as planning sees it (host code: a pyinfra fact over
deploylib.model.audit)."""

from __future__ import annotations

from pyinfra.api import FactBase

from ..model import audit


class AuditLast(FactBase):
    """
    Returns the last entry of the host's audit log (a dict), None when there is no log.
    Asked with the run's other facts (one remote command): printed before the plan.
    """

    def command(self) -> str:
        return audit.fact_command()

    @staticmethod
    def default() -> None:
        return None

    def process(self, output: list[str]) -> dict | None:
        return audit.parse_fact(output)
