"""Property-based round trips (hypothesis): what the deploy writes reads back as what it meant,
for any input, not only the examples the other tests thought of."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from deploylib.model import pg_conf, pg_hba, scram
from deploylib.model.compose import env_quote
from tests.unit import compose_dotenv

# Deterministic and quick: the same examples every run, no example database on disk.
PROPERTY = settings(max_examples=150, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# One line of text: anything but line breaks and NUL (which every writer refuses).
one_line = st.text(st.characters(exclude_characters="\n\r\0", exclude_categories=("Cs",)))


# --------------------------------------------------------------------------- .env (compose)


@PROPERTY
@given(one_line)
@example("abc\\")  # a trailing backslash would escape the closing single quote
@example("it's $HOME and ${X} \"quoted\" \\ \\n $$")
@example("a'b\\")
def test_env_quote_reads_back_literally_in_compose(value):
    assume("\x85" not in value)  # compose-go trims NEL as space around an unquoted key only
    assert compose_dotenv.parse(f"KEY={env_quote(value)}\n") == {"KEY": value}


@PROPERTY
@given(st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True), one_line, max_size=5))
def test_env_file_of_many_values_reads_back(values):
    text = "# a comment\n" + "".join(f"{key}={env_quote(value)}\n" for key, value in values.items())
    assert compose_dotenv.parse(text) == values


# --------------------------------------------------------------------------- postgresql.conf


@PROPERTY
@given(one_line)
@example("C:\\path\\'q'")
def test_conf_string_quoting_round_trips(text):
    assert pg_conf.unquote_value(pg_conf.quote_value(text)) == text


@PROPERTY
@given(st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True).filter(lambda n: n not in pg_conf.DIRECTIVES),
    st.one_of(one_line, st.integers(-10**9, 10**9), st.booleans()),
    min_size=1, max_size=6,
))
def test_dropin_parses_back_to_its_settings(values):
    text = pg_conf.render_dropin(values)
    parsed = {name: pg_conf.unquote_value(raw) for _, name, raw in pg_conf.parse_conf(text)}
    assert parsed == {name: (("on" if value else "off") if isinstance(value, bool) else str(value))
                      for name, value in values.items()}


# --------------------------------------------------------------------------- pg_hba

name_text = st.text(st.characters(exclude_characters="\n\r\0,", exclude_categories=("Cs", "Zs", "Cc")),
                    min_size=1, max_size=12).filter(lambda n: n.strip() == n and n[0] not in "+@/")
networks = st.one_of(
    st.ip_addresses(v=4).map(lambda a: f"{a}/32"),
    st.ip_addresses(v=6).map(lambda a: f"{a}/128"),
    st.sampled_from(["10.0.0.0/8", "172.17.0.0/16", "fe80::/10", "samehost", "samenet", "all",
                     "db.example.internal"]),
)


@PROPERTY
@given(
    st.sampled_from(["host", "hostssl", "hostnossl", "local"]),
    st.lists(name_text, min_size=1, max_size=3),
    st.lists(name_text, min_size=1, max_size=3),
    networks,
    st.sampled_from(["scram-sha-256", "md5", "reject", "trust"]),
)
def test_hba_rule_renders_a_line_that_parses_back(kind, databases, users, address, method):
    rule = pg_hba.HbaRule(kind, ",".join(databases), ",".join(users),
                          None if kind == "local" else address, method)
    line = pg_hba.parse_line(rule.render())
    assert line is not None and line.kind == "rule" and line.type == kind
    assert [t.value for t in line.databases] == databases
    assert [t.value for t in line.users] == users
    assert line.method == method
    if kind != "local":
        assert line.address == rule.address
        # The managed rule covers itself: the shadowing check sees a rule as matching its own clients.
        assert pg_hba.covers(line, line)


@PROPERTY
@given(st.lists(st.sampled_from([
    "host all all 10.0.0.0/8 md5", "local all postgres peer", "# comment", "",
    "host db1 u1 192.168.0.0/16 scram-sha-256", 'hostssl "odd db" all ::1/128 trust',
]), max_size=8), st.sampled_from([None, "prod", "staging"]), st.sampled_from(["top", "bottom"]))
def test_managed_block_splices_in_and_out_keeping_every_other_line(existing, tag, position):
    rules = [pg_hba.HbaRule("host", "hatchet", "hatchet", "172.17.0.0/16", "scram-sha-256")]
    text = "".join(line + "\n" for line in existing)
    once = pg_hba.apply_block(text, rules, position, tag)
    assert pg_hba.apply_block(once, rules, position, tag) == once  # again: nothing changes
    start, end = pg_hba.find_block(pg_hba.split_lines(once), tag)
    inside = [entry.line for entry in pg_hba.parse_text(once) if start < entry.lineno - 1 < end]
    assert [(line.type, line.address, line.method) for line in inside] == [
        ("host", "172.17.0.0/16", "scram-sha-256")]
    assert pg_hba.apply_block(once, [], position, tag) == text  # removing it restores the file


# --------------------------------------------------------------------------- SCRAM

passwords = st.one_of(one_line, st.binary(min_size=1, max_size=24).filter(lambda b: b"\0" not in b))


@PROPERTY
@given(passwords, st.binary(min_size=1, max_size=24), st.integers(1, 64))
def test_scram_verifier_build_parse_check(password, salt, iterations):
    assume("\0" not in password if isinstance(password, str) else True)
    text = scram.scram_sha256_verifier(password, salt=salt, iterations=iterations)
    parsed = scram.parse_verifier(text)
    assert parsed is not None and parsed.to_string() == text
    assert (parsed.iterations, parsed.salt) == (iterations, salt)
    assert scram.verifier_matches(password, text)
    head = text.split("$", 2)
    head = f"{head[0]}${head[1]}"
    assert scram.verifier_digest_matches(password, head, hashlib.sha256(text.encode()).hexdigest())
    other = (password + "x") if isinstance(password, str) else password + b"x"
    assert not scram.verifier_matches(other, text)
    assert not scram.verifier_digest_matches(other, head, hashlib.sha256(text.encode()).hexdigest())
