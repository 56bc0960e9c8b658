"""The audit trail's entries, its last line read back and said, its rotation (deploylib/model/audit.py)."""

from __future__ import annotations

import json
import os
import subprocess

from deploylib.model import audit

RUN = {"run_id": "0123456789abcdef", "operator": "alice", "controller": "laptop", "controller_pid": 42,
       "started": "2026-12-02T01:00:00Z", "environment": "prod", "entry_point": "deploy.py"}


def test_entry_is_one_json_line_of_the_known_keys_in_order():
    data = audit.entry(RUN, {"commit": "a" * 40, "local_changes": True}, ["Role hatchet", "Base packages"],
                       None, "2026-12-02T01:02:03Z")
    line = audit.entry_line(data)
    assert "\n" not in line
    parsed = json.loads(line)
    assert list(parsed) == list(audit.KEYS)
    assert parsed["result"] == "ok" and parsed["failed_operation"] is None
    assert parsed["changes"] == ["Role hatchet", "Base packages"]
    assert parsed["operator"] == "alice" and parsed["controller"] == "laptop"
    assert parsed["local_changes"] is True
    assert "controller_pid" not in parsed and "started" not in parsed


def test_a_failed_run_names_the_operation():
    repository = {"commit": "b" * 40, "local_changes": False}
    data = audit.entry(RUN, repository, ["Role hatchet"], "Role owlclaw", "T")
    assert data["result"] == "failed" and data["failed_operation"] == "Role owlclaw"


def test_unusual_characters_stay_data(tmp_path):
    """Quotes, $, newlines in a name: the line is JSON (ASCII), passed as "$1", never shell code."""
    name = "it's $(touch pwned) `x` \"q\"\nnext é"
    line = audit.entry_line(audit.entry(RUN, {"commit": "c", "local_changes": None}, [name], None, "T"))
    assert line.isascii() and "\n" not in line
    command = audit.append_command(line)
    # The same script, aimed at a file of this test.
    log = tmp_path / "audit.log"
    command = command.replace(audit.AUDIT_LOG, str(log)).replace(audit.AUDIT_DIR, str(tmp_path))
    command = command.replace("-o root ", "")
    subprocess.run(command, shell=True, check=True, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists()
    assert json.loads(log.read_text())["changes"] == [name]
    assert oct(os.stat(log).st_mode & 0o777) in ("0o640", "0o600")


def test_fact_reads_the_last_line():
    assert audit.parse_fact([]) is None
    line = audit.entry_line(audit.entry(RUN, {"commit": "d" * 40, "local_changes": False}, ["x"], None, "T"))
    assert audit.parse_fact([f"last\t{line}"])["commit"] == "d" * 40
    assert audit.parse_fact(["last\tnot json"]) == {"unreadable": "not json"}
    assert audit.parse_fact(["last\t[1, 2]"]) == {"unreadable": "[1, 2]"}


def test_last_entry_said_in_one_line():
    data = audit.entry(RUN, {"commit": "0123456789abcdef0123", "local_changes": True},
                       ["Role hatchet", "Base packages"], None, "2026-12-02T01:02:03Z")
    assert audit.describe_last(data) == (
        "last deploy of this host: 2026-12-02T01:02:03Z by alice@laptop, "
        "commit 0123456789ab + local changes, 2 changes (prod, deploy.py)"
    )
    clean = {**data, "local_changes": False, "changes": ["Role hatchet"]}
    assert audit.describe_last(clean).endswith("commit 0123456789ab, 1 change (prod, deploy.py)")
    failed = audit.entry(RUN, {"commit": "e", "local_changes": False}, ["Role hatchet"], "Role owlclaw", "T")
    assert audit.describe_last(failed).endswith(", FAILED at Role owlclaw")
    assert audit.describe_last(None) == f"last deploy of this host: none recorded ({audit.AUDIT_LOG})"
    assert "unreadable" in audit.describe_last({"unreadable": "garbage"})


def test_repository_state():
    assert audit.repository_state("", "abc\n") == {"commit": "abc", "local_changes": False}
    assert audit.repository_state(" M deploy.py\n", "abc") == {"commit": "abc", "local_changes": True}
    assert audit.repository_state(None, None) == {"commit": "unknown", "local_changes": None}


def test_logrotate_config():
    config = audit.logrotate_config()
    assert config.splitlines()[2] == f"{audit.AUDIT_LOG} {{"
    for directive in ("weekly", "rotate 52", "compress", "missingok", "notifempty"):
        assert f"    {directive}\n" in config
