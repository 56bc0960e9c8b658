"""Issue 16: plans you can review. `--dry --diff` (and the prod guard's listing) show every
managed file the run would change as a unified diff, secrets masked; without --diff nothing
more is printed. The output of real runs is read."""

import re
import subprocess

import pytest

from bench.bench import remote_commands

from .harness import REPO, converge, deploy_command, hba_path, run_deploy, ssh

pytestmark = pytest.mark.e2e

PROD_SECRETS = {"HATCHET_DB_PASSWORD": "prod-Hatchet-pw-diff1", "OWLCLAW_DB_PASSWORD": "prod-Owlclaw-pw-diff1"}
DEV_NETWORKS = ["172.17.0.0/16", "172.18.0.0/15", "172.20.0.0/14"]  # group_data/dev.py
BEFORE = {"pg_settings": {"password_encryption": "scram-sha-256", "work_mem": "4MB"}}
CHANGED = {
    "pg_client_networks": [*DEV_NETWORKS, "10.77.0.0/24"],
    "pg_settings": {"password_encryption": "scram-sha-256", "work_mem": "7MB"},
    "backup_retention_days": 9,
}
# New passwords for the change run: the plan rotates them (SQL with SCRAM verifiers).
FULL_VERIFIER = re.compile(r"SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+")
NEW_SECRETS = {"HATCHET_DB_PASSWORD": "Diff-Hatchet-S3cret-x", "OWLCLAW_DB_PASSWORD": "Diff-Owlclaw-S3cret-y"}


def human_run(host, args: tuple, overrides: dict, extra_env: dict, env: str = "dev") -> str:
    """pyinfra as an operator runs it (no --json): its whole output, stdout and stderr."""
    argv, environ = deploy_command(host, env=env, overrides=overrides, extra_args=args, extra_env=extra_env)
    proc = subprocess.run(argv, cwd=REPO, env=environ, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def no_secret_in(output: str, secrets: dict) -> None:
    for name, value in secrets.items():
        assert value not in output, f"{name}'s value appears in the output"
    # No verifier either (its head, salt and a digest, is what the roles' fact reads at -vvv).
    assert not FULL_VERIFIER.search(output)


def changed_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip()[:2] in ("+ ", "- ")]


def test_prod_guard_lists_the_diff(fresh_trixie):
    host = fresh_trixie
    refused = run_deploy(host, env="prod", overrides={"app_repo": None}, extra_env=PROD_SECRETS)
    assert not refused.ok and "prod guard: " in refused.stderr, refused.describe()
    listing = refused.stderr
    assert "Files it changes (secrets masked):" in listing
    hba = ssh(host, "runuser -u postgres -- psql -tAc 'SHOW hba_file'").stdout.strip()
    assert f"Will modify {hba}" in listing
    assert any(line.startswith("+ host") and "172.17.0.0/16" in line and "scram-sha-256" in line
               for line in changed_lines(listing)), listing
    assert "Will create /usr/local/sbin/hatchet-owlclaw-backup-prod" in listing
    assert "more lines (pyinfra inventory/prod.py deploy.py --dry --diff shows them)" in listing  # 100 lines
    assert "Will create /etc/cron.d/hatchet-owlclaw-backup-prod" in listing
    # The firewall rule set (prod: ufw, turned on): its status and the deploy's rules.
    assert "Will modify ufw rules (hatchet-owlclaw-deploy prod postgresql" in listing
    assert "+ Status: active" in changed_lines(listing)
    assert any(line.startswith("+ allow in proto tcp from 172.17.0.0/16") and "port 5432" in line
               for line in changed_lines(listing)), listing
    assert "+ listen_addresses = 'localhost,172.17.0.1'" in changed_lines(listing)
    assert "--dry --diff" in listing
    no_secret_in(refused.stdout + listing, PROD_SECRETS)


def test_dry_diff_shows_each_changed_file_masked(fresh_trixie):
    host = fresh_trixie
    converge(host, overrides=BEFORE)
    # Nothing to change: --diff costs no remote command more (one per host, the facts' bundle).
    noop = run_deploy(host, overrides=BEFORE, extra_args=("--diff", "--debug"))
    assert noop.ok and noop.changed == [], noop.describe()
    assert remote_commands(noop.stdout + noop.stderr) == {host.name: 1}
    assert "Will modify" not in noop.stderr and "@@ -" not in noop.stderr
    hba = hba_path(host)
    hba_before = ssh(host, f"sha256sum {hba}").stdout

    output = human_run(host, ("--dry", "--diff", "-vvv"), CHANGED, NEW_SECRETS)
    lines = changed_lines(output)
    # pg_hba: the added client network is one added rule line.
    assert f"Will modify {hba}" in output
    added_rules = [line for line in lines if line.startswith("+ host") and "10.77.0.0/24" in line]
    assert added_rules and all("scram-sha-256" in line for line in added_rules), output
    assert not [line for line in lines if line.startswith("- host")], output
    # postgresql.conf drop-in: the old and the new line of the changed setting.
    assert "- work_mem = '4MB'" in lines and "+ work_mem = '7MB'" in lines, output
    # The backup script (read from the host only because it differs).
    assert "Will modify /usr/local/sbin/hatchet-owlclaw-backup-dev" in output
    assert "+ RETENTION_MINUTES=12960" in lines and "- RETENTION_MINUTES=10080" in lines
    no_secret_in(output, NEW_SECRETS)
    assert ssh(host, f"sha256sum {hba}").stdout == hba_before  # --dry: nothing changed

    # Without --diff: no diff, nothing more than before.
    plain = human_run(host, ("--dry", "-vvv"), CHANGED, NEW_SECRETS)
    assert "Will modify" not in plain and "Will create" not in plain
    assert not [line for line in changed_lines(plain) if "work_mem" in line or "10.77.0.0/24" in line]
    assert "@@ -" not in plain

