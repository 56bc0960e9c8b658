"""The run lock's shell (run here, for real, in a temporary directory) and its messages."""

import os
import subprocess

import pytest

from deploylib.model import run_lock

RECORD = {
    "run_id": "aaaa1111", "environment": "prod", "entry_point": "deploy.py", "operator": "alice",
    "controller": "laptop", "controller_pid": 4242, "started": "2026-12-01T21:40:00Z",
}
OTHER = {**RECORD, "run_id": "bbbb2222", "operator": "bob", "environment": "staging"}
CLEAR = run_lock.clear_command("deploy@db1")


def sh(script: str, shell: str = "sh") -> subprocess.CompletedProcess:
    return subprocess.run([shell, "-c", script], capture_output=True, text=True)


def read_state(lock_dir) -> run_lock.LockState:
    out = sh(run_lock.fact_command(str(lock_dir)))
    assert out.returncode == 0, out.stderr
    return run_lock.parse_fact(out.stdout.splitlines())


def take(lock_dir, record=RECORD, planned_last=""):
    # This test process is the "controller" and an ancestor of the script: the holder.
    script = run_lock.take_script(record, planned_last, os.getpid(), CLEAR, lock_dir=str(lock_dir))
    return sh(script, "bash")


def test_free_host_reads_free_and_nothing_was_ever_taken(tmp_path):
    state = read_state(tmp_path)
    assert state.status == "free" and state.last == "" and state.record is None
    assert run_lock.refusal("db1", state, CLEAR) is None


def test_take_records_the_holder_and_a_second_run_stops_naming_it(tmp_path):
    assert take(tmp_path).returncode == 0
    state = read_state(tmp_path)
    assert state.status == "held"  # the holder (this process) runs
    assert state.record["holder_pid"] == str(os.getpid())
    assert state.last == run_lock.last_line(RECORD)
    message = run_lock.refusal("db1", state, CLEAR)
    assert "db1 is locked by a run in progress: deploy.py for environment prod" in message
    assert "started 2026-12-01T21:40:00Z by alice on laptop (controller PID 4242" in message
    assert "Nothing was changed on any host" in message

    second = take(tmp_path, OTHER, planned_last=state.last)
    assert second.returncode == 1
    assert "locked by another run; nothing was changed" in second.stderr
    assert "operator=alice" in second.stderr and CLEAR in second.stderr
    assert read_state(tmp_path).record["run_id"] == "aaaa1111"  # untouched


def test_release_removes_only_its_own_lock(tmp_path):
    assert take(tmp_path).returncode == 0
    assert sh(run_lock.release_script("bbbb2222", str(tmp_path))).returncode == 0
    assert (tmp_path / "run.lock").exists()
    assert sh(run_lock.release_script("aaaa1111", str(tmp_path))).returncode == 0
    assert not (tmp_path / "run.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.last"]


def test_a_run_that_planned_before_another_took_the_lock_stops(tmp_path):
    planned = read_state(tmp_path).last  # both plan on a host nobody deployed yet
    assert take(tmp_path, OTHER, planned_last=planned).returncode == 0
    assert sh(run_lock.release_script("bbbb2222", str(tmp_path))).returncode == 0
    late = take(tmp_path, RECORD, planned_last=planned)
    assert late.returncode == 1
    assert "another run changed this host after this run planned it: bbbb2222 staging" in late.stderr
    assert not (tmp_path / "run.lock").exists()  # gave it back
    assert read_state(tmp_path).last == run_lock.last_line(OTHER)


def test_a_dead_holder_makes_the_lock_stale_with_the_clearing_command(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "run.lock").write_text(
        "\n".join(run_lock.record_lines(RECORD)) + f"\nholder_pid={dead.pid}\nholder_start=1\nboot_id=x\n"
    )
    state = read_state(tmp_path)
    assert state.status == "stale"
    message = run_lock.refusal("db1", state, CLEAR)
    assert "db1 has a stale lock (/var/lib/hatchet-owlclaw-deploy/run.lock)" in message
    assert "killed or interrupted" in message
    assert message.endswith(f"clear the lock with: {CLEAR}   and run again.")


@pytest.mark.parametrize(
    "record, now, boot, status",
    [
        ({"holder_pid": "7", "holder_start": "99", "boot_id": "b"}, "99", "b", "held"),
        ({"holder_pid": "7", "holder_start": "99", "boot_id": "b"}, "98", "b", "stale"),  # PID reused
        ({"holder_pid": "7", "holder_start": "99", "boot_id": "b"}, "99", "c", "stale"),  # rebooted
        ({"holder_pid": "7", "holder_start": "99", "boot_id": "b"}, None, "b", "stale"),
        ({"holder_pid": "", "holder_start": ""}, None, "b", "unknown"),
    ],
)
def test_status(record, now, boot, status):
    assert run_lock.LockState(record, "", now, boot).status == status


def test_values_cannot_break_the_lock_file():
    assert run_lock.clean("ev$il\nname`x`") == "ev?il?name?x?"


def test_clear_command():
    assert run_lock.clear_command(None) == "sudo rm /var/lib/hatchet-owlclaw-deploy/run.lock"
    assert run_lock.clear_command(run_lock.ssh_target("db1", "deploy", 2222)) == (
        "ssh -p 2222 deploy@db1 sudo rm /var/lib/hatchet-owlclaw-deploy/run.lock"
    )
    assert run_lock.ssh_target("db1", None, 22) == "db1"
    assert run_lock.ssh_target("db1", "root", None, "/keys/id x") == "-i '/keys/id x' root@db1"
