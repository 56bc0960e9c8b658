"""pgBackRest (issue 15): configuration, the files and scripts built for its two hosts, the
freshness and archiving judgements."""

import subprocess
import sys

import pytest

from deploylib.facts.pgbackrest import parse_state, stanza_status
from deploylib.model import config, pgbackrest
from deploylib.model import postgres_rules as rules
from deploylib.model.config import ConfigError

CIPHER = "x" * 32


def load(project, monkeypatch, env="dev", **overrides):
    path = project / "overrides.py"
    path.write_text("".join(f"{k} = {v!r}\n" for k, v in overrides.items()))
    monkeypatch.setenv("DEPLOY_OVERRIDES", str(path))
    return config.validate(env, config.host_layers(env, "h1", {}))


def test_disabled_by_default_and_no_archive_settings(project_copy, monkeypatch):
    settings = load(project_copy, monkeypatch)
    assert settings.pgbackrest_enabled is False and settings.pgbackrest_cipher is None
    assert "archive_mode" not in rules.server_settings(settings)


def test_enabled_needs_the_passphrase_named_per_environment(project_copy, monkeypatch):
    monkeypatch.delenv("PGBACKREST_DEV_CIPHER_PASS", raising=False)
    with pytest.raises(ConfigError) as error:
        load(project_copy, monkeypatch, pgbackrest_enabled=True)
    assert "PGBACKREST_DEV_CIPHER_PASS" in str(error.value) and "pgbackrest_enabled" in str(error.value)


@pytest.mark.parametrize("value", ["short", CIPHER + "\n", " " + CIPHER])
def test_weak_or_multiline_passphrase_is_refused_without_echoing_it(project_copy, monkeypatch, value):
    monkeypatch.setenv("PGBACKREST_DEV_CIPHER_PASS", value)
    with pytest.raises(ConfigError) as error:
        load(project_copy, monkeypatch, pgbackrest_enabled=True)
    assert "$PGBACKREST_DEV_CIPHER_PASS" in str(error.value)
    assert value.strip() not in str(error.value)


def test_enabled_adds_archiving_through_the_server_settings(project_copy, monkeypatch):
    monkeypatch.setenv("PGBACKREST_DEV_CIPHER_PASS", CIPHER)
    settings = load(project_copy, monkeypatch, pgbackrest_enabled=True)
    assert settings.pgbackrest_cipher.reveal() == CIPHER and CIPHER not in repr(settings.pgbackrest_cipher)
    wanted = rules.server_settings(settings)
    assert wanted["archive_mode"] == "on" and wanted["wal_level"] == "replica"
    assert wanted["archive_command"] == "/usr/bin/pgbackrest --stanza=hatchet-owlclaw-dev archive-push %p"


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("pgbackrest_full_schedule", "61 1 * * *", "pgbackrest_full_schedule: minute"),
    ("pgbackrest_retention_full", 0, "pgbackrest_retention_full: expected a whole number"),
    ("pgbackrest_repo_path", "relative/path", "pgbackrest_repo_path"),
    ("restore_target_time", "yesterday", "restore_target_time: expected 'latest' or an ISO 8601 time"),
    ("restore_target_time", "2026-12-02T01:15:00", "restore_target_time: expected 'latest' or an ISO"),
    ("restore_target_time", "2026-02-30T01:15:00Z", "restore_target_time: expected an existing date"),
])
def test_bad_values_name_the_file_and_key(project_copy, monkeypatch, key, value, expected):
    with pytest.raises(ConfigError) as error:
        load(project_copy, monkeypatch, **{key: value})
    assert "overrides.py" in str(error.value) and expected in str(error.value)


def test_point_in_time_restore_needs_pgbackrest_and_no_dump_keys(project_copy, monkeypatch):
    with pytest.raises(ConfigError, match="restore_target_time: a point-in-time restore needs pgbackrest_enabled"):
        load(project_copy, monkeypatch, restore_target_time="latest")
    monkeypatch.setenv("PGBACKREST_DEV_CIPHER_PASS", CIPHER)
    with pytest.raises(ConfigError, match="do not set restore_database/restore_file"):
        load(project_copy, monkeypatch, pgbackrest_enabled=True, restore_target_time="latest",
             restore_database="owlclaw")
    settings = load(project_copy, monkeypatch, pgbackrest_enabled=True,
                    restore_target_time="2026-12-02 02:15:00+01:00")
    assert pgbackrest.target_time(settings.restore_target_time) == "2026-12-02 01:15:00.000000+00"


def test_repository_conf_holds_the_passphrase_and_the_database_hosts_does_not(project_copy, monkeypatch):
    monkeypatch.setenv("PGBACKREST_DEV_CIPHER_PASS", CIPHER)
    settings = load(project_copy, monkeypatch, pgbackrest_enabled=True)
    repo = pgbackrest.repo_conf(settings, CIPHER, "10.0.0.5", "/var/lib/postgresql/17/main", 5432)
    assert f"repo1-cipher-pass={CIPHER}" in repo and "repo1-cipher-type=aes-256-cbc" in repo
    assert "[hatchet-owlclaw-dev]\npg1-host=10.0.0.5\n" in repo and "repo1-retention-full=2" in repo
    db = pgbackrest.db_conf("dev", "10.0.0.6", "pgbackrest", "/var/lib/postgresql/17/main", 5432)
    assert "cipher" not in db and "repo1-host=10.0.0.6" in db


def test_ssh_lines_restrict_to_pgbackrest_and_keep_other_lines():
    line = pgbackrest.authorized_line("ssh-ed25519 AAAAkey postgres@db", "dev")
    assert line.startswith("no-agent-forwarding,no-X11-forwarding,no-port-forwarding,no-pty,command=")
    assert line.endswith("ssh-ed25519 AAAAkey hatchet-owlclaw-pgbackrest-dev")
    current = "ssh-rsa OTHER someone\nold-line hatchet-owlclaw-pgbackrest-dev\n"
    merged = pgbackrest.merge_lines(current, [line], "dev")
    assert merged == f"ssh-rsa OTHER someone\n{line}\n"
    # ssh's own additions (UpdateHostKeys) around an unchanged line: left as they are.
    learned = f"|1|hashed ssh-rsa AAAA\n{line}\n|1|hashed2 ecdsa AAAA\n"
    assert pgbackrest.merge_lines(learned, [line], "dev") == learned
    # staging's line on a shared host is not prod's to remove.
    assert "staging" in pgbackrest.merge_lines("k hatchet-owlclaw-pgbackrest-staging\n", [line], "prod")


def test_status_script_is_valid_python_and_writes_atomically(tmp_path):
    script = pgbackrest.status_script("dev", "pgbackrest", 5432, "/usr/lib/postgresql/17/bin/psql")
    compile(script, "status", "exec")
    assert "os.replace(temporary, path)" in script
    # Run its writer: the textfile collector's format, read back by the deploy's parser.
    namespace: dict = {}
    exec(compile(script.replace('if __name__ == "__main__":', "if False:"), "status", "exec"), namespace)
    target = tmp_path / "sub" / "x.prom"
    namespace["write"](str(target), [("pgbackrest_backup_last_success_timestamp_seconds", "h", 1700000000)])
    assert pgbackrest.parse_prom(target.read_text()) == {
        "pgbackrest_backup_last_success_timestamp_seconds": 1700000000.0}
    assert 'stanza="hatchet-owlclaw-dev"' in target.read_text()
    usage = subprocess.run([sys.executable, "-c", script, "nothing"], capture_output=True, text=True)
    assert usage.returncode != 0 and "usage" in usage.stderr


def test_backup_problems():
    now = 1_800_000_000
    fresh = {"pgbackrest_backup_last_success_timestamp_seconds": now - 3600}
    assert pgbackrest.backup_problems(fresh, now, 26, "f") == []
    stale = {"pgbackrest_backup_last_success_timestamp_seconds": now - 30 * 3600}
    assert "30.0 hours old" in pgbackrest.backup_problems(stale, now, 26, "f")[0]
    assert "no successful pgBackRest backup" in pgbackrest.backup_problems({}, now, 26, "f")[0]
    failed = {**fresh, "pgbackrest_backup_last_exit_status": 57}
    assert "exit status 57" in pgbackrest.backup_problems(failed, now, 26, "f")[0]


def test_archiver_problems():
    assert pgbackrest.archiver_problems(None) == []
    recovered = {"failed_count": 3, "last_failed": 100.0, "last_archived": 200.0}
    assert pgbackrest.archiver_problems(recovered) == []
    failing = {"failed_count": 3, "last_failed": 300.0, "last_archived": 200.0, "last_failed_wal": "0001"}
    assert "WAL archiving is failing: 3 failed attempt(s)" in pgbackrest.archiver_problems(failing)[0]


def test_fact_parsing():
    import base64
    import json

    info = base64.b64encode(json.dumps([{"name": "s", "status": {"code": 2}}]).encode()).decode()
    text = base64.b64encode(b"ssh-ed25519 AAAA x\n").decode()
    state = parse_state(["now 1700000000", f"file /k.pub {text}", f"info {info}"])
    assert state.now == 1700000000 and state.files == {"/k.pub": "ssh-ed25519 AAAA x\n"}
    assert stanza_status(state.info) == 2
    assert stanza_status(parse_state(["info "]).info) is None


def test_archiver_counters_come_with_the_server_session():
    """pg_stat_archiver is read in PostgresServer's psql session (no pg_lsclusters, psql and
    backend of its own on every run of a database host)."""
    from deploylib.facts.pgbackrest import PgBackRestHost
    from deploylib.facts.postgres import SERVER_SQL, parse_server

    assert "FROM pg_stat_archiver" in SERVER_SQL
    assert SERVER_SQL.index("FROM pg_stat_archiver") < SERVER_SQL.index("'postmaster_pid'")
    command = PgBackRestHost().command(files=["/k.pub"])
    assert "psql" not in command and "pg_lsclusters" not in command
    server = parse_server(["cluster\t17\tmain\t5432\tonline", "server\t5432",
                           "archiver\t5\t1\t10.5\t20\t000000010000000000000003", "postmaster_pid\t7"])
    archiver = server.clusters[0].archiver
    assert archiver["failed_count"] == 1 and archiver["last_failed_wal"] == "000000010000000000000003"
    assert archiver["last_archived"] == 10.5 and archiver["archived_count"] == 5
    assert pgbackrest.parse_archiver(["5", "0", "10.5", "0", "-"])["last_failed_wal"] is None
    assert pgbackrest.parse_archiver(["5", "x", "1", "1", "-"]) is None
    assert pgbackrest.parse_archiver(["5"]) is None


def test_restore_script_targets_and_side_cluster():
    script = pgbackrest.restore_script("dev", "17", 5432, 5439, "/var/lib/postgresql/17/pitr-x",
                                       "2026-12-02T01:00:00Z")
    assert "--type=time --target='2026-12-02 01:00:00.000000+00' --target-action=promote" in script
    assert "--archive-mode=off" in script and "archive_mode = off" in script and "port = 5439" in script
    latest = pgbackrest.restore_script("dev", "17", 5432, 5439, "/d", "latest")
    assert "--type=default" in latest and "--target=" not in latest
    swap = pgbackrest.swap_script("dev", "17", "main", "/var/lib/postgresql/17/main", 5439, "/d", "S",
                                  start="pg_ctlcluster 17 main start", stop="pg_ctlcluster 17 main stop", port=5432)
    assert "mv /var/lib/postgresql/17/main /var/lib/postgresql/17/main.before-pitr-S" in swap
    assert "rm -rf" not in swap


def test_freshness_fails_in_prod_only_by_its_shipped_data(project_copy, monkeypatch):
    monkeypatch.setenv("HATCHET_DB_PASSWORD", "hatchet-pass-1")
    monkeypatch.setenv("OWLCLAW_DB_PASSWORD", "owlclaw-pass-2")
    assert load(project_copy, monkeypatch).pgbackrest_freshness_fails is False
    assert load(project_copy, monkeypatch, env="prod").pgbackrest_freshness_fails is True


def test_freshness_fails_only_when_told():
    from pyinfra.api import Config, Inventory, State

    from deploylib.operations import pgbackrest as ops

    inventory = Inventory((["h"], {}))
    state = State(inventory, Config())
    host = inventory.get_host("h")
    from pyinfra.context import ctx_host, ctx_state

    with ctx_state.use(state), ctx_host.use(host):
        commands = list(ops.freshness._inner(problems=["too old"], fail=True))
        assert len(commands) == 1 and "exit 1" in str(commands[0])
        assert list(ops.freshness._inner(problems=["too old"], fail=False)) == []
        assert list(ops.freshness._inner(problems=[], fail=True)) == []


def test_schedules_run_the_wrapper_as_root(project_copy, monkeypatch):
    settings = load(project_copy, monkeypatch, pgbackrest_full_schedule="0 2 * * 0",
                    pgbackrest_diff_schedule="0 2 * * 1-6")
    cron = pgbackrest.cron_file(settings, "/usr/local/sbin/w")
    assert "0 2 * * 0 root /usr/local/sbin/w backup full\n" in cron
    assert "0 2 * * 1-6 root /usr/local/sbin/w backup diff\n" in cron
    assert "*/5 * * * * root /usr/local/sbin/w archive-status\n" in pgbackrest.archive_cron_file("/usr/local/sbin/w")


def test_target_moment_is_utc():
    from datetime import UTC, datetime

    assert pgbackrest.target_moment("2026-12-02T02:15:00+01:00") == datetime(2026, 12, 2, 1, 15, tzinfo=UTC)
    script = pgbackrest.restore_script("dev", "17", 5432, 5439, "/d", "2026-12-02T01:00:00Z")
    # A commit after the target on the live cluster comes before the archive check.
    assert script.index("SELECT txid_current()") < script.index("pgbackrest --stanza=hatchet-owlclaw-dev check")
    assert "pg_ctl -D /d status" in script
