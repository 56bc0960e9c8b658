"""Issue 12, items 4 and 6: one run at a time per host (the run lock), no file replaced
from a stale plan, and each environment's backup retention touching only its own files.

Concurrent runs are real pyinfra processes started together against one sandbox host;
where an ordering matters, the test waits for a state on the host (the lock file, the
prompt), never for a duration."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tempfile
import time

import pytest

from deploylib.model import run_lock
from sandbox import hosts

from .harness import (
    DATABASES_WITHOUT_VECTOR,
    REPO,
    DeployResult,
    converge,
    deploy_command,
    hba_path,
    result_of,
    run_deploy,
    ssh,
)

pytestmark = pytest.mark.e2e

LOCK = run_lock.LOCK_FILE
# What a run that did not get the lock says (whichever moment it found out).
LOCK_MESSAGES = (
    "is locked by a run in progress",  # while planning
    "locked by another run; nothing was changed",  # taking it
    "another run changed this host after this run planned it",  # taking it, after the other finished
)

PROD_SECRETS = {"HATCHET_DB_PASSWORD": "prod-h-pw-12", "OWLCLAW_DB_PASSWORD": "prod-o-pw-12"}
STAGING_SECRETS = {"HATCHET_STAGING_DB_PASSWORD": "st-h-pw-12", "OWLCLAW_STAGING_DB_PASSWORD": "st-o-pw-12"}
# PostgreSQL configuration, roles, databases and backups only: no application, no firewall,
# no restart (listen_addresses stays PostgreSQL's default), no pgvector package to install.
SHARED = {"app_repo": None, "firewall_backend": "none", "firewall_enable": False,
          "pg_listen_addresses": ["localhost"]}
ENVIRONMENTS = {
    "prod": ({**SHARED, "databases": DATABASES_WITHOUT_VECTOR},
             {**PROD_SECRETS, "CONFIRM_PROD": "yes"}),
    "staging": ({**SHARED, "databases": {
        "hatchet_staging": {"owner": "hatchet_staging", "settings": {"timezone": "UTC"}},
        "owlclaw_staging": {"owner": "owlclaw_staging"}}}, STAGING_SECRETS),
}


class Run:
    """A pyinfra process in the background; its output in files (no pipe can fill up)."""

    def __init__(self, host, *, yes: bool = True, **kwargs):
        args = ("-y", "--json") if yes else ()
        argv, environ = deploy_command(host, extra_args=args, **kwargs)
        self.out = tempfile.TemporaryFile(mode="w+")
        self.err = tempfile.NamedTemporaryFile(mode="w+")
        self.proc = subprocess.Popen(argv, cwd=REPO, env=environ, stdin=subprocess.PIPE,
                                     stdout=self.out, stderr=self.err, text=True)

    def stderr_so_far(self) -> str:
        with open(self.err.name) as f:
            return f.read()

    def finish(self) -> DeployResult:
        self.proc.wait(timeout=900)
        self.out.seek(0)
        return result_of(self.proc.returncode, self.out.read(), self.stderr_so_far())


def wait_until(condition, what: str, attempts: int = 3000):
    for _ in range(attempts):
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def lock_record(host) -> dict:
    """The lock file's key=value lines ({} when there is none)."""
    text = ssh(host, f"if [ -e {LOCK} ]; then cat {LOCK}; fi").stdout  # unreadable: fails
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def env_run(host, env: str, networks: list[str] | None = None, **kwargs):
    data, secrets = ENVIRONMENTS[env]
    overrides = {**data, **({"pg_client_networks": networks} if networks else {})}
    return dict(env=env, overrides=overrides, extra_env=secrets, **kwargs)


def hba_blocks(host) -> dict:
    text = ssh(host, f"cat {hba_path(host)}").stdout
    blocks = {}
    for env in ENVIRONMENTS:
        begin = f"# BEGIN managed by hatchet-owlclaw deploy ({env})"
        end = f"# END managed by hatchet-owlclaw deploy ({env})"
        blocks[env] = text[text.index(begin):text.index(end)] if begin in text and end in text else None
    return blocks


def test_two_concurrent_deploys_one_proceeds_the_other_stops_changing_nothing(fresh_trixie):
    host = fresh_trixie
    # Started together on a fresh host: both plan, exactly one gets to change it.
    runs = [Run(host), Run(host)]
    first, second = (run.finish() for run in runs)
    assert [first.ok, second.ok].count(True) == 1, first.describe() + "\n" + second.describe()
    winner, loser = (first, second) if first.ok else (second, first)
    assert any(message in loser.stderr for message in LOCK_MESSAGES), loser.describe()
    assert "Role owlclaw" in winner.changed
    if loser.payload:  # it got as far as executing: no operation of it changed anything
        assert loser.changed == [], loser.describe()
    assert lock_record(host) == {}  # the winner released it

    # converge -> idempotence with the winner's plan: the loser left nothing half-done.
    assert run_deploy(host).changed == []

    # A run that starts while another holds the lock stops while planning, naming it. A
    # fresh host again, so that the first run holds the lock for a while; it is paused
    # once it holds it, so that "while" is certain.
    host = hosts.reset(host.index)
    holder = Run(host)
    record = wait_until(lambda: lock_record(host), "the first run to take the lock")
    os.kill(holder.proc.pid, signal.SIGSTOP)
    try:
        refused = run_deploy(host, overrides={"pg_client_networks": ["10.213.8.0/24"]})
    finally:
        os.kill(holder.proc.pid, signal.SIGCONT)
    assert not refused.ok
    message = refused.stderr
    assert f"run lock: {host.name} is locked by a run in progress: deploy.py for environment dev" \
        in message
    assert f"started {record['started']} by {record['operator']} on {record['controller']}" in message
    assert f"controller PID {holder.proc.pid}" in message
    assert f"on this host PID {record['holder_pid']}" in message
    assert "Nothing was changed on any host" in message
    held = holder.finish()
    assert held.ok, held.describe()
    assert "10.213.8.0/24" not in ssh(host, f"cat {hba_path(host)}").stdout
    assert lock_record(host) == {}
    assert run_deploy(host).changed == []


def test_stale_lock_of_a_killed_run_is_reported_and_cleared(fresh_trixie):
    host = fresh_trixie
    killed = Run(host)
    record = wait_until(lambda: lock_record(host), "the run to take the lock")
    os.kill(killed.proc.pid, signal.SIGKILL)
    killed.proc.wait()
    # Its connection closes with it, and with the connection the holder process on the host.
    wait_until(lambda: ssh(host, f"test -e /proc/{record['holder_pid']}", check=False).returncode != 0,
               "the killed run's sshd session to end")

    stale = run_deploy(host)
    assert not stale.ok
    clear = run_lock.clear_command(run_lock.ssh_target(host.ip, "root", None, str(hosts.ssh_key_path())))
    assert f"run lock: {host.name} has a stale lock ({LOCK}) left by deploy.py for environment dev" \
        in stale.stderr
    assert f"started {record['started']}" in stale.stderr and "killed or interrupted" in stale.stderr
    assert f"clear the lock with: {clear}   and run again." in stale.stderr
    assert lock_record(host) == record  # reported, not taken over

    # The printed command, as printed (plus this sandbox's host key options), clears it.
    argv = shlex.split(clear)
    subprocess.run([argv[0], "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "BatchMode=yes", *argv[1:]], check=True, capture_output=True, timeout=60)
    assert lock_record(host) == {}
    converge(host)  # whatever the killed run left half-done, the next run completes

    # A planted lock whose holder is gone (no such process) is stale too; the same command clears it.
    ssh(host, f"printf 'run_id=x1\\nenvironment=staging\\nentry_point=restore.py\\noperator=eve\\n"
              f"controller=elsewhere\\ncontroller_pid=1\\nstarted=2020-01-01T00:00:00Z\\n"
              f"holder_pid=999999\\nholder_start=1\\nboot_id=x\\n' > {LOCK}")
    planted = run_deploy(host)
    assert not planted.ok
    assert "left by restore.py for environment staging, started 2020-01-01T00:00:00Z by eve" in planted.stderr
    ssh(host, clear.split(" sudo ", 1)[1])  # `rm <lock>` as root here
    assert run_deploy(host).changed == []


def test_pg_hba_changed_after_planning_is_not_overwritten(fresh_trixie):
    host = fresh_trixie
    converge(host)
    path = hba_path(host)
    # Planned (pyinfra waits at its prompt), then the file changes, then the run executes.
    run = Run(host, yes=False, overrides={"pg_client_networks": ["10.213.9.0/24"]})
    wait_until(lambda: "Press enter to execute" in run.stderr_so_far(), "pyinfra's prompt")
    ssh(host, f"echo '# added by hand after the run planned' >> {path}")
    edited = ssh(host, f"cat {path}").stdout
    run.proc.stdin.write("\n")
    run.proc.stdin.close()
    result = run.finish()
    assert not result.ok
    assert f"{path} changed since this run planned it" in result.stderr
    assert "nothing was written" in result.stderr
    assert ssh(host, f"cat {path}").stdout == edited
    assert ssh(host, f"ls {os.path.dirname(path)} | grep -c deploy-new", check=False).stdout.strip() == "0"
    assert lock_record(host) == {}  # released after the failed operation

    # The next run plans from what is there: the hand-made line stays, the rule is added.
    converge(host, overrides={"pg_client_networks": ["10.213.9.0/24"]})
    text = ssh(host, f"cat {path}").stdout
    assert "# added by hand after the run planned" in text and "10.213.9.0/24" in text


def test_concurrent_staging_and_prod_runs_keep_both_pg_hba_blocks(fresh_trixie):
    host = fresh_trixie
    # The prod guard stops an unconfirmed prod run while planning: no lock is left behind.
    data, secrets = ENVIRONMENTS["prod"]
    guarded = run_deploy(host, env="prod", overrides=data, extra_env=PROD_SECRETS)
    assert not guarded.ok and "prod guard" in guarded.stderr
    assert lock_record(host) == {}

    networks = {"prod": "10.50.{}.0/24", "staging": "10.60.{}.0/24"}
    applied = {}
    for env in ("prod", "staging"):
        converge(host, **env_run(host, env, [networks[env].format(0)]))
        applied[env] = 0
    for round_ in range(1, 6):
        runs = {env: Run(host, **env_run(host, env, [networks[env].format(round_)])) for env in ENVIRONMENTS}
        results = {env: run.finish() for env, run in runs.items()}
        assert any(result.ok for result in results.values()), [r.describe() for r in results.values()]
        for env, result in results.items():
            if result.ok:
                applied[env] = round_
            else:
                assert any(message in result.stderr for message in LOCK_MESSAGES), result.describe()
        blocks = hba_blocks(host)
        for env in ENVIRONMENTS:
            assert blocks[env] is not None, f"round {round_}: {env}'s block is gone"
            assert networks[env].format(applied[env]) in blocks[env], (round_, env, blocks[env])
        assert lock_record(host) == {}
        outcome = ", ".join(f"{env} {'ran' if r.ok else 'stopped'}" for env, r in results.items())
        print(f"round {round_}: {outcome}")
    # Whoever was stopped in the last round, run again: both converge, both blocks stay.
    for env in ENVIRONMENTS:
        converge(host, **env_run(host, env, [networks[env].format(5)]))
    blocks = hba_blocks(host)
    assert networks["prod"].format(5) in blocks["prod"] and networks["staging"].format(5) in blocks["staging"]
    assert networks["prod"].format(5) not in blocks["staging"]


def test_staging_retention_leaves_prod_backups(fresh_trixie):
    host = fresh_trixie
    converge(host, **env_run(host, "prod", ["10.50.0.0/24"]))
    staging = env_run(host, "staging", ["10.60.0.0/24"])
    staging["overrides"]["backup_retention_days"] = 1
    converge(host, **staging)
    backups = "/var/backups/hatchet-owlclaw"
    prod_files = [f"globals/globals-prod-2020010{d}T000000Z.sql" for d in (2, 5, 9)] + [
        f"hatchet/hatchet-2020010{d}T000000Z.dump" for d in (2, 5, 9)]
    unscoped = "globals/globals-20200101T000000Z.sql"  # written before file names had the environment
    staging_old = "globals/globals-staging-20200103T000000Z.sql"
    plant = "; ".join(
        f"mkdir -p -m 700 {backups}/{name.split('/')[0]} && echo old > {backups}/{name} && "
        f"touch -d '{age} days ago' {backups}/{name}"
        for name, age in [*zip(prod_files, (2, 5, 10, 2, 5, 10), strict=True),
                          (unscoped, 10), (staging_old, 3)])
    ssh(host, plant)

    out = ssh(host, "/usr/local/sbin/hatchet-owlclaw-backup-staging").stdout
    assert "done" in out and f"deleted {backups}/{staging_old}" in out
    listing = ssh(host, f"cd {backups} && ls globals/* hatchet/*").stdout.split()
    assert set(prod_files) | {unscoped} <= set(listing), listing
    assert staging_old not in listing
    assert len([n for n in listing if re.fullmatch(r"globals/globals-staging-\d{8}T\d{6}Z\.sql", n)]) == 1

    # prod's own retention (7 days) prunes prod's: its 10-day files go, the rest stays.
    out = ssh(host, "/usr/local/sbin/hatchet-owlclaw-backup-prod").stdout
    listing = ssh(host, f"cd {backups} && ls globals/* hatchet/*").stdout.split()
    assert "globals/globals-prod-20200109T000000Z.sql" not in listing
    assert "hatchet/hatchet-20200109T000000Z.dump" not in listing
    assert {"globals/globals-prod-20200102T000000Z.sql", "globals/globals-prod-20200105T000000Z.sql",
            unscoped} <= set(listing)
    assert len([n for n in listing if re.fullmatch(r"globals/globals-staging-\d{8}T\d{6}Z\.sql", n)]) == 1


def test_no_lock_left_when_an_operation_refuses_the_run(fresh_trixie):
    """An operation that refuses (a foreign pg_hba.conf line above the managed block shadows
    its rules) stops the run while pyinfra plans it (each operation's plan is computed once
    the whole plan is known, for the announcements), so nothing executes, not even the
    earlier operations' changes: no lock is taken, none is left, the next run goes ahead."""
    host = fresh_trixie
    converge(host)
    path = hba_path(host)
    # A change early in the plan (the state directory's mode), then the refusal.
    ssh(host, "chmod 755 /var/lib/hatchet-owlclaw-deploy && "
              f"sed -i '1i host all all 0.0.0.0/0 reject' {path}")
    strict = {"pg_hba_on_shadowed": "fail"}
    stopped = run_deploy(host, overrides=strict)
    assert not stopped.ok and stopped.payload is None  # pyinfra stops the run: no results
    assert "comes before the managed block" in stopped.stderr
    assert ssh(host, "stat -c %a /var/lib/hatchet-owlclaw-deploy").stdout.strip() == "755"  # not executed
    assert lock_record(host) == {}
    # Nothing to clear: the next run goes ahead (and stops at the same line, as it should).
    again = run_deploy(host, overrides=strict)
    assert "stale lock" not in again.stderr and "comes before the managed block" in again.stderr
    assert lock_record(host) == {}
    # Without the foreign line the run converges and takes and releases the lock.
    ssh(host, f"sed -i '1d' {path}")
    converge(host)
    assert ssh(host, "stat -c %a /var/lib/hatchet-owlclaw-deploy").stdout.strip() == "700"
    assert lock_record(host) == {}
