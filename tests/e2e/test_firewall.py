"""Issue 5: the host firewall opens PostgreSQL's port only to pg_client_networks.

ufw and nftables run for real on both suites (each host has its own network
namespace, so its iptables/nftables rules are its own). firewalld needs D-Bus
and systemd, which sandbox hosts do not run: its command generation is
unit-tested only (tests/unit/test_firewall.py).

Addresses: the controller (SSH) is 10.213.7.1, outside every allowed network,
so after the firewall is on only the deploy's SSH rule keeps it in. Probes at
10.213.7.201-210 are in the app network 10.213.7.192/27; probes at .241-.250
are outside it. pg_hba lets the probe role in from *both* (10.213.7.240/28),
so a client outside that still cannot connect was stopped by the firewall, at
the TCP level, before PostgreSQL saw it.
"""

import sys

import pytest

from bench.bench import remote_commands

from .harness import converge, in_client, pg_connect_from, probe_answer, run_deploy, ssh
from .test_postgres_config import APP_NET, PROBE_RULE, make_probe_role

pytestmark = pytest.mark.e2e

OUTSIDE_NET = "10.213.7.240/28"
INSIDE, OUTSIDE = "10.213.7.201", "10.213.7.241"
HBA_RULES = [PROBE_RULE, {**PROBE_RULE, "address": OUTSIDE_NET, "comment": "probe outside the firewall"}]

TCP_PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("open")
except socket.timeout:
    print("timeout")
except OSError as error:
    print("refused: " + str(error))
"""


# PostgreSQL's port from the host itself (loopback is never filtered); prints "open" or fails.
LOCAL_PG_CONNECT = (
    "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 5432), 3); print('open')\""
)


def tcp_from(client_ip: str, host, port: int = 5432) -> str:
    """'open', 'timeout' or 'refused: ...' for a TCP connect from a probe namespace."""
    name = "p" + client_ip.rsplit(".", 1)[-1]
    result = in_client(name, client_ip, [sys.executable, "-c", TCP_PROBE, host.ip, str(port)])
    return probe_answer(result, ("open", "timeout", "refused: "))


def data(backend: str, enable: bool, networks=(APP_NET,)) -> dict:
    return {
        "pg_client_networks": list(networks),
        "pg_hba_rules": HBA_RULES,
        "firewall_backend": backend,
        "firewall_enable": enable,
    }


def said(output: str, start: str) -> str:
    """The line of a run's output that starts with ``start`` (stripped), failing when none."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith(start)]
    assert lines, f"no line starts with {start!r}:\n{output}"
    return lines[0]


def ufw_rules(host) -> str:
    return ssh(host, "ufw status").stdout


def test_ufw_rules_while_inactive_then_enabled_without_losing_ssh(fresh_host):
    host = fresh_host
    make_probe_role(host)
    ssh(host, "ufw allow proto tcp from 10.213.7.250 to any port 9999 comment 'operator rule'")

    # Off and not asked to turn it on: rules written, firewall stays off, run says so.
    first = converge(host, overrides=data("ufw", enable=False))
    assert "Firewall (ufw): tcp/5432 from the client networks only" in first.changed
    assert "ufw is inactive" in first.stderr and "Attention" in first.stderr
    status = ufw_rules(host)
    assert status.startswith("Status: inactive")
    user_rules = ssh(host, "grep '^### tuple' /etc/ufw/user.rules").stdout
    assert f"allow tcp 5432 0.0.0.0/0 any {APP_NET} in" in user_rules
    assert "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in" in user_rules  # SSH before anyone enables it
    # pg_hba alone lets the outside probe in: only the firewall can stop it.
    assert pg_connect_from(OUTSIDE, host, "probe", "probe-pass", "postgres") == "connected"

    # Issue 20: said in the operator's words, in the plan and in the end-of-run summary.
    ssh_rule = "SSH rule (port 22) first, so enabling ufw cannot lock you out"
    assert f"add an {ssh_rule}" in first.stderr, first.stderr
    assert f"[{host.name}] added an SSH rule (port 22) so enabling ufw cannot lock you out" in first.stderr
    opened = said(first.stderr, f"[{host.name}] opened PostgreSQL port 5432 to {APP_NET}")
    assert opened.endswith(" in ufw (in effect once ufw is on)"), opened
    assert "enable ufw" not in first.stderr and "enabled ufw" not in first.stderr
    planned = run_deploy(host, overrides=data("ufw", enable=True), extra_args=("--dry",))
    assert planned.ok, planned.describe()
    assert "enable ufw: its rules take effect now" in planned.stderr, planned.stderr
    assert "enabled ufw" not in planned.stderr and "--> Done:" not in planned.stderr
    assert ufw_rules(host).startswith("Status: inactive")

    # Turned on: SSH first, then enable; the controller (not in any allowed network) keeps SSH.
    enabled = converge(host, overrides=data("ufw", enable=True))
    assert enabled.changed == ["Firewall (ufw): tcp/5432 from the client networks only"]
    assert f"[{host.name}] enabled ufw" in enabled.stderr, enabled.stderr
    assert ssh_rule not in enabled.stderr  # the SSH rule was there already
    quiet = run_deploy(host, overrides=data("ufw", enable=True))
    assert quiet.ok and quiet.changed == [], quiet.describe()
    for words in ("ufw cannot lock", "enable ufw", "enabled ufw", "PostgreSQL port 5432", "--> Done:"):
        assert words not in quiet.stderr, quiet.stderr
    assert ufw_rules(host).startswith("Status: active")
    assert ssh(host, "echo still-in").stdout.strip() == "still-in"

    assert pg_connect_from(INSIDE, host, "probe", "probe-pass", "postgres") == "connected"
    assert tcp_from(OUTSIDE, host) == "timeout", "the firewall must drop the outside client"
    assert tcp_from("10.213.7.242", host, 22) == "open", "SSH stays open to everyone"
    # Local clients are never filtered.
    assert ssh(host, LOCAL_PG_CONNECT).stdout.strip() == "open", "local connections stay open"

    # The operator's rule is still there, untouched.
    assert "9999/tcp" in ufw_rules(host) and "# operator rule" in ufw_rules(host)


def test_ufw_removed_source_is_closed_foreign_identical_rule_kept(fresh_trixie):
    host = fresh_trixie
    make_probe_role(host)
    converge(host, overrides=data("ufw", enable=True, networks=(APP_NET, OUTSIDE_NET)))
    assert pg_connect_from(OUTSIDE, host, "probe", "probe-pass", "postgres") == "connected"
    assert OUTSIDE_NET in ufw_rules(host)

    removed = converge(host, overrides=data("ufw", enable=True))
    assert OUTSIDE_NET not in ufw_rules(host)
    assert f"remove the ufw rule for {OUTSIDE_NET} (port 5432) (no longer wanted)" in removed.stderr
    assert f"[{host.name}] removed the ufw rule for {OUTSIDE_NET} (port 5432)" in removed.stderr
    assert tcp_from(OUTSIDE, host) == "timeout"
    assert pg_connect_from(INSIDE, host, "probe", "probe-pass", "postgres") == "connected"

    # A rule the operator made (no deploy comment) for a source we also want: never
    # claimed, so never removed when the source leaves group_data.
    ssh(host, f"ufw insert 1 allow proto tcp from {OUTSIDE_NET} to any port 5432")
    converge(host, overrides=data("ufw", enable=True, networks=(APP_NET, OUTSIDE_NET)))
    converge(host, overrides=data("ufw", enable=True))
    kept = ssh(host, "grep '^### tuple' /etc/ufw/user.rules").stdout
    assert f"allow tcp 5432 0.0.0.0/0 any {OUTSIDE_NET} in\n" in kept, kept
    assert pg_connect_from(OUTSIDE, host, "probe", "probe-pass", "postgres") == "connected"


def test_ufw_enable_refused_when_it_would_cut_off_a_service(fresh_trixie):
    host = fresh_trixie
    ssh(host, "setsid nc -lk 8080 </dev/null >/dev/null 2>&1 &")
    refused = run_deploy(host, overrides=data("ufw", enable=True))
    assert not refused.ok
    assert "would block services listening on" in refused.stderr and ":8080" in refused.stderr
    assert ufw_rules(host).startswith("Status: inactive")
    # Once the operator has decided about that port, the firewall goes on.
    ssh(host, "ufw allow 8080/tcp")
    converge(host, overrides=data("ufw", enable=True))
    assert ufw_rules(host).startswith("Status: active")
    assert tcp_from("10.213.7.243", host, 8080) == "open"


def nft_table(host) -> str:
    """The deploy's nftables table ("" when there is none; any other failure fails the test)."""
    listed = ssh(host, "nft list table inet hatchet_owlclaw_deploy", check=False)
    if listed.returncode != 0:
        assert listed.returncode == 1 and "No such file or directory" in listed.stderr, listed.stderr
        return ""
    return listed.stdout


def test_nftables_backend(fresh_host):
    host = fresh_host
    make_probe_role(host)
    ssh(host, "nft add table inet operator_table && nft add chain inet operator_table keep")

    # Not enabled: the file is written, nothing is loaded, the run says so.
    first = converge(host, overrides=data("nftables", enable=False))
    assert "nftables: the PostgreSQL rules are written" in first.stderr
    assert nft_table(host) == ""
    assert "tcp dport 5432 ip saddr 10.213.7.192/27 accept" in ssh(
        host, "cat /etc/nftables.d/hatchet-owlclaw-deploy.nft"
    ).stdout
    assert pg_connect_from(OUTSIDE, host, "probe", "probe-pass", "postgres") == "connected"

    loaded = converge(host, overrides=data("nftables", enable=True, networks=(APP_NET, OUTSIDE_NET)))
    assert f"[{host.name}] enabled the nftables table hatchet_owlclaw_deploy" in loaded.stderr, loaded.stderr
    main_conf = ssh(host, "cat /etc/nftables.conf").stdout
    assert 'include "/etc/nftables.d/hatchet-owlclaw-deploy.nft"' in main_conf
    assert pg_connect_from(OUTSIDE, host, "probe", "probe-pass", "postgres") == "connected"

    # The outside network removed: closed at the TCP level; inside, loopback and SSH unaffected.
    converge(host, overrides=data("nftables", enable=True))
    assert OUTSIDE_NET not in nft_table(host)
    assert tcp_from(OUTSIDE, host) == "timeout"
    assert pg_connect_from(INSIDE, host, "probe", "probe-pass", "postgres") == "connected"
    assert ssh(host, "echo still-in").stdout.strip() == "still-in"
    assert ssh(host, LOCAL_PG_CONNECT).stdout.strip() == "open", "local connections stay open"
    # Other tables are never touched.
    assert "chain keep" in ssh(host, "nft list table inet operator_table").stdout
    # Changed by hand: the next run puts it back.
    ssh(host, "nft flush chain inet hatchet_owlclaw_deploy input")
    again = run_deploy(host, overrides=data("nftables", enable=True))
    assert again.ok and again.changed == ["Firewall (nftables): tcp/5432 from the client networks only"]
    assert tcp_from(OUTSIDE, host) == "timeout"


def test_nftables_dev_default_leaves_the_firewall_alone(fresh_trixie):
    """dev keeps a developer's firewall as it is: no rule, no table, no file."""
    host = fresh_trixie
    result = converge(host, overrides={"pg_client_networks": [APP_NET]})
    assert not any(name.startswith("Firewall") for name in result.changed)
    assert nft_table(host) == ""
    assert "hatchet-owlclaw-deploy" not in ssh(host, "cat /etc/ufw/user.rules").stdout
    assert ssh(host, "test -e /etc/nftables.d", check=False).returncode == 1  # absent (ssh fails with 255)


def test_no_op_run_with_the_firewall_is_one_remote_command(fresh_trixie):
    """auto (ufw here) with the firewall on: a second run reads the host, the firewall's
    tools and rules included, in one remote command (the facts' bundle) and changes nothing."""
    host = fresh_trixie
    first = converge(host, overrides=data("auto", enable=True))
    assert "Firewall (ufw): tcp/5432 from the client networks only" in first.changed
    again = run_deploy(host, overrides=data("auto", enable=True), extra_args=("--debug",))
    assert again.ok and again.changed == [], again.describe()
    assert remote_commands(again.stdout + again.stderr) == {host.name: 1}, again.stderr[-4000:]
