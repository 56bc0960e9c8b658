"""Issue 3: postgresql.conf and pg_hba.conf, safe and minimal, never a lock-out.

Sandbox addresses: the bridge is 10.213.7.0/24. Probes inside 10.213.7.192/27
are "the app network"; a probe at .240 is outside every rule.
"""

import pytest

from .harness import converge, hba_path, pg_connect_from, psql, run_deploy, server_times, ssh

pytestmark = pytest.mark.e2e

APP_NET = "10.213.7.192/27"
INSIDE, OUTSIDE = "10.213.7.200", "10.213.7.240"
PROBE_RULE = {
    "type": "host",
    "database": "postgres",
    "user": "probe",
    "address": APP_NET,
    "method": "scram-sha-256",
    "comment": "test probe",
}
BASE = {"pg_client_networks": [APP_NET], "pg_hba_rules": [PROBE_RULE]}


def make_probe_role(host):
    psql(host, "SET password_encryption = 'scram-sha-256'; "
               "DROP ROLE IF EXISTS probe; CREATE ROLE probe LOGIN PASSWORD 'probe-pass'")


def test_converge_idempotent_and_reachable_only_from_allowed_network(fresh_host):
    make_probe_role(fresh_host)
    first = converge(fresh_host, overrides=BASE)
    assert "PostgreSQL {}/main client rules (pg_hba.conf)".format(
        psql(fresh_host, "SHOW server_version_num")[:2]
    ) in first.changed

    # The second run (inside converge) changed nothing; a third must not reload or restart either.
    before = server_times(fresh_host)
    again = run_deploy(fresh_host, overrides=BASE)
    assert again.ok and again.changed == []
    assert server_times(fresh_host) == before, "an idempotent run reloaded or restarted PostgreSQL"

    assert pg_connect_from(INSIDE, fresh_host, "probe", "probe-pass", "postgres") == "connected"
    outside = pg_connect_from(OUTSIDE, fresh_host, "probe", "probe-pass", "postgres")
    assert outside.startswith("refused") and "no pg_hba.conf entry" in outside, outside
    wrong = pg_connect_from(INSIDE, fresh_host, "probe", "not-the-password", "postgres")
    assert "password authentication failed" in wrong, wrong

    conf = ssh(fresh_host, "cat /etc/postgresql/*/main/conf.d/90-hatchet-owlclaw-deploy.conf").stdout
    assert "listen_addresses = '*'" in conf
    assert "password_encryption = 'scram-sha-256'" in conf


def test_hba_change_reloads_listen_change_restarts(fresh_trixie):
    host = fresh_trixie
    make_probe_role(host)
    converge(host, overrides=BASE)

    start, loaded = server_times(host)
    wider = {**BASE, "pg_client_networks": [APP_NET, "10.213.7.224/27"]}
    result = run_deploy(host, overrides=wider)
    assert result.ok, result.describe()
    assert result.changed == ["PostgreSQL 17/main client rules (pg_hba.conf)"]
    new_start, new_loaded = server_times(host)
    assert new_start == start, "a pg_hba change must not restart PostgreSQL"
    assert new_loaded != loaded, "a pg_hba change must reload PostgreSQL"
    assert pg_connect_from(OUTSIDE, host, "probe", "probe-pass", "postgres").startswith("refused")
    # Said in the plan and in the summary, and never called a restart (issue 20).
    assert "reload PostgreSQL 17/main for its client rules (pg_hba.conf), no restart" in result.stderr
    assert f"[{host.name}] reloaded PostgreSQL 17/main for its client rules" in result.stderr
    assert "restart" not in result.stderr.replace("no restart", ""), result.stderr

    listen = {**wider, "pg_listen_addresses": ["localhost", host.ip]}
    planned = run_deploy(host, overrides=listen, extra_args=("--dry",))
    assert planned.ok, planned.describe()
    assert "restart PostgreSQL 17/main for listen_addresses" in planned.stderr, planned.stderr
    assert "restarted" not in planned.stderr and "--> Done:" not in planned.stderr, planned.stderr
    result = run_deploy(host, overrides=listen)
    assert result.ok, result.describe()
    assert result.changed == ["PostgreSQL 17/main settings (postgresql.conf)"]
    assert "restart PostgreSQL 17/main for listen_addresses" in result.stderr
    assert f"[{host.name}] restarted PostgreSQL 17/main for listen_addresses" in result.stderr
    assert server_times(host)[0] != start, "a listen_addresses change must restart PostgreSQL"
    assert psql(host, "SHOW listen_addresses") == f"localhost,{host.ip}"
    assert run_deploy(host, overrides=listen).changed == []

    # Issue 20: a client network no listen address serves stops the run while planning.
    times = server_times(host)
    unserved = run_deploy(host, overrides={**wider, "pg_listen_addresses": ["localhost"]})
    assert not unserved.ok
    assert "no listen address serves these client networks" in unserved.stderr, unserved.stderr
    assert f"{APP_NET}: it reaches this host through eth0 ({host.ip})" in unserved.stderr
    assert "pg_listen_addresses in" in unserved.stderr and "Nothing was changed" in unserved.stderr
    assert server_times(host) == times and psql(host, "SHOW listen_addresses") == f"localhost,{host.ip}"

    # A listen address PostgreSQL cannot bind (it starts anyway): the run fails, quoting its log.
    unbindable = {**wider, "pg_listen_addresses": ["localhost", host.ip, "10.213.7.250"]}
    failed = run_deploy(host, overrides=unbindable)
    assert not failed.ok, failed.describe()
    assert "is not listening on: 10.213.7.250" in failed.stderr, failed.stderr
    assert 'could not create listen socket for "10.213.7.250"' in failed.stderr, failed.stderr
    assert "restarted PostgreSQL" not in failed.stderr
    assert run_deploy(host, overrides=listen).ok

    # A pg_settings typo: stopped while planning, the close name suggested, as a message.
    times = server_times(host)
    typo = run_deploy(host, overrides={**listen, "pg_settings": {"max_conections": "50"}})
    assert not typo.ok
    assert "--> Stopped: " in typo.stderr, typo.stderr
    assert "unknown setting 'max_conections' (did you mean 'max_connections'?)" in typo.stderr
    assert "pyinfra error in" not in typo.stderr and "No hosts remaining" not in typo.stderr
    assert server_times(host) == times


def test_restart_forbidden_leaves_it_pending_and_says_so(fresh_trixie):
    host = fresh_trixie
    converge(host, overrides=BASE)
    start = server_times(host)[0]
    forbidden = {**BASE, "pg_listen_addresses": ["localhost", host.ip], "pg_allow_restart": False}
    result = run_deploy(host, overrides=forbidden)
    assert result.ok, result.describe()
    assert server_times(host)[0] == start
    assert "needs a restart for listen_addresses" in result.stderr
    assert "pg_allow_restart is False" in result.stderr
    # Still pending on the next run: said again, nothing changed.
    again = run_deploy(host, overrides=forbidden)
    assert again.changed == [] and "needs a restart for listen_addresses" in again.stderr
    # Allowed again: the pending restart happens.
    allowed = {**forbidden, "pg_allow_restart": True}
    assert run_deploy(host, overrides=allowed).ok
    assert server_times(host)[0] != start
    assert psql(host, "SHOW listen_addresses") == f"localhost,{host.ip}"


# As an operator left it: a hand-added reject above an (empty) managed block.
CUSTOM_HBA = (
    "# site rules, hand-written\n"
    "local   all   postgres   peer\n"
    "local\tall\t\tall\t\t\tpeer   # odd   spacing kept\n"
    "\n"
    "host    all   all   10.213.7.240/32   reject\n"
    "# BEGIN managed by hatchet-owlclaw deploy (do not edit inside this block)\n"
    "# END managed by hatchet-owlclaw deploy\n"
    "host  all  all  127.0.0.1/32  scram-sha-256\n"
    "  # indented comment\n"
)
OUTSIDE_BLOCK = CUSTOM_HBA.replace(
    "# BEGIN managed by hatchet-owlclaw deploy (do not edit inside this block)\n"
    "# END managed by hatchet-owlclaw deploy\n",
    "",
)


def test_foreign_lines_kept_byte_for_byte_and_shadowing_reported(fresh_trixie):
    host = fresh_trixie
    path = hba_path(host)
    ssh(host, f"cat > {path} <<'EOF'\n{CUSTOM_HBA}EOF\nchown postgres:postgres {path}")
    psql(host, "SELECT pg_reload_conf()")
    make_probe_role(host)

    # A managed rule for exactly the rejected client: shadowed by the earlier reject.
    shadowed = {**BASE, "pg_hba_rules": [PROBE_RULE, {**PROBE_RULE, "address": "10.213.7.240/32"}]}
    refused = run_deploy(host, overrides={**shadowed, "pg_hba_on_shadowed": "fail"})
    assert not refused.ok
    assert "10.213.7.240/32" in refused.stderr and "reject" in refused.stderr
    assert ssh(host, f"cat {path}").stdout == CUSTOM_HBA, "fail mode must not write anything"

    warned = run_deploy(host, overrides={**shadowed, "pg_hba_on_shadowed": "warn"})
    assert warned.ok, warned.describe()
    assert "reject" in warned.stderr and "Attention" in warned.stderr

    converge(host, overrides=BASE)
    text = ssh(host, f"cat {path}").stdout
    begin = text.index("# BEGIN managed")
    end = text.index("\n", text.index("# END managed")) + 1
    assert text[:begin] + text[end:] == OUTSIDE_BLOCK
    assert pg_connect_from(INSIDE, host, "probe", "probe-pass", "postgres") == "connected"
    assert "rejects connection" in pg_connect_from(OUTSIDE, host, "probe", "probe-pass", "postgres")


def test_invalid_rule_is_rolled_back_with_postgres_error(fresh_host):
    host = fresh_host
    make_probe_role(host)
    converge(host, overrides=BASE)
    path = hba_path(host)
    before_file = ssh(host, f"cat {path}").stdout
    before_times = server_times(host)

    # A rule the configuration check lets through but PostgreSQL refuses (an unknown option
    # name no longer gets this far): PostgreSQL's own validation is the last line.
    broken = {**BASE, "pg_hba_rules": [PROBE_RULE, {**PROBE_RULE, "options": "clientcert=verify-ca"}]}
    result = run_deploy(host, overrides=broken)
    assert not result.ok
    assert 'clientcert can only be configured for "hostssl" rows' in result.stderr
    assert "previous file is back in place" in result.stderr
    assert ssh(host, f"cat {path}").stdout == before_file
    assert server_times(host) == before_times
    assert pg_connect_from(INSIDE, host, "probe", "probe-pass", "postgres") == "connected"
    # A backup of the file as it was is kept.
    backups = ssh(host, "ls /var/lib/hatchet-owlclaw-deploy/backups").stdout.split()
    assert any(name.startswith("pg_hba.conf.") for name in backups)


def test_invalid_setting_is_rolled_back_with_postgres_error(fresh_trixie):
    host = fresh_trixie
    converge(host, overrides=BASE)
    before = server_times(host)
    # A number PostgreSQL cannot read: stopped while planning (issue 20), nothing written.
    planned = run_deploy(host, overrides={**BASE, "pg_settings": {"work_mem": "lots"}})
    assert not planned.ok
    assert "--> Stopped: " in planned.stderr and "work_mem = 'lots': not a number" in planned.stderr
    # A value only PostgreSQL can judge: written, refused by PostgreSQL, the previous file back.
    result = run_deploy(host, overrides={**BASE, "pg_settings": {"timezone": "Mars/Olympus_Mons"}})
    assert not result.ok
    assert 'invalid value for parameter "TimeZone": "Mars/Olympus_Mons"' in result.stderr, result.stderr
    conf = ssh(host, "cat /etc/postgresql/17/main/conf.d/90-hatchet-owlclaw-deploy.conf").stdout
    assert "work_mem" not in conf and "Mars" not in conf
    assert server_times(host) == before

    # Names PostgreSQL spells in mixed case (TimeZone, IntervalStyle): a bad enum value stopped
    # while planning, good values set, checked in effect after the reload, idempotent.
    bad_style = run_deploy(host, overrides={**BASE, "pg_settings": {"intervalstyle": "sql_server"}})
    assert not bad_style.ok and "intervalstyle = 'sql_server': expected one of" in bad_style.stderr
    assert server_times(host) == before
    converge(host, overrides={**BASE, "pg_settings": {"timezone": "Europe/Paris", "intervalstyle": "iso_8601"}})
    assert psql(host, "SHOW TimeZone") == "Europe/Paris" and psql(host, "SHOW IntervalStyle") == "iso_8601"


def test_removed_rule_disappears(fresh_trixie):
    host = fresh_trixie
    extra = {**PROBE_RULE, "address": "10.213.7.224/27", "comment": "temporary"}
    converge(host, overrides={**BASE, "pg_hba_rules": [PROBE_RULE, extra]})
    assert "10.213.7.224/27" in ssh(host, f"cat {hba_path(host)}").stdout
    converge(host, overrides=BASE)
    assert "10.213.7.224/27" not in ssh(host, f"cat {hba_path(host)}").stdout


def test_without_include_dir_uses_managed_lines(fresh_trixie):
    host = fresh_trixie
    conf = psql(host, "SHOW config_file")
    ssh(host, f"sed -i 's/^include_dir/#include_dir/' {conf}")
    original = ssh(host, f"cat {conf}").stdout
    converge(host, overrides=BASE)
    text = ssh(host, f"cat {conf}").stdout
    assert text.startswith(original.rstrip("\n"))
    assert "# BEGIN managed" in text and "listen_addresses = '*'" in text
    assert psql(host, "SHOW listen_addresses") == "*"
