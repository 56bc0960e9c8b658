"""The pure decisions of issue 12: value normalisation, overrides, restart policy,
checks before a restart; and the fail-closed validation shell (run here with a stub psql)."""

import os
import subprocess

import pytest

from deploylib.facts.postgres import parse_server
from deploylib.model import pg_commands, pg_safety
from deploylib.model.pg_safety import (
    Override,
    environments_on_server,
    expected_setting,
    overrides,
    read_after_dropin,
    restart_blockers,
    setting_matches,
    start_problems,
    to_base_units,
    who_set,
)
from deploylib.model.postgres_state import PgFileSetting

# ----------------------------------------------------------------- values


@pytest.mark.parametrize(
    "value, vartype, unit, expected",
    [
        ("128MB", "integer", "8kB", "16384"),
        ("1GB", "integer", "8kB", "131072"),
        ("16384", "integer", "8kB", "16384"),
        ("8MB", "integer", "kB", "8192"),
        ("4096kB", "integer", "kB", "4096"),
        ("1min", "integer", "ms", "60000"),
        ("5min", "integer", "s", "300"),
        ("1h", "integer", "min", "60"),
        (100, "integer", "", "100"),
        ("1.5ms", "integer", "ms", "2"),  # rounded to the nearest base unit
        (True, "bool", "", "on"),
        ("yes", "bool", "", "on"),
        ("OFF", "bool", "", "off"),
        ("SCRAM-SHA-256", "enum", "", "scram-sha-256"),
        (["localhost", "10.0.0.1"], "string", "", "localhost,10.0.0.1"),
        ("200GB", "integer", "8kB", str(200 * 1024 * 128)),
    ],
)
def test_expected_setting_is_what_pg_settings_shows(value, vartype, unit, expected):
    assert expected_setting(value, vartype, unit) == expected


def test_setting_matches_units_reals_and_text():
    assert setting_matches("128MB", "16384", "integer", "8kB")
    assert not setting_matches("256MB", "16384", "integer", "8kB")
    assert setting_matches(1.1, "1.1", "real", "")
    assert setting_matches(0.123456789, "0.123457", "real", "")  # shown with %g
    assert not setting_matches(4.0, "1.1", "real", "")
    assert setting_matches("iso, mdy", "ISO, MDY", "string", "")
    assert not setting_matches("localhost", "localhost,10.0.0.1", "string", "")
    assert setting_matches(False, "off", "bool", "")
    assert to_base_units("12 parsecs", "kB") is None and to_base_units("12MB", "") is None


def test_effective_check_sql_names_each_wrong_setting():
    sql = pg_safety.effective_check_sql(
        {"shared_buffers": "128MB", "listen_addresses": ["localhost", "10.0.0.1"], "o'dd": "x"},
        {"shared_buffers": ("integer", "8kB"), "listen_addresses": ("string", "")},
        skip_pending=False,
    )
    assert "('shared_buffers', '16384')" in sql
    assert "('listen_addresses', 'localhost,10.0.0.1')" in sql
    assert "('o''dd', 'x')" in sql
    assert "s.name IS NULL" in sql and "pending_restart" not in sql
    # group_data's timezone is pg_settings' TimeZone: not "unknown to PostgreSQL".
    assert "LEFT JOIN pg_settings s ON lower(s.name) = lower(w.name)" in sql
    pending_ok = pg_safety.effective_check_sql({"a": "1"}, {}, skip_pending=True)
    assert "AND NOT s.pending_restart" in pending_ok and "WHERE false OR" in pending_ok
    # archive_command reads '(disabled)' while archive_mode waits for its restart.
    assert "'(disabled)'" in pending_ok and "'(disabled)'" not in sql


# ----------------------------------------------------------------- overrides

DROPIN = "/etc/postgresql/17/main/conf.d/90-hatchet-owlclaw-deploy.conf"
AUTO = "/var/lib/postgresql/17/main/postgresql.auto.conf"
MAIN = "/etc/postgresql/17/main/postgresql.conf"


def entry(seqno, name, sourcefile, line=1):
    return PgFileSetting(seqno, name, sourcefile, line, True)


def ours(e):
    return e.sourcefile == DROPIN


def test_alter_system_after_our_dropin_is_an_override():
    entries = [
        entry(1, "listen_addresses", MAIN, 60),
        entry(20, "listen_addresses", DROPIN, 4),
        entry(21, "password_encryption", DROPIN, 5),
        entry(30, "listen_addresses", AUTO, 3),
        entry(31, "work_mem", AUTO, 4),  # not managed
    ]
    found = overrides(entries, ["listen_addresses", "password_encryption"], ours, read_after_dropin(DROPIN))
    assert found == [Override("listen_addresses", AUTO, 3)]
    assert found[0].by_alter_system
    assert "ALTER SYSTEM RESET listen_addresses" in found[0].describe()
    assert f"{AUTO}:3" in found[0].describe()


def test_earlier_file_is_no_override_later_include_is():
    later = "/etc/postgresql/17/main/conf.d/99-local.conf"
    entries = [entry(1, "shared_buffers", MAIN, 129), entry(20, "listen_addresses", DROPIN, 4),
               entry(25, "work_mem", later, 2)]
    names = ["shared_buffers", "listen_addresses", "work_mem"]
    found = overrides(entries, names, ours, read_after_dropin(DROPIN))
    assert [(o.name, o.by_alter_system) for o in found] == [("work_mem", False)]
    assert "remove that line" in found[0].describe()


def test_before_our_file_exists_order_is_guessed_from_the_paths():
    later = "/etc/postgresql/17/main/conf.d/99-local.conf"
    earlier = "/etc/postgresql/17/main/conf.d/10-local.conf"
    entries = [entry(1, "a", MAIN), entry(2, "b", earlier), entry(3, "c", later), entry(4, "d", AUTO)]
    found = overrides(entries, ["a", "b", "c", "d"], ours, read_after_dropin(DROPIN))
    assert [o.name for o in found] == ["c", "d"]


def test_who_set_names_the_writer_or_the_file():
    entries = [entry(1, "listen_addresses", MAIN, 60), entry(20, "listen_addresses", DROPIN, 4)]
    assert who_set("listen_addresses", entries, ours, "prod") == f"set by prod in {DROPIN}:4"
    assert who_set("shared_buffers", [entry(1, "shared_buffers", MAIN, 129)], ours, "prod") == \
        f"set in {MAIN}:129 (not by this deploy)"


# ----------------------------------------------------------------- restart policy


def test_environments_on_server_from_hba_tags_writer_and_comments():
    found = environments_on_server(
        [None, "staging"], "prod",
        ["managed by hatchet-owlclaw deploy (dev)", "managed by hatchet-owlclaw deploy", ""],
    )
    assert found == {"staging", "prod", "dev"}


def test_every_environment_on_the_server_must_allow_a_restart():
    policies = {"prod": False, "dev": True, "staging": True}
    assert restart_blockers("staging", True, {"staging"}, policies) == []
    assert restart_blockers("staging", True, {"staging", "dev"}, policies) == []
    blocked = restart_blockers("staging", True, {"staging", "prod"}, policies)
    assert blocked == ["prod's state is on this server and prod does not allow restarts "
                       "(pg_allow_restart = False in group_data/prod.py)"]
    assert restart_blockers("prod", False, {"prod"}, policies) == ["pg_allow_restart is False for prod"]
    # prod allows, staging (present) does not: no restart either.
    assert restart_blockers("prod", True, {"prod", "staging"}, {"staging": False})
    # An environment whose policy could not be read counts as "no".
    assert "unknown" in restart_blockers("dev", True, {"dev", "prod"}, {})[0]


# ----------------------------------------------------------------- before a restart

CURRENT = {"shared_buffers": ("16384", "8kB"), "shared_memory_size": ("143", "MB"),
           "max_connections": ("100", "")}
MEM_24G = 24 * 1024 * 1024


def test_shared_memory_beyond_the_hosts_memory_is_refused():
    problems = start_problems({"shared_buffers": "200GB"}, {"shared_buffers"}, CURRENT, MEM_24G, {})
    assert len(problems) == 1 and problems[0].startswith("shared_buffers: shared_buffers = 200GB needs about")
    assert "24.0 GiB (MemTotal)" in problems[0]
    assert start_problems({"shared_buffers": "4GB"}, {"shared_buffers"}, CURRENT, MEM_24G, {}) == []
    # ~48 kB per connection: a million connections do not fit in 24 GiB... 262143 (the most) do
    assert start_problems({"max_connections": 1000000}, {"max_connections"}, CURRENT, MEM_24G, {})
    assert not start_problems({"max_connections": 262143}, {"max_connections"}, CURRENT, MEM_24G, {})
    # Unchanged settings are not judged (they run already).
    assert start_problems({"shared_buffers": "200GB"}, set(), CURRENT, MEM_24G, {}) == []


def test_missing_preload_library_is_refused():
    wanted = {"shared_preload_libraries": "pg_stat_statements, no_such_lib"}
    found = {"pg_stat_statements": "/usr/lib/postgresql/17/lib/pg_stat_statements.so", "no_such_lib": ""}
    (problem,) = start_problems(wanted, {"shared_preload_libraries"}, CURRENT, MEM_24G, found)
    assert problem.startswith("shared_preload_libraries: no library file for 'no_such_lib'")
    assert "pg_stat_statements" not in problem
    assert pg_safety.preload_libraries(["a", " b "]) == ["a", "b"]
    assert pg_safety.preload_libraries("") == []


def test_server_fact_reads_file_settings_memory_and_libraries():
    lines = [
        "cluster\t17\tmain\t5432\tonline",
        "server\t5432",
        "setting\tshared_buffers\t16384\tpostmaster\ttrue\t8kB\tinteger",
        f"file_setting\tlisten_addresses\t25\t{AUTO}\t3\tfalse\tsetting could not be applied",
        "memory\t24683652",
        "library\tno_such_lib\t",
        "library\tpg_stat_statements\t/usr/lib/postgresql/17/lib/pg_stat_statements.so",
        "postmaster_pid\t78",
    ]
    (cluster,) = parse_server(lines).clusters
    setting = cluster.settings["shared_buffers"]
    assert (setting.unit, setting.vartype, setting.pending_restart) == ("8kB", "integer", True)
    assert cluster.file_settings == [
        PgFileSetting(25, "listen_addresses", AUTO, 3, False, "setting could not be applied")
    ]
    assert cluster.mem_total_kb == 24683652
    assert cluster.libraries == {"no_such_lib": "",
                                 "pg_stat_statements": "/usr/lib/postgresql/17/lib/pg_stat_statements.so"}


# ----------------------------------------------------------------- validation fails closed

STUB_PSQL = """#!/bin/sh
# Answers like psql would: $PSQL_STUB_OUT on stdout, $PSQL_STUB_ERR on stderr, exit $PSQL_STUB_STATUS.
[ -n "$PSQL_STUB_OUT" ] && printf '%s\\n' "$PSQL_STUB_OUT"
[ -n "$PSQL_STUB_ERR" ] && printf '%s\\n' "$PSQL_STUB_ERR" >&2
exit "${PSQL_STUB_STATUS:-0}"
"""


@pytest.fixture
def stub_psql(tmp_path, monkeypatch):
    """Run the check scripts here, psql replaced by a stub (the real one runs in the e2e tests)."""
    (tmp_path / "psql").write_text(STUB_PSQL)
    (tmp_path / "psql").chmod(0o755)
    monkeypatch.setattr(pg_commands, "as_postgres", lambda argv: argv)

    def run(script, out="", err="", status=0):
        env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}",
               "PSQL_STUB_OUT": out, "PSQL_STUB_ERR": err, "PSQL_STUB_STATUS": str(status)}
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)

    return run


def test_hba_check_fails_when_psql_fails(stub_psql, tmp_path):
    hba = tmp_path / "pg_hba.conf"
    hba.write_text("local all all peer\nhost all all 1.2.3.4/32 foo\n")
    check = pg_commands.hba_errors(5432, str(hba))
    assert stub_psql(check).returncode == 0 and stub_psql(check).stdout == ""
    failed = stub_psql(check, err="psql: error: FATAL:  sorry, too many clients already", status=2)
    assert failed.returncode != 0
    assert "could not be checked: psql exited 2" in failed.stdout and "too many clients" in failed.stdout
    rejected = stub_psql(check, out='line 2: invalid authentication method "foo"')
    assert rejected.returncode == 0
    assert rejected.stdout.splitlines() == ['line 2: invalid authentication method "foo"',
                                            "    host all all 1.2.3.4/32 foo"]


def test_install_and_refuse_roll_back_on_a_failed_check(stub_psql, tmp_path):
    path, staged = tmp_path / "pg_hba.conf", tmp_path / "pg_hba.conf.new"
    path.write_text("old\n")
    staged.write_text("new\n")
    validate = pg_commands.hba_errors(5432, str(path))
    install = pg_commands.install_file(str(path), str(staged), str(tmp_path / "backups"), 3, validate,
                                       default_owner=f"{os.getuid()}:{os.getgid()}")
    failed = stub_psql(install, err="server closed the connection unexpectedly", status=2)
    assert failed.returncode == 1 and path.read_text() == "old\n"
    assert "previous file is back in place" in failed.stderr
    refused = stub_psql(pg_commands.refuse_if(validate, str(path)), status=2)
    assert refused.returncode == 1 and "could not be checked" in refused.stderr


def test_conf_check_fails_when_postgres_or_psql_fails(stub_psql, tmp_path):
    fake_postgres = tmp_path / "postgres"
    fake_postgres.write_text("#!/bin/sh\nexit 1\n")  # fails without a word
    fake_postgres.chmod(0o755)
    check = pg_commands.conf_errors(5432, str(fake_postgres), "/nonexistent", "/nonexistent.conf")
    silent = stub_psql(check)
    assert "postgres -C failed without a message" in silent.stdout
    fake_postgres.write_text("#!/bin/sh\nexit 0\n")
    assert stub_psql(check).stdout == "" and stub_psql(check).returncode == 0
    assert stub_psql(check, status=2).returncode != 0


def test_restart_script_is_valid_bash():
    script = pg_commands.restart_with_rollback(
        5432, "17/main", "pg_ctlcluster 17 main restart", "/etc/x.conf", "/etc/x.conf.deploy-fallback",
        ["listen_addresses"], "/var/log/postgresql/postgresql-17-main.log",
    )
    assert subprocess.run(["bash", "-n", "-c", script]).returncode == 0
    assert "cat /etc/x.conf.deploy-fallback > /etc/x.conf" in script
    # No file before this run: a failed restart removes the new one.
    absent = pg_commands.restart_with_rollback(
        5432, "17/main", "pg_ctlcluster 17 main restart", "/etc/x.conf", "/etc/x.conf.deploy-fallback",
        ["listen_addresses"], None, previous_absent=True,
    )
    assert "rm -f /etc/x.conf /etc/x.conf.deploy-fallback" in absent and "cat /etc/x" not in absent
    assert subprocess.run(["bash", "-n", "-c", absent]).returncode == 0


# ----------------------------------------------------------------- the plan of server_settings

def planned(lines, **kwargs):
    from deploylib.model.server_settings import plan_server_settings

    server = parse_server(["manager\tsysvinit", "pg_ctlcluster\tyes", *lines])
    (cluster,) = server.clusters
    args = dict(settings={"listen_addresses": ["localhost", "10.0.0.5"]},
                dropin_name="90-hatchet-owlclaw-deploy.conf", environment="staging")
    return plan_server_settings(server, cluster, **{**args, **kwargs})


def fact_lines(dropin_text, pending=True, extra=()):
    import base64

    conf = "include_dir = 'conf.d'\n"
    return [
        "cluster\t17\tmain\t5432\tonline", "server\t5432",
        "setting\tconfig_file\t/etc/postgresql/17/main/postgresql.conf\tpostmaster\tfalse\t\tstring",
        f"setting\tlisten_addresses\tlocalhost\tpostmaster\t{'true' if pending else 'false'}\t\tstring",
        *(["pending\tlisten_addresses\t\t\t"] if pending else []),
        f"file\tconf\t{base64.b64encode(conf.encode()).decode()}\t1",
        f"file\tdropin\t{base64.b64encode(dropin_text.encode()).decode()}\t1",
        f"file_setting\tlisten_addresses\t20\t{DROPIN}\t4\tfalse\tsetting could not be applied",
        *extra,
        "postmaster_pid\t78",
    ]


PROD_DROPIN = ("# Managed by hatchet-owlclaw deploy: do not edit, the next run overwrites changes.\n"
               "# Source: group_data (pg_listen_addresses, pg_settings)\n# Environment: prod\n"
               "listen_addresses = 'localhost,10.0.0.5'\n")


def test_staging_does_not_restart_for_prods_pending_setting():
    plan = planned(fact_lines(PROD_DROPIN), restart_policies={"prod": False, "dev": True})
    assert plan.refusal is None and plan.wanted == plan.current  # prod's file, kept
    assert plan.restart_for == ["listen_addresses"] and not plan.may_restart
    (notice,) = plan.notices
    assert notice.startswith(f"PostgreSQL 17/main needs a restart for listen_addresses (set by prod in {DROPIN}:4)")
    assert "prod does not allow restarts" in notice and "pg_ctlcluster 17 main restart" in notice
    # prod allowing restarts: staging may do it.
    assert planned(fact_lines(PROD_DROPIN), restart_policies={"prod": True}).may_restart


def test_alter_system_override_refuses_or_resets():
    auto = [f"file_setting\tlisten_addresses\t30\t{AUTO}\t3\ttrue\t"]
    refused = planned(fact_lines(PROD_DROPIN.replace("prod", "staging"), pending=False, extra=auto))
    assert refused.refusal.startswith("PostgreSQL 17/main: listen_addresses is set by ALTER SYSTEM in "
                                      f"{AUTO}:3")
    reset = planned(fact_lines(PROD_DROPIN.replace("prod", "staging"), pending=False, extra=auto),
                    reset_overrides=True)
    assert reset.refusal is None and reset.resets == ["listen_addresses"]
    assert reset.restart_for == ["listen_addresses"] and reset.may_restart


def test_a_fresh_servers_fallback_is_no_file():
    lines = [line for line in fact_lines("", pending=False) if not line.startswith(("file\tdropin", "file_setting"))]
    plan = planned(lines)
    assert plan.wanted != plan.current and plan.may_restart
    assert plan.fallback_absent and plan.restart_for == ["listen_addresses"]


def test_setting_problems_names_typos_enums_and_ranges():
    from deploylib.model.pg_safety import setting_problems
    from deploylib.model.postgres_state import PgSetting

    known = {
        "max_connections": PgSetting("100", "postmaster", False, "", "integer", (), "1", "262143"),
        "shared_buffers": PgSetting("16384", "postmaster", False, "8kB", "integer", (), "16", "1073741823"),
        "wal_level": PgSetting("replica", "postmaster", False, "", "enum", ("minimal", "replica", "logical")),
        "fsync": PgSetting("on", "sighup", False, "", "bool"),
    }
    names = frozenset(known) | {"work_mem"}
    assert setting_problems({"max_conections": 50}, known, names) == [
        "unknown setting 'max_conections' (did you mean 'max_connections'?)"
    ]
    assert setting_problems({"wal_level": "archive"}, known, names) == [
        "wal_level = 'archive': expected one of minimal, replica, logical"
    ]
    assert "out of range 1..262143" in setting_problems({"max_connections": 0}, known, names)[0]
    assert "not a number" in setting_problems({"shared_buffers": "12 parsecs"}, known, names)[0]
    fine = {"shared_buffers": "128MB", "fsync": "on", "wal_level": "LOGICAL", "Work_Mem": "4MB"}
    assert setting_problems(fine, known, names) == []
    assert setting_problems({"pgaudit.log": "all", "max_conections": 1}, known, frozenset()) == []
