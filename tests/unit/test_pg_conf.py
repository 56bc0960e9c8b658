"""deploylib.model.pg_conf: values, drop-ins, reading postgresql.conf, the managed block."""

from __future__ import annotations

import pytest

from deploylib.model.pg_conf import (
    apply_managed_lines,
    check_name,
    include_dirs,
    managed_part,
    overridden_after_block,
    parse_conf,
    quote_value,
    render_dropin,
    unquote_value,
)
from deploylib.model.pg_hba import BEGIN_MARKER, END_MARKER

# Excerpts of Debian's postgresql.conf (PostgreSQL 16).
DEBIAN_CONF = """\
# -----------------------------
# PostgreSQL configuration file
# -----------------------------
#
# This file consists of lines of the form:
#
#   name = value
#
# (The "=" is optional.)  Whitespace may be used.  Comments are introduced with
# "#" anywhere on a line.

data_directory = '/var/lib/postgresql/16/main'\t\t# use data in another directory
\t\t\t\t\t# (change requires restart)
hba_file = '/etc/postgresql/16/main/pg_hba.conf'\t# host-based authentication file
external_pid_file = '/var/run/postgresql/16-main.pid'\t\t\t# write an extra PID file

#listen_addresses = 'localhost'\t\t# what IP address(es) to listen on;
port = 5432\t\t\t\t# (change requires restart)
max_connections = 100\t\t\t# (change requires restart)
unix_socket_directories = '/var/run/postgresql'\t# comma-separated list of directories
ssl = on
shared_buffers = 128MB\t\t\t# min 128kB
dynamic_shared_memory_type = posix\t# the default is usually the first option
max_wal_size = 1GB
min_wal_size = 80MB
log_line_prefix = '%m [%p] %q%u@%d '\t\t# special values:
log_timezone = 'Etc/UTC'
cluster_name = '16/main'\t\t\t# added to process titles if nonempty
datestyle = 'iso, mdy'
lc_messages = 'C.UTF-8'\t\t\t# locale for system error message
default_text_search_config = 'pg_catalog.english'

#------------------------------------------------------------------------------
# CONFIG FILE INCLUDES
#------------------------------------------------------------------------------

# These options allow settings to be loaded from files other than the
# default postgresql.conf.

include_dir = 'conf.d'\t\t\t# include files ending in '.conf' from
\t\t\t\t\t# a directory, e.g., 'conf.d'
#include_if_exists = '...'\t\t# include file only if it exists
#include = '...'\t\t\t# include file
"""

SETTINGS = {"listen_addresses": ["localhost", "172.17.0.1"], "max_connections": 200}
BLOCK = (
    BEGIN_MARKER + "\n"
    "listen_addresses = 'localhost,172.17.0.1'\n"
    "max_connections = 200\n"
    + END_MARKER + "\n"
)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "on"),
        (False, "off"),
        (0, "0"),
        (-1, "-1"),
        (200, "200"),
        (0.5, "0.5"),
        (2.0, "2.0"),
        (1e-05, "1.0e-05"),
        (1.5e16, "1.5e+16"),
        ("128MB", "'128MB'"),
        ("", "''"),
        ("it's", "'it''s'"),
        ("C:\\path\\", "'C:\\\\path\\\\'"),
        ("%m [%p] %q%u@%d # x", "'%m [%p] %q%u@%d # x'"),
        (["localhost", "172.17.0.1"], "'localhost,172.17.0.1'"),
        (("*",), "'*'"),
        ([], "''"),
        (['"$user"', "public"], "'\"$user\",public'"),
    ],
)
def test_quote_value(value, text):
    assert quote_value(value) == text


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\0b", ["ok", "x\ny"]])
def test_quote_value_rejects_line_breaks_and_nul(value):
    with pytest.raises(ValueError, match="line breaks or NUL"):
        quote_value(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_quote_value_rejects_non_finite_numbers(value):
    with pytest.raises(ValueError, match="finite"):
        quote_value(value)


@pytest.mark.parametrize("value", [None, {"a": 1}, [1, 2], ["a", ""], b"x"])
def test_quote_value_rejects_other_types(value):
    with pytest.raises(TypeError):
        quote_value(value)


@pytest.mark.parametrize(
    "text", ["", "plain", "it's", "''", "back\\slash\\", "\\'", "tab\there", "#not a comment", "ü"]
)
def test_quote_round_trip(text):
    quoted = quote_value(text)
    assert unquote_value(quoted) == text
    # and the way PostgreSQL reads it back from a file
    [(_, name, raw)] = parse_conf(f"some_setting = {quoted}  # comment\n")
    assert (name, raw, unquote_value(raw)) == ("some_setting", quoted, text)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("128MB", "128MB"),
        ("on", "on"),
        ("'a\\nb'", "a\nb"),
        ("'\\t\\b\\f\\r'", "\t\b\f\r"),
        ("'\\101\\1010'", "AA0"),
        ("'it\\'s'", "it's"),
        ("'it''s'", "it's"),
        ("'\\q'", "q"),
        ("''", ""),
    ],
)
def test_unquote_value(raw, value):
    assert unquote_value(raw) == value


def test_unquote_value_rejects_unterminated():
    with pytest.raises(ValueError, match="unterminated"):
        unquote_value("'abc")


# --------------------------------------------------------------------------- drop-in


def test_render_dropin():
    text = render_dropin(
        {"shared_buffers": "1GB", "listen_addresses": ["localhost", "172.17.0.1"], "ssl": True,
         "pg_stat_statements.max": 5000},
        source="group_data pg_settings",
    )
    assert text == (
        "# Managed by hatchet-owlclaw deploy: do not edit, the next run overwrites changes.\n"
        "# Source: group_data pg_settings\n"
        "listen_addresses = 'localhost,172.17.0.1'\n"
        "pg_stat_statements.max = 5000\n"
        "shared_buffers = '1GB'\n"
        "ssl = on\n"
    )
    assert [(name, unquote_value(raw)) for _, name, raw in parse_conf(text)] == [
        ("listen_addresses", "localhost,172.17.0.1"),
        ("pg_stat_statements.max", "5000"),
        ("shared_buffers", "1GB"),
        ("ssl", "on"),
    ]


def test_render_dropin_empty_is_just_the_header():
    assert render_dropin({}).count("\n") == 2
    assert parse_conf(render_dropin({})) == []


@pytest.mark.parametrize(
    "name", ["Shared_Buffers", "1abc", "a-b", "a..b", "a.b.c", "", "a b", "include_dir", "x\n"]
)
def test_invalid_setting_names(name):
    with pytest.raises(ValueError, match="setting name|directive"):
        render_dropin({name: 1})
    with pytest.raises(ValueError):
        check_name(name)


def test_render_dropin_rejects_multiline_source():
    with pytest.raises(ValueError, match="one line"):
        render_dropin({}, source="a\nb")


# --------------------------------------------------------------------------- reading


def test_parse_conf_debian():
    settings = parse_conf(DEBIAN_CONF)
    assert settings[0] == (12, "data_directory", "'/var/lib/postgresql/16/main'")
    names = [name for _, name, _ in settings]
    assert "listen_addresses" not in names  # commented out
    assert "include_dir" not in names  # a directive, see include_dirs
    by_name = {name: raw for _, name, raw in settings}
    assert by_name["shared_buffers"] == "128MB"
    assert by_name["ssl"] == "on"
    assert by_name["log_line_prefix"] == "'%m [%p] %q%u@%d '"
    assert unquote_value(by_name["datestyle"]) == "iso, mdy"


def test_parse_conf_forms():
    text = (
        "a = 1\n"
        "b 2   # no equals sign\n"
        "C_Upper=on\n"
        "d = 'x # not a comment'   # a comment\n"
        "e = 'it''s' \n"
        "f = 'back\\'slash'\n"
        "  g\t=\t-1.5\r\n"
        "h = 0x1F\n"
        "i = 5min\n"
        "j = en_US.UTF-8\n"
        "ext.setting = 'v'\n"
        "   # indented comment\n"
        "\n"
    )
    assert parse_conf(text) == [
        (1, "a", "1"),
        (2, "b", "2"),
        (3, "c_upper", "on"),
        (4, "d", "'x # not a comment'"),
        (5, "e", "'it''s'"),
        (6, "f", "'back\\'slash'"),
        (7, "g", "-1.5"),
        (8, "h", "0x1F"),
        (9, "i", "5min"),
        (10, "j", "en_US.UTF-8"),
        (11, "ext.setting", "'v'"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ok = 1\nbad line here\n", "line 2: unexpected 'here'"),
        ("x = 'unterminated\n", "line 1: missing or bad value"),
        ("x =\n", "line 1: missing or bad value"),
        ("= 1\n", "line 1: syntax error"),
        ("x = a,b\n", "line 1: unexpected ','"),
        ("'x' = 1\n", "line 1: syntax error"),
        ("k = /var/run/postgresql\n", "line 1: missing or bad value"),  # paths need quotes
    ],
)
def test_parse_conf_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_conf(text)


def test_include_dirs():
    assert include_dirs(DEBIAN_CONF) == ["conf.d"]
    text = "include_dir conf.d\n#include_dir = 'off'\nINCLUDE_DIR = '/etc/pg dir'\ninclude 'x'\n"
    assert include_dirs(text) == ["conf.d", "/etc/pg dir"]
    assert include_dirs("port = 5432\n") == []


# --------------------------------------------------------------------------- managed lines


def test_apply_managed_lines_appends_at_the_end():
    result = apply_managed_lines(DEBIAN_CONF, SETTINGS)
    assert result == DEBIAN_CONF + BLOCK
    # The block's values are the ones PostgreSQL ends up with (last one wins).
    final = {name: raw for _, name, raw in parse_conf(result)}
    assert final["max_connections"] == "200"


def test_apply_managed_lines_is_idempotent():
    once = apply_managed_lines(DEBIAN_CONF, SETTINGS)
    assert apply_managed_lines(once, SETTINGS) == once


def test_apply_managed_lines_replaces_in_place():
    text = "port = 5432\n" + BLOCK + "# added later by hand\nwork_mem = 4MB"
    result = apply_managed_lines(text, {"listen_addresses": "*"})
    assert result == (
        "port = 5432\n" + BEGIN_MARKER + "\nlisten_addresses = '*'\n" + END_MARKER + "\n"
        "# added later by hand\nwork_mem = 4MB"
    )


def test_apply_managed_lines_removes_the_block():
    with_block = apply_managed_lines(DEBIAN_CONF, SETTINGS)
    assert apply_managed_lines(with_block, {}) == DEBIAN_CONF
    assert apply_managed_lines(DEBIAN_CONF, {}) == DEBIAN_CONF


def test_apply_managed_lines_without_final_newline_and_crlf():
    assert apply_managed_lines("port = 5432", SETTINGS) == "port = 5432\n" + BLOCK
    crlf = "port = 5432\r\nssl = on\r\n"
    assert apply_managed_lines(crlf, SETTINGS) == crlf + BLOCK.replace("\n", "\r\n")


def test_apply_managed_lines_validates():
    with pytest.raises(ValueError, match="setting name"):
        apply_managed_lines("", {"Bad": 1})
    with pytest.raises(ValueError, match="line breaks"):
        apply_managed_lines("", {"a": "x\ny"})
    with pytest.raises(ValueError, match="has no END"):
        apply_managed_lines(BEGIN_MARKER + "\nport = 1\n", SETTINGS)
    with pytest.raises(ValueError, match="second BEGIN"):
        apply_managed_lines(BLOCK + BLOCK, SETTINGS)


def test_managed_part_and_overrides_after_block():
    text = "port = 5432\n" + BLOCK + "max_connections = 50\nport = 5433\n"
    assert managed_part(text) == (
        "listen_addresses = 'localhost,172.17.0.1'\nmax_connections = 200\n"
    )
    assert managed_part(DEBIAN_CONF) == ""
    assert overridden_after_block(text) == [(6, "max_connections", "50")]
    assert overridden_after_block(DEBIAN_CONF) == []


# --------------------------------------------------------------------------- shared host: server settings


def test_dropin_and_block_record_the_environment():
    from deploylib.model.pg_conf import written_by

    dropin = render_dropin({"port": 5432}, environment="prod")
    assert "# Environment: prod\n" in dropin and written_by(dropin) == "prod"
    assert written_by(render_dropin({"port": 5432})) is None  # from before it was recorded
    block = managed_part(apply_managed_lines("port = 1\n", {"port": 5432}, "staging"))
    assert written_by(block) == "staging" and "port = 5432" in block
    assert apply_managed_lines(apply_managed_lines("x = 1\n", {"a": 1}, "prod"), {}, "prod") == "x = 1\n"


@pytest.mark.parametrize(
    ("writer", "environment", "owner", "differ", "decision"),
    [
        (None, "prod", None, True, "write"),  # first run, or a file from before
        ("prod", "prod", None, True, "write"),  # its own settings
        ("prod", "staging", None, False, "keep"),  # the same settings: nothing to change
        ("prod", "staging", None, True, "fail"),  # disagreement, nobody decided
        ("prod", "staging", "staging", True, "write"),  # staging's win
        ("prod", "staging", "prod", True, "leave"),  # prod's win: staging leaves them
        ("prod", "staging", "dev", True, "fail"),
    ],
)
def test_shared_settings_decision(writer, environment, owner, differ, decision):
    from deploylib.model.server_settings import shared_settings_decision

    assert shared_settings_decision(writer, environment, owner, differ) == decision


def test_server_settings_conflict_names_the_differences_and_the_fix():
    from deploylib.model.server_settings import server_settings_conflict

    prod = render_dropin({"listen_addresses": ["localhost", "172.17.0.1"], "port": 5432}, environment="prod")
    staging = render_dropin({"listen_addresses": ["localhost"], "port": 5432}, environment="staging")
    message = server_settings_conflict("prod", "staging", None, prod, staging)
    assert message.startswith("staging and prod disagree on server settings for this host: "
                              "listen_addresses: prod 'localhost,172.17.0.1', staging 'localhost'.")
    assert "port" not in message.split(".")[0]
    assert "group_data/staging.py and group_data/prod.py" in message
    assert "pg_server_settings_owner" in message
    left = server_settings_conflict("prod", "staging", "prod", prod, staging)
    assert "belong to prod" in left and "left as prod wrote them" in left


def test_letter_classes_are_guc_files_sets():
    """The lexer's letter classes, written for a cheap compile, are guc-file.l's exactly:
    every code point, surrogates included, is in or out of both alike."""
    import re

    from deploylib.model import pg_conf

    every = "".join(map(chr, range(0x110000)))
    for ours, postgres in (
        (pg_conf._LETTER, r"[A-Za-z_\x80-\U0010ffff]"),
        (pg_conf._LETTER_OR_DIGIT, r"[A-Za-z_0-9\x80-\U0010ffff]"),
    ):
        assert re.sub(ours, "", every) == re.sub(postgres, "", every)
        assert len(re.findall(ours, every)) == len(re.findall(postgres, every))
