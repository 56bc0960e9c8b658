"""Tests written to kill the mutants mutmut found alive (./run mutate; triage in tests/MUTATION.md)."""

import base64
import os
import subprocess
from types import SimpleNamespace

import pytest
import yaml

from deploylib.model import compose, config, firewall, pg_conf, pg_hba, pg_sql, scram
from deploylib.model.config import Secret
from tests.conftest import REPO
from tests.unit import compose_dotenv

# --------------------------------------------------------------------------- pg_sql: exact SQL


def test_literal_refuses_nul_saying_why():
    with pytest.raises(ValueError) as error:
        pg_sql.literal("a\0b")
    assert str(error.value) == "NUL cannot be sent to PostgreSQL"
    assert pg_sql.literal("XX it's") == "'XX it''s'"


def test_create_database_sql():
    assert pg_sql.create_database("d", "o", "UTF8") == (
        'CREATE DATABASE "d" OWNER "o" TEMPLATE template0 ENCODING \'UTF8\''
    )
    assert pg_sql.create_database("d", "o", "SQL_ASCII") == (
        "CREATE DATABASE \"d\" OWNER \"o\" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'"
    )


@pytest.mark.parametrize(
    "value,stored",
    [(True, "on"), (False, "off"), (["a", "b"], "a, b"), (("x",), "x"), (3, "3"), ("UTC", "UTC")],
)
def test_setting_value_as_postgresql_stores_it(value, stored):
    assert pg_sql.setting_value(value) == stored


def test_database_settings_sql_and_drift():
    assert pg_sql.set_database_settings("d", {"timezone": "UTC", "search_path": ["a", "b"]}) == (
        "ALTER DATABASE \"d\" SET timezone = 'UTC';\nALTER DATABASE \"d\" SET search_path = 'a, b';\n"
    )
    assert pg_sql.settings_drift({"timezone": "UTC", "jit": "off"}, {"TimeZone": "UTC", "jit": False}) == {}
    assert pg_sql.settings_drift({"jit": "on"}, {"jit": False, "work_mem": "4MB"}) == {
        "jit": False,
        "work_mem": "4MB",
    }


def test_connect_grantees_keep_names_starting_or_ending_like_the_braces():
    assert pg_sql.connect_grantees("{Xenia=c/postgres,bobX=Tc/postgres,carl=T/postgres}") == {"Xenia", "bobX"}
    assert pg_sql.connect_grantees('{"odd name"=c/postgres,=Tc/postgres}') == {"odd name", ""}
    assert pg_sql.connect_grantees("") is None


def test_extension_and_seed_sql():
    assert pg_sql.create_extension("vector") == 'CREATE EXTENSION IF NOT EXISTS "vector";\n'
    assert pg_sql.seed_sql("own", "abc", "f.sql", "  SELECT 1;\n\n") == (
        "SET search_path = pg_catalog;\n"
        "CREATE TABLE IF NOT EXISTS public.deploy_seed_applied (sha256 text PRIMARY KEY, "
        "file text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n"
        'ALTER TABLE public.deploy_seed_applied OWNER TO "own";\n'
        'SET ROLE "own";\n'
        "RESET search_path;\n"
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
    assert str(error.value) == (
        "invalid setting name 'Bad': expected a lowercase identifier like "
        "'shared_buffers' or 'pg_stat_statements.max'"
    )


def test_dropin_header_lines_exactly():
    assert pg_conf.render_dropin({"work_mem": "4MB"}, environment="prodX") == (
        "# Managed by hatchet-owlclaw deploy: do not edit, the next run overwrites changes.\n"
        "# Source: group_data (pg_listen_addresses, pg_settings)\n"
        "# Environment: prodX\n"
        "work_mem = '4MB'\n"
    )
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


# --------------------------------------------------------------------------- scram


KEYS = (b"a" * 32, b"b" * 32)


def error_of(call, *args):
    """(exception type name, message) that call(*args) raises."""
    try:
        call(*args)
    except Exception as error:  # noqa: BLE001 - the test compares the type and the message
        return type(error).__name__, str(error)
    raise AssertionError(f"{call.__name__}{args!r} raised nothing")


@pytest.mark.parametrize(
    "call,args,expected",
    [
        (scram.saslprep_password, (1,), ("TypeError", "password must be str or bytes, not int")),
        (scram.saslprep_password, ("a\0",), ("ValueError", "password must not contain NUL characters")),
        (scram.ScramVerifier, (1.5, b"s", *KEYS), ("TypeError", "iterations must be an int")),
        (scram.ScramVerifier, (True, b"s", *KEYS), ("TypeError", "iterations must be an int")),
        (
            scram.ScramVerifier,
            (0, b"s", *KEYS),
            ("ValueError", "iterations must be between 1 and 2147483647"),
        ),
        (scram.ScramVerifier, (1, b"", *KEYS), ("ValueError", "salt must be non-empty bytes")),
        (scram.ScramVerifier, (1, "salt", *KEYS), ("ValueError", "salt must be non-empty bytes")),
        (scram.ScramVerifier, (1, b"s", b"a", KEYS[1]), ("ValueError", "stored_key must be 32 bytes")),
        (scram.ScramVerifier, (1, b"s", KEYS[0], b"b"), ("ValueError", "server_key must be 32 bytes")),
        (scram.compute_verifier, ("p", b"s", 2.0), ("TypeError", "iterations must be an int")),
        (scram.compute_verifier, ("p", b"s", False), ("TypeError", "iterations must be an int")),
        (
            scram.compute_verifier,
            ("p", b"s", 0),
            ("ValueError", "iterations must be between 1 and 2147483647"),
        ),
        (scram.compute_verifier, ("p", b"", 1), ("ValueError", "salt must be non-empty bytes")),
        (scram.compute_verifier, ("p", "salt", 1), ("ValueError", "salt must be non-empty bytes")),
    ],
)
def test_scram_errors_say_what_is_wrong(call, args, expected):
    assert error_of(call, *args) == expected


def test_scram_bounds_and_repr():
    top = scram.ScramVerifier(2**31 - 1, b"s", *KEYS)  # PostgreSQL's largest count is accepted
    assert top.iterations == 2**31 - 1
    assert repr(scram.ScramVerifier(4096, bytes(range(16)), *KEYS)) == (
        "ScramVerifier(iterations=4096, salt='AAECAwQFBgcICQoLDA0ODw==', "
        "stored_key=<sha256:3ba3f5f4...>, server_key=<sha256:bdb33976...>)"
    )
    assert scram.compute_verifier("p", bytearray(b"salt"), 1) == scram.compute_verifier("p", b"salt", 1)


def test_parse_verifier_edges():
    text = scram.scram_sha256_verifier("p", salt=b"salt", iterations=7)
    assert scram.parse_verifier(text.encode()).to_string() == text  # bytes from a driver
    assert scram.parse_verifier("SCRAM-SHA-256$7:c2FsdA==$Zm9v:YmFy".encode("latin-1")) is None
    assert scram.parse_verifier("\u00e9".encode("utf-8")) is None
    method, rest = text.split("$", 1)
    _, keys_part = rest.split("$")
    assert scram.parse_verifier(f"{method}$1234567890:c2FsdA==${keys_part}") is not None  # 10 digits
    assert scram.parse_verifier(f"{method}$2147483647:c2FsdA==${keys_part}").iterations == 2**31 - 1
    assert scram.parse_verifier(f"{method}$12345678901:c2FsdA==${keys_part}") is None
    stored, server = keys_part.split(":")
    short = "YmFy"  # 3 bytes: not a key
    assert scram.parse_verifier(f"{method}$7:c2FsdA==${stored}:{short}") is None
    assert scram.parse_verifier(f"{method}$7:c2FsdA==${short}:{server}") is None
    assert scram.parse_verifier(f"{method}$7:c2FsdA=$${stored}:{server}") is None  # bad padding


def test_digest_match_head_parsing():
    stored = scram.scram_sha256_verifier("p", salt=b"salt", iterations=7)
    digest = __import__("hashlib").sha256(stored.encode()).hexdigest()
    head = stored.rsplit("$", 1)[0]
    assert scram.verifier_digest_matches("p", head, digest)
    assert not scram.verifier_digest_matches("p", "x$" + head, digest)
    assert not scram.verifier_digest_matches("p", head + ":c2FsdA==", digest)
    assert not scram.verifier_digest_matches("p", head.replace("c2FsdA==", "c2Fsd!A="), digest)


def test_bidi_randal_not_at_the_end_is_rejected():
    assert scram.saslprep_password("\u05d0\u05d1\u00a01") == "\u05d0\u05d1\u00a01".encode()
    assert scram.saslprep_password("1\u00a0\u05d0\u05d1") == "1\u00a0\u05d0\u05d1".encode()
    assert scram.saslprep_password("\u05d0\u00a0\u05d1") == "\u05d0 \u05d1".encode()


def test_saslprep_c5_and_c6_each_prohibit():
    surrogate = "\u00e9\u00a0\udc80"  # C.5, a lone surrogate: cannot even be encoded
    with pytest.raises(UnicodeEncodeError):
        scram.saslprep_password(surrogate)
    assert scram.saslprep_password("\u00e9\u00a0\ufffc") == "\u00e9\u00a0\ufffc".encode()  # C.6
    assert scram.saslprep_password("\u00e9\u00a0\ufffd") == "\u00e9\u00a0\ufffd".encode()  # C.6 only


# --------------------------------------------------------------------------- compose


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!override", lambda loader, node: loader.construct_sequence(node))
_Loader.add_constructor("!reset", lambda loader, node: ("!reset", loader.construct_scalar(node)))


def fake_settings(**values):
    base = dict(
        environment="staging",
        compose_project="p",
        compose_subnet=None,
        compose_bind_address="127.0.0.1",
        compose_services={},
        databases={},
        app_env={},
        app_secret_values={},
        deploy_state_dir="/var/lib/d",
        app_dir="/data/p",
        compose_files=["compose.yml"],
        app_repo=None,
        app_local_dir=None,
    )
    base.update(values)
    passwords = values.get("passwords", {})
    return SimpleNamespace(**base, db_password=lambda name: Secret(passwords[name], "test"))


def test_compose_command_needs_a_file():
    assert error_of(compose.compose_command, ["docker", "compose"], "p", "/e", []) == (
        "ValueError",
        "at least one compose file is needed",
    )


def test_overlay_defaults_run_the_service_with_the_host_gateway():
    # The defaults (enabled, with the host gateway) are filled by the validation the overlay reads.
    text = compose.render_overlay(
        fake_settings(
            compose_services=config.is_compose_services(
                {"app": {}, "kibana": {"disabled": True}, "lone": {"host_gateway": False}}
            )
        )
    )
    assert text.startswith(
        "# Written by the deploy for environment staging, compose project p.\n"
        "# Do not edit: the next deploy overwrites it.\nservices:\n"
    )
    services = yaml.load(text, Loader=_Loader)["services"]
    assert services["app"] == {
        "extra_hosts": ["host.docker.internal:host-gateway"],
        "depends_on": {"kibana": ("!reset", "null")},
    }
    assert services["kibana"] == {
        "profiles": ["disabled"],
        "extra_hosts": ["host.docker.internal:host-gateway"],
    }
    assert services["lone"] == {"depends_on": {"kibana": ("!reset", "null")}}


def test_env_has_every_part_of_each_database_on_the_given_port():
    settings = fake_settings(
        databases={"owlclaw": {"owner": "o@x"}},
        passwords={"owlclaw": "p/w@"},
        app_secret_values={"API_KEY": Secret("k'$y", "test")},
    )
    text = compose.render_env(settings, 5433)
    values = compose_dotenv.parse(text)
    assert values["API_KEY"] == "k'$y"
    assert "DATABASE_URL" not in values  # no database is "the" database: each has its own variables
    assert values["DATABASE_HOST"] == "host.docker.internal" and values["DATABASE_PORT"] == "5433"
    assert values["DEPLOY_ENVIRONMENT"] == "staging" and values["COMPOSE_PROJECT_NAME"] == "p"
    assert values["OWLCLAW_DATABASE_URL"] == "postgresql://o%40x:p%2Fw%40@host.docker.internal:5433/owlclaw"
    assert {name: value for name, value in values.items() if name.startswith("OWLCLAW_DATABASE_")} == {
        "OWLCLAW_DATABASE_URL": "postgresql://o%40x:p%2Fw%40@host.docker.internal:5433/owlclaw",
        "OWLCLAW_DATABASE_USER": "o@x",
        "OWLCLAW_DATABASE_PASSWORD": "p/w@",
        "OWLCLAW_DATABASE_HOST": "host.docker.internal",
        "OWLCLAW_DATABASE_PORT": "5433",
        "OWLCLAW_DATABASE_NAME": "owlclaw",
    }


def test_database_url_quotes_slashes_in_user_and_password():
    assert compose.database_url("a/b", "c/d", "h", 5432, "db") == "postgresql://a%2Fb:c%2Fd@h:5432/db"


def test_same_record_of_nothing():
    assert compose.same_record("", None)
    assert not compose.same_record("source x", None)


def test_resolve_ref_with_tabs_in_names():
    sha = "a" * 40
    assert compose.resolve_ref("odd\tname", [f"{sha}\trefs/heads/odd\tname"]) == sha


def test_tree_hash_sees_symlink_targets_modes_and_names(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "f").write_text("x")
    (root / "f").chmod(0o644)
    os.symlink("f", root / "link")
    (root / "z").write_text("after the link")
    first = compose.tree_hash(root, [])
    assert first.startswith("tree:") and len(first) == len("tree:") + 64
    (root / "z").write_text("changed")  # a file after a symlink is still hashed
    second = compose.tree_hash(root, [])
    assert second != first
    os.remove(root / "link")
    os.symlink("z", root / "link")
    assert compose.tree_hash(root, []) != second
    third = compose.tree_hash(root, [])
    (root / "f").chmod(0o600)  # only the owner's bits changed
    assert compose.tree_hash(root, []) != third
    (root / "f").chmod(0o644)
    assert compose.tree_hash(root, []) == third
    assert compose.tree_hash(root, ["/z/"]) == compose.tree_hash(root, ["z"]) != third


def test_tree_hash_separates_name_from_content(tmp_path):
    one, two = tmp_path / "1", tmp_path / "2"
    one.mkdir(), two.mkdir()
    (one / "ab").write_text("")
    (two / "a").write_text("")
    assert compose.tree_hash(one, []) != compose.tree_hash(two, [])


@pytest.mark.parametrize(
    "text,version",
    [
        ("2.24.0-desktop.1", (2, 24, 0)),
        ("2.29.1+ds1-0ubuntu1", (2, 29, 1)),
        ("v2.24.6", (2, 24, 6)),
        ("2.24.6.7", (2, 24, 6)),
        (None, ()),
    ],
)
def test_compose_version_parsing(text, version):
    assert compose._version(text) == version


def docker(plugin=None, binary=None, candidates=None):
    return SimpleNamespace(compose_plugin=plugin, compose_binary=binary, candidates=candidates or {})


def test_compose_prefix_at_exactly_the_minimum():
    assert compose.compose_prefix(docker(plugin="2.24.0"), []) == ["docker", "compose"]
    assert compose.compose_prefix(docker(binary="2.24.0"), []) == ["docker-compose"]
    assert compose.compose_prefix(docker(plugin="", binary="2.30.0"), []) == ["docker-compose"]
    assert compose.compose_prefix(
        docker(candidates={"docker-compose-plugin": "2.24.0"}), ["docker-compose-plugin"]
    ) == ["docker", "compose"]
    assert compose.compose_prefix(
        docker(candidates={"docker-compose-v2": "2.24.0"}), ["docker-compose-v2"]
    ) == ["docker", "compose"]
    assert compose.compose_confirmed(docker(plugin="2.24.0"))
    assert compose.compose_confirmed(docker(binary="2.24.0"))
    assert not compose.compose_confirmed(docker(plugin="2.23.9", binary=None))
    assert not compose.compose_confirmed(docker())


def test_compose_unavailable_messages():
    hint = compose._compose_hint()
    assert error_of(compose.compose_prefix, docker(plugin="1.29.2"), []) == (
        "ComposeUnavailable",
        "compose 1.29.2 is installed; the deploy needs compose v2 >= 2.24 "
        "(its overlays use `!override`)" + hint,
    )
    assert error_of(
        compose.compose_prefix, docker(candidates={"docker-compose": "1.29.2"}), ["docker-compose"]
    ) == (
        "ComposeUnavailable",
        "the distribution's docker-compose is 1.29.2 (compose v1); the deploy needs "
        "compose v2 >= 2.24" + hint,
    )
    assert error_of(compose.compose_prefix, docker(), ["docker.io"]) == (
        "ComposeUnavailable",
        "docker_packages installs no compose" + hint,
    )


FAKE_COMPOSE = """#!/bin/sh
[ -n "$PLUGIN" ] && [ "$1 $2 $3" = "compose version --short" ] && { echo "$PLUGIN"; exit 0; }
exit 1
"""


@pytest.mark.parametrize(
    "plugin,ok",
    [("2.24.0", True), ("v2.30.1", True), ("3.0.0", True), ("2.23.9", False), ("1.29.2", False), ("", False)],
)
def test_compose_check_script(tmp_path, plugin, ok):
    (tmp_path / "docker").write_text(FAKE_COMPOSE)
    (tmp_path / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin", "PLUGIN": plugin}
    run = subprocess.run(
        ["bash", "-c", compose.compose_check_script()], env=env, capture_output=True, text=True
    )
    assert (run.returncode == 0) is ok, run.stderr
    if not ok:
        found = plugin.lstrip("v") or "none"
        assert run.stderr.startswith(f"compose {found} is installed; the deploy needs compose v2 >= 2.24. ")


def test_docker_packages_adds_the_cli_where_packaged_apart():
    with_cli = SimpleNamespace(candidates={"docker-cli": "26.1"})
    assert compose.docker_packages(["docker.io"], with_cli) == ["docker.io", "docker-cli"]
    assert compose.docker_packages(["docker.io", "docker-cli"], with_cli) == ["docker.io", "docker-cli"]
    assert compose.docker_packages(["docker-ce"], with_cli) == ["docker-ce"]
    assert compose.docker_packages(["docker.io"], SimpleNamespace(candidates={})) == ["docker.io"]


# --------------------------------------------------------------------------- firewall


def test_parse_firewall_host_reads_every_tag():
    info = firewall.parse_firewall_host(
        [
            "ufw\tactive",
            "firewalld\trunning",
            "nft\t1.1.3",
            "manager\tsystemd",
            "ssh_connection\t10.0.0.9 50000 10.0.0.1 2222",
            'listen\tLISTEN 0 128 0.0.0.0:2222 0.0.0.0:* users:(("sshd",pid=1,fd=3))',
            "listen\tLISTEN 0 128",  # too short: skipped, the next line still read
            "listen\tLISTEN 0 511 0.0.0.0:80 0.0.0.0:*",
        ]
    )
    assert (
        info.ufw_installed,
        info.ufw_active,
        info.firewalld_installed,
        info.firewalld_running,
        info.nft_installed,
        info.service_manager,
    ) == (True, True, True, True, True, "systemd")
    assert (info.ssh_client, info.ssh_port) == ("10.0.0.9", 2222)
    assert [(item.address, item.port, item.process) for item in info.listeners] == [
        ("0.0.0.0", 2222, "sshd"),
        ("0.0.0.0", 80, ""),
    ]
    idle = firewall.parse_firewall_host(["ufw\tinactive", "firewalld\tnot running"])
    assert (idle.ufw_installed, idle.ufw_active, idle.firewalld_installed, idle.firewalld_running) == (
        True,
        False,
        True,
        False,
    )
    assert idle.service_manager == "sysvinit" and not idle.nft_installed
    assert firewall.parse_ss_listeners(["a b c"]) == []
    assert firewall.parse_ss_listeners(["LISTEN 0 1 0.0.0.0:5432 x"]) == [
        firewall.Listener("0.0.0.0", 5432, "")
    ]


def test_describe_listeners():
    assert (
        firewall.describe_listeners(
            [firewall.Listener("0.0.0.0", 80, "nginx"), firewall.Listener("[::]", 81, "")]
        )
        == "0.0.0.0:80 (nginx), [::]:81"
    )


def test_family_of_networks_with_host_bits():
    assert firewall.family("10.1.2.3/8") == 4 and firewall.family("2001:db8::1/32") == 6


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_parse_ufw_state_reads_both_files_and_settings():
    comment = b"hatchet-owlclaw-deploy prod postgresql".hex()
    user = f"### tuple ### allow_log tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in comment={comment}\n"
    user6 = "### tuple ### deny tcp 5432 ::/0 any ::/0 in_eth0\n"
    state = firewall.parse_ufw_state(
        ["installed\t1", "status\tactive", 'ipv6\t"YES"', f"user\t{b64(user)}", f"user6\t{b64(user6)}"]
    )
    assert (state.installed, state.active, state.ipv6) == (True, True, True)
    assert [(r.action, r.src, r.direction, r.comment, r.v6) for r in state.rules] == [
        ("allow", "10.0.0.0/8", "in", "hatchet-owlclaw-deploy prod postgresql", False),
        ("deny", "::/0", "in_eth0", "", True),
    ]
    off = firewall.parse_ufw_state(["status\tinactive", "ipv6\tno", f"user\t{b64(user)}"])
    assert (off.installed, off.active, off.ipv6, len(off.rules)) == (False, False, False, 1)
    assert firewall.parse_ufw_state([]).rules == []
    weird = firewall.parse_ufw_tuple(
        "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=zz", False
    )
    assert weird.comment == "zz"
    bad_utf8 = firewall.parse_ufw_tuple(
        "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=ff", False
    )
    assert bad_utf8.comment == "\ufffd"
    multi = firewall.parse_ufw_tuple("### tuple ### limit_log_all tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", False)
    assert multi.action == "limit"


def test_ufw_delete_names_every_field():
    rule = firewall.UfwRule("allow", "tcp", "5432", "0.0.0.0/0", "1024", "10.0.0.0/8", "in_eth0_x")
    assert firewall.ufw_delete(rule) == (
        "ufw delete allow in on eth0_x proto tcp from 10.0.0.0/8 port 1024 to 0.0.0.0/0 port 5432"
    )
    anything = firewall.UfwRule("deny", "any", "any", "::/0", "any", "::/0", "in")
    assert firewall.ufw_delete(anything) == "ufw delete deny from ::/0 to ::/0"


def test_rule_covers_any_port_and_allows_with_host_bits():
    rule = firewall.UfwRule("allow", "tcp", "any", "0.0.0.0/0", "any", "10.1.2.3/8", "in")
    assert rule.covers_port(5432) and rule.allows("10.9.9.9", 5432)


def test_ufw_plan_ssh_first_for_both_families_and_ipv6_refusal():
    state = firewall.UfwState(installed=True, active=False, ipv6=True, rules=[])
    plan = firewall.plan_ufw(state, ["10.0.0.0/8", "2001:db8::/32"], 5432, "10.0.0.9", [22], True, "prod")
    assert plan.needs_ssh is True
    assert plan.commands == [
        "ufw allow proto tcp to any port 22 comment 'hatchet-owlclaw-deploy prod ssh'",
        "ufw allow proto tcp from 10.0.0.0/8 to any port 5432 "
        "comment 'hatchet-owlclaw-deploy prod postgresql'",
        "ufw allow proto tcp from 2001:db8::/32 to any port 5432 "
        "comment 'hatchet-owlclaw-deploy prod postgresql'",
        "ufw deny proto tcp to any port 5432 comment 'hatchet-owlclaw-deploy prod postgresql'",
        "ufw --force enable",
    ]
    on = firewall.UfwState(installed=True, active=True, ipv6=True, rules=[])
    assert firewall.plan_ufw(on, ["10.0.0.0/8"], 5432, "10.0.0.9", [22], True, "prod").needs_ssh is False
    v4_only = firewall.UfwState(installed=True, active=True, ipv6=False, rules=[])
    assert error_of(firewall.plan_ufw, v4_only, ["2001:db8::/32", "fe80::/10"], 5432, None, [22], True) == (
        "FirewallPlanError",
        "IPv6 source(s) 2001:db8::/32, fe80::/10 but ufw has IPv6 off (IPV6=no in /etc/default/ufw)",
    )


def test_ufw_plan_inserts_before_our_deny_in_the_right_family():
    comment = "hatchet-owlclaw-deploy prod postgresql"
    rules = [
        firewall.UfwRule("allow", "tcp", "22", "0.0.0.0/0", "any", "0.0.0.0/0", "in", "", False),
        firewall.UfwRule("deny", "tcp", "5432", "0.0.0.0/0", "any", "0.0.0.0/0", "in", comment, False),
        firewall.UfwRule("deny", "tcp", "5432", "::/0", "any", "::/0", "in", comment, True),
    ]
    state = firewall.UfwState(installed=True, active=True, ipv6=True, rules=rules)
    plan = firewall.plan_ufw(state, ["10.0.0.0/8", "2001:db8::/32"], 5432, None, [22], False, "prod")
    assert plan.commands == [
        f"ufw insert 2 allow proto tcp from 10.0.0.0/8 to any port 5432 comment '{comment}'",
        f"ufw insert 4 allow proto tcp from 2001:db8::/32 to any port 5432 comment '{comment}'",
    ]
    foreign = [
        firewall.UfwRule("deny", "tcp", "5432", "0.0.0.0/0", "any", "0.0.0.0/0", "in", "", False),
        firewall.UfwRule("allow", "tcp", "5432", "0.0.0.0/0", "any", "10.0.0.0/8", "in", comment, False),
    ]
    state = firewall.UfwState(installed=True, active=True, ipv6=False, rules=foreign)
    plan = firewall.plan_ufw(state, ["10.0.0.0/8"], 5432, None, [22], False, "prod")
    assert plan.warnings == [
        "a rule the deploy did not create denies port 5432 before the allowed sources "
        "(ufw: first match wins); the deploy leaves it alone"
    ]


def test_ufw_plan_appends_new_rules_after_their_family():
    comment = "hatchet-owlclaw-deploy prod postgresql"
    v6_rule = firewall.UfwRule("allow", "tcp", "80", "::/0", "any", "::/0", "in", "", True)
    state = firewall.UfwState(installed=True, active=False, ipv6=True, rules=[v6_rule])
    plan = firewall.plan_ufw(state, ["10.0.0.0/8"], 5432, "10.0.0.9", [22], False, "prod")
    assert plan.commands[0] == "ufw allow proto tcp to any port 22 comment 'hatchet-owlclaw-deploy prod ssh'"
    assert plan.commands[1:] == [
        f"ufw allow proto tcp from 10.0.0.0/8 to any port 5432 comment '{comment}'",
        f"ufw deny proto tcp to any port 5432 comment '{comment}'",
    ]


def test_nft_file_header_and_chain_exactly():
    assert firewall.render_nft_file(["10.1.2.3/8"], 5432) == (
        "# Managed by hatchet-owlclaw-deploy: PostgreSQL (tcp 5432) reachable only from the configured\n"
        "# sources and loopback. Rewritten by every deploy run; other tables are not touched.\n"
        "table inet hatchet_owlclaw_deploy\ndelete table inet hatchet_owlclaw_deploy\n"
        "table inet hatchet_owlclaw_deploy {\n"
        '\tcomment "managed by hatchet-owlclaw-deploy: tcp port 5432 only from the configured sources"\n'
        "\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n"
        '\t\tiif "lo" accept\n\t\ttcp dport 5432 ip saddr 10.0.0.0/8 accept\n'
        "\t\ttcp dport 5432 drop\n\t}\n}\n"
    )


def test_parse_firewalld_state_reads_every_tag():
    state = firewall.parse_firewalld_state(
        [
            "installed\t1",
            "state\trunning",
            "zone\tinternal",
            "ipset\thod4\t10.0.0.0/8 10.1.0.0/16",
            "rich\t rule family=ipv4 drop ",
            "services\tssh dhcpv6-client",
            "ports\t22/tcp 80/tcp",
            "zone\t",
        ]
    )
    assert (state.installed, state.running, state.zone) == (True, True, "internal")
    assert state.ipsets == {"hod4": ["10.0.0.0/8", "10.1.0.0/16"]}
    assert state.rich_rules == ["rule family=ipv4 drop"]
    assert (state.services, state.ports) == (["ssh", "dhcpv6-client"], ["22/tcp", "80/tcp"])
    stopped = firewall.parse_firewalld_state(["state\tnot running"])
    assert (stopped.installed, stopped.running, stopped.zone) == (False, False, "public")


# --------------------------------------------------------------------------- config validators
# Each validator's answer, value or exact message (what an operator reads next to the key).

PG_SETTING_VALUE_REFUSED = (
    "ValueError",
    "expected a bool, number, one-line string or list of one-line strings; no control characters (newline, CR, NUL, ...)",  # noqa: E501
)

ENV_VALUE_REFUSED = ("ValueError", "expected a one-line string (no control characters) or a finite number")

RELATIVE_PATH_REFUSED = (
    "ValueError",
    "expected a normalised path relative to the repository (no leading / or -, no .., letters, digits, _ . @ + - /)",  # noqa: E501
)

VALIDATOR_CASES = [
    ("c.is_bool", True, ("ok", True)),
    ("c.is_bool", False, ("ok", False)),
    ("c.is_bool", 1, ("ValueError", "expected True or False")),
    ("c.is_bool", "yes", ("ValueError", "expected True or False")),
    ("c.is_bool", None, ("ValueError", "expected True or False")),
    ("c.is_str", "x", ("ok", "x")),
    ("c.is_str", "", ("ValueError", "expected a non-empty string")),
    ("c.is_str", 0, ("ValueError", "expected a non-empty string")),
    ("c.is_str", None, ("ValueError", "expected a non-empty string")),
    ("c.is_optional(c.is_port)", None, ("ok", None)),
    ("c.is_optional(c.is_port)", 1, ("ok", 1)),
    ("c.is_optional(c.is_port)", 65535, ("ok", 65535)),
    ("c.is_optional(c.is_port)", 0, ("ValueError", "expected a whole number from 1 to 65535")),
    ("c.is_optional(c.is_port)", 65536, ("ValueError", "expected a whole number from 1 to 65535")),
    ("c.is_optional(c.is_port)", "22", ("ValueError", "expected a whole number from 1 to 65535")),
    ("c.is_optional(c.is_port)", True, ("ValueError", "expected a whole number from 1 to 65535")),
    ("c.is_int(3, 9)", 3, ("ok", 3)),
    ("c.is_int(3, 9)", 9, ("ok", 9)),
    ("c.is_int(3, 9)", 2, ("ValueError", "expected a whole number from 3 to 9")),
    ("c.is_int(3, 9)", 10, ("ValueError", "expected a whole number from 3 to 9")),
    ("c.is_int(3, 9)", 5.0, ("ValueError", "expected a whole number from 3 to 9")),
    ("c.is_int(3, 9)", False, ("ValueError", "expected a whole number from 3 to 9")),
    ('c.is_choice("a", "b")', "a", ("ok", "a")),
    ('c.is_choice("a", "b")', "b", ("ok", "b")),
    ('c.is_choice("a", "b")', "c", ("ValueError", "expected one of 'a', 'b'")),
    ('c.is_choice("a", "b")', None, ("ValueError", "expected one of 'a', 'b'")),
    ("c.is_name", "a_1", ("ok", "a_1")),
    ("c.is_name", "A", ("ValueError", "expected a lowercase name: letters, digits, underscore (max 63)")),
    ("c.is_name", "1a", ("ValueError", "expected a lowercase name: letters, digits, underscore (max 63)")),
    (
        "c.is_name",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ("ok", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ),
    (
        "c.is_name",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ("ValueError", "expected a lowercase name: letters, digits, underscore (max 63)"),
    ),
    ("c.is_name", 5, ("ValueError", "expected a lowercase name: letters, digits, underscore (max 63)")),
    ("c.is_abs_path", "/data/", ("ok", "/data")),
    ("c.is_abs_path", "/", ("ok", "/")),
    ("c.is_abs_path", "//", ("ok", "/")),
    ("c.is_abs_path", "rel", ("ValueError", "expected an absolute path (letters, digits, _ . @ + - /)")),
    (
        "c.is_abs_path",
        "/a\nb",
        ("ValueError", "expected an absolute path (letters, digits, _ . @ + - /); no control characters"),
    ),
    ("c.is_abs_path", 3, ("ValueError", "expected an absolute path (letters, digits, _ . @ + - /)")),
    (
        "c.is_abs_path",
        "/a/../b",
        (
            "ValueError",
            "expected an absolute path (letters, digits, _ . @ + - /), normalised: no '..', '.' or '//' (got '/a/../b')",  # noqa: E501
        ),
    ),
    ("c.is_cidr", "10.0.0.0/8", ("ok", "10.0.0.0/8")),
    (
        "c.is_cidr",
        "10.0.0.1/8",
        (
            "ValueError",
            "expected a network in CIDR form such as '10.0.0.0/24' (10.0.0.1/8 has host bits set)",
        ),
    ),
    ("c.is_cidr", "fe80::/10", ("ok", "fe80::/10")),
    ("c.is_cidr", 5, ("ValueError", "expected a CIDR string such as '10.0.0.0/24'")),
    (
        "c.is_cidr",
        "x",
        (
            "ValueError",
            "expected a network in CIDR form such as '10.0.0.0/24' ('x' does not appear to be an IPv4 or IPv6 network)",  # noqa: E501
        ),
    ),
    ("c.is_list(c.is_port)", [1, 2], ("ok", [1, 2])),
    ("c.is_list(c.is_port)", (3,), ("ok", [3])),
    ("c.is_list(c.is_port)", [1, 0], ("ValueError", "item 1 (0): expected a whole number from 1 to 65535")),
    ("c.is_list(c.is_port)", "1", ("ValueError", "expected a list")),
    ("c.is_list(c.is_port)", None, ("ValueError", "expected a list")),
    ("c.is_listen_address", "*", ("ok", "*")),
    ("c.is_listen_address", "localhost", ("ok", "localhost")),
    ("c.is_listen_address", "10.0.0.1", ("ok", "10.0.0.1")),
    ("c.is_listen_address", "::1", ("ok", "::1")),
    ("c.is_listen_address", "db-1.example_x", ("ok", "db-1.example_x")),
    ("c.is_listen_address", "a b", ("ValueError", "expected '*', 'localhost', an IP address or a host name")),
    ("c.is_listen_address", "a,b", ("ValueError", "expected '*', 'localhost', an IP address or a host name")),
    ("c.is_listen_address", "a'b", ("ValueError", "expected '*', 'localhost', an IP address or a host name")),
    ("c.is_listen_address", "", ("ValueError", "expected '*', 'localhost', an IP address or a host name")),
    ("c.is_listen_address", "é", ("ValueError", "expected '*', 'localhost', an IP address or a host name")),
    ("c.is_listen_address", 5, ("ValueError", "expected '*', 'localhost', an IP address or a host name")),
    ("c.is_listen_address", "a\n", ("ValueError", "expected '*', 'localhost', an IP address or a host name")),
    ("c.is_listen_address", "x/y", ("ValueError", "expected '*', 'localhost', an IP address or a host name")),
    ("c.is_listen_address", "LOCALHOST", ("ok", "LOCALHOST")),
    ("c.is_mapping(c.is_name, c.is_port)", {"a": 1}, ("ok", {"a": 1})),
    (
        "c.is_mapping(c.is_name, c.is_port)",
        {"A": 1},
        ("ValueError", "entry 'A': expected a lowercase name: letters, digits, underscore (max 63)"),
    ),
    (
        "c.is_mapping(c.is_name, c.is_port)",
        {"a": 0},
        ("ValueError", "entry 'a': expected a whole number from 1 to 65535"),
    ),
    ("c.is_mapping(c.is_name, c.is_port)", [("a", 1)], ("ValueError", "expected a mapping (dict)")),
    ("c.is_pg_setting_name", "work_mem", ("ok", "work_mem")),
    ("c.is_pg_setting_name", "a.b", ("ok", "a.b")),
    (
        "c.is_pg_setting_name",
        "listen_addresses",
        ("ValueError", "listen_addresses is not set here (use its own key)"),
    ),
    ("c.is_pg_setting_name", "include", ("ValueError", "include is not set here (use its own key)")),
    ("c.is_pg_setting_name", "include_dir", ("ValueError", "include_dir is not set here (use its own key)")),
    (
        "c.is_pg_setting_name",
        "include_if_exists",
        ("ValueError", "include_if_exists is not set here (use its own key)"),
    ),
    (
        "c.is_pg_setting_name",
        "Work_mem",
        ("ValueError", "expected a PostgreSQL setting name (name or prefix.name: a-z, 0-9, _)"),
    ),
    (
        "c.is_pg_setting_name",
        3,
        ("ValueError", "expected a PostgreSQL setting name (name or prefix.name: a-z, 0-9, _)"),
    ),
    ("c.is_pg_setting_value", True, ("ok", True)),
    ("c.is_pg_setting_value", 3, ("ok", 3)),
    ("c.is_pg_setting_value", 1.5, ("ok", 1.5)),
    ("c.is_pg_setting_value", "x", ("ok", "x")),
    ("c.is_pg_setting_value", "a\nb", PG_SETTING_VALUE_REFUSED),
    ("c.is_pg_setting_value", "a\x00b", PG_SETTING_VALUE_REFUSED),
    ("c.is_pg_setting_value", ["a", "b"], ("ok", ["a", "b"])),
    ("c.is_pg_setting_value", ("a",), ("ok", ["a"])),
    ("c.is_pg_setting_value", ["a", 1], PG_SETTING_VALUE_REFUSED),
    ("c.is_pg_setting_value", None, PG_SETTING_VALUE_REFUSED),
    ("c.is_pg_setting_value", ["a", ""], PG_SETTING_VALUE_REFUSED),
    ("c.is_pg_setting_value", ["a\rb"], PG_SETTING_VALUE_REFUSED),
    (
        "c.is_pg_setting_value",
        float("nan"),
        (
            "ValueError",
            "expected a bool, number, one-line string or list of one-line strings (not NaN or infinity)",
        ),
    ),
    (
        "c.is_pg_setting_value",
        float("-inf"),
        (
            "ValueError",
            "expected a bool, number, one-line string or list of one-line strings (not NaN or infinity)",
        ),
    ),
    ("c.is_cron_schedule", "15 3 * * *", ("ok", "15 3 * * *")),
    ("c.is_cron_schedule", " 15  3 * * * ", ("ok", "15 3 * * *")),
    ("c.is_cron_schedule", "*/5 * * * *", ("ok", "*/5 * * * *")),
    ("c.is_cron_schedule", "0 0 1 jan sun", ("ok", "0 0 1 jan sun")),
    ("c.is_cron_schedule", "0 0 1 JAN-mar mon-fri", ("ok", "0 0 1 JAN-mar mon-fri")),
    ("c.is_cron_schedule", "0-59/15 0,12 1-31 1-12 0-7", ("ok", "0-59/15 0,12 1-31 1-12 0-7")),
    ("c.is_cron_schedule", "60 * * * *", ("ValueError", "minute '60': expected numbers from 0 to 59")),
    ("c.is_cron_schedule", "* 24 * * *", ("ValueError", "hour '24': expected numbers from 0 to 23")),
    ("c.is_cron_schedule", "* * 0 * *", ("ValueError", "day of month '0': expected numbers from 1 to 31")),
    ("c.is_cron_schedule", "* * 32 * *", ("ValueError", "day of month '32': expected numbers from 1 to 31")),
    ("c.is_cron_schedule", "* * * 13 *", ("ValueError", "month '13': expected numbers from 1 to 12")),
    ("c.is_cron_schedule", "* * * 0 *", ("ValueError", "month '0': expected numbers from 1 to 12")),
    ("c.is_cron_schedule", "* * * * 8", ("ValueError", "day of week '8': expected numbers from 0 to 7")),
    (
        "c.is_cron_schedule",
        "*/0 * * * *",
        (
            "ValueError",
            "minute '*/0': bad step '0': expected 1 to 59; expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)",  # noqa: E501
        ),
    ),
    (
        "c.is_cron_schedule",
        "*/x * * * *",
        (
            "ValueError",
            "minute '*/x': bad step 'x': expected 1 to 59; expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)",  # noqa: E501
        ),
    ),
    (
        "c.is_cron_schedule",
        "1/2 * * * *",
        (
            "ValueError",
            "minute '1/2': bad step: it needs '*' or a range; expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)",  # noqa: E501
        ),
    ),
    ("c.is_cron_schedule", "1-3/2 * * * *", ("ok", "1-3/2 * * * *")),
    (
        "c.is_cron_schedule",
        "1-3/3 * * * *",
        (
            "ValueError",
            "minute '1-3/3': bad step '3': expected 1 to 2; expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)",  # noqa: E501
        ),
    ),
    ("c.is_cron_schedule", "jan * * * *", ("ValueError", "minute 'jan': expected numbers from 0 to 59")),
    (
        "c.is_cron_schedule",
        "* * * jan/2 *",
        (
            "ValueError",
            "month 'jan/2': bad step: it needs '*' or a range; expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)",  # noqa: E501
        ),
    ),
    ("c.is_cron_schedule", "* * * jan-mar/2 *", ("ok", "* * * jan-mar/2 *")),
    (
        "c.is_cron_schedule",
        "* * * jan-dec/x *",
        (
            "ValueError",
            "month 'jan-dec/x': bad step 'x': expected 1 to 11; expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)",  # noqa: E501
        ),
    ),
    (
        "c.is_cron_schedule",
        "* * * * *\n",
        (
            "ValueError",
            "expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)",
        ),
    ),
    (
        "c.is_cron_schedule",
        "* * * *",
        (
            "ValueError",
            "expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday); got 4 field(s)",  # noqa: E501
        ),
    ),
    (
        "c.is_cron_schedule",
        5,
        (
            "ValueError",
            "expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)",
        ),
    ),
    ("c.is_cron_schedule", "1-2-3 * * * *", ("ValueError", "minute '1-2-3': expected numbers from 0 to 59")),
    ("c.is_cron_schedule", "* * * * sun-7", ("ok", "* * * * sun-7")),
    ("c.is_cron_schedule", "a-b * * * *", ("ValueError", "minute 'a-b': expected numbers from 0 to 59")),
    (
        "c.is_hba_rules",
        [{"type": "host", "database": "d", "user": "u", "address": "10.0.0.0/8", "method": "md5"}],
        ("ok", ["host    d               u               10.0.0.0/8              md5"]),
    ),
    ("c.is_hba_rules", "x", ("ValueError", "expected a list of rule records (dicts)")),
    ("c.is_hba_rules", ["x"], ("ValueError", "rule 0: expected a dict with type, database, user, ...")),
    (
        "c.is_hba_rules",
        [{"type": "x"}],
        ("ValueError", "rule 0 (type 'x', method a NoneType): missing key(s) database, user, method"),
    ),
    ("c.is_ip_address", "127.0.0.1", ("ok", "127.0.0.1")),
    ("c.is_ip_address", "::1", ("ok", "::1")),
    ("c.is_ip_address", "x", ("ValueError", "expected an IP address such as '127.0.0.1'")),
    ("c.is_ip_address", "", ("ValueError", "expected an IP address such as '127.0.0.1'")),
    ("c.is_relative_path", "a/b.sql", ("ok", "a/b.sql")),
    (
        "c.is_relative_path",
        "/a",
        RELATIVE_PATH_REFUSED,
    ),
    (
        "c.is_relative_path",
        "a/../b",
        RELATIVE_PATH_REFUSED,
    ),
    (
        "c.is_relative_path",
        "..",
        RELATIVE_PATH_REFUSED,
    ),
    (
        "c.is_relative_path",
        "",
        RELATIVE_PATH_REFUSED,
    ),
    (
        "c.is_relative_path",
        5,
        RELATIVE_PATH_REFUSED,
    ),
    ("c.is_relative_path", "a/..b", ("ok", "a/..b")),
    ("c.is_relative_path", "-a", RELATIVE_PATH_REFUSED),
    ("c.is_relative_path", "a//b", RELATIVE_PATH_REFUSED),
    ("c.is_relative_path", "a b", RELATIVE_PATH_REFUSED),
    ("c.is_env_var_name", "A_1", ("ok", "A_1")),
    ("c.is_env_var_name", "a", ("ValueError", "expected an environment variable name (A-Z, 0-9, _)")),
    ("c.is_env_var_name", "1A", ("ValueError", "expected an environment variable name (A-Z, 0-9, _)")),
    ("c.is_env_var_name", 5, ("ValueError", "expected an environment variable name (A-Z, 0-9, _)")),
    ("c.is_env_var_name", "", ("ValueError", "expected an environment variable name (A-Z, 0-9, _)")),
    ("c.is_env_value", "x", ("ok", "x")),
    ("c.is_env_value", 3, ("ok", "3")),
    ("c.is_env_value", 1.5, ("ok", "1.5")),
    ("c.is_env_value", True, ENV_VALUE_REFUSED),
    ("c.is_env_value", "a\nb", ENV_VALUE_REFUSED),
    ("c.is_env_value", None, ENV_VALUE_REFUSED),
    ("c.is_env_value", ["x"], ENV_VALUE_REFUSED),
    ("c.is_env_value", float("inf"), ENV_VALUE_REFUSED),
    ("c.is_env_value", "a\x7fb", ENV_VALUE_REFUSED),
    (
        "c.is_compose_services",
        {"app": {"ports": ["1:2"], "disabled": False, "host_gateway": True}},
        (
            "ok",
            {
                "app": {
                    "ports": ["1:2"],
                    "disabled": False,
                    "host_gateway": True,
                    "database_env": {},
                    "environment": {},
                }
            },
        ),
    ),
    (
        "c.is_compose_services",
        {"Bad!": {}},
        ("ValueError", "service 'Bad!': expected a compose service name"),
    ),
    (
        "c.is_compose_services",
        {"app": 5},
        (
            "ValueError",
            "service 'app': expected a dict with ports, disabled, host_gateway, database_env, environment",
        ),
    ),
    (
        "c.is_compose_services",
        {"app": {"ports": "1:2"}},
        ("ValueError", "service 'app': ports: expected a list of 'HOST:CONTAINER' strings"),
    ),
    (
        "c.is_compose_services",
        {"app": {"ports": ["1"]}},
        ("ValueError", "service 'app': ports: '1': expected 'HOST:CONTAINER' such as '3003:3001'"),
    ),
    (
        "c.is_compose_services",
        {"app": {"x": 1}},
        (
            "ValueError",
            "service 'app': unknown field(s) x; expected ports, disabled, host_gateway, database_env, environment",  # noqa: E501
        ),
    ),
    (
        "c.is_compose_services",
        {"app": {"disabled": "yes"}},
        ("ValueError", "service 'app': expected True or False"),
    ),
    (
        "c.is_compose_services",
        [],
        ("ValueError", "expected a mapping of compose service name -> {'ports': [...], ...}"),
    ),
    (
        "c.is_compose_services",
        {"app": {"ports": [12]}},
        ("ValueError", "service 'app': ports: 12: expected 'HOST:CONTAINER' such as '3003:3001'"),
    ),
    (
        "c.is_compose_services",
        {"app": {"ports": None}},
        (
            "ok",
            {
                "app": {
                    "ports": None,
                    "disabled": False,
                    "host_gateway": True,
                    "database_env": {},
                    "environment": {},
                }
            },
        ),
    ),
    (
        "c.is_databases",
        {"d1": {"owner": "o1"}},
        (
            "ok",
            {
                "d1": {
                    "owner": "o1",
                    "extensions": [],
                    "settings": {},
                    "password_env": "O1_DB_PASSWORD",
                    "seed_sql": None,
                }
            },
        ),
    ),
    ("c.is_databases", {}, ("ValueError", "expected a mapping of database name -> {'owner': role, ...}")),
    ("c.is_databases", [], ("ValueError", "expected a mapping of database name -> {'owner': role, ...}")),
    (
        "c.is_databases",
        {"D": {"owner": "o"}},
        ("ValueError", "database 'D': expected a lowercase name: letters, digits, underscore (max 63)"),
    ),
    ("c.is_databases", {"d": 5}, ("ValueError", "database 'd': expected a dict with at least 'owner'")),
    (
        "c.is_databases",
        {"d": {"x": 1, "owner": "o"}},
        (
            "ValueError",
            "database 'd': unknown field(s) x; expected owner, extensions, settings, password_env, seed_sql",
        ),
    ),
    (
        "c.is_databases",
        {"d": {"owner": "o", "seed_sql": "/abs.sql"}},
        ("ValueError", "database 'd': seed_sql: expected a path inside the repository"),
    ),
    (
        "c.is_databases",
        {"d": {"owner": "o", "seed_sql": "a/../b.sql"}},
        ("ValueError", "database 'd': seed_sql: expected a path inside the repository"),
    ),
    (
        "c.is_databases",
        {"d": {"owner": "o", "seed_sql": 5}},
        ("ValueError", "database 'd': seed_sql: expected a path inside the repository"),
    ),
    (
        "c.is_databases",
        {"d": {"owner": "o", "seed_sql": "nope/missing.sql"}},
        ("ValueError", "database 'd': seed_sql: no such file 'nope/missing.sql'"),
    ),
    (
        "c.is_databases",
        {
            "d": {
                "owner": "o",
                "extensions": ["vector"],
                "settings": {"timezone": "UTC"},
                "password_env": "D_PW",
            }
        },
        (
            "ok",
            {
                "d": {
                    "owner": "o",
                    "extensions": ["vector"],
                    "settings": {"timezone": "UTC"},
                    "password_env": "D_PW",
                    "seed_sql": None,
                }
            },
        ),
    ),
    (
        "c.is_databases",
        {"d": {"owner": "o", "password_env": "bad"}},
        ("ValueError", "database 'd': password_env: expected an environment variable name"),
    ),
    (
        "c.is_databases",
        {"d": {"owner": "o", "extensions": ["Bad"]}},
        (
            "ValueError",
            "database 'd': item 0 ('Bad'): expected a lowercase name: letters, digits, underscore (max 63)",
        ),
    ),
    (
        "c.is_databases",
        {"d": {"owner": "o", "settings": {"include": "x"}}},
        ("ValueError", "database 'd': entry 'include': include is not set here (use its own key)"),
    ),
    (
        "c.is_databases",
        {"d": {"owner": "o", "seed_sql": "deploy.py"}},
        (
            "ok",
            {
                "d": {
                    "owner": "o",
                    "extensions": [],
                    "settings": {},
                    "password_env": "O_DB_PASSWORD",
                    "seed_sql": "deploy.py",
                }
            },
        ),
    ),  # noqa: E501
]


@pytest.mark.parametrize("validator,value,expected", VALIDATOR_CASES)
def test_validator_answers(validator, value, expected, monkeypatch):
    monkeypatch.chdir(REPO)  # seed_sql paths are the repository's
    check = eval(validator, {"c": config})  # noqa: S307 - expressions written in this file
    try:
        result = check(value)
    except Exception as error:  # noqa: BLE001 - the type and message are the answer
        assert (type(error).__name__, str(error)) == expected
        return
    if validator == "c.is_hba_rules":
        result = [rule.render() for rule in result]
    assert ("ok", result) == expected
    assert type(result) is type(expected[1])


# --------------------------------------------------------------------------- pg_hba
# What each input parses to, or the exact error an operator reads.

HBA_CASES = [
    ("h.parse_line", "host all all", ("ValueError", "end-of-line before IP address specification")),
    (
        "h.parse_line",
        "host all all 10.0.0.0/8",
        ("ValueError", "end-of-line before authentication method specification"),
    ),
    (
        "h.parse_line",
        "hostx all all 1.2.3.4/32 md5",
        (
            "ValueError",
            "invalid connection type 'hostx' (expected one of local, host, hostssl, hostnossl, hostgssenc, hostnogssenc)",  # noqa: E501
        ),
    ),
    (
        "h.parse_line",
        '"host" all all 1.2.3.4/32 md5',
        ("ok", ("rule", "host", ["all"], ["all"], "1.2.3.4/32", "1.2.3.4/32", "md5", [], None)),
    ),
    ("h.parse_line", "host all all 10.0.0.1 md5", ("ValueError", "invalid IP mask 'md5'")),
    (
        "h.parse_line",
        "host all all 10.0.0.1 255.0.0.0",
        ("ValueError", "end-of-line before authentication method specification"),
    ),
    ("h.parse_line", "host all all 10.0.0.1 x md5", ("ValueError", "invalid IP mask 'x'")),
    (
        "h.parse_line",
        "host all all 10.0.0.1 ffff:: md5",
        ("ValueError", "IP address and mask do not match: 10.0.0.1 ffff::"),
    ),
    (
        "h.parse_line",
        "host all all a.b/8 md5",
        ("ValueError", "specifying both host name and CIDR mask is invalid: 'a.b/8'"),
    ),
    (
        "h.parse_line",
        "host all all 10.0.0.0/33 md5",
        ("ValueError", "invalid CIDR mask in address '10.0.0.0/33'"),
    ),
    (
        "h.parse_line",
        'host all all "all" md5',
        ("ok", ("rule", "host", ["all"], ["all"], '"all"', None, "md5", [], None)),
    ),
    (
        "h.parse_line",
        'host all all "samenet" md5',
        ("ok", ("rule", "host", ["all"], ["all"], '"samenet"', None, "md5", [], None)),
    ),
    (
        "h.parse_line",
        "host all all samehost md5",
        ("ok", ("rule", "host", ["all"], ["all"], "samehost", None, "md5", [], None)),
    ),
    (
        "h.parse_line",
        "host all all 1.2.3.4/32 md5 bad",
        ("ValueError", "authentication option not in name=value format: 'bad'"),
    ),
    ("h.parse_line", "include", ("ValueError", "include takes exactly one file or directory argument")),
    ("h.parse_line", "include a b", ("ValueError", "include takes exactly one file or directory argument")),
    (
        "h.parse_line",
        'include_dir "conf d"',
        ("ok", ("include", "include_dir", [], [], None, None, "", [], "conf d")),
    ),
    (
        "h.parse_line",
        'host all,"x" u1,+g 1.2.3.4/32 "md5"',
        ("ok", ("rule", "host", ["all", '"x"'], ["u1", "+g"], "1.2.3.4/32", "1.2.3.4/32", "md5", [], None)),
    ),
    (
        "h.parse_line",
        "host all all 10.0.0.0/8,10.1.0.0/16 md5",
        ("ValueError", "multiple values specified for host address"),
    ),
    (
        "h.parse_line",
        'host all all 1.2.3.4/32 ldap ldapserver=x "ldapprefix=a b"',
        (
            "ok",
            (
                "rule",
                "host",
                ["all"],
                ["all"],
                "1.2.3.4/32",
                "1.2.3.4/32",
                "ldap",
                ["ldapserver=x", "ldapprefix=a b"],
                None,
            ),
        ),
    ),
    (
        "h.parse_line",
        "local all all md5,trust",
        ("ValueError", "multiple values specified for authentication method"),
    ),
    (
        "h.parse_line",
        'host "a""b" all DB.Example.Org md5',
        ("ok", ("rule", "host", ['"a""b"'], ["all"], "DB.Example.Org", None, "md5", [], None)),
    ),
    (
        "h.parse_line",
        "host all all 10.0.0.1 255.255.255.255 md5",
        ("ok", ("rule", "host", ["all"], ["all"], "10.0.0.1/32", "10.0.0.1/32", "md5", [], None)),
    ),
    (
        "h.parse_line",
        "host all all 2001:db8::1 ffff:ffff:: md5",
        ("ok", ("rule", "host", ["all"], ["all"], "2001:db8::/32", "2001:db8::/32", "md5", [], None)),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u", "address": "10.0.0.0/8", "method": "md5", "x": 1},
        ("ValueError", "unknown key(s) x (allowed: type, database, user, address, method, options, comment)"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "method": "md5"},
        ("ValueError", "missing key(s) user"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": ["a", "b"], "user": ("u", "+g"), "address": "", "method": "md5"},
        (
            "ValueError",
            "host rules need an address: a CIDR network like 10.0.0.0/24, 'samehost', 'samenet', 'all' or a host name",  # noqa: E501
        ),
    ),
    (
        "h.HbaRule.from_record",
        {
            "type": "local",
            "database": "d",
            "user": "u",
            "address": "",
            "method": "peer",
            "options": ["map=x", "y=z"],
        },
        ("ok", "local   d               u                                       peer map=x y=z"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u", "address": "10.0.0.1/8", "method": "md5"},
        (
            "ValueError",
            "address '10.0.0.1/8' has host bits set: use the network 10.0.0.0/8 (or 10.0.0.1/32 for that single host)",  # noqa: E501
        ),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u", "address": "10.0.0.1", "method": "md5"},
        ("ok", "host    d               u               10.0.0.1/32             md5"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u", "address": "x/y", "method": "md5"},
        ("ValueError", "address 'x/y' is not a CIDR network, 'all', 'samehost', 'samenet' or a host name"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u", "address": "1.2.3.999/8", "method": "md5"},
        ("ValueError", "address '1.2.3.999/8' is not a valid IP address or CIDR network"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u", "address": "10.0.0.0/8", "method": "md6"},
        (
            "ValueError",
            "unknown method 'md6' (expected one of bsd, cert, gss, ident, ldap, md5, pam, password, peer, radius, reject, scram-sha-256, sspi, trust)",  # noqa: E501
        ),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "hostx", "database": "d", "user": "u", "address": "10.0.0.0/8", "method": "md5"},
        (
            "ValueError",
            "invalid type 'hostx' (expected one of local, host, hostssl, hostnossl, hostgssenc, hostnogssenc)",  # noqa: E501
        ),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u", "method": "md5"},
        (
            "ValueError",
            "host rules need an address: a CIDR network like 10.0.0.0/24, 'samehost', 'samenet', 'all' or a host name",  # noqa: E501
        ),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "local", "database": "d", "user": "u", "address": "10.0.0.0/8", "method": "md5"},
        ("ValueError", "local rules take no address (got '10.0.0.0/8')"),
    ),
    (
        "h.HbaRule.from_record",
        {
            "type": "host",
            "database": "d",
            "user": "u",
            "address": "10.0.0.0/8",
            "method": "md5",
            "options": "a#b",
        },
        ("ValueError", "options cannot contain '#' or line breaks"),
    ),
    (
        "h.HbaRule.from_record",
        {
            "type": "host",
            "database": "d",
            "user": "u",
            "address": "10.0.0.0/8",
            "method": "md5",
            "options": "ab",
        },
        ("ValueError", "option 1 is not in name=value form"),
    ),
    (
        "h.HbaRule.from_record",
        {
            "type": "host",
            "database": "d",
            "user": "u",
            "address": "10.0.0.0/8",
            "method": "ldap",
            "options": "ldapserver=h ldapbindpasswd secret",
        },
        ("ValueError", "option 2 is not in name=value form"),
    ),
    (
        "h.HbaRule.from_record",
        {
            "type": "host",
            "database": "d",
            "user": "u",
            "address": "10.0.0.0/8",
            "method": "md5",
            "comment": "a\nb",
        },
        ("ValueError", "comment must be one line: 'a\\nb'"),
    ),
    (
        "h.HbaRule.from_record",
        {
            "type": "host",
            "database": "d",
            "user": "u",
            "address": "10.0.0.0/8",
            "method": "ldap",
            "options": "x=a\\",
        },
        ("ValueError", "a rule cannot end with '\\' (PostgreSQL would join the next line)"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d,,e", "user": "u", "address": "10.0.0.0/8", "method": "md5"},
        ("ValueError", "database: empty name in 'd,,e'"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": ["a,b"], "user": "u", "address": "10.0.0.0/8", "method": "md5"},
        ("ValueError", "database: a name cannot contain a comma: 'a,b'"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": [1], "user": "u", "address": "10.0.0.0/8", "method": "md5"},
        ("ValueError", "database: expected strings, got 1"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u\nx", "address": "10.0.0.0/8", "method": "md5"},
        ("ValueError", "user: control character in 'u\\nx'"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "/re", "user": "u", "address": "10.0.0.0/8", "method": "md5"},
        ("ValueError", "database: regular expressions are not supported here: '/re'"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "+", "address": "10.0.0.0/8", "method": "md5"},
        ("ValueError", "user: '+' needs a name after '+'"),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "@f", "address": "10.0.0.0/8", "method": "md5"},
        ("ok", "host    d               @f              10.0.0.0/8              md5"),
    ),
    (
        "h.HbaRule.from_record",
        {
            "type": "host",
            "database": "all",
            "user": 'we"ird,sameuser',
            "address": "DB.example.org",
            "method": "md5",
        },
        ("ok", 'host    all             "we""ird",sameuser DB.example.org          md5'),
    ),
    (
        "h.HbaRule.from_record",
        {"type": "host", "database": "d", "user": "u", "address": 5, "method": "md5"},
        ("ValueError", "address must be a string, got 5"),
    ),
    (
        "h.HbaRule.from_record",
        {
            "type": "host",
            "database": "d",
            "user": "u",
            "address": "2001:db8::/32",
            "method": "md5",
            "comment": " c ",
        },
        ("ok", "host    d               u               2001:db8::/32           md5 # c"),
    ),
    (
        "h.parse_text",
        "host all all 1.2.3.4/32 md5\nhost all\n",
        ("ValueError", "pg_hba.conf line 2: end-of-line before role specification: 'host all'"),
    ),
    (
        "h.parse_text",
        "a\\\nb\nhost all all \\\n 1.2.3.4/32 md5\n",
        (
            "ValueError",
            "pg_hba.conf line 1: invalid connection type 'ab' (expected one of local, host, hostssl, hostnossl, hostgssenc, hostnogssenc): 'ab'",  # noqa: E501
        ),
    ),
    (
        "h.parse_text",
        "host all all 1.2.3.4/32 md5 \\\\\n",
        (
            "ValueError",
            "pg_hba.conf line 1: authentication option not in name=value format: '\\\\': 'host all all 1.2.3.4/32 md5 \\\\'",  # noqa: E501
        ),
    ),
    (
        "h.find_blocks",
        ["# BEGIN managed by hatchet-owlclaw deploy (prod) (do not edit inside this block)\n"],
        ("ValueError", "managed block markers: (prod) BEGIN marker on line 1 has no END"),
    ),
    (
        "h.find_blocks",
        ["# END managed by hatchet-owlclaw deploy (prod)\n"],
        ("ValueError", "managed block markers: (prod) END marker on line 1 without a BEGIN before it"),
    ),
    (
        "h.find_blocks",
        [
            "# BEGIN managed by hatchet-owlclaw deploy (do not edit inside this block)\n",
            "# BEGIN managed by hatchet-owlclaw deploy (prod) (do not edit inside this block)\n",
        ],
        (
            "ValueError",
            "managed block markers: second BEGIN marker on line 2 (the (untagged) block opened on line 1 has no END yet); keep exactly one block per environment",  # noqa: E501
        ),
    ),
    (
        "h.find_blocks",
        [
            "# BEGIN managed by hatchet-owlclaw deploy (prod) (do not edit inside this block)\n",
            "# END managed by hatchet-owlclaw deploy (prod)\n",
            "x\n",
            "# BEGIN managed by hatchet-owlclaw deploy (prod) (do not edit inside this block)\n",
            "# END managed by hatchet-owlclaw deploy (prod)\n",
        ],
        (
            "ValueError",
            "managed block markers: second BEGIN marker on line 4 (the (prod) block's first on line 1); keep exactly one block per environment",  # noqa: E501
        ),
    ),
    (
        "h.find_blocks",
        [
            "# BEGIN managed by hatchet-owlclaw deploy (prod) (do not edit inside this block)\n",
            "# END managed by hatchet-owlclaw deploy (staging)\n",
        ],
        ("ValueError", "managed block markers: (staging) END marker on line 2 without a BEGIN before it"),
    ),
    (
        "h.find_blocks",
        [
            "# BEGIN managed by hatchet-owlclaw deploy (do not edit inside this block)\n",
            "# END managed by hatchet-owlclaw deploy\n",
        ],
        ("ok", {None: (0, 1)}),
    ),
    ("h.newline_of", "a\r\nb\n", ("ok", "\r\n")),
    ("h.newline_of", "\r\n", ("ok", "\r\n")),
    ("h.newline_of", "\nb\r\n", ("ok", "\n")),
    ("h.newline_of", "a\n", ("ok", "\n")),
    ("h.newline_of", "", ("ok", "\n")),
    ("h.newline_of", "x", ("ok", "\n")),
    (
        "h.top_index",
        ["local all all peer\n", "# c1\n", "  # c2\n", "host all all 1.2.3.4/32 md5\n"],
        ("ok", 1),
    ),
    ("h.top_index", ["# only\n", "host all all 1.2.3.4/32 md5\n"], ("ok", 0)),
    ("h.top_index", ["local all all peer\n"], ("ok", 1)),
    (
        "h.top_index",
        ["host all all\n"],
        ("ValueError", "pg_hba.conf line 1: end-of-line before IP address specification: 'host all all'"),
    ),
]


def _hba_answer(function, value):
    result = eval(function, {"h": pg_hba})(value)  # noqa: S307 - expressions written in this file
    if function == "h.parse_line" and result is not None:
        return (
            result.kind,
            result.type,
            [str(t) for t in result.databases],
            [str(t) for t in result.users],
            result.address,
            str(result.network) if result.network else None,
            result.method,
            list(result.options),
            result.target,
        )
    if function == "h.HbaRule.from_record":
        return result.render()
    if function == "h.parse_text":
        return [(entry.lineno, entry.text) for entry in result]
    return result


@pytest.mark.parametrize("function,value,expected", HBA_CASES)
def test_hba_answers(function, value, expected):
    try:
        result = _hba_answer(function, value)
    except Exception as error:  # noqa: BLE001 - the type and message are the answer
        assert (type(error).__name__, str(error)) == expected
        return
    assert ("ok", result) == expected


def test_format_shadow_messages():
    rule = pg_hba.HbaRule("host", "hatchet", "hatchet", "10.0.0.0/8", "scram-sha-256")
    rejected = pg_hba.format_shadow(pg_hba.Shadow(rule, 3, "host all all 0.0.0.0/0 reject", "reject"))
    assert rejected == (
        "pg_hba.conf line 3 ('host all all 0.0.0.0/0 reject') comes before the managed block and matches "
        "every connection of the managed rule 'host hatchet hatchet 10.0.0.0/8 scram-sha-256'. PostgreSQL "
        "uses the first matching line, so the managed rule never applies and those connections are "
        "rejected. Remove or narrow line 3, or move it below the managed block."
    )
    trusted = pg_hba.format_shadow(pg_hba.Shadow(rule, 1, "host all all all trust", "trust"))
    assert "and those connections use 'trust' instead of 'scram-sha-256'." in trusted


def test_shadowing_judges_the_tagged_block():
    rule = pg_hba.HbaRule("host", "hatchet", "hatchet", "10.0.0.0/8", "scram-sha-256")
    text = "host all all 10.0.0.0/8 reject\n"
    found = pg_hba.shadowing(text, [rule], "bottom", "prod")
    assert [(s.line_number, s.method) for s in found] == [(1, "reject")]
    other_block = pg_hba.apply_block("", [rule], "top", "staging")
    assert pg_hba.shadowing(other_block, [rule], "bottom", "prod")[0].line_number == 2


def test_local_earlier_line_covers_and_quoted_all_is_a_name():
    managed = pg_hba.parse_line("local hatchet hatchet scram-sha-256")
    assert pg_hba.covers(pg_hba.parse_line("local all all peer"), managed)
    assert not pg_hba.covers(pg_hba.parse_line('local all "all" peer'), managed)
    assert pg_hba.covers(pg_hba.parse_line("local all +g,hatchet peer"), managed)
    host = pg_hba.parse_line("host all all db.example.org md5")
    assert not pg_hba.covers(host, pg_hba.parse_line("host all all 10.0.0.0/8 md5"))
    assert not pg_hba.covers(pg_hba.parse_line("host all all 10.0.0.0/8 md5"), host)


# --------------------------------------------------------------------------- config: whole-file rules
# Rules across keys, with the file that set the key: exactly what the operator reads.

CONSISTENCY_CASES = [
    (
        "staging",
        {"pg_listen_addresses": ["*"]},
        (
            "ConfigError",
            "overrides.py: pg_listen_addresses: '*' listens on every address; expected the addresses to listen on (e.g. ['localhost', '172.17.0.1']) (listening on every address is refused in staging; to accept it, policy_exceptions = ['network_wide_listen'] names the exception, printed on every run)",  # noqa: E501
        ),
    ),
    ("dev", {"pg_listen_addresses": ["*"]}, ("ok", None)),
    (
        "prod",
        {"allow_dev_default_passwords": True},
        (
            "ConfigError",
            "overrides.py: allow_dev_default_passwords: dev only; staging and prod need real secrets",
        ),
    ),
    (
        "dev",
        {"restore_database": "nope"},
        (
            "ConfigError",
            "overrides.py: restore_database: 'nope' is not a managed database; expected one of hatchet, owlclaw",  # noqa: E501
        ),
    ),
    (
        "dev",
        {"restore_drop_old": True},
        (
            "ConfigError",
            "overrides.py: restore_drop_old: only with restore_swap = True (the old database is dropped only after the restored one replaced it)",  # noqa: E501
        ),
    ),
    (
        "prod",
        {"pg_hba_auth_method": "md5"},
        (
            "ConfigError",
            "overrides.py: pg_hba_auth_method: 'md5' for the derived rules; expected 'scram-sha-256' (trust, password or md5 authentication from the network is refused in prod; to accept it, policy_exceptions = ['insecure_network_auth'] names the exception, printed on every run)",  # noqa: E501
        ),
    ),
    (
        "staging",
        {"app_local_dir": "/src"},
        (
            "ConfigError",
            "overrides.py: app_local_dir: pushing a local checkout is for dev only; staging and prod deploy app_repo at app_ref",  # noqa: E501
        ),
    ),
    (
        "dev",
        {"app_repo": "https://x.invalid/a.git", "app_local_dir": "/src"},
        (
            "ConfigError",
            "overrides.py: app_local_dir: set either app_repo (git) or app_local_dir (rsync), not both",
        ),
    ),
    (
        "dev",
        {"compose_files": []},
        ("ConfigError", "overrides.py: compose_files: expected at least one file"),
    ),
    (
        "dev",
        {"pg_listn_addresses": []},
        (
            "ConfigError",
            "overrides.py: unknown key 'pg_listn_addresses' (did you mean 'pg_listen_addresses'?)",
        ),
    ),
    ("dev", {"zzzzzz": 1}, ("ConfigError", "overrides.py: unknown key 'zzzzzz'")),
    (
        "dev",
        {"environment": "prod"},
        ("ConfigError", "overrides.py: environment: is 'prod' but the inventory is for 'dev'"),
    ),
    (
        "dev",
        {"backup_schedule": "* *"},
        (
            "ConfigError",
            "overrides.py: backup_schedule: expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday); got 2 field(s)",  # noqa: E501
        ),
    ),
    ("dev", {"restore_database": "hatchet"}, ("ok", None)),
]


@pytest.mark.parametrize("env,overrides,expected", CONSISTENCY_CASES)
def test_consistency_answers(project_copy, monkeypatch, env, overrides, expected):
    for name in (
        "HATCHET_DB_PASSWORD",
        "OWLCLAW_DB_PASSWORD",
        "HATCHET_STAGING_DB_PASSWORD",
        "OWLCLAW_STAGING_DB_PASSWORD",
    ):
        monkeypatch.setenv(name, "pw")
    (project_copy / "overrides.py").write_text("".join(f"{k} = {v!r}\n" for k, v in overrides.items()))
    monkeypatch.setenv("DEPLOY_OVERRIDES", "overrides.py")
    try:
        config.validate(env, config.host_layers(env, "h1", {}))
    except Exception as error:  # noqa: BLE001 - the type and message are the answer
        assert (type(error).__name__, str(error)) == expected
        return
    assert expected == ("ok", None)


def test_secrets_file_lines_and_data_file_errors(project_copy):
    path = project_copy / "secrets" / "dev.env"
    path.parent.mkdir(exist_ok=True)
    path.write_text("# comment\n\nA=1=2\n  B=x\nbad line\n")
    path.chmod(0o600)
    assert error_of(config.read_secrets_file, path) == (
        "ConfigError",
        "secrets/dev.env: line 5: expected KEY=VALUE",
    )
    path.write_text("# comment\n\nA=1=2\n  B =x\n")
    assert config.read_secrets_file(path) == {"A": "1=2", "B": "x"}
    data = project_copy / "group_data" / "broken.py"
    data.write_text("x = 1\ny = (\n")
    kind, message = error_of(config.read_data_file, data)
    assert kind == "ConfigError" and message.startswith("group_data/broken.py: line 2: ")
    data.write_text("import os\n__hidden = 1\nvalue = 2\ndef helper():\n    pass\n")
    assert config.read_data_file(data) == {"value": 2}


def test_secret_equality_and_hash():
    one, same, other = Secret("a", "x"), Secret("a", "y"), Secret("b", "x")
    assert one == same and one != other and one != "a"
    assert hash(one) == hash(same) and len({one, same, other}) == 2


def test_ufw_plan_numbers_count_the_ssh_rules_added_in_each_family():
    comment = "hatchet-owlclaw-deploy prod postgresql"
    rules = [
        firewall.UfwRule("allow", "tcp", "80", "0.0.0.0/0", "any", "0.0.0.0/0", "in", "", False),
        firewall.UfwRule("deny", "tcp", "5432", "0.0.0.0/0", "any", "0.0.0.0/0", "in", comment, False),
        firewall.UfwRule("allow", "tcp", "80", "::/0", "any", "::/0", "in", "", True),
        firewall.UfwRule("deny", "tcp", "5432", "::/0", "any", "::/0", "in", comment, True),
    ]
    state = firewall.UfwState(installed=True, active=False, ipv6=True, rules=rules)
    plan = firewall.plan_ufw(state, ["10.0.0.0/8", "2001:db8::/32"], 5432, None, [22], True, "prod")
    # ufw numbers IPv4 rules first: allow 80, deny, ssh | allow 80, deny, ssh (v6) -> the v6
    # allow goes in as rule 6, after the IPv4 allow inserted as rule 2.
    assert plan.commands == [
        "ufw allow proto tcp to any port 22 comment 'hatchet-owlclaw-deploy prod ssh'",
        f"ufw insert 2 allow proto tcp from 10.0.0.0/8 to any port 5432 comment '{comment}'",
        f"ufw insert 6 allow proto tcp from 2001:db8::/32 to any port 5432 comment '{comment}'",
        "ufw --force enable",
    ]


def test_ufw_rules_with_invalid_utf8_still_parse():
    user = b"# caf\xe9\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n"
    state = firewall.parse_ufw_state([f"user\t{base64.b64encode(user).decode()}"])
    assert [rule.dport for rule in state.rules] == ["22"]


@pytest.mark.parametrize("text,version", [("2.24-rc1", (2, 24)), ("2.24+ds1", (2, 24)), ("", ())])
def test_compose_version_ignores_suffixes(text, version):
    assert compose._version(text) == version


def test_compose_exactly_two_twenty_four_is_enough():
    assert compose.compose_prefix(docker(plugin="2.24"), []) == ["docker", "compose"]
    assert compose.compose_prefix(docker(binary="2.24"), []) == ["docker-compose"]
    assert compose.compose_prefix(
        docker(candidates={"docker-compose-v2": "2.24"}), ["docker-compose-v2"]
    ) == [
        "docker",
        "compose",
    ]
    assert compose.compose_confirmed(docker(plugin="2.24"))


def test_compose_hint_text():
    assert compose._compose_hint() == (
        ". Debian 13 packages it (docker.io + docker-compose); on Debian 12 add Docker's apt repository and "
        "set docker_packages = ['docker-ce', 'docker-ce-cli', 'docker-compose-plugin']"
    )


@pytest.mark.parametrize("value", ["a\nb", "a\0b", "\n"])
def test_env_quote_refuses_line_breaks_and_nul(value):
    assert error_of(compose.env_quote, value) == ("ValueError", "a .env value cannot contain a newline")


def test_config_errors_name_what_is_missing(project_copy, monkeypatch):
    assert error_of(config.scope_tag, "qa") == (
        "ValueError",
        "unknown environment 'qa': expected one of dev, staging, prod",
    )
    monkeypatch.setenv("DEPLOY_OVERRIDES", "nowhere.py")
    assert error_of(config.override_layers) == ("ConfigError", "DEPLOY_OVERRIDES=nowhere.py: no such file")
    (project_copy / "group_data" / "staging.py").unlink()
    assert error_of(config.environment_layers, "staging") == (
        "ConfigError",
        "group_data/staging.py: missing (every environment needs its data file)",
    )
    settings = config.Settings("dev", {"a": 1}, {"a": "x.py"})
    assert error_of(getattr, settings, "nope") == (
        "AttributeError",
        "no setting 'nope' (declare it in deploylib/model/config.py SCHEMA)",
    )


def test_secret_sources_say_where_a_password_came_from(project_copy, monkeypatch):
    monkeypatch.delenv("DEPLOY_OVERRIDES", raising=False)
    monkeypatch.setenv("HATCHET_DB_PASSWORD", "from-env")
    monkeypatch.delenv("OWLCLAW_DB_PASSWORD", raising=False)
    settings = config.validate("dev", config.host_layers("dev", "h1", {}))
    assert repr(settings.db_password("hatchet")) != "from-env"
    assert settings.secrets["hatchet"].source == "$HATCHET_DB_PASSWORD"
    assert settings.secrets["owlclaw"].source == "dev default (password = role name)"
    monkeypatch.setenv("DEPLOY_OVERRIDES", str(project_copy / "o.py"))
    (project_copy / "o.py").write_text("allow_dev_default_passwords = False\n")
    assert error_of(config.validate, "dev", config.host_layers("dev", "h1", {})) == (
        "ConfigError",
        "group_data/all.py: databases['owlclaw']: no password: set the environment variable "
        "OWLCLAW_DB_PASSWORD or add OWLCLAW_DB_PASSWORD=... to secrets/dev.env.age (./run secrets edit dev)",
    )


def test_every_managed_user_must_be_covered():
    earlier = pg_hba.parse_line("host all hatchet 10.0.0.0/8 reject")
    assert not pg_hba.covers(earlier, pg_hba.parse_line("host all hatchet,owlclaw 10.0.0.0/8 md5"))
    assert not pg_hba.covers(earlier, pg_hba.parse_line("host hatchet,owlclaw owlclaw 10.0.0.0/8 md5"))


def test_values_with_the_letter_x_are_fine():
    rule = pg_hba.HbaRule("host", "d", "u", "10.0.0.0/8", "ldap", options="ldapserver=X", comment="X")
    assert rule.render().endswith("ldap ldapserver=X # X")
    assert pg_conf.render_dropin({}, source="X").splitlines()[1] == "# Source: X"
    assert config.is_listen_address("Xhost") == "Xhost"
    assert pg_hba.HbaRule("host", "d", "u", "X.example.org", "md5").address == "X.example.org"


def test_continuation_lines_as_postgresql_joins_them():
    # A backslash alone on a line continues it; trailing blanks after a backslash do not.
    assert [(e.lineno, e.text) for e in pg_hba.parse_text("host all all \\\n\\\n10.0.0.0/8 md5\n")] == [
        (1, "host all all 10.0.0.0/8 md5")
    ]
    text = "host all all 10.0.0.0/8 md5 \\ \n"
    kind, message = error_of(pg_hba.parse_text, text)
    assert kind == "ValueError" and "authentication option not in name=value format" in message


# --------------------------------------------------------------------------- firewall package (run of 2026-12-02)


def test_firewall_info_flags_set_exactly_what_detection_would_print():
    info = firewall.FirewallInfo(ssh_client="10.0.0.9", ssh_port=2222, ufw_installed=True, nft_installed=True)
    assert (info.ssh_client, info.ssh_port) == ("10.0.0.9", 2222)
    assert info.tools == {"ufw": "", "nft": ""}
    info.ufw_active = True
    info.firewalld_running = True
    assert info.tools == {"ufw": "active", "nft": "", "firewalld": "running"}
    info.ufw_active = False
    info.firewalld_running = False  # firewalld's "off" is no status at all
    assert info.tools == {"ufw": "inactive", "nft": "", "firewalld": ""}
    info.nft_installed = False
    info.nft_installed = False  # already gone: no error
    info.ufw_installed = True  # already there: its status stays
    assert info.tools == {"ufw": "inactive", "firewalld": ""}
    untouched = firewall.FirewallInfo(tools={"ufw": "inactive"}, firewalld_running=False)
    assert untouched.tools == {"ufw": "inactive"}  # not running was never running: nothing to turn off


def test_firewall_info_equality():
    assert firewall.FirewallInfo(ufw_installed=True) == firewall.FirewallInfo(tools={"ufw": ""})
    assert firewall.FirewallInfo(ssh_port=22) != firewall.FirewallInfo(ssh_port=2222)
    assert firewall.FirewallInfo() != SimpleNamespace(**vars(firewall.FirewallInfo()))


def test_ss_lines_of_four_fields_or_a_bad_port_then_good_ones():
    assert firewall.parse_ss_listeners(
        ["LISTEN 0 128 0.0.0.0:5432", "LISTEN 0 128 [::]:http *:*", "LISTEN 0 1 10.0.0.1:80 x"]
    ) == [firewall.Listener("0.0.0.0", 5432, ""), firewall.Listener("10.0.0.1", 80, "")]


def test_firewall_host_blank_lines_are_no_tool():
    assert firewall.parse_firewall_host(["", "ufw\tactive", ""]).tools == {"ufw": "active"}


def test_nftables_state_reads_every_tag():
    from deploylib.model.firewall import nftables

    latin1 = base64.b64encode("café".encode("latin-1")).decode()  # not UTF-8: replaced, not refused
    state = nftables.parse_state(
        ["installed", f"live\t{b64('table inet t {}')}", f"file\t {b64('# file')} ", "service\t enabled ",
         "other\tx", f"main\t{latin1}"]
    )
    assert state == nftables.NftState(True, "table inet t {}", "# file", "caf\ufffd", "enabled")
    assert nftables.parse_state([]) == nftables.NftState()


def test_ufw_ipv6_setting_is_yes_exactly():
    assert firewall.parse_ufw_state(['ipv6\t"yesX"']).ipv6 is False
    assert firewall.parse_ufw_state(['ipv6\t"yes"']).ipv6 is True


def test_registry_detect_script_runs_cleanly():
    from deploylib.model.firewall import registry

    run = subprocess.run(["/bin/sh", "-c", registry.detect_script()], capture_output=True, text=True,
                         env={"PATH": "/nonexistent"})
    assert (run.stdout, run.stderr) == ("", "")  # no tool here: nothing printed, no error either


def test_ufw_plan_positions_rules_added_to_an_empty_family():
    comment = "hatchet-owlclaw-deploy prod postgresql"
    deny4 = firewall.UfwRule("deny", "tcp", "5432", "0.0.0.0/0", "any", "0.0.0.0/0", "in", comment, False)
    deny6 = firewall.UfwRule("deny", "tcp", "5432", "::/0", "any", "::/0", "in", comment, True)
    # Only IPv4 rules, ufw off: the SSH rules go after the deny (v4) and at the very end (v6),
    # so the IPv4 allow is inserted as rule 1.
    state = firewall.UfwState(installed=True, active=False, ipv6=True, rules=[deny4])
    plan = firewall.plan_ufw(state, ["10.0.0.0/8"], 5432, None, [22], False, "prod")
    assert plan.commands[1:] == [
        f"ufw insert 1 allow proto tcp from 10.0.0.0/8 to any port 5432 comment '{comment}'",
        f"ufw deny proto tcp to any port 5432 comment '{comment}'",
    ]
    # Only IPv6 rules: the IPv4 SSH rule becomes rule 1, the IPv6 deny moves to 2.
    state = firewall.UfwState(installed=True, active=False, ipv6=True, rules=[deny6])
    plan = firewall.plan_ufw(state, ["2001:db8::/32"], 5432, None, [22], False, "prod")
    assert plan.commands[1:] == [
        f"ufw insert 2 allow proto tcp from 2001:db8::/32 to any port 5432 comment '{comment}'",
        f"ufw deny proto tcp to any port 5432 comment '{comment}'",
    ]
    # Both denies, ufw off: the IPv4 SSH rule goes right after the IPv4 deny (rule 2), before IPv6's.
    state = firewall.UfwState(installed=True, active=False, ipv6=True, rules=[deny4, deny6])
    plan = firewall.plan_ufw(state, ["2001:db8::/32"], 5432, None, [22], False, "prod")
    assert plan.commands[1:] == [
        f"ufw insert 3 allow proto tcp from 2001:db8::/32 to any port 5432 comment '{comment}'",
    ]


def test_ufw_plan_an_appended_ipv6_allow_stays_in_its_family():
    comment = "hatchet-owlclaw-deploy prod postgresql"
    deny4 = firewall.UfwRule("deny", "tcp", "5432", "0.0.0.0/0", "any", "0.0.0.0/0", "in", comment, False)
    state = firewall.UfwState(installed=True, active=True, ipv6=True, rules=[deny4])
    plan = firewall.plan_ufw(state, ["2001:db8::/32", "10.0.0.0/8"], 5432, None, [22], False, "prod")
    assert plan.commands == [
        f"ufw allow proto tcp from 2001:db8::/32 to any port 5432 comment '{comment}'",
        f"ufw insert 1 allow proto tcp from 10.0.0.0/8 to any port 5432 comment '{comment}'",
        f"ufw deny proto tcp to any port 5432 comment '{comment}'",
    ]


# --------------------------------------------------------------------------- compose (run of 2026-12-02)


def test_app_enabled_and_record_path():
    assert compose.app_enabled(fake_settings(app_repo="git@h:a.git")) is True
    assert compose.app_enabled(fake_settings(app_local_dir="/src")) is True
    assert compose.app_enabled(fake_settings()) is False
    assert compose.record_path(fake_settings()) == "/var/lib/d/app/p/deployed"


def test_compose_tags_render_mappings_sequences_and_scalars():
    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(compose.Override, compose._represent_tagged("!override"))
    Dumper.add_representer(compose.Reset, compose._represent_tagged("!reset"))
    data = {"a": compose.Override({"k": 1}), "b": compose.Override(("x", "y")), "c": compose.Reset(),
            "d": compose.Override(5)}
    assert yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=False) == (
        "a: !override\n  k: 1\nb: !override\n- x\n- y\nc: !reset 'null'\nd: !override '5'\n"
    )


def test_env_variable_and_published_port():
    assert compose.env_variable("hatchet_staging") == "HATCHET_STAGING_DATABASE_URL"
    assert compose.published_port(["8080:80/tcp", "127.0.0.1:17078:7078", "[::1]:9:7"], "7078") == "17078"
    assert compose.published_port(["8080:80/tcp"], "80") == "8080"
    assert compose.published_port(["[::1]:9090:9"], "9") == "9090"
    assert error_of(compose.published_port, ["1:2"], "3") == ("ValueError", "container port 3 is not published")


def test_overlay_exactly_as_text_parts_long_values_and_order():
    services = config.is_compose_services({
        "zeta": {"database_env": {"DB_PASSWORD": "hatchet.password"},
                 "environment": {"LONG": "word " * 30 + "end"}},
        "alpha": {"ports": ["3003:3001"]},
    })
    text = compose.render_overlay(fake_settings(compose_services=services, compose_bind_address="::1"))
    assert text.split("\n", 2)[2] == (
        "services:\n"
        "  zeta:\n"
        "    extra_hosts:\n"
        "    - host.docker.internal:host-gateway\n"
        "    environment:\n"
        "      DB_PASSWORD: ${HATCHET_DATABASE_PASSWORD:?the deploy's .env sets it}\n"
        f"      LONG: {'word ' * 30}end\n"
        "  alpha:\n"
        "    extra_hosts:\n"
        "    - host.docker.internal:host-gateway\n"
        "    ports: !override\n"
        "    - '[::1]:3003:3001'\n"
    )


def expected_for_tests(**values):
    base = dict(host="host.docker.internal", port=5433, owners={"hatchet": "hatchet"},
                passwords={"hatchet": Secret("XXXX", "test")}, database_env={})
    base.update(values)
    return compose.Expected(**base)


def test_expected_config_from_the_settings():
    services = config.is_compose_services({
        "app": {"database_env": {"DATABASE_URL": "hatchet"}}, "off": {"disabled": True},
    })
    settings = fake_settings(databases={"hatchet": {"owner": "h_owner"}}, passwords={"hatchet": "pw"},
                             compose_services=services, app_secret_values={"T": Secret("tok", "test")})
    expected = compose.expected_config(settings, 5433)
    assert (expected.host, expected.port, expected.owners) == ("host.docker.internal", 5433, {"hatchet": "h_owner"})
    assert expected.passwords == {"hatchet": Secret("pw", "test")}
    assert expected.database_env == {"app": {"DATABASE_URL": {"database": "hatchet", "part": "url"}}}
    assert [secret.reveal() for secret in expected.app_secrets] == ["tok"]
    assert compose.config_args() == ["config", "--format", "json"]


def test_url_problems_unreadable_no_user_no_password_and_names_with_x():
    expected = expected_for_tests()
    assert compose._url_problems("postgresql://h:port/x", expected, None) == ["not a URL the deploy can read"]
    assert compose._url_problems("postgresql://host.docker.internal:5433/hatchet", expected, None) == [
        "user '', expected 'hatchet' (owner of hatchet)",
        "password is not the managed secret of hatchet",
    ]
    assert compose._url_problems("postgresql://u:p@host.docker.internal:5433/Xdb", expected, None) == [
        "database 'Xdb' is not a managed database (hatchet)",
    ]
    assert compose._part_problems("h", expected, "hatchet", "host") == [
        "'h', expected 'host.docker.internal' (host of hatchet)",
    ]
    assert compose._part_problems("hatchet", expected, "hatchet", "name") == []
    assert compose._part_problems("other", expected, "hatchet", "name") == [
        "'other', expected 'hatchet' (name of hatchet)",
    ]


def test_effective_config_reads_on_after_an_empty_or_unrelated_variable():
    expected = expected_for_tests()
    config_json = {"services": {"app": {"environment": {
        "EMPTY": None, "PLAIN": "x", "DB": "postgresql://hatchet:XXXX@elsewhere:5433/hatchet",
    }}}}
    assert compose.check_effective_config(config_json, expected) == [
        "service 'app': DB: host 'elsewhere', expected 'host.docker.internal'; "
        "not in compose_services' database_env: the overlay does not set it",
    ]


def test_redact_replaces_the_longest_secret_first():
    assert compose.redact("x ab y", ["b", "ab"]) == "x <secret> y"


def test_recorded_image_that_differs_is_drift():
    assert compose.image_drift({"app": "sha256:old"}, [("app", "sha256:new", "sha256:new")]) == ["app"]
    assert compose.image_drift({"app": "sha256:new"}, [("app", "sha256:new", "sha256:new")]) == []


def test_images_record_script_exactly():
    assert compose.images_record_script("my app") == (
        "docker inspect -f 'image {{index .Config.Labels \"com.docker.compose.service\"}} {{.Image}}' "
        "$(docker ps -aq --filter 'label=com.docker.compose.project=my app') | sort -u"
    )


def test_candidate_check_script_names_the_package_and_passes_a_newer_major(tmp_path):
    assert compose.candidate_check_script(["docker.io"]) == ""
    for package in ("docker-compose-plugin", "docker-compose-v2", "docker-compose"):
        assert f"apt-cache policy {package} |" in compose.candidate_check_script(["docker.io", package])
    fake = tmp_path / "apt-cache"
    fake.write_text("#!/bin/sh\necho '  Candidate: 3.0.0'\n")
    fake.chmod(0o755)
    script = compose.candidate_check_script(["docker-compose-plugin"])
    proc = subprocess.run(["bash", "-c", script], env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (0, "")


# --------------------------------------------------------------------------- config (run of 2026-12-02)


def test_option_safe_and_match_validators_built_here():
    import re

    safe = config.is_option_safe(config.is_str)
    assert safe("a-b") == "a-b"
    assert error_of(safe, "-x") == ("ValueError", "may not start with '-' (it would be read as an option)")
    digits = config.is_match(re.compile(r"[0-9]+"), "expected digits")
    assert digits("12") == "12"
    assert error_of(digits, "1a") == ("ValueError", "expected digits")
    assert error_of(digits, 12) == ("ValueError", "expected digits")


def test_git_url_refusals_name_the_reason():
    expected = ("expected a git URL such as 'git@git.example.internal:owlclaw/owlclaw.git' or "
                "'https://git.example.internal/owlclaw.git' (no blanks, quotes or shell characters)")
    assert error_of(config.is_git_url, "-u/x.git") == ("ValueError", expected)
    assert config.is_git_url("XX-XX/x.git") == "XX-XX/x.git"
    assert error_of(config.is_git_url, "ext::ssh@x") == (
        "ValueError", "the ext:: transport runs a command: not allowed")


def hba_rule(method, options, rule_type="host"):
    return pg_hba.HbaRule.from_record({"type": rule_type, "database": "d", "user": "u",
                                       "address": "10.0.0.0/24", "method": method, "options": options})


@pytest.mark.parametrize("method,options,rule_type,expected", [
    ("ldap", "ldapurl=ldap://l/dc=x", "host", None),
    ("ldap", "ldapserver=l ldapsuffix=,dc=x", "host", None),
    ("ldap", "ldapserver=l ldapbasedn=dc=x ldapbinddn=cn=a ldapbindpasswd=p ldapsearchattribute=uid", "host",
     None),
    ("ldap", "ldapbasedn=dc=x", "host", "method 'ldap' needs ldapserver (or ldapurl)"),
    ("ldap", "ldapserver=l ldapprefix=cn= ldapbinddn=cn=a ldapbindpasswd=p ldapsearchattribute=uid "
             "ldapsearchfilter=f ldapurl=ldap://l", "host",
     "method 'ldap': ldapprefix/ldapsuffix (simple bind) cannot be combined with ldapbinddn, ldapbindpasswd, "
     "ldapsearchattribute, ldapsearchfilter, ldapurl (search+bind)"),
    ("ldap", "ldapserver=l", "host",
     "method 'ldap' needs ldapbasedn (search+bind) or ldapprefix/ldapsuffix (simple bind)"),
    ("ldap", "ldapserver=l ldapbasedn=dc=x ldapbindpasswd=p", "host",
     "method 'ldap': ldapbindpasswd without ldapbinddn"),
    ("ldap", "ldapserver=l ldapbasedn=dc=x ldapsearchattribute=uid ldapsearchfilter=f", "host",
     "method 'ldap': ldapsearchattribute and ldapsearchfilter exclude each other"),
    ("ldap", "ldapserver=l ldapbasedn=dc=x ldapsearchfilter=f", "host", None),
    ("cert", "", "hostssl", None),
    ("cert", "", "host", "method 'cert' only works on hostssl rules"),
])
def test_auth_options_each_rule(method, options, rule_type, expected):
    rule = hba_rule(method, options, rule_type)
    if expected is None:
        assert config.check_auth_options(rule) is None
    else:
        assert error_of(config.check_auth_options, rule) == ("ValueError", expected)


@pytest.mark.parametrize("raw,value", [
    ("'abc", "'abc"), ("''", ""), ('""', ""), ("XabcX", "XabcX"), ("a b # c # d", "a b"), ("'a # b'", "a # b"),
])
def test_dotenv_values_as_compose_reads_them(raw, value):
    assert config.dotenv_value(raw) == value


def test_secrets_text_comments_after_blanks_and_lowercase_keys():
    assert config.parse_secrets_text("  # a comment\nA=1\n", "s.env") == {"A": "1"}
    with pytest.raises(config.ConfigError) as error:
        config.parse_secrets_text("a=1\n", "s.env")
    assert str(error.value) == "s.env: line 1: expected KEY=VALUE"


def test_environment_names_of_an_environment_without_a_data_file(project_copy):
    assert config.environment_names("nowhere") == {"database": set(), "role": set(), "password variable": set()}


# --------------------------------------------------------------------------- pg_hba, pg_sql (run of 2026-12-02)


def test_hba_record_errors_name_keys_and_never_show_options():
    base = {"type": "host", "database": "d", "user": "u", "address": "10.0.0.0/8", "method": "md5"}
    rule_fields = ", ".join(pg_hba.RULE_FIELDS)
    assert error_of(pg_hba.HbaRule.from_record, {**base, "zz": 1, "yy": 2}) == (
        "ValueError", f"unknown key(s) yy, zz (allowed: {rule_fields})")
    assert error_of(pg_hba.HbaRule.from_record, {**base, "options": 5}) == (
        "ValueError", "options must be a string, got a int")
    assert error_of(pg_hba.HbaRule.from_record, {**base, "address": 5}) == (
        "ValueError", "address must be a string, got 5")


def test_shadowing_places_the_block_under_its_own_tag():
    rule = pg_hba.HbaRule("host", "hatchet", "hatchet", "10.0.0.0/8", "scram-sha-256")
    old = pg_hba.HbaRule("host", "owlclaw", "owlclaw", "10.0.0.0/8", "scram-sha-256")
    # prod's block is replaced where it is, before the reject: nothing shadows the rule.
    text = pg_hba.apply_block("", [old], "top", "prod") + "host all all 10.0.0.0/8 reject\n"
    assert pg_hba.shadowing(text, [rule], "top", "prod") == []


def test_update_extension_sql():
    assert pg_sql.update_extension("vector") == 'ALTER EXTENSION "vector" UPDATE;\n'


def test_firewalld_plan_uses_the_configured_ssh_port_and_refuses_to_cut_off_services():
    from deploylib.model.firewall import firewalld

    stopped = firewall.FirewalldState(installed=True, running=False, zone="public")
    wanted = firewall.Wanted(sources=["10.0.0.0/8"], port=5432, enable=True, ssh_port=2222)
    plan = firewalld.plan(stopped, firewall.FirewallInfo(), wanted)
    assert plan.commands[0] == "firewall-offline-cmd --zone=public --add-port=2222/tcp"
    assert plan.messages == []
    web = firewall.FirewallInfo(listeners=[firewall.Listener("0.0.0.0", 80, "nginx")])
    assert error_of(firewalld.plan, stopped, web, wanted) == (
        "FirewallPlanError",
        "enabling firewalld (firewall_enable = True) would block services listening on 0.0.0.0:80 (nginx); "
        "allow them first (e.g. `ufw allow 443/tcp`) or leave firewall_enable False. Nothing was changed.",
    )
    running = firewall.FirewalldState(installed=True, running=True, zone="public")
    assert firewalld.plan(running, web, wanted).messages == []  # already on: nothing newly cut off
    off = firewall.Wanted(sources=["10.0.0.0/8"], port=5432, enable=False, ssh_port=2222)
    assert firewalld.plan(stopped, web, off).messages == [
        "firewalld is stopped: the PostgreSQL rules take effect once it runs (firewall_enable)"
    ]


def test_nftables_plan_refuses_the_configured_ssh_port():
    from deploylib.model.firewall import nftables

    wanted = firewall.Wanted(sources=["10.0.0.0/8"], port=2222, enable=True, ssh_port=2222)
    assert error_of(nftables.plan, nftables.NftState(installed=True), firewall.FirewallInfo(), wanted) == (
        "FirewallPlanError", "nftables: PostgreSQL port 2222 is the SSH port; refusing to drop it")


def test_prefetched_backends():
    from deploylib.model.firewall import registry

    assert registry.prefetched("none") == []
    assert registry.prefetched("firewalld") == ["firewalld"]
    assert registry.prefetched("auto") == ["ufw", "nftables"]


def test_rsync_exclude_pattern_ending_in_x():
    assert compose._excluded("a", ["aX"]) is False
    assert compose._excluded("data", ["/data/"]) is True


def test_ufw_enable_counts_a_listener_decided_by_any_rule_of_its_port():
    from deploylib.model.firewall import ufw

    def listening(*ports):
        return firewall.FirewallInfo(listeners=[firewall.Listener("0.0.0.0", port, "") for port in ports])

    decided = [firewall.UfwRule(action, "tcp", str(port), "0.0.0.0/0", "any", "0.0.0.0/0", "in")
               for action, port in (("allow", 80), ("limit", 81), ("deny", 82), ("reject", 83))]
    off = firewall.UfwState(installed=True, active=False, ipv6=False, rules=decided)
    wanted = firewall.Wanted(sources=["10.0.0.0/8"], port=5432, enable=True, ssh_port=2222)
    plan = ufw.plan(off, listening(80, 81, 82, 83), wanted)
    assert plan.commands[0] == "ufw allow proto tcp to any port 2222 comment 'hatchet-owlclaw-deploy ssh'"
    assert plan.commands[-1] == "ufw --force enable"
    # A rule of another port decides nothing about 84: enabling would cut it off.
    assert error_of(ufw.plan, off, listening(84), wanted)[1].startswith(
        "enabling ufw (firewall_enable = True) would block services listening on 0.0.0.0:84;")
    # Already on: nothing is newly cut off, whatever listens.
    on = firewall.UfwState(installed=True, active=True, ipv6=False, rules=[])
    assert ufw.plan(on, listening(84), wanted).commands[-1].startswith("ufw deny")


def test_option_names_and_unknown_options_message():
    # A value of only a quote (`""""`) is empty; a value "X" is not.
    assert config._option_names(hba_rule("radius", 'radiussecrets="""" radiusservers=X')) == {
        "radiussecrets": False, "radiusservers": True}
    allowed = ", ".join(sorted(config.ANY_METHOD_OPTIONS))
    assert error_of(config.check_auth_options, hba_rule("scram-sha-256", "zz=1 yy=2")) == (
        "ValueError", f"option(s) yy, zz not taken by method 'scram-sha-256' (it takes {allowed})")


def test_environment_names_fall_back_to_all_py(project_copy):
    assert config.environment_names("dev") == {
        "database": {"hatchet", "owlclaw"}, "role": {"hatchet", "owlclaw"},
        "password variable": {"HATCHET_DB_PASSWORD", "OWLCLAW_DB_PASSWORD"}}


def test_an_undecryptable_secrets_file_is_named_relative_to_the_project(project_copy, monkeypatch):
    import pyrage

    identity = project_copy / "id.txt"
    identity.write_text(f"{pyrage.x25519.Identity.generate()}\n")
    identity.chmod(0o600)
    monkeypatch.setenv("AGE_IDENTITY_FILE", str(identity))
    (project_copy / "secrets").mkdir(exist_ok=True)
    age = project_copy / "secrets" / "dev.env.age"
    age.write_bytes(pyrage.encrypt(b"A=1\n", [pyrage.x25519.Identity.generate().to_public()]))
    with pytest.raises(config.ConfigError) as error:
        config.read_encrypted_secrets(age)
    assert str(error.value).startswith("secrets/dev.env.age: cannot be decrypted with the identity in ")


def test_every_missing_password_is_named_at_once():
    settings = SimpleNamespace(
        databases={"a": {"password_env": "A_PW", "owner": "a"}, "b": {"password_env": "B_PW", "owner": "b"}},
        allow_dev_default_passwords=False, source=lambda key: "group_data/prod.py")
    sources = SimpleNamespace(get=lambda variable: None, where=lambda: "secrets/prod.env.age")
    with pytest.raises(config.ConfigError) as error:
        config.resolve_secrets(settings, sources)
    assert "databases['a']: no password" in str(error.value) and "databases['b']: no password" in str(error.value)


# --------------------------------------------------------------------------- managed_block (run of 2026-12-02)


def test_second_begin_names_the_open_blocks_tag_and_a_leading_newline_is_lf():
    from deploylib.model import managed_block

    prod_begin, _ = managed_block.markers("prod")
    staging_begin, _ = managed_block.markers("staging")
    assert error_of(managed_block.find_blocks, [prod_begin + "\n", staging_begin + "\n"]) == (
        "ValueError",
        "managed block markers: second BEGIN marker on line 2 (the (prod) block opened on line 1 has no "
        "END yet); keep exactly one block per environment",
    )
    assert managed_block.newline_of("\nabc\r") == "\n"


@pytest.mark.parametrize("line,expected", [
    ("host,local all all all md5", "multiple values specified for connection type"),
    ("include a,b", "multiple values specified for include"),
    ("host", "end-of-line before database specification"),
    ("host all all 10.0.0.1 255.0.0.0,255.0.0.0 md5", "multiple values specified for netmask"),
])
def test_hba_field_names_in_errors(line, expected):
    assert error_of(pg_hba.parse_line, line) == ("ValueError", expected)


def test_hba_quoted_host_name_line_ends_and_top_index():
    assert pg_hba.parse_line('host all all "db.example" md5').address == "db.example"
    assert pg_hba._logical_lines(["\\\n", "local all all peer\n"]) == [(0, 2, "local all all peer")]
    assert pg_hba._logical_lines(["local all all peer map=X\n"]) == [(0, 1, "local all all peer map=X")]
    # A comment at the end of the file is not "above" a first line that is a host rule.
    assert pg_hba.top_index(["host all all all md5\n", "# c\n"]) == 0
    # Every managed name must be covered, not only the first.
    assert not pg_hba.covers(pg_hba.parse_line("host a all all md5"), pg_hba.parse_line("host a,b all all md5"))


def test_policy_findings_without_a_compose_subnet_and_a_wildcard_bind_address():
    settings = SimpleNamespace(pg_listen_addresses=[], compose_bind_address="127.0.0.1", pg_client_networks=[],
                               compose_subnet=None, pg_hba_rules=[], pg_hba_auth_method="scram-sha-256",
                               pg_settings={})
    assert config.policy_findings(settings) == []
    settings.compose_bind_address = "0.0.0.0"
    assert config.policy_findings(settings) == [(
        "network_wide_listen", "compose_bind_address",
        "'0.0.0.0' publishes the application's ports on every address (Docker bypasses the host firewall); "
        "expected e.g. '127.0.0.1'")]


def test_a_password_with_a_control_character_is_refused_naming_its_source():
    settings = SimpleNamespace(databases={"a": {"password_env": "A_PW", "owner": "a"}},
                               allow_dev_default_passwords=False, environment="prod",
                               source=lambda key: "group_data/prod.py")
    sources = SimpleNamespace(get=lambda variable: Secret("x\ny", "environment variable A_PW"),
                              where=lambda: "secrets/prod.env.age")
    with pytest.raises(config.ConfigError) as error:
        config.resolve_secrets(settings, sources)
    assert str(error.value) == (
        "environment variable A_PW: the password of database 'a' contains a control character (newline, CR, "
        "NUL, ...); expected one line")


def test_policy_skips_local_rules_only():
    local_md5 = pg_hba.HbaRule("local", "all", "all", None, "md5")
    host_md5 = pg_hba.HbaRule("host", "d", "u", "10.0.0.0/24", "md5")
    settings = SimpleNamespace(pg_listen_addresses=[], compose_bind_address="127.0.0.1", pg_client_networks=[],
                               compose_subnet=None, pg_hba_rules=[local_md5, host_md5],
                               pg_hba_auth_method="scram-sha-256", pg_settings={})
    assert config.policy_findings(settings) == [(
        "insecure_network_auth", "pg_hba_rules",
        "rule 1: method 'md5' over the network; expected 'scram-sha-256' (or cert, ldap, ...)")]


def test_check_app_messages_name_the_file_of_the_key():
    base = dict(environment="staging", app_local_dir=None, app_repo="git@h:a.git", compose_files=["c.yml"],
                databases={"hatchet": {}, "owlclaw": {}}, app_secrets=[], app_env={},
                source=lambda key: f"group_data/{key}.py")
    services = {"app": {"database_env": {"DB": {"database": "nope", "part": "url"}}}}
    with pytest.raises(config.ConfigError) as error:
        config.check_app(SimpleNamespace(**{**base, "compose_services": services}))
    assert str(error.value) == (
        "group_data/compose_services.py: compose_services: service 'app': database_env: 'DB': 'nope' is not "
        "a managed database; expected one of hatchet, owlclaw")
    with pytest.raises(config.ConfigError) as error:
        config.check_app(SimpleNamespace(**{**base, "compose_services": {}, "app_secrets": ["T"],
                                            "app_env": {"T": "x"}}))
    assert str(error.value).startswith("group_data/app_secrets.py: app_secrets: T also in app_env ")


def test_month_names_count_from_one_and_ports_with_a_protocol():
    assert config.is_cron_schedule("0 0 1 2-feb *") == "0 0 1 2-feb *"
    assert config.ports_in_range("8080:80/tcp") is True
    assert config.ports_in_range("8080:0/tcp") is False


@pytest.mark.parametrize("ref", ["a..b", "a//b", "a.", "a/", "a.lock", "a/.b"])
def test_git_ref_shapes_git_refuses(ref):
    expected = "expected a branch, tag or commit id (letters, digits, _ . / + -; not starting with '-')"
    assert error_of(config.is_git_ref, ref) == (
        "ValueError", f"{expected}; no '..', '//', '/.', and no trailing '.', '/' or '.lock'")
    assert error_of(config.is_git_ref, "-" + ref) == ("ValueError", expected)


def test_system_user_prefixes_paths_within_and_database_env_of_a_non_string():
    for user in ("systemd_x", "_x"):
        assert error_of(config.is_os_user, user) == (
            "ValueError", f"{user!r} is a system user (reserved); expected a user of the deploy's own")
    assert config.is_within("/a", "/") and config.is_within("/aX/b", "/aX") and not config.is_within("/ab", "/a")
    assert error_of(config.is_database_env, {"V": 5}) == (
        "ValueError", "database_env: 'V': 5: expected a database of `databases` ('hatchet'), or "
                      f"'<database>.<part>' with part one of {', '.join(config.DATABASE_PARTS)}")


def test_abs_path_ending_in_x_shown_values_at_eighty_and_cron_with_a_vertical_tab():
    assert config.is_abs_path("/dataX") == "/dataX"
    assert config._shown("x" * 78) == repr("x" * 78)  # 80 characters: still shown
    assert config._shown("x" * 79) == "a str" and config._shown([1]) == "a list"
    assert error_of(config.is_cron_schedule, "0 0 * * *\x0b") == (
        "ValueError", "expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)")


def test_cron_schedule_fields_separated_by_tabs():
    assert config.is_cron_schedule("0\t0 * * *") == "0 0 * * *"


def test_field_and_key_checks_read_past_the_first(project_copy):
    assert error_of(config.check_fields, "w", {"b": 1, "a": 2}, ("x", "y")) == (
        "ValueError", "w: unknown field(s) a, b; expected x, y")
    assert error_of(config.is_compose_services, {"s": {"database_env": {"V": "hatchet"}, "host_gateway": False}}) == (
        "ValueError", "service 's': database_env needs host_gateway (host.docker.internal is how the container "
                      "reaches the host's PostgreSQL)")
    layers = [*config.environment_layers("dev"), config.Layer("extra.py", {"ssh_user": "x", "pg_prot": 1})]
    with pytest.raises(config.ConfigError) as error:
        config.validate("dev", layers)
    assert "pg_prot" in str(error.value)


def test_data_file_errors_without_a_line_and_a_syntax_error_message(project_copy):
    latin1 = project_copy / "latin1.py"
    latin1.write_bytes(b"a = '\xff'\n")  # not UTF-8: no line to name
    assert error_of(config.read_data_file, latin1) == ("ConfigError", "latin1.py: line ?: UnicodeDecodeError")
    bad = project_copy / "bad.py"
    bad.write_text("a = (\n")
    assert error_of(config.read_data_file, bad)[1].startswith("bad.py: line 1: '(' was never closed")


def test_missing_defaults_named_together_and_no_secrets_without_asking(project_copy):
    layers = config.environment_layers("dev")
    defaults = {k: v for k, v in layers[0].values.items() if k not in ("backup_schedule", "backup_retention_days")}
    with pytest.raises(config.ConfigError) as error:
        config.validate("dev", [config.Layer(layers[0].source, defaults), *layers[1:]])
    assert "missing key(s) backup_retention_days, backup_schedule (every key has its default there)" in str(
        error.value) or "missing key(s) backup_schedule, backup_retention_days (every key" in str(error.value)
    settings = config.validate("dev", layers, with_secrets=False)
    assert (settings.secrets, settings.app_secret_values) == ({}, {})


def test_a_name_starting_with_x_is_not_quoted_and_a_file_outside_the_project_keeps_its_path(project_copy):
    from pathlib import Path

    assert pg_hba.HbaRule("host", "d", "Xu", "10.0.0.0/8", "md5").render().split()[2] == "Xu"
    assert config._rel(Path("/elsewhere/x.py")) == "/elsewhere/x.py"


def test_an_escaped_backslash_before_an_empty_line_ends_the_line_and_all_never_covers_replication():
    assert pg_hba._logical_lines(["a\\\\\n", "\n", "b\n"]) == [(0, 2, "a\\"), (2, 3, "b")]
    assert not pg_hba.covers(pg_hba.parse_line("host all all all md5"),
                             pg_hba.parse_line("host x,replication all all md5"))


def test_a_one_letter_name_x():
    assert pg_hba.HbaRule("host", "d", "X", "10.0.0.0/8", "md5").render().split()[2] == "X"
