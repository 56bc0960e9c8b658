"""Run lock, included LAST by every entry point (after the prod guard): the first command
that changes this host takes the lock; the last operation releases it."""

from pyinfra import host

from deploylib.operations import run_lock

run_lock.take_before_first_change(host, host.data.settings.environment)

run_lock.release(host, name="Release the run lock")
