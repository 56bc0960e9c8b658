"""The audit trail (deploylib/model/audit.py): the last entry said before the plan, and the
log's rotation. The entry of this run is appended where the run lock is released
(deploylib/operations/run_lock.py), only when the run changed something: on every host,
pgBackRest's backup host too (its managed paths and prefetch carry the rotation file)."""

import sys

from pyinfra import host

from deploylib.facts import cached_fact
from deploylib.facts.audit import AuditLast
from deploylib.model import audit
from deploylib.operations import paths

settings = host.data.settings

print(f"    [{host.name}] {audit.describe_last(cached_fact(host, AuditLast))}", file=sys.stderr)

paths.file_content(
    name=f"Audit log rotation ({audit.LOGROTATE_PATH})",
    path=audit.LOGROTATE_PATH,
    content=audit.logrotate_config(),
    user="root",
    group="root",
    mode="644",
)
