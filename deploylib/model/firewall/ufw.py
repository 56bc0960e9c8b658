"""The ufw firewall backend (pure: imports nothing of pyinfra; only deploylib.model.firewall.common).

The deploy's rules: one ``allow`` per source, then a ``deny`` for the port
(also correct when the default incoming policy is allow), in /etc/ufw/user*.rules,
each commented ``hatchet-owlclaw-deploy <env> postgresql``: staging and prod may
share a host's ufw, and each run deletes only its own environment's rules.
"""

from __future__ import annotations

import base64
import ipaddress
import shlex
from dataclasses import dataclass, field

from ..tagged import tagged
from .common import (
    TAG,
    FirewallInfo,
    FirewallPlanError,
    Plan,
    Wanted,
    any_network,
    family,
    refuse_blocking,
    ssh_ports,
)

NAME = "ufw"
TOOL = "ufw"
PACKAGE = "ufw"  # the Debian package the deploy installs for this backend
READ_BEFORE_CHOICE = True  # two files and `ufw status`

# Without an environment: rules from before they carried one (taken over by the next run).
UFW_PG_COMMENT = f"{TAG} postgresql"
UFW_SSH_COMMENT = f"{TAG} ssh"


def ufw_comments(tag: str | None) -> tuple[str, str]:
    """(PostgreSQL, SSH) rule comments of one environment (``config.scope_tag``):
    'hatchet-owlclaw-deploy prod postgresql'. staging and prod may share a host's ufw."""
    if tag is None:
        return UFW_PG_COMMENT, UFW_SSH_COMMENT
    return f"{TAG} {tag} postgresql", f"{TAG} {tag} ssh"


# --------------------------------------------------------------------------- detect

# A part of the host fact's script: `ufw\t<Status>` when ufw is installed.
DETECT_SCRIPT = r"""
if command -v ufw >/dev/null 2>&1; then
    printf 'ufw\t%s\n' "$(ufw status 2>/dev/null | sed -n 's/^Status: //p')"
fi
"""


def detect(fw: FirewallInfo) -> int | None:
    """auto's rank: an active ufw first (0); an installed one, maybe still off, after a
    running firewalld (2)."""
    if not fw.installed(TOOL):
        return None
    return 0 if fw.status(TOOL) == "active" else 2


# --------------------------------------------------------------------------- read

READ_SCRIPT = r"""
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
command -v ufw >/dev/null 2>&1 || exit 0
echo installed
printf 'status\t%s\n' "$(ufw status | sed -n 's/^Status: //p')"
[ -f /etc/default/ufw ] && sed -n 's/^IPV6=/ipv6\t/p' /etc/default/ufw
for name in user user6; do
    [ -f /etc/ufw/$name.rules ] && printf '%s\t%s\n' "$name" "$(base64 -w0 < /etc/ufw/$name.rules)"
done
exit 0
"""


@dataclass(frozen=True)
class UfwRule:
    """One rule of /etc/ufw/user.rules or user6.rules (its `### tuple ###` line)."""

    action: str  # allow, deny, reject, limit (a _log suffix is dropped)
    proto: str  # tcp, udp, any
    dport: str  # "5432", "any", "22,80", "6000:6007"
    dst: str
    sport: str
    src: str
    direction: str  # in, out, in_eth0, ...
    comment: str = ""
    v6: bool = False

    @property
    def ours(self) -> bool:
        """Created by this deploy (for any environment)."""
        return self.comment == TAG or self.comment.startswith(TAG + " ")

    @property
    def deploy_tag(self) -> str | None:
        """The environment in our comment; "" for our rules from before it was there;
        None for rules the deploy did not create."""
        if not self.ours:
            return None
        words = self.comment[len(TAG):].split()
        return words[0] if len(words) >= 2 else ""

    def belongs_to(self, tag: str | None) -> bool:
        """One of ``tag``'s rules (or ours from before rules carried an environment)."""
        return self.ours and self.deploy_tag in ("", tag)

    @property
    def for_ssh(self) -> bool:
        return self.ours and self.comment.endswith(" ssh")

    @property
    def spec(self) -> tuple:
        """What ufw itself compares (the comment is not part of a rule's identity)."""
        return (self.action, self.proto, self.dport, self.dst, self.sport, self.src, self.direction, self.v6)

    def covers_port(self, port: int) -> bool:
        if self.dport == "any":
            return True
        for part in self.dport.split(","):
            low, _, high = part.partition(":")
            if low.isdigit() and int(low) <= port <= int(high or low):
                return True
        return False

    def allows(self, client: str | None, port: int) -> bool:
        """Does this rule let TCP from `client` (None: anyone) in to `port`?"""
        if self.action not in ("allow", "limit") or self.direction != "in":
            return False
        if self.proto not in ("tcp", "any") or not self.covers_port(port):
            return False
        source = ipaddress.ip_network(self.src, strict=False)
        if client is None:
            return source.prefixlen == 0
        address = ipaddress.ip_address(client)
        return address.version == source.version and address in source


def parse_ufw_tuple(line: str, v6: bool) -> UfwRule | None:
    """'### tuple ### allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in comment=<hex>' -> UfwRule."""
    if not line.startswith("### tuple ###"):
        return None
    tokens = line.split()[3:]
    comment = ""
    for token in list(tokens):
        if token.startswith("comment="):
            tokens.remove(token)
            try:
                comment = bytes.fromhex(token[len("comment="):]).decode("utf-8", "replace")
            except ValueError:
                comment = token[len("comment="):]
    if len(tokens) < 7:
        return None
    action, proto, dport, dst, sport, src = tokens[:6]
    return UfwRule(action.split("_", 1)[0], proto, dport, dst, sport, src, tokens[-1], comment, v6)


def parse_ufw_rules(user_rules: str, user6_rules: str) -> list[UfwRule]:
    """Every rule, IPv4 file first, each in file order (ufw's evaluation order)."""
    rules = []
    for text, v6 in ((user_rules, False), (user6_rules, True)):
        for line in text.splitlines():
            rule = parse_ufw_tuple(line.strip(), v6)
            if rule:
                rules.append(rule)
    return rules


@dataclass
class UfwState:
    installed: bool = False
    active: bool = False
    ipv6: bool = True  # IPV6= in /etc/default/ufw
    rules: list[UfwRule] = field(default_factory=list)


def parse_ufw_state(lines: list[str]) -> UfwState:
    """READ_SCRIPT's lines: installed, active, IPv6 on and every rule of
    /etc/ufw/user.rules and user6.rules, in order."""
    state = UfwState()
    files = {"user": "", "user6": ""}
    for tag, rest in tagged(lines):
        if tag == "installed":
            state.installed = True
        elif tag == "status":
            state.active = rest.strip() == "active"
        elif tag == "ipv6":
            state.ipv6 = rest.strip().strip('"').lower() == "yes"
        elif tag in files:
            files[tag] = base64.b64decode(rest.strip()).decode("utf-8", "replace")
    state.rules = parse_ufw_rules(files["user"], files["user6"])
    return state


def _ufw_allow_spec(source: str, port: int) -> tuple:
    version = family(source)
    return ("allow", "tcp", str(port), any_network(version), "any", source, "in", version == 6)


def _ufw_deny_spec(port: int, v6: bool) -> tuple:
    anywhere = any_network(6 if v6 else 4)
    return ("deny", "tcp", str(port), anywhere, "any", anywhere, "in", v6)


def ufw_add(action: str, source: str | None, port: int, comment: str) -> str:
    source_part = f"from {source} " if source else ""
    return f"ufw {action} proto tcp {source_part}to any port {int(port)} comment {shlex.quote(comment)}"


def ufw_delete(rule: UfwRule) -> str:
    """`ufw delete <rule>`: ufw matches the rule's fields (not its comment)."""
    words = ["ufw", "delete", rule.action]
    if rule.direction != "in":
        words.append(rule.direction.replace("_", " on ", 1))
    if rule.proto != "any":
        words += ["proto", rule.proto]
    words += ["from", rule.src]
    if rule.sport != "any":
        words += ["port", rule.sport]
    words += ["to", rule.dst]
    if rule.dport != "any":
        words += ["port", rule.dport]
    return " ".join(words)


@dataclass
class UfwPlan:
    commands: list[str]
    needs_ssh: bool  # a rule for SSH is added first
    warnings: list[str]
    rules_after: list = field(default_factory=list)  # every rule once the commands ran, in order


def plan_ufw(
    state: UfwState,
    sources: list[str],
    port: int,
    ssh_client: str | None,
    ssh_ports: list[int],
    enable: bool,
    tag: str | None = None,
) -> UfwPlan:
    """The ufw commands that take the rules from `state` to: each source allowed to `port`,
    then the port denied to everyone else; `tag`'s rules (one environment's) that are no
    longer wanted deleted; other environments' rules and foreign rules untouched (a
    source or the deny already there, whoever added it, is not added twice).
    When the firewall is off, first a rule that keeps SSH open
    (unless a rule already lets this connection in), so enabling it can never lock out."""
    families = [False, True] if state.ipv6 else [False]
    v6_sources = [s for s in sources if family(s) == 6]
    if v6_sources and not state.ipv6:
        raise FirewallPlanError(
            f"IPv6 source(s) {', '.join(v6_sources)} but ufw has IPv6 off (IPV6=no in /etc/default/ufw)"
        )
    wanted_allows = [_ufw_allow_spec(source, port) for source in sources]
    wanted_denies = [_ufw_deny_spec(port, v6) for v6 in families]
    wanted = set(wanted_allows) | set(wanted_denies)
    pg_comment, ssh_comment = ufw_comments(tag)
    commands: list[str] = []
    warnings: list[str] = []

    # SSH first: only while the firewall is off (when it is on, this very
    # connection proves SSH is allowed, and the operator's SSH policy stays theirs).
    if port in ssh_ports:
        raise FirewallPlanError(f"PostgreSQL port {port} is the SSH port; refusing to deny it")
    # `rules` follows every command, in ufw's numbering (IPv4 rules, then IPv6).
    rules = list(state.rules)

    def append(rule: UfwRule) -> None:
        last = max((i for i, r in enumerate(rules) if r.v6 == rule.v6), default=None)
        rules.insert(last + 1 if last is not None else (len(rules) if rule.v6 else 0), rule)

    needs_ssh = False
    if not state.active:
        for ssh_port in ssh_ports:
            if not any(rule.allows(ssh_client, ssh_port) for rule in state.rules):
                commands.append(ufw_add("allow", None, ssh_port, ssh_comment))
                needs_ssh = True
                for v6 in families:
                    anywhere = any_network(6 if v6 else 4)
                    append(UfwRule("allow", "tcp", str(ssh_port), anywhere, "any", anywhere, "in",
                                   ssh_comment, v6))
    ours_pg = [rule for rule in rules if rule.belongs_to(tag) and not rule.for_ssh]
    # Our rules no longer wanted (a source removed, the port changed). SSH rules are
    # never removed by the deploy: that could cut off the next run.
    for rule in ours_pg:
        if rule.spec not in wanted:
            commands.append(ufw_delete(rule))
            rules.remove(rule)

    def deny_index(v6: bool) -> int | None:
        spec = _ufw_deny_spec(port, v6)
        return next((i for i, rule in enumerate(rules) if rule.spec == spec), None)

    # The deny must come after every allow of its family, or it shadows them.
    for v6 in families:
        at = deny_index(v6)
        allows_after = at is not None and any(
            rule.spec in wanted_allows for rule in rules[at + 1:] if rule.v6 == v6
        )
        if allows_after and rules[at].ours:
            commands.append(ufw_delete(rules[at]))
            del rules[at]
        elif allows_after:
            warnings.append(
                f"a rule the deploy did not create denies port {port} before the allowed sources "
                "(ufw: first match wins); the deploy leaves it alone"
            )

    # Missing allows go right before our deny (never a moment without it), else at the end.
    present = {rule.spec for rule in rules}
    for spec in wanted_allows:
        if spec in present:
            continue
        source, v6 = spec[5], spec[7]
        rule = UfwRule(*spec[:7], comment=pg_comment, v6=v6)
        at = deny_index(v6)
        if at is not None and rules[at].ours:
            commands.append(ufw_add(f"insert {at + 1} allow", source, port, pg_comment))
            rules.insert(at, rule)
        else:
            commands.append(ufw_add("allow", source, port, pg_comment))
            append(rule)
    missing_denies = [v6 for v6 in families if deny_index(v6) is None]
    if missing_denies:
        commands.append(ufw_add("deny", None, port, pg_comment))
        for v6 in missing_denies:
            append(UfwRule(*_ufw_deny_spec(port, v6)[:7], comment=pg_comment, v6=v6))
    if enable and not state.active:
        commands.append("ufw --force enable")
    return UfwPlan(commands, needs_ssh, warnings, rules)


def describe_rule(rule: UfwRule) -> str:
    """One rule as `ufw status` would word it (for --diff)."""
    port = "" if rule.dport == "any" else f" port {rule.dport}"
    proto = "" if rule.proto == "any" else f" proto {rule.proto}"
    return (f"{rule.action} {rule.direction}{proto} from {rule.src} to {rule.dst}{port}"
            f"{' (v6)' if rule.v6 else ''}  # {rule.comment}")


def rule_set_text(active: bool, rules: list[UfwRule], tag: str | None) -> str:
    """ufw's status and the deploy's rules of environment ``tag``, in ufw's order."""
    lines = [f"Status: {'active' if active else 'inactive'}"]
    lines += [describe_rule(rule) for rule in rules if rule.belongs_to(tag)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plan


def parse_state(lines: list[str]) -> UfwState:
    return parse_ufw_state(lines)


def plan(state: UfwState, fw: FirewallInfo, wanted: Wanted) -> Plan:
    """Keep ufw's rules for the port (``plan_ufw``). While ufw is off, SSH is allowed
    first; it is turned on only with ``wanted.enable`` and only when no other service
    listening on a public address would be cut off."""
    port = wanted.port
    ports = ssh_ports(fw, wanted.ssh_port)
    try:
        planned = plan_ufw(state, wanted.sources, port, fw.ssh_client, ports, wanted.enable, wanted.tag)
    except FirewallPlanError as error:
        raise FirewallPlanError(f"ufw: {error}") from None
    messages = [f"ufw: {warning}" for warning in planned.warnings]
    if wanted.enable and not state.active:
        decided = {
            item.port
            for item in fw.listeners
            if any(rule.action in ("allow", "limit", "deny", "reject") and rule.covers_port(item.port)
                   for rule in state.rules)
        }
        refuse_blocking(fw, {port, *ports} | decided, "ufw")
    if not state.active and not wanted.enable:
        messages.append(
            "ufw is inactive: the PostgreSQL rules are in place but take effect only once it "
            "is enabled (set firewall_enable = True, or `ufw enable`; SSH is allowed)"
        )
    rule_set = (
        f"ufw rules ({ufw_comments(wanted.tag)[0]}, {ufw_comments(wanted.tag)[1]})",
        rule_set_text(state.active, state.rules, wanted.tag),
        rule_set_text(state.active or wanted.enable, planned.rules_after, wanted.tag),
    )
    return Plan(planned.commands, messages, f"ufw rules for tcp/{port} are up to date", rule_set)
