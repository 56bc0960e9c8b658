"""Tests written to kill the mutants mutmut found alive (./run mutate; triage in tests/MUTATION.md)."""

import pytest

from deploylib import pg_conf, pg_sql

# --------------------------------------------------------------------------- pg_sql: exact SQL


def test_literal_refuses_nul_saying_why():
    with pytest.raises(ValueError) as error:
        pg_sql.literal("a\0b")
    assert str(error.value) == "NUL cannot be sent to PostgreSQL"
    assert pg_sql.literal("XX it's") == "'XX it''s'"


def test_create_database_sql():
    assert pg_sql.create_database("d", "o", "UTF8") == (
        "CREATE DATABASE \"d\" OWNER \"o\" TEMPLATE template0 ENCODING 'UTF8'")
    assert pg_sql.create_database("d", "o", "SQL_ASCII") == (
        "CREATE DATABASE \"d\" OWNER \"o\" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'")


@pytest.mark.parametrize("value,stored", [(True, "on"), (False, "off"), (["a", "b"], "a, b"), (("x",), "x"),
                                          (3, "3"), ("UTC", "UTC")])
def test_setting_value_as_postgresql_stores_it(value, stored):
    assert pg_sql.setting_value(value) == stored


def test_database_settings_sql_and_drift():
    assert pg_sql.set_database_settings("d", {"timezone": "UTC", "search_path": ["a", "b"]}) == (
        "ALTER DATABASE \"d\" SET timezone = 'UTC';\nALTER DATABASE \"d\" SET search_path = 'a, b';\n")
    assert pg_sql.settings_drift({"timezone": "UTC", "jit": "off"}, {"TimeZone": "UTC", "jit": False}) == {}
    assert pg_sql.settings_drift({"jit": "on"}, {"jit": False, "work_mem": "4MB"}) == {
        "jit": False, "work_mem": "4MB"}


def test_connect_grantees_keep_names_starting_or_ending_like_the_braces():
    assert pg_sql.connect_grantees("{Xenia=c/postgres,bobX=Tc/postgres,carl=T/postgres}") == {"Xenia", "bobX"}
    assert pg_sql.connect_grantees('{"odd name"=c/postgres,=Tc/postgres}') == {"odd name", ""}
    assert pg_sql.connect_grantees("") is None


def test_extension_and_seed_sql():
    assert pg_sql.create_extension("vector") == 'CREATE EXTENSION IF NOT EXISTS "vector";\n'
    assert pg_sql.seed_sql("own", "abc", "f.sql", "  SELECT 1;\n\n") == (
        "CREATE TABLE IF NOT EXISTS public.deploy_seed_applied (sha256 text PRIMARY KEY, "
        "file text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n"
        'ALTER TABLE public.deploy_seed_applied OWNER TO "own";\n'
        'SET ROLE "own";\n'
        "  SELECT 1;\n;\n"
        "INSERT INTO public.deploy_seed_applied (sha256, file) VALUES ('abc', 'f.sql');\n"
    )


def test_managed_comment():
    assert pg_sql.managed_comment("prod") == "managed by hatchet-owlclaw deploy (prod)"
    assert pg_sql.comment_on("ROLE", "r", "c") == "COMMENT ON ROLE \"r\" IS 'c';\n"


# --------------------------------------------------------------------------- pg_conf


def test_conf_values_with_the_letter_x_and_their_errors():
    assert pg_conf.quote_value("XX") == "'XX'"
    assert pg_conf.unquote_value(r"'\X'") == "X"
    assert pg_conf.unquote_value("'a\\'") == "a\\"  # a trailing backslash escapes nothing
    with pytest.raises(TypeError) as error:
        pg_conf.quote_value(["a", ""])
    assert str(error.value) == "list values must be non-empty strings: ['a', '']"
    with pytest.raises(TypeError) as error:
        pg_conf.quote_value({"a": 1})
    assert str(error.value) == "cannot write dict {'a': 1} to postgresql.conf"


def test_setting_name_error_says_what_is_expected():
    with pytest.raises(ValueError) as error:
        pg_conf.check_name("Bad")
    assert str(error.value) == ("invalid setting name 'Bad': expected a lowercase identifier like "
                                "'shared_buffers' or 'pg_stat_statements.max'")


def test_dropin_header_lines_exactly():
    assert pg_conf.render_dropin({"work_mem": "4MB"}, environment="prodX") == (
        "# Managed by hatchet-owlclaw deploy: do not edit, the next run overwrites changes.\n"
        "# Source: group_data (pg_listen_addresses, pg_settings)\n"
        "# Environment: prodX\n"
        "work_mem = '4MB'\n")
    assert pg_conf.written_by(pg_conf.render_dropin({}, environment="prodX")) == "prodX"
    with pytest.raises(ValueError) as error:
        pg_conf.render_dropin({}, environment="a\nb")
    assert str(error.value) == "environment must be one line: 'a\\nb'"
    with pytest.raises(ValueError) as error:
        pg_conf.render_dropin({}, source="X\n")
    assert str(error.value) == "source must be one line: 'X\\n'"


def test_parse_a_last_line_without_newline_and_names_with_x():
    assert pg_conf.parse_conf("X = 1") == [(1, "x", "1")]
    assert pg_conf.parse_conf("a = 1\nb = 'x'  # c") == [(1, "a", "1"), (2, "b", "'x'")]


def test_override_of_the_first_setting_of_the_block_is_reported():
    text = pg_conf.apply_managed_lines("", {"work_mem": "4MB"}) + "work_mem = '8MB'\n"
    assert pg_conf.overridden_after_block(text) == [(4, "work_mem", "'8MB'")]
