"""Run lock, included FIRST by every entry point: a host another run holds (or left
locked when it was killed) stops this run before anything executes on any host. The
lock itself is taken by the first command that changes this host (tasks/run_unlock.py)."""

from pyinfra import host, state

from deploylib import managed_paths
from deploylib.facts import prefetch
from deploylib.facts.postgres import PostgresServer
from deploylib.facts.run_lock import RunLock
from deploylib.model.postgres_rules import server_request
from deploylib.operations import run_lock

settings = host.data.settings
entry_point = (state.current_deploy_filename or "deploy.py").rsplit("/", 1)[-1]

# The lock's state comes with the facts the run asks anyway (one remote command).
if entry_point == "restore.py":
    prefetch(host, [(RunLock, {}), (PostgresServer, server_request(settings))])
elif entry_point != "bootstrap.py":
    managed_paths.prefetch_host_facts(host, settings)

run_lock.check(host)
