"""File replacement only while the file is what the plan read (shell run here, for real)."""

import subprocess

from deploylib.model import file_swap, pg_commands


def sh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True)


def test_staged_names_are_unique_and_never_read_as_config():
    names = {file_swap.staged_name("/etc/postgresql/17/main/conf.d/90-x.conf") for _ in range(50)}
    assert len(names) == 50
    assert all(".conf.deploy-new." in name and not name.endswith(".conf") for name in names)


def test_text_sha256_is_the_sha256_of_the_bytes_read():
    raw = b"host all all 10.0.0.0/8 scram-sha-256 # caf\xc3\xa9 \xff\n"
    text = raw.decode("utf-8", errors="surrogateescape")  # as the PostgresServer fact decodes
    assert file_swap.text_sha256(text) == __import__("hashlib").sha256(raw).hexdigest()
    assert file_swap.text_sha256(None) == file_swap.text_sha256("") == file_swap.EMPTY_SHA256


def test_replace_when_unchanged_stop_when_changed(tmp_path):
    target, staged = tmp_path / "f", tmp_path / "f.deploy-new.1"
    target.write_text("planned\n")
    planned = file_swap.text_sha256("planned\n")
    staged.write_text("new\n")
    ok = sh(file_swap.replace_script(str(target), str(staged), planned, "root:root", "640"))
    assert ok.returncode == 0, ok.stderr
    assert target.read_text() == "new\n" and oct(target.stat().st_mode)[-3:] == "640"
    assert not staged.exists()

    target.write_text("edited by someone after planning\n")
    staged.write_text("newer\n")
    stopped = sh(file_swap.replace_script(str(target), str(staged), planned, "root:root", "640"))
    assert stopped.returncode == 1
    assert f"{target} changed since this run planned it" in stopped.stderr
    assert "nothing was written" in stopped.stderr
    assert target.read_text() == "edited by someone after planning\n"
    assert not staged.exists()


def test_absent_file_planned_absent(tmp_path):
    target, staged = tmp_path / "f", tmp_path / "f.deploy-new.1"
    absent = file_swap.EMPTY_SHA256
    staged.write_text("new\n")
    ok = sh(file_swap.replace_script(str(target), str(staged), absent, "root:root", "644"))
    assert ok.returncode == 0 and target.read_text() == "new\n"
    # Planned absent, but somebody created it meanwhile: stop.
    staged.write_text("newer\n")
    stopped = sh(file_swap.replace_script(str(target), str(staged), absent, "root:root", "644"))
    assert stopped.returncode == 1 and target.read_text() == "new\n"


def test_install_file_checks_the_planned_bytes_first(tmp_path):
    target, staged, backups = tmp_path / "pg_hba.conf", tmp_path / "pg_hba.conf.deploy-new.1", tmp_path / "b"
    target.write_text("other run's version\n")
    staged.write_text("mine\n")
    script = pg_commands.install_file(
        str(target), str(staged), str(backups), 3, "true",
        planned_sha256=file_swap.text_sha256("what I planned from\n"),
    )
    stopped = sh(script)
    assert stopped.returncode == 1 and "changed since this run planned it" in stopped.stderr
    assert target.read_text() == "other run's version\n"
    assert not staged.exists() and not backups.exists()  # nothing written, not even a backup

    staged.write_text("mine\n")
    script = pg_commands.install_file(
        str(target), str(staged), str(backups), 3, "true",
        planned_sha256=file_swap.text_sha256("other run's version\n"),
    )
    done = sh(script)
    assert done.returncode == 0, done.stderr
    assert target.read_text() == "mine\n" and not staged.exists()
    assert [p.read_text() for p in backups.iterdir()] == ["other run's version\n"]
