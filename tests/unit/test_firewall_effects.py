"""Issue 20: what a firewall plan means to the operator, per backend (the sentences the
plan and the end-of-run summary print, deploylib/announce.py)."""

from __future__ import annotations

from deploylib.model.firewall import firewalld, nftables, ufw
from deploylib.model.firewall.common import FirewallInfo, Wanted
from deploylib.model.firewall.ufw import UfwRule, UfwState

PG = "hatchet-owlclaw-deploy postgresql"
CONNECTED = FirewallInfo(ssh_client="10.213.7.1", ssh_port=22)


def wills(plan) -> list[str]:
    return [effect.will for effect in plan.effects]


def dids(plan) -> list[str]:
    return [effect.did for effect in plan.effects]


def test_ufw_off_enabled_ssh_first_then_opened_closed_enabled():
    plan = ufw.plan(UfwState(installed=True), CONNECTED, Wanted(["10.1.0.0/16", "10.2.0.0/16"], 5432, True))
    assert wills(plan) == [
        "add an SSH rule (port 22) first, so enabling ufw cannot lock you out",
        "open PostgreSQL port 5432 to 10.1.0.0/16, 10.2.0.0/16 in ufw",
        "close PostgreSQL port 5432 to every other address in ufw",
        "enable ufw: its rules take effect now",
    ]
    assert dids(plan) == [
        "added an SSH rule (port 22) so enabling ufw cannot lock you out",
        "opened PostgreSQL port 5432 to 10.1.0.0/16, 10.2.0.0/16 in ufw",
        "closed PostgreSQL port 5432 to every other address in ufw",
        "enabled ufw",
    ]


def test_ufw_off_not_enabled_says_the_rules_wait():
    plan = ufw.plan(UfwState(installed=True), CONNECTED, Wanted(["10.1.0.0/16"], 5432, False))
    assert "open PostgreSQL port 5432 to 10.1.0.0/16 in ufw (in effect once ufw is on)" in wills(
        plan
    )
    assert not any("enable" in will and "lock" not in will for will in wills(plan))


def test_ufw_source_removed_and_added_port_changed():
    rules = [
        UfwRule("allow", "tcp", "5432", "0.0.0.0/0", "any", "10.1.0.0/16", "in", PG),
        UfwRule("deny", "tcp", "5432", "0.0.0.0/0", "any", "0.0.0.0/0", "in", PG),
        UfwRule("deny", "tcp", "5432", "::/0", "any", "::/0", "in", PG, v6=True),
    ]
    active = UfwState(installed=True, active=True, rules=rules)
    plan = ufw.plan(active, CONNECTED, Wanted(["10.2.0.0/16"], 5432, True))
    assert wills(plan) == [
        "remove the ufw rule for 10.1.0.0/16 (port 5432) (no longer wanted)",
        "open PostgreSQL port 5432 to 10.2.0.0/16 in ufw",
    ]
    assert dids(plan)[0] == "removed the ufw rule for 10.1.0.0/16 (port 5432)"
    moved = ufw.plan(active, CONNECTED, Wanted(["10.1.0.0/16"], 5433, True))
    assert wills(moved) == [
        "remove the ufw rule for 10.1.0.0/16 (port 5432) (no longer wanted)",
        "remove the ufw rule closing port 5432 (no longer wanted)",  # IPv4 and IPv6: said once
        "open PostgreSQL port 5433 to 10.1.0.0/16 in ufw",
        "close PostgreSQL port 5433 to every other address in ufw",
    ]


def test_ufw_up_to_date_says_nothing():
    state = UfwState(installed=True)
    wanted = Wanted(["10.1.0.0/16"], 5432, True)
    first = ufw.plan(state, CONNECTED, wanted)
    ssh = "hatchet-owlclaw-deploy ssh"
    rules = [UfwRule("allow", "tcp", "22", "0.0.0.0/0", "any", "0.0.0.0/0", "in", ssh),
             UfwRule("allow", "tcp", "5432", "0.0.0.0/0", "any", "10.1.0.0/16", "in", PG),
             UfwRule("deny", "tcp", "5432", "0.0.0.0/0", "any", "0.0.0.0/0", "in", PG),
             UfwRule("deny", "tcp", "5432", "::/0", "any", "::/0", "in", PG, v6=True)]
    assert first.effects
    again = ufw.plan(UfwState(installed=True, active=True, rules=rules), CONNECTED, wanted)
    assert again.commands == [] and again.effects == []


def test_nftables_written_loaded_and_at_boot():
    fresh = nftables.NftState(installed=True, service="disabled")
    systemd = FirewallInfo(service_manager="systemd", ssh_port=22)
    off = nftables.plan(fresh, systemd, Wanted(["10.1.0.0/16"], 5432, False))
    assert wills(off) == [
        "open PostgreSQL port 5432 to 10.1.0.0/16 in nftables (in effect once nftables is on)",
        "close PostgreSQL port 5432 to every other address in nftables (in effect once nftables is on)",
    ]
    on = nftables.plan(fresh, systemd, Wanted(["10.1.0.0/16"], 5432, True))
    assert wills(on)[-2:] == [
        "enable the nftables table hatchet_owlclaw_deploy: its rules take effect now",
        "load the nftables table hatchet_owlclaw_deploy at every boot",
    ]
    table = nftables.render_nft_table(["10.1.0.0/16", "10.3.0.0/16"], 5432)
    loaded = nftables.NftState(
        installed=True, live=table, file=nftables.render_nft_file(["10.1.0.0/16", "10.3.0.0/16"], 5432),
        main=nftables.nft_include_line(), service="enabled",
    )
    changed = nftables.plan(loaded, systemd, Wanted(["10.1.0.0/16", "10.2.0.0/16"], 5432, True))
    assert wills(changed) == [
        "remove the nftables rule for 10.3.0.0/16 (port 5432) (no longer wanted)",
        "open PostgreSQL port 5432 to 10.2.0.0/16 in nftables",
    ]
    same = nftables.plan(loaded, systemd, Wanted(["10.1.0.0/16", "10.3.0.0/16"], 5432, True))
    assert same.commands == [] and same.effects == []


def test_firewalld_stopped_enabled_ssh_first_sources_changed():
    state = firewalld.FirewalldState(
        installed=True, running=False, ipsets={"hatchet-owlclaw-deploy-v4": ["10.1.0.0/16"]},
        rich_rules=[firewalld.firewalld_rich_rule(4, 5432), firewalld.firewalld_rich_rule(6, 5432)],
    )
    plan = firewalld.plan(state, FirewallInfo(ssh_port=2222), Wanted(["10.2.0.0/16"], 5432, True))
    assert wills(plan) == [
        "add an SSH rule (port 2222) first, so enabling firewalld cannot lock you out",
        "remove the firewalld rule for 10.1.0.0/16 (port 5432) (no longer wanted)",
        "open PostgreSQL port 5432 to 10.2.0.0/16 in firewalld",
        "enable firewalld: its rules take effect now",
    ]
    moved = firewalld.plan(state, FirewallInfo(ssh_port=22), Wanted(["10.1.0.0/16"], 5433, False))
    assert wills(moved) == [
        "open PostgreSQL port 5433 to 10.1.0.0/16 in firewalld (in effect once firewalld is on)"
    ]
