"""The diff --dry --diff and the prod guard show for a managed file, secrets masked."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploylib.model import plan_diff, prod_guard
from deploylib.model.firewall import firewalld, nftables, ufw
from deploylib.model.firewall.common import FirewallInfo, Wanted
from deploylib.model.pg_conf import render_dropin
from deploylib.model.pg_hba import HbaRule, apply_block
from deploylib.model.scram import scram_sha256_verifier as scram_verifier

HBA = "# TYPE DATABASE USER ADDRESS METHOD\nlocal all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n"


def test_an_added_pg_hba_rule_is_one_added_line_with_its_context():
    before = apply_block(HBA, [HbaRule("host", "hatchet", "hatchet", "10.0.0.0/24", "scram-sha-256")], tag="dev")
    after = apply_block(
        HBA,
        [HbaRule("host", "hatchet", "hatchet", "10.0.0.0/24", "scram-sha-256"),
         HbaRule("host", "hatchet", "hatchet", "10.9.0.0/24", "scram-sha-256")],
        tag="dev",
    )
    lines = plan_diff.file_diff(before, after)
    added = [line for line in lines if line.startswith("+ ")]
    assert len(added) == 1 and "10.9.0.0/24" in added[0] and "hatchet" in added[0]
    assert not [line for line in lines if line.startswith("- ")]
    assert lines[0].startswith("@@ -") and lines[0].endswith(" @@")
    assert any(line.startswith("  ") and "10.0.0.0/24" in line for line in lines)  # context


def test_a_changed_setting_shows_the_old_and_the_new_line():
    lines = plan_diff.file_diff(render_dropin({"work_mem": "4MB"}, environment="dev"), render_dropin({"work_mem": "8MB"}, environment="dev"))
    assert [line for line in lines if line[:2] in ("- ", "+ ")] == ["- work_mem = '4MB'", "+ work_mem = '8MB'"]


def test_nothing_changes_nothing_shown():
    assert plan_diff.file_diff("a\n", "a\n") == []
    assert plan_diff.render("/etc/x", "a\n", "a\n") == []


def test_headings_say_create_modify_remove_as_pyinfra_does():
    assert plan_diff.render("/etc/x", None, "a\n")[0] == "Will create /etc/x"
    assert plan_diff.render("/etc/x", "a\n", "b\n")[0] == "Will modify /etc/x"
    assert plan_diff.render("/etc/x", "a\n", None)[0] == "Will remove /etc/x"
    assert plan_diff.render("/etc/x", None, "a\n")[1:] == ["  @@ -0,0 +1 @@", "  + a"]


def test_env_shows_the_names_of_changed_keys_never_a_value():
    old = "HATCHET_DATABASE_PASSWORD=oldsecret1\nKEEP=same\nGONE=bye-value\n"
    new = "HATCHET_DATABASE_PASSWORD=newsecret2\nKEEP=same\nHATCHET_API_TOKEN=tok-value-3\n"
    lines = plan_diff.file_diff(old, new, kind="env")
    assert lines == [
        "- GONE (removed)",
        "~ HATCHET_DATABASE_PASSWORD (value changed, not shown)",
        "+ HATCHET_API_TOKEN (added)",
    ]
    text = "\n".join(lines)
    for value in ("oldsecret1", "newsecret2", "bye-value", "tok-value-3", "same"):
        assert value not in text


def test_env_created_lists_its_keys_and_reordering_says_so():
    assert plan_diff.file_diff(None, "A=1\nB=2\n", kind="env") == ["+ A (added)", "+ B (added)"]
    assert plan_diff.file_diff("A=1\nB=2\n", "B=2\nA=1\n", kind="env") == [
        "  (comments, order or blank lines changed; every value is the same)"
    ]


def test_a_secret_file_shows_nothing_of_its_content():
    assert plan_diff.file_diff("key-one", "key-two", kind="secret") == ["  (secret content: not shown)"]


def test_a_scram_verifier_never_appears():
    verifier = scram_verifier("s3cret-password")
    lines = plan_diff.file_diff("x\n", f"ALTER ROLE hatchet PASSWORD '{verifier}';\nrole {verifier}\n")
    text = "\n".join(lines)
    assert verifier not in text and verifier.split("$")[1] not in text
    assert "SCRAM-SHA-256$***" in text


def test_password_like_values_urls_and_known_secrets_are_masked():
    lines = plan_diff.file_diff(
        "a\n",
        "DB_PASSWORD=hunter2hunter2\n"
        "url: postgres://hatchet:p4ss-word-x@host.docker.internal:5432/hatchet\n"
        'host all all 10.0.0.0/8 ldap ldapserver=x ldapbindpasswd="bind-secret-1"\n'
        "host all all 10.0.0.0/8 radius radiusservers=r radiussecrets=radius-secret-2\n"
        "token: 'abc-token-value'\n"
        "something else mentions correct-horse-battery\n"
        "md5" + "0" * 32 + "\n"
        "PASSWORD: ${HATCHET_DATABASE_PASSWORD}\n",
        secrets=["correct-horse-battery"],
    )
    text = "\n".join(lines)
    for secret in ("hunter2hunter2", "p4ss-word-x", "bind-secret-1", "radius-secret-2", "abc-token-value",
                   "correct-horse-battery", "0" * 32):
        assert secret not in text
    assert "postgres://hatchet:***@host.docker.internal:5432/hatchet" in text
    assert "${HATCHET_DATABASE_PASSWORD}" in text  # a reference, not a secret: kept


@pytest.mark.parametrize(("line", "hidden"), [
    # pg_hba: a quote inside a quoted value is doubled; a list of secrets, quoted or not
    ('host all all 10.0.0.0/8 radius radiusservers="a,b" radiussecrets="""secret one"",""secret two"""',
     ("secret one", "secret two")),
    ('host all all 10.0.0.0/8 radius radiusservers=a,b radiussecrets="rad-sec-1","rad-sec-2"', ("rad-sec-1", "rad-sec-2")),
    ("host all all 10.0.0.0/8 radius radiusservers=a,b radiussecrets=rad-sec-1,rad-sec-2", ("rad-sec-1", "rad-sec-2")),
    # postgresql.conf and YAML (PyYAML's safe_dump) double a single quote inside single quotes
    ("ldap_password = 'it''s-a-secret'", ("s-a-secret",)),
    ("  DB_PASSWORD: 'it''s-a-secret'", ("s-a-secret",)),
    # a URL with a password and no user name (redis://:password@host)
    ("  REDIS_URL: redis://:hunter2secret@redis:6379/0", ("hunter2secret",)),
])
def test_quoted_listed_and_userless_secrets_are_masked_whole(line, hidden):
    """break16: every piece of the value is masked, however it is quoted or listed."""
    masked = plan_diff.mask_line(line)
    assert "***" in masked
    for piece in hidden:
        assert piece not in masked, masked


def test_a_setting_named_like_a_secret_keeps_its_value():
    assert plan_diff.mask_line("password_encryption = 'scram-sha-256'") == "password_encryption = 'scram-sha-256'"
    assert plan_diff.mask_line("ldap_password = 'x-y-z'") == "ldap_password = ***"


def test_short_known_secrets_are_not_searched_for():
    # dev's default password is the role name: masking it would mask every mention of the role.
    lines = plan_diff.file_diff("", "host hatchet hatchet 10.0.0.0/8 scram-sha-256\n", secrets=["hatchet"])
    assert lines[-1] == "+ host hatchet hatchet 10.0.0.0/8 scram-sha-256"


_KEYS = st.from_regex(r"[A-Z][A-Z_]{0,10}", fullmatch=True)
_VALUES = st.from_regex(r"[a-z0-9]{8,20}", fullmatch=True)


@given(st.dictionaries(_KEYS, _VALUES, max_size=6), st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_no_env_value_ever_appears(before, after):
    old = "".join(f"{k}={v}\n" for k, v in before.items())
    new = "".join(f"{k}={v}\n" for k, v in after.items())
    text = "\n".join(plan_diff.render("/srv/app/.env", old or None, new, kind="env"))
    for value in [*before.values(), *after.values()]:
        assert value not in text
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    for key in changed:
        assert key in text


@given(st.lists(st.text(alphabet="abc xyz=:\n#", max_size=30), max_size=6),
       st.from_regex(r"[A-Za-z0-9!%^&*()-]{8,24}", fullmatch=True), st.integers(0, 5))
def test_a_known_secret_never_appears_in_a_text_diff(lines, secret, at):
    new = list(lines)
    new.insert(min(at, len(new)), f"x {secret} y")
    text = "\n".join(plan_diff.file_diff("\n".join(lines), "\n".join(new), secrets=[secret]))
    assert secret not in text


def test_a_long_diff_is_shortened_for_the_guard_saying_where_the_rest_is():
    rendered = plan_diff.render("/x", None, "".join(f"line {i}\n" for i in range(100)))
    short = plan_diff.shortened(rendered, 10, "--dry --diff shows them")
    assert short[:11] == rendered[:11] and len(short) == 12
    assert short[-1] == "  ... 91 more lines (--dry --diff shows them)"
    assert plan_diff.shortened(rendered, 200, "x") == rendered


def test_the_prod_guard_lists_the_diff():
    mode = prod_guard.RunMode(yes=True, dry=False, json_output=False)
    diff = plan_diff.render("/etc/postgresql/17/main/pg_hba.conf", "a\n", "a\nb\n")
    message = prod_guard.refusal("prod", "db1", mode, False, ["pg_hba"], "deploy.py", diffs=diff)
    assert "Files it changes (secrets masked):" in message
    assert "      Will modify /etc/postgresql/17/main/pg_hba.conf" in message
    assert "        + b" in message
    assert "--dry --diff" in message


# --------------------------------------------------------------------------- firewall rule sets


def _lines(rule_set):
    what, before, after = rule_set
    return [line for line in plan_diff.file_diff(before, after) if line[:2] in ("- ", "+ ")]


def test_ufw_rule_set_diff_shows_the_added_source_and_enabling():
    fw = FirewallInfo(tools={"ufw": "inactive"}, ssh_port=22)
    plan = ufw.plan(ufw.UfwState(installed=True, active=False), fw, Wanted(["10.0.0.0/24"], 5432, True, None, "prod"))
    changed = _lines(plan.rule_set)
    assert "- Status: inactive" in changed and "+ Status: active" in changed
    assert any("allow in proto tcp from 10.0.0.0/24" in line and "port 5432" in line for line in changed)
    assert any(line.startswith("+ deny in proto tcp from 0.0.0.0/0") for line in changed)
    assert "hatchet-owlclaw-deploy prod postgresql" in plan.rule_set[0]


def test_nftables_rule_set_diff_is_the_file():
    plan = nftables.plan(nftables.NftState(installed=True), FirewallInfo(ssh_port=22), Wanted(["10.0.0.0/24"], 5432))
    assert plan.rule_set[0] == nftables.NFT_FILE and plan.rule_set[1] is None
    assert "+ \t\ttcp dport 5432 ip saddr 10.0.0.0/24 accept" in _lines(plan.rule_set)


def test_firewalld_rule_set_diff_names_the_ipset_entries():
    state = firewalld.FirewalldState(installed=True, running=True, ipsets={"hatchet-owlclaw-deploy-v4": ["10.0.0.0/24"]})
    plan = firewalld.plan(state, FirewallInfo(ssh_port=22), Wanted(["10.0.0.0/24", "10.1.0.0/24"], 5432))
    changed = _lines(plan.rule_set)
    assert "+ ipset hatchet-owlclaw-deploy-v4: 10.1.0.0/24" in changed
    assert not any(line.startswith("- ") for line in changed)
