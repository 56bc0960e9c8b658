"""The shell the application operations run, executed locally against a scratch repository."""

import subprocess

from deploylib.operations.app import checkout_script, wait_script


def git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def test_checkout_in_place_keeps_untracked_files(tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.email", "t@example.invalid")
    git(origin, "config", "user.name", "t")
    (origin / "compose.yml").write_text("services: {}\n")
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "one")
    git(origin, "tag", "-a", "v1", "-m", "v1")
    (origin / "compose.yml").write_text("services: {a: {image: x}}\n")
    git(origin, "commit", "-q", "-am", "two")

    target = tmp_path / "app"
    target.mkdir()
    (target / ".env").write_text("SECRET=1\n")  # already there: must stay
    url = f"file://{origin}"
    subprocess.run(["bash", "-c", checkout_script(str(target), url, "v1", None)], check=True,
                   capture_output=True)
    assert git(target, "rev-parse", "HEAD").strip() == git(origin, "rev-parse", "v1^{commit}").strip()
    assert (target / ".env").read_text() == "SECRET=1\n"
    (target / "data").mkdir()
    (target / "data" / "f").write_text("keep")
    subprocess.run(["bash", "-c", checkout_script(str(target), url, "main", None)], check=True,
                   capture_output=True)
    assert git(target, "rev-parse", "HEAD").strip() == git(origin, "rev-parse", "main").strip()
    assert (target / "data" / "f").read_text() == "keep" and (target / ".env").exists()

    missing = subprocess.run(["bash", "-c", checkout_script(str(target), url, "nope", None)],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "app_ref nope: no such branch, tag or commit" in missing.stderr


def test_wait_script_is_valid_shell():
    script = wait_script(["docker", "compose", "-p", "p", "-f", "a b.yml"], "p", 30)
    assert subprocess.run(["bash", "-n", "-c", script]).returncode == 0
    assert "docker compose -p p -f 'a b.yml' ps -a" in script
