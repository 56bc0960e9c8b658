"""deploylib.model.firewall: ufw rule parsing and planning, nftables rendering, firewalld commands.

firewalld cannot run in a sandbox host (no D-Bus, no systemd), so its commands
are checked here only; ufw and nftables also run for real in tests/e2e/test_firewall.py.
"""

from __future__ import annotations

import base64

import pytest

from deploylib.model import firewall
from deploylib.model.firewall import (
    FirewalldState,
    FirewallInfo,
    FirewallPlanError,
    Listener,
    UfwRule,
    UfwState,
    parse_ufw_tuple,
    plan_firewalld,
    plan_ufw,
)

PG = "hatchet-owlclaw-deploy postgresql"
PG_HEX = PG.encode().hex()
SSH_HEX = b"hatchet-owlclaw-deploy ssh".hex()


def tuple_line(spec: str, comment_hex: str | None = None) -> str:
    return f"### tuple ### {spec}" + (f" comment={comment_hex}" if comment_hex else "")


def rule(spec: str, comment: str = "", v6: bool = False) -> UfwRule:
    parsed = parse_ufw_tuple(tuple_line(spec, comment.encode().hex() if comment else None), v6)
    assert parsed
    return parsed


# --------------------------------------------------------------------------- parsing


def test_parse_tuple_with_comment_and_apps_and_logging():
    ours = parse_ufw_tuple(tuple_line("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", PG_HEX), False)
    assert ours == UfwRule("allow", "tcp", "5432", "0.0.0.0/0", "any", "10.0.0.0/8", "in", PG, False)
    assert ours.ours
    app = parse_ufw_tuple("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in", False)
    assert app.dport == "22" and app.direction == "in" and not app.ours
    logged = parse_ufw_tuple("### tuple ### allow_log tcp 80 0.0.0.0/0 any 0.0.0.0/0 in_eth0", False)
    assert logged.action == "allow" and logged.direction == "in_eth0"
    assert parse_ufw_tuple("-A ufw-user-input -p tcp --dport 22 -j ACCEPT", False) is None
    # A comment that merely starts with our tag's letters is not ours.
    assert not rule("allow tcp 1 0.0.0.0/0 any 0.0.0.0/0 in", "hatchet-owlclaw-deployX").ours


def test_parse_state_reads_both_files_in_order():
    user = "\n".join([
        "*filter",
        "### RULES ###",
        tuple_line("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", SSH_HEX),
        "-A ufw-user-input -p tcp --dport 22 -j ACCEPT",
        tuple_line("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", PG_HEX),
        "### END RULES ###",
    ])
    user6 = tuple_line("deny tcp 5432 ::/0 any ::/0 in", PG_HEX)
    lines = [
        "installed",
        "status\tactive",
        'ipv6\t"no"',
        "user\t" + base64.b64encode(user.encode()).decode(),
        "user6\t" + base64.b64encode(user6.encode()).decode(),
    ]
    state = firewall.parse_ufw_state(lines)
    assert state.installed and state.active and not state.ipv6
    assert [(r.dport, r.src, r.v6) for r in state.rules] == [
        ("22", "0.0.0.0/0", False), ("5432", "10.0.0.0/8", False), ("5432", "::/0", True)
    ]


def test_rule_allows_client():
    anywhere = rule("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in")
    assert anywhere.allows("10.1.2.3", 22) and anywhere.allows(None, 22)
    assert not anywhere.allows("10.1.2.3", 2222) and not anywhere.allows("fd00::1", 22)
    bastion = rule("limit tcp 22,2222 0.0.0.0/0 any 10.0.0.0/24 in")
    assert bastion.allows("10.0.0.9", 2222) and not bastion.allows("10.0.1.9", 22)
    assert not bastion.allows(None, 22)
    assert rule("allow any 1000:3000 0.0.0.0/0 any 0.0.0.0/0 in").allows("1.2.3.4", 2222)
    assert not rule("deny tcp 22 0.0.0.0/0 any 0.0.0.0/0 in").allows("1.2.3.4", 22)
    assert not rule("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 out").allows("1.2.3.4", 22)


def test_delete_command_names_the_rule_not_the_comment():
    assert firewall.ufw_delete(rule("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", PG)) == (
        "ufw delete allow proto tcp from 10.0.0.0/8 to 0.0.0.0/0 port 5432"
    )
    assert firewall.ufw_delete(rule("deny tcp 5432 ::/0 any ::/0 in", PG, v6=True)) == (
        "ufw delete deny proto tcp from ::/0 to ::/0 port 5432"
    )


# --------------------------------------------------------------------------- ufw plans


def apply(state: UfwState, commands: list[str]) -> UfwState:
    """A tiny ufw: enough of its semantics to check that a plan converges."""
    rules = list(state.rules)
    active = state.active

    def family_end(v6):
        last = max((i for i, r in enumerate(rules) if r.v6 == v6), default=None)
        return last + 1 if last is not None else (len(rules) if v6 else 0)

    for command in commands:
        words = command.split()
        if command == "ufw --force enable":
            active = True
            continue
        comment = command.split("comment ", 1)[1].strip("'") if "comment" in command else ""
        if words[1] == "delete":
            spec = (words[2], words[4], words[10], words[8], "any", words[6])
            rules = [r for r in rules if (r.action, r.proto, r.dport, r.dst, r.sport, r.src) != spec]
            continue
        position = int(words[2]) if words[1] == "insert" else None
        words = words[3:] if position else words[1:]
        action, port = words[0], words[words.index("port") + 1]
        source = words[words.index("from") + 1] if "from" in words else None
        families = [firewall.family(source) == 6] if source else [False, True]
        for v6 in families:
            anywhere = firewall.any_network(6 if v6 else 4)
            new = UfwRule(action, "tcp", port, anywhere, "any", source or anywhere, "in", comment, v6)
            if new.spec in {r.spec for r in rules}:
                continue
            rules.insert(position - 1 if position else family_end(v6), new)
    return UfwState(installed=True, active=active, ipv6=state.ipv6, rules=rules)


def test_fresh_inactive_enable_ssh_first_then_rules_then_enable():
    state = UfwState(installed=True, active=False)
    plan = plan_ufw(state, ["10.213.7.192/27", "fd00::/64"], 5432, "10.213.7.1", [22], enable=True)
    assert plan.commands == [
        "ufw allow proto tcp to any port 22 comment 'hatchet-owlclaw-deploy ssh'",
        f"ufw allow proto tcp from 10.213.7.192/27 to any port 5432 comment '{PG}'",
        f"ufw allow proto tcp from fd00::/64 to any port 5432 comment '{PG}'",
        f"ufw deny proto tcp to any port 5432 comment '{PG}'",
        "ufw --force enable",
    ]
    assert plan.needs_ssh
    after = apply(state, plan.commands)
    assert plan_ufw(after, ["10.213.7.192/27", "fd00::/64"], 5432, "10.213.7.1", [22], True).commands == []


def test_inactive_without_enable_adds_rules_and_ssh_but_does_not_enable():
    plan = plan_ufw(UfwState(installed=True), ["10.0.0.0/8"], 5432, "10.9.9.9", [2222], enable=False)
    assert plan.commands[0] == "ufw allow proto tcp to any port 2222 comment 'hatchet-owlclaw-deploy ssh'"
    assert "ufw --force enable" not in plan.commands


def test_no_ssh_rule_when_an_existing_rule_lets_this_connection_in_or_ufw_is_on():
    bastion = rule("allow tcp 22 0.0.0.0/0 any 10.9.0.0/16 in", "operator")
    state = UfwState(installed=True, active=False, rules=[bastion])
    plan = plan_ufw(state, [], 5432, "10.9.9.9", [22], enable=True)
    assert not plan.needs_ssh and not any("port 22" in c for c in plan.commands)
    # From elsewhere the bastion rule does not cover us: our own SSH rule comes first.
    assert plan_ufw(state, [], 5432, "192.0.2.7", [22], enable=True).needs_ssh
    # ufw on: this connection proves SSH is allowed; the operator's SSH policy stays theirs.
    assert not plan_ufw(UfwState(installed=True, active=True), [], 5432, None, [22], True).needs_ssh


def test_removed_source_deleted_new_source_inserted_before_our_deny():
    state = apply(UfwState(installed=True, active=True), plan_ufw(
        UfwState(installed=True, active=True), ["10.1.0.0/16", "10.2.0.0/16"], 5432, None, [22], False
    ).commands)
    plan = plan_ufw(state, ["10.2.0.0/16", "10.3.0.0/16"], 5432, None, [22], False)
    assert plan.commands == [
        "ufw delete allow proto tcp from 10.1.0.0/16 to 0.0.0.0/0 port 5432",
        f"ufw insert 2 allow proto tcp from 10.3.0.0/16 to any port 5432 comment '{PG}'",
    ]
    after = apply(state, plan.commands)
    assert [r.src for r in after.rules if not r.v6] == ["10.2.0.0/16", "10.3.0.0/16", "0.0.0.0/0"]
    assert plan_ufw(after, ["10.2.0.0/16", "10.3.0.0/16"], 5432, None, [22], False).commands == []


def test_v6_insert_position_counts_the_ipv4_rules():
    state = UfwState(installed=True, active=True, rules=[
        rule("allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in"),
        rule("deny tcp 5432 0.0.0.0/0 any 0.0.0.0/0 in", PG),
        rule("allow tcp 80 ::/0 any ::/0 in", v6=True),
        rule("deny tcp 5432 ::/0 any ::/0 in", PG, v6=True),
    ])
    plan = plan_ufw(state, ["10.0.0.0/8", "fd00::/64"], 5432, None, [22], False)
    assert plan.commands == [
        f"ufw insert 2 allow proto tcp from 10.0.0.0/8 to any port 5432 comment '{PG}'",
        f"ufw insert 5 allow proto tcp from fd00::/64 to any port 5432 comment '{PG}'",
    ]


def test_port_change_replaces_our_rules_and_keeps_ssh_and_foreign_rules():
    state = UfwState(installed=True, active=True, rules=[
        rule("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "hatchet-owlclaw-deploy ssh"),
        rule("allow tcp 9999 0.0.0.0/0 any 10.213.7.250 in", "operator rule"),
        rule("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", PG),
        rule("deny tcp 5432 0.0.0.0/0 any 0.0.0.0/0 in", PG),
    ], ipv6=False)
    plan = plan_ufw(state, ["10.0.0.0/8"], 5433, None, [22], False)
    assert plan.commands == [
        "ufw delete allow proto tcp from 10.0.0.0/8 to 0.0.0.0/0 port 5432",
        "ufw delete deny proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 5432",
        f"ufw allow proto tcp from 10.0.0.0/8 to any port 5433 comment '{PG}'",
        f"ufw deny proto tcp to any port 5433 comment '{PG}'",
    ]


def test_foreign_identical_rule_is_neither_duplicated_nor_claimed():
    foreign = rule("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in")
    ours_deny = rule("deny tcp 5432 0.0.0.0/0 any 0.0.0.0/0 in", PG)
    state = UfwState(installed=True, active=True, ipv6=False, rules=[foreign, ours_deny])
    assert plan_ufw(state, ["10.0.0.0/8"], 5432, None, [22], False).commands == []
    # Source removed from group_data: the operator's rule stays.
    assert plan_ufw(state, [], 5432, None, [22], False).commands == []


def test_misplaced_deny_is_moved_after_the_allows_foreign_one_only_reported():
    ours_first = UfwState(installed=True, active=True, ipv6=False, rules=[
        rule("deny tcp 5432 0.0.0.0/0 any 0.0.0.0/0 in", PG),
        rule("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", PG),
    ])
    plan = plan_ufw(ours_first, ["10.0.0.0/8"], 5432, None, [22], False)
    assert plan.commands == [
        "ufw delete deny proto tcp from 0.0.0.0/0 to 0.0.0.0/0 port 5432",
        f"ufw deny proto tcp to any port 5432 comment '{PG}'",
    ]
    foreign_first = UfwState(installed=True, active=True, ipv6=False, rules=[
        rule("deny tcp 5432 0.0.0.0/0 any 0.0.0.0/0 in"),
        rule("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", PG),
    ])
    plan = plan_ufw(foreign_first, ["10.0.0.0/8"], 5432, None, [22], False)
    assert plan.commands == [] and "did not create" in plan.warnings[0]


def test_refusals():
    with pytest.raises(FirewallPlanError, match="IPV6=no"):
        plan_ufw(UfwState(installed=True, ipv6=False), ["fd00::/64"], 5432, None, [22], False)
    with pytest.raises(FirewallPlanError, match="is the SSH port"):
        plan_ufw(UfwState(installed=True), [], 22, None, [22], False)


# --------------------------------------------------------------------------- host facts


def test_host_fact_parsing_and_backend_choice():
    lines = [
        "ufw\tinactive",
        "nft",
        "manager\tsysvinit",
        "listen\tLISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=9,fd=3))",
        "listen\tLISTEN 0 244 127.0.0.1:5432 0.0.0.0:* users:((\"postgres\",pid=20,fd=6))",
        "listen\tLISTEN 0 4096 [::]:8080 [::]:* users:((\"docker-proxy\",pid=30,fd=4))",
        "listen\tLISTEN 0 511 *:443 *:* users:((\"nginx\",pid=40,fd=4))",
        "ssh_connection\t10.213.7.1 40000 10.213.7.21 2222",
    ]
    fw = firewall.parse_firewall_host(lines)
    assert fw.ufw_installed and not fw.ufw_active and fw.nft_installed
    assert (fw.ssh_client, fw.ssh_port) == ("10.213.7.1", 2222)
    assert fw.sshd_ports() == [22]
    assert firewall.ssh_ports(fw, None) == [2222]
    blocked = firewall.blocked_listeners(fw, {2222, 5432})
    assert [(b.address, b.port) for b in blocked] == [("0.0.0.0", 22), ("*", 443)]
    assert "*:443 (nginx)" in firewall.describe_listeners(blocked)

    assert firewall.choose_backend("auto", fw) == "ufw"
    assert firewall.choose_backend("nftables", fw) == "nftables"
    assert firewall.choose_backend("auto", FirewallInfo(nft_installed=True)) == "nftables"
    assert firewall.choose_backend("auto", FirewallInfo()) == "none"
    running = FirewallInfo(ufw_installed=True, firewalld_installed=True, firewalld_running=True)
    assert firewall.choose_backend("auto", running) == "firewalld"
    running.ufw_active = True
    assert firewall.choose_backend("auto", running) == "ufw"


def test_ssh_ports_without_a_connection():
    listening = FirewallInfo(listeners=[Listener("0.0.0.0", 2200, "sshd")])
    assert firewall.ssh_ports(listening, None) == [2200]
    assert firewall.ssh_ports(FirewallInfo(), 2022) == [2022]
    assert firewall.ssh_ports(FirewallInfo(), None) == [22]
    assert firewall.parse_ssh_connection("garbage") == (None, None)


# --------------------------------------------------------------------------- nftables


def test_nft_table_renders_as_nft_prints_it():
    table = firewall.render_nft_table(["10.0.0.0/8", "192.0.2.7/32", "fd00::/64"], 5433)
    assert "tcp dport 5433 ip saddr 10.0.0.0/8 accept" in table
    assert "tcp dport 5433 ip saddr 192.0.2.7 accept" in table  # nft drops a /32
    assert "tcp dport 5433 ip6 saddr fd00::/64 accept" in table
    assert table.rstrip().endswith("tcp dport 5433 drop\n\t}\n}")
    assert 'iif "lo" accept' in table
    file = firewall.render_nft_file(["10.0.0.0/8"], 5432)
    assert "table inet hatchet_owlclaw_deploy\ndelete table inet hatchet_owlclaw_deploy\n" in file
    # nft's own listing (spaces instead of tabs) compares equal.
    listed = table.replace("\t", "    ")
    assert firewall.normalize_nft(listed) == firewall.normalize_nft(table)


def test_nft_include_detection():
    line = 'include "/etc/nftables.d/hatchet-owlclaw-deploy.nft"'
    assert firewall.has_include(f"flush ruleset\n  {line}\n")
    assert not firewall.has_include(f"# {line}\n")


# --------------------------------------------------------------------------- firewalld


def test_firewalld_fresh_running():
    state = FirewalldState(installed=True, running=True, zone="public")
    commands = plan_firewalld(state, ["10.0.0.0/8", "fd00::/64"], 5432, [22], enable=False)
    assert commands == [
        "firewall-cmd --permanent --new-ipset=hatchet-owlclaw-deploy-v4 --type=hash:net --option=family=inet",
        "firewall-cmd --permanent --ipset=hatchet-owlclaw-deploy-v4 --add-entry=10.0.0.0/8",
        "firewall-cmd --permanent --zone=public --add-rich-rule='rule family=\"ipv4\" source "
        "ipset=\"hatchet-owlclaw-deploy-v4\" port port=\"5432\" protocol=\"tcp\" accept'",
        "firewall-cmd --permanent --new-ipset=hatchet-owlclaw-deploy-v6 --type=hash:net "
        "--option=family=inet6",
        "firewall-cmd --permanent --ipset=hatchet-owlclaw-deploy-v6 --add-entry=fd00::/64",
        "firewall-cmd --permanent --zone=public --add-rich-rule='rule family=\"ipv6\" source "
        "ipset=\"hatchet-owlclaw-deploy-v6\" port port=\"5432\" protocol=\"tcp\" accept'",
        "firewall-cmd --reload",
    ]


def converged_firewalld(sources, port, running=True) -> FirewalldState:
    return FirewalldState(
        installed=True,
        running=running,
        ipsets={
            "hatchet-owlclaw-deploy-v4": [s for s in sources if ":" not in s],
            "hatchet-owlclaw-deploy-v6": [s for s in sources if ":" in s],
        },
        rich_rules=[firewall.firewalld_rich_rule(4, port), firewall.firewalld_rich_rule(6, port),
                    'rule family="ipv4" source address="192.0.2.0/24" service name="http" accept'],
        services=["ssh", "dhcpv6-client"],
    )


def test_firewalld_up_to_date_and_changes():
    state = converged_firewalld(["10.0.0.0/8"], 5432)
    assert plan_firewalld(state, ["10.0.0.0/8"], 5432, [22], enable=True) == []
    assert plan_firewalld(state, ["10.1.0.0/16"], 5432, [22], enable=False) == [
        "firewall-cmd --permanent --ipset=hatchet-owlclaw-deploy-v4 --remove-entry=10.0.0.0/8",
        "firewall-cmd --permanent --ipset=hatchet-owlclaw-deploy-v4 --add-entry=10.1.0.0/16",
        "firewall-cmd --reload",
    ]
    moved = plan_firewalld(state, ["10.0.0.0/8"], 5433, [22], enable=False)
    assert any("--remove-rich-rule" in c and 'port="5432"' in c for c in moved)
    assert any("--add-rich-rule" in c and 'port="5433"' in c for c in moved)
    assert not any("http" in c for c in moved)  # the operator's rich rule is never touched


def test_firewalld_stopped_enable_allows_ssh_first_then_starts():
    state = converged_firewalld(["10.0.0.0/8"], 5432, running=False)
    assert plan_firewalld(state, ["10.0.0.0/8"], 5432, [22], enable=True) == [
        "systemctl enable --now firewalld"
    ]
    commands = plan_firewalld(state, ["10.0.0.0/8"], 5432, [2222], enable=True)
    assert commands == [
        "firewall-offline-cmd --zone=public --add-port=2222/tcp",
        "systemctl enable --now firewalld",
    ]
    assert plan_firewalld(state, ["10.0.0.0/8"], 5432, [2222], enable=False) == []


# --------------------------------------------------------------------------- ufw: one host, two environments


def test_ufw_comment_tags_per_environment():
    from deploylib.model.firewall import ufw_comments

    assert ufw_comments("prod") == (
        "hatchet-owlclaw-deploy prod postgresql", "hatchet-owlclaw-deploy prod ssh"
    )
    prod = rule("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", "hatchet-owlclaw-deploy prod postgresql")
    staging_ssh = rule("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "hatchet-owlclaw-deploy staging ssh")
    legacy = rule("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", PG)
    foreign = rule("allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in", "mine")
    assert (prod.deploy_tag, staging_ssh.deploy_tag, legacy.deploy_tag, foreign.deploy_tag) == (
        "prod", "staging", "", None)
    assert prod.belongs_to("prod") and not prod.belongs_to("staging")
    assert legacy.belongs_to("staging") and legacy.belongs_to("prod")  # taken over by the next run
    assert not foreign.belongs_to("prod") and staging_ssh.for_ssh and not prod.for_ssh


def apply_ufw(rules: list[UfwRule], commands: list[str]) -> list[UfwRule]:
    """A small ufw: add/insert/delete of tcp rules as plan_ufw writes them (IPv4 only)."""
    import re
    import shlex

    rules = list(rules)
    for command in commands:
        words = shlex.split(command)
        if words[1] == "delete":
            src, dport = words[words.index("from") + 1], words[-1]
            rules = [r for r in rules if not (r.action == words[2] and r.src == src and r.dport == dport)]
            continue
        comment = words[-1]
        at = None
        if words[1] == "insert":
            at, words = int(words[2]) - 1, [words[0], *words[3:]]
        action = words[1]
        src = words[words.index("from") + 1] if "from" in words else "0.0.0.0/0"
        port = re.search(r"port (\d+)", command)[1]
        new = UfwRule(action, "tcp", port, "0.0.0.0/0", "any", src, "in", comment)
        if any(r.spec == new.spec for r in rules):
            continue  # ufw: "Skipping adding existing rule"
        rules.insert(at if at is not None else len(rules), new)
    return rules


def test_two_environments_keep_each_others_ufw_rules():
    on = UfwState(installed=True, active=True, ipv6=False)
    prod_sources, staging_sources = ["172.17.0.0/16", "172.30.0.0/24"], ["172.17.0.0/16", "172.30.1.0/24"]

    def run(state_rules, sources, tag):
        state = UfwState(installed=True, active=True, ipv6=False, rules=state_rules)
        plan = plan_ufw(state, sources, 5432, "10.0.0.9", [22], enable=False, tag=tag)
        return plan.commands, apply_ufw(state_rules, plan.commands)

    commands, after_staging = run(on.rules, staging_sources, "staging")
    assert commands
    commands, after_prod = run(after_staging, prod_sources, "prod")
    # prod adds only its own source, before the (shared) deny; staging's rules stay.
    assert commands == ["ufw insert 3 allow proto tcp from 172.30.0.0/24 to any port 5432 "
                        "comment 'hatchet-owlclaw-deploy prod postgresql'"]
    assert [r.src for r in after_prod] == ["172.17.0.0/16", "172.30.1.0/24", "172.30.0.0/24", "0.0.0.0/0"]
    assert after_prod[-1].action == "deny"
    # Every later run, of either, changes nothing.
    assert run(after_prod, staging_sources, "staging")[0] == []
    assert run(after_prod, prod_sources, "prod")[0] == []
    # staging drops a source: only its own rule goes, prod's stay.
    commands, _ = run(after_prod, ["172.17.0.0/16"], "staging")
    assert commands == ["ufw delete allow proto tcp from 172.30.1.0/24 to 0.0.0.0/0 port 5432"]
