"""deploylib.model.pg_hba: tokenizer, managed rules, the managed block, shadow detection."""

from __future__ import annotations

import ipaddress

import pytest

from deploylib.model.pg_hba import (
    BEGIN_MARKER,
    END_MARKER,
    HbaRule,
    Shadow,
    Token,
    apply_block,
    find_block,
    find_blocks,
    format_shadow,
    markers,
    parse_line,
    parse_text,
    render_block,
    shadowing,
    split_lines,
    tokenize,
)

# Debian's pg_hba.conf as pg_createcluster writes it (PostgreSQL 16/17).
DEBIAN_HEADER = """\
# PostgreSQL Client Authentication Configuration File
# ===================================================
#
# Refer to the "Client Authentication" section in the PostgreSQL
# documentation for a complete description of this file.  A short
# synopsis follows.
#
# ----------------------
# Authentication Records
# ----------------------
#
# This file controls: which hosts are allowed to connect, how clients
# are authenticated, which PostgreSQL user names they can use, which
# databases they can access.  Records take one of these forms:
#
# local         DATABASE  USER  METHOD  [OPTIONS]
# host          DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostssl       DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostnossl     DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostgssenc    DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
# hostnogssenc  DATABASE  USER  ADDRESS  METHOD  [OPTIONS]
#
# (The uppercase items must be replaced by actual values.)
#
# DATABASE can be "all", "sameuser", "samerole", "replication", a
# database name, a regular expression (if it starts with a slash (/))
# or a comma-separated list thereof.  The "all" keyword does not match
# "replication".  Access to replication must be enabled in a separate
# record (see example below).
#
# ADDRESS specifies the set of hosts the record matches.  It can be a
# host name, or it is made up of an IP address and a CIDR mask that is
# an integer (between 0 and 32 (IPv4) or 128 (IPv6) inclusive) that
# specifies the number of significant bits in the mask.  A host name
# that starts with a dot (.) matches a suffix of the actual host name.
# Alternatively, you can write an IP address and netmask in separate
# columns to specify the set of hosts.  Instead of a CIDR-address, you
# can write "samehost" to match any of the server's own IP addresses,
# or "samenet" to match any address in any subnet that the server is
# directly connected to.
#
# This file is read on server startup and when the server receives a
# SIGHUP signal.  If you edit the file on a running system, you have to
# SIGHUP the server for the changes to take effect, run "pg_ctl reload",
# or execute "SELECT pg_reload_conf()".
#
# ----------------------------------
# Put your actual configuration here
# ----------------------------------
#
# If you want to allow non-local connections, you need to add more
# "host" records.  In that case you will also need to make PostgreSQL
# listen on a non-local interface via the listen_addresses
# configuration parameter, or via the -i or -h command line switches.




# DO NOT DISABLE!
# If you change this first entry you will need to make sure that the
# database superuser can access the database using some other method.
# Noninteractive access to all databases is required during automatic
# maintenance (custom daily cronjobs, replication, and similar tasks).
#
# Database administrative login by Unix domain socket
local   all             postgres                                peer

# TYPE  DATABASE        USER            ADDRESS                 METHOD

# "local" is for Unix domain socket connections only
local   all             all                                     peer
"""
DEBIAN_HOSTS = """\
# IPv4 local connections:
host    all             all             127.0.0.1/32            scram-sha-256
# IPv6 local connections:
host    all             all             ::1/128                 scram-sha-256
# Allow replication connections from localhost, by a user with the
# replication privilege.
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
"""
DEBIAN = DEBIAN_HEADER + DEBIAN_HOSTS

HATCHET = HbaRule("host", "hatchet", "hatchet", "172.17.0.0/16", "scram-sha-256")
OWLCLAW = HbaRule("host", "owlclaw", "owlclaw", "10.0.0.0/24", "scram-sha-256", comment="app")

BLOCK = (
    BEGIN_MARKER + "\n"
    "host    hatchet         hatchet         172.17.0.0/16           scram-sha-256\n"
    "host    owlclaw         owlclaw         10.0.0.0/24             scram-sha-256 # app\n"
    + END_MARKER + "\n"
)


def line_number(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if line == needle)


# --------------------------------------------------------------------------- tokenizer


def values(field: list[Token]) -> list[str]:
    return [token.value for token in field]


def test_tokenize_quoted_names_with_spaces_and_commas():
    fields = tokenize('host "my db","a,b" "x ""y""" 10.0.0.0/8 md5')
    assert values(fields[1]) == ["my db", "a,b"]
    assert values(fields[2]) == ['x "y"']
    assert all(token.quoted for token in fields[1] + fields[2])


def test_tokenize_comment_after_fields_and_inside_a_token():
    assert [values(f) for f in tokenize("local all all peer # trailing, comment")] == [
        ["local"], ["all"], ["all"], ["peer"]
    ]
    assert [values(f) for f in tokenize("local all all peer#x y")] == [
        ["local"], ["all"], ["all"], ["peer"]
    ]
    assert tokenize('local "a#b" all peer')[1] == [Token("a#b", True)]


def test_tokenize_tabs_odd_spacing_and_spaced_comma_lists():
    fields = tokenize("host\tdb1, db2,\tdb3\t\tall  \t 10.0.0.0/8\t md5  \r\n")
    assert [values(f) for f in fields] == [
        ["host"], ["db1", "db2", "db3"], ["all"], ["10.0.0.0/8"], ["md5"]
    ]
    # As in PostgreSQL, a comma continues a list only after a token, not before one.
    assert [values(f) for f in tokenize("local a ,b c peer")] == [
        ["local"], ["a"], ["b"], ["c"], ["peer"]
    ]


def test_tokenize_quoted_keyword_is_not_a_keyword():
    (token,) = tokenize('"all"')[0]
    assert token == Token("all", True)
    assert not token.is_keyword("all")
    assert Token("all").is_keyword("all")


def test_tokenize_empty_quotes_is_a_token():
    assert tokenize('local "" all peer')[1] == [Token("", True)]


# --------------------------------------------------------------------------- parse_line


@pytest.mark.parametrize("line", ["", "   \t", "# comment", "   # indented comment\r\n"])
def test_parse_line_blank_and_comment(line):
    assert parse_line(line) is None


def test_parse_line_local_rule():
    parsed = parse_line("local   all             postgres                                peer")
    assert parsed is not None
    assert (parsed.kind, parsed.type, parsed.address, parsed.method) == (
        "rule", "local", None, "peer"
    )
    assert parsed.databases == (Token("all"),)
    assert parsed.users == (Token("postgres"),)


def test_parse_line_host_with_options():
    parsed = parse_line("hostssl all +admins 0.0.0.0/0 cert clientcert=verify-full map=m # x")
    assert parsed is not None
    assert parsed.users == (Token("+admins"),)
    assert parsed.network == ipaddress.ip_network("0.0.0.0/0")
    assert parsed.method == "cert"
    assert parsed.options == ("clientcert=verify-full", "map=m")


@pytest.mark.parametrize(
    ("line", "address"),
    [
        ("host all all 192.168.12.10 255.255.255.255 md5", "192.168.12.10/32"),
        ("host all all 10.1.2.3 255.255.0.0 md5", "10.1.0.0/16"),
        ("host all all 10.1.2.3\t 0.0.0.0 md5", "0.0.0.0/0"),
        ("host all all 10.1.2.3/16 md5", "10.1.0.0/16"),
        ("host all all ::1/128 md5", "::1/128"),
        ("host all all FE80::/10 md5", "fe80::/10"),
        ("host all all 2001:db8::1 ffff:ffff:: md5", "2001:db8::/32"),
        ("host all all all md5", "all"),
        ("host all all samenet md5", "samenet"),
        ('host all all "samehost" md5', '"samehost"'),
        ("host all all .example.com md5", ".example.com"),
        ("host all all db1.example.com md5", "db1.example.com"),
    ],
)
def test_parse_line_addresses(line, address):
    parsed = parse_line(line)
    assert parsed is not None
    assert parsed.address == address
    assert parsed.method == "md5"
    is_network = "/" in address
    assert (parsed.network is not None) == is_network


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("hots all all 10.0.0.0/8 md5", "invalid connection type"),
        ("local all all", "end-of-line before authentication method"),
        ("host all all", "end-of-line before IP address"),
        ("host all all 10.0.0.1 md5", "invalid IP mask"),
        ("host all all 10.0.0.1", "end-of-line before netmask"),
        ("host all all 10.0.0.0/33 md5", "invalid CIDR mask"),
        ("host all all 10.0.0.0/abc md5", "invalid CIDR mask"),
        ("host all all db.example.com/24 md5", "host name and CIDR mask"),
        ("host all all 10.0.0.0 255.0.255.0 md5", "non-contiguous"),
        ("host all all 10.0.0.0 ffff:: md5", "do not match"),
        ("host all all 10.0.0.0/8 md5 clientcert", "name=value"),
        ("host all all 10.0.0.0/8,10.1.0.0/16 md5", "multiple values"),
        ("local,host all all peer", "multiple values"),
    ],
)
def test_parse_line_errors(line, message):
    with pytest.raises(ValueError, match=message):
        parse_line(line)


def test_parse_line_include_directives():
    for directive in ("include", "include_if_exists", "include_dir"):
        parsed = parse_line(f'{directive} "conf d/hba.conf"  # extra rules')
        assert parsed is not None
        assert (parsed.kind, parsed.type) == ("include", directive)
        assert parsed.target == "conf d/hba.conf"
    with pytest.raises(ValueError, match="exactly one"):
        parse_line("include a b")


def test_parse_text_numbers_lines_and_joins_continuations():
    text = "# c\nlocal all all peer\n\nhost all \\\n  all 10.0.0.0/8 \\\n md5\nlocal db u peer\n"
    entries = parse_text(text)
    assert [(e.lineno, e.line.type) for e in entries] == [(2, "local"), (4, "host"), (7, "local")]
    assert entries[1].line.method == "md5"


def test_parse_text_names_the_bad_line():
    with pytest.raises(ValueError, match=r"line 2: invalid connection type"):
        parse_text("local all all peer\nhots all all 10.0.0.0/8 md5\n")


def test_parse_text_debian_default():
    entries = parse_text(DEBIAN)
    assert [e.text for e in entries][:2] == [
        "local   all             postgres                                peer",
        "local   all             all                                     peer",
    ]
    assert [(e.line.type, e.line.address) for e in entries] == [
        ("local", None),
        ("local", None),
        ("host", "127.0.0.1/32"),
        ("host", "::1/128"),
        ("local", None),
        ("host", "127.0.0.1/32"),
        ("host", "::1/128"),
    ]


# --------------------------------------------------------------------------- HbaRule


def test_rule_render_aligns_like_debian():
    assert HbaRule("local", "all", "postgres", None, "peer").render() == (
        "local   all             postgres                                peer"
    )
    assert HbaRule("host", "all", "all", "127.0.0.1/32", "scram-sha-256").render() == (
        "host    all             all             127.0.0.1/32            scram-sha-256"
    )


def test_rule_render_long_fields_options_and_comment():
    rule = HbaRule(
        "hostnogssenc", "a_very_long_database_name", "role", "2001:db8::/32", "cert",
        options="clientcert=verify-full", comment="from group_data",
    )
    assert rule.render() == (
        "hostnogssenc a_very_long_database_name role            2001:db8::/32           "
        "cert clientcert=verify-full # from group_data"
    )


@pytest.mark.parametrize(
    ("database", "user", "rendered"),
    [
        ("all", "all", "all all"),
        ("hatchet, owlclaw", "hatchet", "hatchet,owlclaw hatchet"),
        ("my db", "my user", '"my db" "my user"'),
        ('say"hi', "u#1", '"say""hi" "u#1"'),
        ("replication", "+replicators", "replication +replicators"),
        ("sameuser", "+my group", 'sameuser +"my group"'),
        ("@dbs.txt", "@/etc/postgresql/users list", '@dbs.txt @"/etc/postgresql/users list"'),
        ("db-1.x", "Mixed$Case", "db-1.x Mixed$Case"),
    ],
)
def test_rule_quotes_names_only_when_needed(database, user, rendered):
    rule = HbaRule("local", database, user, None, "peer")
    assert rule.summary() == f"local {rendered} peer"


def test_rule_round_trips_through_parse_line():
    rules = [
        HbaRule("local", "my db,all", "+my group", None, "peer", options="map=x"),
        HbaRule("hostssl", 'say"hi', "u1,u2", "::/0", "scram-sha-256", comment="c # d"),
        HbaRule("host", "replication", "repl", "samenet", "md5"),
        HbaRule("host", "d", "u", ".example.com", "md5"),
    ]
    for rule in rules:
        parsed = parse_line(rule.render())
        assert parsed is not None
        assert parsed.type == rule.type
        assert [t.value for t in parsed.databases] == rule.database.split(",")
        assert [t.value for t in parsed.users] == rule.user.split(",")
        assert parsed.address == rule.address
        assert parsed.method == rule.method
        assert " ".join(parsed.options) == rule.options


def test_rule_normalises():
    rule = HbaRule("host", " a , b ", "u", "10.0.0.5", "md5", options="  map=m ", comment=" c ")
    assert (rule.database, rule.address) == ("a,b", "10.0.0.5/32")
    assert (rule.options, rule.comment) == ("map=m", "c")
    assert HbaRule("host", "a", "u", "2001:DB8:0::/32", "md5").address == "2001:db8::/32"
    assert HbaRule("host", "a", "u", "10.0.0.0/255.255.255.0", "md5").address == "10.0.0.0/24"


def test_from_record():
    rule = HbaRule.from_record(
        {"type": "hostssl", "database": ["hatchet", "owlclaw"], "user": "hatchet",
         "address": "10.0.0.0/24", "method": "scram-sha-256", "options": "clientcert=verify-full",
         "comment": "x"}
    )
    assert rule == HbaRule(
        "hostssl", "hatchet,owlclaw", "hatchet", "10.0.0.0/24", "scram-sha-256",
        "clientcert=verify-full", "x",
    )
    local = HbaRule.from_record({"type": "local", "database": "all", "user": "x", "method": "peer"})
    assert local.address is None


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"typ": "host"}, r"unknown key\(s\) typ \(allowed: type, database"),
        ({"type": "local", "database": "a", "user": "u"}, r"missing key\(s\) method"),
        ({"type": "hots", "database": "a", "user": "u", "address": "10.0.0.0/8", "method": "md5"},
         "invalid type 'hots'"),
        ({"type": "host", "database": "a", "user": "u", "method": "md5"}, "need an address"),
        ({"type": "hostssl", "database": "a", "user": "u", "address": None, "method": "md5"},
         "need an address"),
        ({"type": "local", "database": "a", "user": "u", "address": "10.0.0.0/8", "method": "peer"},
         "local rules take no address"),
        ({"type": "host", "database": "a", "user": "u", "address": "10.0.0.1/24", "method": "md5"},
         r"host bits set: use the network 10\.0\.0\.0/24 \(or 10\.0\.0\.1/32"),
        ({"type": "host", "database": "a", "user": "u", "address": "10.0.0.300", "method": "md5"},
         "not a valid IP address"),
        ({"type": "host", "database": "a", "user": "u", "address": "bad host!", "method": "md5"},
         "not a CIDR network"),
        ({"type": "host", "database": "a", "user": "u", "address": "h.example/24", "method": "md5"},
         "not a CIDR network"),
        ({"type": "local", "database": "a", "user": "u", "method": "md6"}, "unknown method 'md6'"),
        ({"type": "local", "database": "a,,b", "user": "u", "method": "peer"}, "empty name"),
        ({"type": "local", "database": "/^db$", "user": "u", "method": "peer"},
         "regular expressions"),
        ({"type": "local", "database": "a", "user": "+", "method": "peer"}, "needs a name"),
        ({"type": "local", "database": "a", "user": "u", "method": "peer", "options": "map"},
         "name=value"),
        ({"type": "local", "database": "a", "user": "u", "method": "peer", "options": "a=b#c"},
         "cannot contain '#'"),
        ({"type": "local", "database": "a", "user": "u", "method": "peer", "comment": "a\nb"},
         "one line"),
        ({"type": "local", "database": "a", "user": "u", "method": "peer", "comment": "x \\"},
         "backslash|'\\\\'"),
        ({"type": "local", "database": 5, "user": "u", "method": "peer"}, "must be a string"),
    ],
)
def test_from_record_errors(record, message):
    with pytest.raises(ValueError, match=message):
        HbaRule.from_record(record)


# --------------------------------------------------------------------------- the managed block


def test_render_block():
    assert render_block([HATCHET, OWLCLAW]) == BLOCK
    assert render_block([]) == ""


def test_apply_block_debian_goes_before_the_first_host_line_and_its_comment():
    result = apply_block(DEBIAN, [HATCHET, OWLCLAW])
    assert result == DEBIAN_HEADER + BLOCK + DEBIAN_HOSTS
    # Debian's leading local lines stay first.
    assert [e.line.type for e in parse_text(result)][:4] == ["local", "local", "host", "host"]


def test_apply_block_is_idempotent():
    once = apply_block(DEBIAN, [HATCHET, OWLCLAW])
    assert apply_block(once, [HATCHET, OWLCLAW]) == once
    assert apply_block(once, [HATCHET, OWLCLAW], position="bottom") == once


def test_apply_block_replaces_in_place_only_the_block():
    text = "# head\nhost all all 10.9.0.0/16 reject\n" + BLOCK + "# tail  \t\nlocal x y trust"
    result = apply_block(text, [OWLCLAW])
    assert result == (
        "# head\nhost all all 10.9.0.0/16 reject\n"
        + BEGIN_MARKER + "\n"
        "host    owlclaw         owlclaw         10.0.0.0/24             scram-sha-256 # app\n"
        + END_MARKER + "\n"
        "# tail  \t\nlocal x y trust"
    )


def test_apply_block_overwrites_hand_edits_inside_the_block():
    edited = DEBIAN_HEADER + BLOCK.replace("scram-sha-256 # app", "trust") + DEBIAN_HOSTS
    assert apply_block(edited, [HATCHET, OWLCLAW]) == DEBIAN_HEADER + BLOCK + DEBIAN_HOSTS


def test_apply_block_removing_rules_restores_the_original():
    with_block = apply_block(DEBIAN, [HATCHET, OWLCLAW])
    assert apply_block(with_block, [HATCHET]) == DEBIAN_HEADER + (
        BEGIN_MARKER + "\n"
        "host    hatchet         hatchet         172.17.0.0/16           scram-sha-256\n"
        + END_MARKER + "\n"
    ) + DEBIAN_HOSTS
    assert apply_block(with_block, []) == DEBIAN
    assert apply_block(DEBIAN, []) == DEBIAN


def test_apply_block_bottom():
    assert apply_block(DEBIAN, [HATCHET, OWLCLAW], position="bottom") == DEBIAN + BLOCK


def test_apply_block_adds_a_newline_only_where_needed():
    assert apply_block("local all all peer", [HATCHET]) == "local all all peer\n" + (
        render_block([HATCHET])
    )
    assert apply_block("", [HATCHET]) == render_block([HATCHET])
    # Inserted before a host line: the missing final newline stays missing.
    text = "local all all peer\nhost all all 10.0.0.0/8 md5"
    assert apply_block(text, [HATCHET]) == (
        "local all all peer\n" + render_block([HATCHET]) + "host all all 10.0.0.0/8 md5"
    )


def test_apply_block_without_host_lines_appends():
    text = "# only local\nlocal all postgres peer\n\n# end\n"
    assert apply_block(text, [HATCHET]) == text + render_block([HATCHET])


def test_apply_block_goes_before_an_include():
    text = "local all all peer\ninclude_dir hba.d\nhost all all 10.0.0.0/8 md5\n"
    assert apply_block(text, [HATCHET]) == (
        "local all all peer\n" + render_block([HATCHET])
        + "include_dir hba.d\nhost all all 10.0.0.0/8 md5\n"
    )


def test_apply_block_keeps_crlf_files_crlf():
    text = "local all all peer\r\n# v4\r\nhost all all 127.0.0.1/32 md5\r\n"
    result = apply_block(text, [HATCHET])
    assert result == (
        "local all all peer\r\n"
        + render_block([HATCHET]).replace("\n", "\r\n")
        + "# v4\r\nhost all all 127.0.0.1/32 md5\r\n"
    )
    assert apply_block(result, []) == text


def test_apply_block_inserts_at_a_logical_line_boundary():
    text = "local all \\\n all peer\nhost all all \\\n 10.0.0.0/8 md5\n"
    assert apply_block(text, [HATCHET]) == (
        "local all \\\n all peer\n" + render_block([HATCHET]) + "host all all \\\n 10.0.0.0/8 md5\n"
    )


def test_apply_block_rejects_a_bad_position():
    with pytest.raises(ValueError, match="position"):
        apply_block(DEBIAN, [HATCHET], position="middle")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"a\n{BEGIN_MARKER}\nhost x\n", "BEGIN marker on line 2 has no END"),
        (f"{BEGIN_MARKER}\n{BEGIN_MARKER}\n{END_MARKER}\n", "second BEGIN marker on line 2"),
        (f"{END_MARKER}\n{BEGIN_MARKER}\n{END_MARKER}\n", "END marker on line 1 without a BEGIN"),
        (BLOCK + BLOCK, "second BEGIN marker on line 5"),
        (BLOCK + END_MARKER + "\n", "END marker on line 5 without a BEGIN"),
    ],
)
def test_malformed_markers(text, message):
    with pytest.raises(ValueError, match=message):
        apply_block(text, [HATCHET])
    with pytest.raises(ValueError, match=message):
        apply_block(text, [])
    with pytest.raises(ValueError, match=message):
        shadowing(text, [HATCHET])


def test_find_block_and_split_lines():
    text = "a\n" + BLOCK + "b"
    lines = split_lines(text)
    assert "".join(lines) == text
    assert lines[-1] == "b"
    assert find_block(lines) == (1, 4)
    assert find_block(split_lines(DEBIAN)) is None
    # An indented or reworded BEGIN marker still counts.
    assert find_block(["  # BEGIN managed by hatchet-owlclaw deploy\n", END_MARKER]) == (0, 1)


# --------------------------------------------------------------------------- shadowing


def with_block_after(lines: str) -> str:
    """A file where ``lines`` come before an existing managed block."""
    return "local all postgres peer\n" + lines + BLOCK + "host all all 0.0.0.0/0 reject\n"


def test_shadow_by_an_earlier_catch_all_reject():
    text = with_block_after("host all all 0.0.0.0/0 reject\n")
    assert shadowing(text, [HATCHET, OWLCLAW]) == [
        Shadow(HATCHET, 2, "host all all 0.0.0.0/0 reject", "reject"),
        Shadow(OWLCLAW, 2, "host all all 0.0.0.0/0 reject", "reject"),
    ]


def test_narrower_earlier_line_does_not_shadow():
    text = with_block_after("host all all 10.0.0.0/25 reject\nhost owlclaw other 10.0.0.0/8 md5\n")
    assert shadowing(text, [OWLCLAW]) == []


def test_later_line_does_not_shadow():
    # with_block_after puts a catch-all reject after the block.
    assert shadowing(with_block_after(""), [HATCHET, OWLCLAW]) == []


def test_hostssl_does_not_shadow_host_but_host_shadows_hostssl():
    text = with_block_after("hostssl all all 0.0.0.0/0 reject\n")
    assert shadowing(text, [OWLCLAW]) == []
    ssl_rule = HbaRule("hostssl", "owlclaw", "owlclaw", "10.0.0.0/24", "scram-sha-256")
    text = with_block_after("host all all 10.0.0.0/8 md5\n")
    assert shadowing(text, [ssl_rule]) == [
        Shadow(ssl_rule, 2, "host all all 10.0.0.0/8 md5", "md5")
    ]


@pytest.mark.parametrize(
    ("earlier", "shadows"),
    [
        ("host all all 10.0.0.0/8 trust", True),
        ("host owlclaw owlclaw 10.0.0.0/24 md5", True),
        ('host "owlclaw",x all all md5', True),
        ("host all +owlclaw 0.0.0.0/0 reject", False),
        ('host "all" all 0.0.0.0/0 reject', False),
        ("host sameuser all 0.0.0.0/0 reject", False),
        ("host replication all 0.0.0.0/0 reject", False),
        ("host hatchet all 0.0.0.0/0 reject", False),
        ("host all hatchet 0.0.0.0/0 reject", False),
        ("host all all ::/0 reject", False),
        ("host all all samenet reject", False),
        ("host all all db.example.com reject", False),
        ("local all all reject", False),
        ("hostnossl all all 0.0.0.0/0 reject", False),
        ("host all all 10.0.0.0 255.0.0.0 reject", True),
        ("# host all all 0.0.0.0/0 reject", False),
        ("include_dir hba.d", False),
    ],
)
def test_shadow_coverage(earlier, shadows):
    assert bool(shadowing(with_block_after(earlier + "\n"), [OWLCLAW])) is shadows


def test_all_does_not_cover_replication():
    repl = HbaRule("host", "replication", "repl", "10.0.0.0/24", "scram-sha-256")
    assert shadowing(with_block_after("host all all 0.0.0.0/0 reject\n"), [repl]) == []
    assert shadowing(with_block_after("host replication all all reject\n"), [repl]) != []


def test_ipv6_rules():
    v6 = HbaRule("host", "all", "app", "2001:db8:1::/48", "scram-sha-256")
    assert shadowing(with_block_after("host all all 2001:db8::/32 reject\n"), [v6]) != []
    assert shadowing(with_block_after("host all all 0.0.0.0/0 reject\n"), [v6]) == []


def test_fresh_debian_block_is_not_shadowed_at_the_top():
    rules = [HATCHET, HbaRule("host", "owlclaw", "owlclaw", "127.0.0.1/32", "scram-sha-256")]
    assert shadowing(DEBIAN, rules) == []


def test_debian_defaults_shadow_loopback_rules_at_the_bottom():
    loopback = HbaRule("host", "owlclaw", "owlclaw", "127.0.0.1/32", "md5")
    line = "host    all             all             127.0.0.1/32            scram-sha-256"
    assert shadowing(DEBIAN, [HATCHET, loopback], position="bottom") == [
        Shadow(loopback, line_number(DEBIAN, line), line, "scram-sha-256")
    ]


def test_debian_local_all_all_shadows_managed_local_rules():
    local = HbaRule("local", "hatchet", "hatchet", None, "scram-sha-256")
    line = "local   all             all                                     peer"
    assert shadowing(DEBIAN, [local]) == [Shadow(local, line_number(DEBIAN, line), line, "peer")]


def test_shadowing_without_rules():
    assert shadowing(DEBIAN, []) == []


def test_format_shadow():
    shadow = Shadow(OWLCLAW, 12, "host all all 0.0.0.0/0 reject", "reject")
    message = format_shadow(shadow)
    assert "line 12" in message
    assert "'host all all 0.0.0.0/0 reject'" in message
    assert "'host owlclaw owlclaw 10.0.0.0/24 scram-sha-256'" in message
    assert "first matching line" in message
    assert "rejected" in message
    other = format_shadow(Shadow(OWLCLAW, 3, "host all all 10.0.0.0/8 trust", "trust"))
    assert "use 'trust' instead of 'scram-sha-256'" in other


# --------------------------------------------------------------------------- one block per environment

PROD_RULE = HbaRule("host", "hatchet", "hatchet", "172.30.0.0/24", "scram-sha-256")
STAGING_RULE = HbaRule("host", "hatchet_staging", "hatchet_staging", "172.30.1.0/24", "scram-sha-256")


def test_markers_carry_the_environment():
    assert markers("prod") == (
        "# BEGIN managed by hatchet-owlclaw deploy (prod) (do not edit inside this block)",
        "# END managed by hatchet-owlclaw deploy (prod)",
    )
    assert markers(None) == (BEGIN_MARKER, END_MARKER)
    assert render_block([PROD_RULE], tag="prod").splitlines()[::2] == list(markers("prod"))
    with pytest.raises(ValueError, match="block tag"):
        markers("Prod (x)")


def test_two_environments_keep_two_blocks_each_rewritten_alone():
    both = apply_block(apply_block(DEBIAN, [PROD_RULE], tag="prod"), [STAGING_RULE], tag="staging")
    blocks = find_blocks(split_lines(both))
    assert set(blocks) == {"prod", "staging"}
    assert render_block([PROD_RULE], tag="prod") in both
    assert render_block([STAGING_RULE], tag="staging") in both
    # Each run is idempotent and leaves the other block byte for byte.
    assert apply_block(both, [PROD_RULE], tag="prod") == both
    assert apply_block(both, [STAGING_RULE], tag="staging") == both
    other = HbaRule("host", "hatchet_staging", "hatchet_staging", "10.9.0.0/16", "scram-sha-256")
    rewritten = apply_block(both, [other], tag="staging")
    assert render_block([PROD_RULE], tag="prod") in rewritten
    assert render_block([other], tag="staging") in rewritten
    assert rewritten.replace(render_block([other], tag="staging"), "") == both.replace(
        render_block([STAGING_RULE], tag="staging"), ""
    )


def test_removing_one_environments_rules_removes_only_its_block():
    prod_only = apply_block(DEBIAN, [PROD_RULE], tag="prod")
    both = apply_block(prod_only, [STAGING_RULE], tag="staging")
    assert apply_block(both, [], tag="staging") == prod_only
    assert apply_block(apply_block(both, [], tag="prod"), [], tag="staging") == DEBIAN
    assert find_block(split_lines(both), "dev") is None


def test_an_untagged_block_is_taken_over_by_the_first_tagged_run():
    legacy = apply_block(DEBIAN, [HATCHET])
    taken = apply_block(legacy, [PROD_RULE], tag="prod")
    assert taken == apply_block(DEBIAN, [PROD_RULE], tag="prod")
    # ... and once a block of its own exists, the untagged one is not this tag's.
    assert set(find_blocks(split_lines(apply_block(legacy, [STAGING_RULE], tag="staging")))) == {
        "staging"
    }


def test_another_environments_rules_can_shadow():
    prod_all = HbaRule("host", "all", "all", "172.30.0.0/16", "reject")
    text = apply_block(DEBIAN, [prod_all], tag="prod", position="top")
    # staging's block goes above prod's at the top, so prod's reject does not shadow it...
    assert shadowing(text, [STAGING_RULE], tag="staging") == []
    # ... but at the bottom it comes after prod's block, whose rule wins.
    shadows = shadowing(text, [STAGING_RULE], tag="staging", position="bottom")
    assert [(s.rule, s.method) for s in shadows] == [(STAGING_RULE, "reject")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (render_block([PROD_RULE], "prod") + render_block([PROD_RULE], "prod"),
         "second BEGIN marker on line 4"),
        (markers("prod")[0] + "\n" + markers("staging")[1] + "\n", "END marker on line 2 without"),
        (markers("prod")[0] + "\n" + render_block([STAGING_RULE], "staging"),
         "second BEGIN marker on line 2"),
    ],
)
def test_malformed_tagged_markers(text, message):
    with pytest.raises(ValueError, match=message):
        apply_block(text, [STAGING_RULE], tag="staging")
