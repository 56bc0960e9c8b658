"""Encrypted secrets (secrets/<env>.env.age): round trip, identity errors, precedence, and
`./run secrets edit` leaving no clear text anywhere but a private tmpfs file it removes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyrage import x25519

from deploylib.model import config, secret_files
from deploylib.model.config import ConfigError

from .test_bad_config_cli import (  # noqa: F401  (listener is a fixture)
    assert_no_connection,
    listener,
    run_pyinfra,
    write_inventory,
)

STAGING_TEXT = "HATCHET_STAGING_DB_PASSWORD='h-enc # s3cret'\nOWLCLAW_STAGING_DB_PASSWORD=o-enc-s3cret\n"
STAGING_VARIABLES = ("HATCHET_STAGING_DB_PASSWORD", "OWLCLAW_STAGING_DB_PASSWORD")


def write_identity(path: Path, identity=None) -> x25519.Identity:
    identity = identity or x25519.Identity.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# created for a test\n{identity}\n")
    path.chmod(0o600)
    return identity


@pytest.fixture
def operator(project_copy, tmp_path, monkeypatch):
    """A throwaway identity (AGE_IDENTITY_FILE), listed in secrets/recipients.txt."""
    for variable in STAGING_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    identity_path = tmp_path / "operator" / "age-identity.txt"
    identity = write_identity(identity_path)
    monkeypatch.setenv("AGE_IDENTITY_FILE", str(identity_path))
    (project_copy / "secrets").mkdir()
    other = x25519.Identity.generate().to_public()
    (project_copy / "secrets" / "recipients.txt").write_text(
        f"# who can decrypt secrets/*.env.age\n{identity.to_public()}  # alice\n{other} # bob\n"
    )
    return identity_path


def encrypt_staging(project, text=STAGING_TEXT):
    recipients = secret_files.read_recipients(project / "secrets" / "recipients.txt")
    path = project / "secrets" / "staging.env.age"
    secret_files.write_encrypted(path, text, recipients)
    return path


def load(env):
    return config.validate(env, config.host_layers(env, "h1", {}))


def test_round_trip_with_a_throwaway_identity(project_copy, operator):
    path = encrypt_staging(project_copy)
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")  # armored: diffable text in git
    assert b"s3cret" not in data
    assert secret_files.decrypt_file(path, operator) == STAGING_TEXT
    settings = load("staging")
    # the same .env reader as the plaintext file: quotes, comments
    assert settings.db_password("hatchet_staging").reveal() == "h-enc # s3cret"
    assert settings.db_password("hatchet_staging").source == (
        "secrets/staging.env.age:HATCHET_STAGING_DB_PASSWORD"
    )
    assert not any("plaintext" in warning for warning in settings.warnings)


def test_precedence_environment_then_encrypted_then_plaintext(project_copy, operator, monkeypatch):
    encrypt_staging(project_copy, "HATCHET_STAGING_DB_PASSWORD=from-age\n")
    plain = project_copy / "secrets" / "staging.env"
    plain.write_text("HATCHET_STAGING_DB_PASSWORD=from-plain\nOWLCLAW_STAGING_DB_PASSWORD=o-plain-pw\n")
    plain.chmod(0o600)
    settings = load("staging")
    assert settings.db_password("hatchet_staging").reveal() == "from-age"
    assert settings.db_password("owlclaw_staging").reveal() == "o-plain-pw"
    notices = [w for w in settings.warnings if "plaintext secrets/staging.env" in w]
    assert len(notices) == 1 and "./run secrets edit staging" in notices[0]
    monkeypatch.setenv("HATCHET_STAGING_DB_PASSWORD", "from-env")
    assert load("staging").db_password("hatchet_staging").reveal() == "from-env"


def test_all_from_the_environment_needs_no_identity(project_copy, operator, monkeypatch):
    encrypt_staging(project_copy)
    monkeypatch.setenv("AGE_IDENTITY_FILE", str(project_copy / "nowhere.txt"))
    for variable in STAGING_VARIABLES:
        monkeypatch.setenv(variable, "from-env")
    assert load("staging").db_password("owlclaw_staging").reveal() == "from-env"


def test_missing_identity_names_the_file(project_copy, operator, monkeypatch):
    encrypt_staging(project_copy)
    missing = project_copy / "no-such-identity.txt"
    monkeypatch.setenv("AGE_IDENTITY_FILE", str(missing))
    with pytest.raises(ConfigError, match=f"{missing}: no such age identity file .*secrets/staging.env.age"):
        load("staging")


def test_default_identity_follows_xdg_config_home(monkeypatch, tmp_path):
    monkeypatch.delenv("AGE_IDENTITY_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert secret_files.identity_file() == tmp_path / "hatchet-owlclaw-deploy" / "age-identity.txt"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert secret_files.identity_file() == tmp_path / ".config/hatchet-owlclaw-deploy/age-identity.txt"


def test_wrong_identity_names_both_files_and_no_secret(project_copy, operator):
    encrypt_staging(project_copy)
    write_identity(operator)  # another key, not a recipient
    with pytest.raises(ConfigError) as error:
        load("staging")
    message = str(error.value)
    assert f"secrets/staging.env.age: cannot be decrypted with the identity in {operator}" in message
    assert "s3cret" not in message


def test_identity_must_be_private_and_well_formed(project_copy, operator):
    encrypt_staging(project_copy)
    operator.chmod(0o644)
    with pytest.raises(ConfigError, match=f"{operator}: mode 0644 .* chmod 600"):
        load("staging")
    operator.write_text("AGE-SECRET-KEY-1NOTAKEYBUTPRIVATE\n")
    operator.chmod(0o600)
    with pytest.raises(ConfigError) as error:
        load("staging")
    assert f"{operator}: line 1: not an age identity" in str(error.value)
    assert "NOTAKEYBUTPRIVATE" not in str(error.value)


def test_bad_line_in_the_decrypted_text_names_the_encrypted_file(project_copy, operator):
    encrypt_staging(project_copy, "HATCHET_STAGING_DB_PASSWORD=x\nnot a key value line\n")
    with pytest.raises(ConfigError, match="secrets/staging.env.age: line 2: expected KEY=VALUE"):
        load("staging")


def test_wrong_identity_stops_the_real_cli_before_any_host(project_copy, operator, listener):  # noqa: F811
    encrypt_staging(project_copy)
    write_identity(operator)
    result = run_pyinfra(project_copy, write_inventory(project_copy, "staging", listener.getsockname()[1]),
                         env={"AGE_IDENTITY_FILE": str(operator)})
    assert result.returncode == 2, result.stderr
    assert (f"configuration error: secrets/staging.env.age: cannot be decrypted with the identity "
            f"in {operator}") in result.stderr
    assert "no host was contacted" in result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    assert_no_connection(listener)


def test_missing_identity_stops_the_real_cli_before_any_host(project_copy, operator, listener):  # noqa: F811
    encrypt_staging(project_copy)
    missing = project_copy / "missing" / "age-identity.txt"
    result = run_pyinfra(project_copy, write_inventory(project_copy, "staging", listener.getsockname()[1]),
                         env={"AGE_IDENTITY_FILE": str(missing)})
    assert result.returncode == 2, result.stderr
    assert f"configuration error: {missing}: no such age identity file" in result.stderr
    assert "no host was contacted" in result.stderr
    assert_no_connection(listener)


# The editor: records what it sees while it runs, then appends a line.
RECORDING_EDITOR = """#!{python}
import json, os, sys
target = sys.argv[1]
seen = {{
    "target": target,
    "mode": os.stat(target).st_mode & 0o777,
    "dir_mode": os.stat(os.path.dirname(target)).st_mode & 0o777,
    "text": open(target).read(),
    "filesystem": __import__("subprocess").run(["stat", "-f", "-c", "%T", target],
                                               capture_output=True, text=True).stdout.strip(),
    "project_files": sorted(str(p) for p in __import__("pathlib").Path({project!r}).rglob("*")
                            if p.is_file()),
}}
with open({record!r}, "w") as handle:
    json.dump(seen, handle)
with open(target, "a") as handle:
    handle.write({append!r})
if {interrupt!r}:
    os.kill(os.getppid(), __import__("signal").SIGINT)  # the operator's Ctrl-C
sys.exit({status})
"""


def run_edit(project, record, append="", status=0, interrupt=False, env_extra=None):
    editor = project.parent / "editor.py"
    editor.write_text(RECORDING_EDITOR.format(python=sys.executable, project=str(project),
                                              record=str(record), append=append, status=status,
                                              interrupt=interrupt))
    editor.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("VISUAL", "XDG_RUNTIME_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "deploylib.secrets_cli", "edit", "staging"],
        cwd=project, env={**env, "EDITOR": str(editor), **(env_extra or {})},
        capture_output=True, text=True, timeout=60,
    )


def project_files(project):
    return {str(p) for p in project.rglob("*") if p.is_file()}


def test_edit_writes_no_plaintext_file(project_copy, operator, tmp_path_factory):
    encrypt_staging(project_copy)
    before = project_files(project_copy)
    record = tmp_path_factory.mktemp("editor") / "seen.json"  # outside the project
    result = run_edit(project_copy, record, append="APP_TOKEN=added-s3cret\n")
    assert result.returncode == 0, result.stderr
    assert "secrets/staging.env.age written" in result.stdout
    seen = json.loads(record.read_text())
    # while the editor ran: the clear text only in a private file on tmpfs
    assert seen["text"] == STAGING_TEXT
    assert seen["mode"] == 0o600 and seen["dir_mode"] == 0o700
    assert seen["filesystem"] == "tmpfs"
    assert set(seen["project_files"]) == before  # nothing in clear next to the project
    # after: the clear file and its directory are gone; the only change is the .age
    assert not os.path.exists(seen["target"]) and not os.path.exists(os.path.dirname(seen["target"]))
    assert project_files(project_copy) == before
    path = project_copy / "secrets" / "staging.env.age"
    assert b"added-s3cret" not in path.read_bytes()
    assert secret_files.decrypt_file(path, operator) == STAGING_TEXT + "APP_TOKEN=added-s3cret\n"
    assert "s3cret" not in result.stdout + result.stderr


def test_edit_encrypts_to_every_recipient(project_copy, operator, tmp_path):
    """A first edit starts from nothing and encrypts to alice and bob: bob can decrypt it."""
    bob = x25519.Identity.generate()
    recipients = project_copy / "secrets" / "recipients.txt"
    recipients.write_text(recipients.read_text() + f"{bob.to_public()} # bob, new laptop\n")
    before = project_files(project_copy)
    result = run_edit(project_copy, tmp_path / "seen.json", append="HATCHET_STAGING_DB_PASSWORD=first\n")
    assert result.returncode == 0, result.stderr
    new = project_files(project_copy) - before - {str(tmp_path / "seen.json")}
    assert new == {str(project_copy / "secrets" / "staging.env.age")}  # the only new file
    bob_file = tmp_path / "bob.txt"
    write_identity(bob_file, bob)
    assert secret_files.decrypt_file(project_copy / "secrets" / "staging.env.age", bob_file) == (
        "HATCHET_STAGING_DB_PASSWORD=first\n"
    )


def test_failed_editor_changes_nothing_and_leaves_no_clear_file(project_copy, operator, tmp_path):
    path = encrypt_staging(project_copy)
    before = path.read_bytes()
    record = tmp_path / "seen.json"
    result = run_edit(project_copy, record, append="X=1\n", status=3)
    assert result.returncode == 2
    assert "exited with status 3" in result.stderr and "unchanged" in result.stderr
    assert path.read_bytes() == before
    seen = json.loads(record.read_text())
    assert not os.path.exists(os.path.dirname(seen["target"]))


def test_ctrl_c_changes_nothing_and_leaves_no_clear_file(project_copy, operator, tmp_path):
    path = encrypt_staging(project_copy)
    before = path.read_bytes()
    record = tmp_path / "seen.json"
    result = run_edit(project_copy, record, append="X=1\n", interrupt=True)
    assert result.returncode == 130, result.stderr
    assert "interrupted; nothing changed" in result.stderr
    assert path.read_bytes() == before
    assert not os.path.exists(os.path.dirname(json.loads(record.read_text())["target"]))


def test_edit_refuses_a_bad_line(project_copy, operator, tmp_path):
    path = encrypt_staging(project_copy)
    before = path.read_bytes()
    result = run_edit(project_copy, tmp_path / "seen.json", append="oops no equals sign\n")
    assert result.returncode == 2
    assert "line 3: expected KEY=VALUE" in result.stderr
    assert path.read_bytes() == before


def test_edit_with_a_wrong_identity_never_starts_the_editor(project_copy, operator, tmp_path):
    encrypt_staging(project_copy)
    write_identity(operator)
    record = tmp_path / "seen.json"
    result = run_edit(project_copy, record)
    assert result.returncode == 2
    assert f"cannot be decrypted with the identity in {operator}" in result.stderr
    assert not record.exists()


def test_recipients_reencrypts_every_file(project_copy, operator, tmp_path):
    staging = encrypt_staging(project_copy)
    prod = project_copy / "secrets" / "prod.env.age"
    secret_files.write_encrypted(prod, "HATCHET_DB_PASSWORD=p\n",
                                 secret_files.read_recipients(project_copy / "secrets" / "recipients.txt"))
    carol = x25519.Identity.generate()
    carol_file = tmp_path / "carol.txt"
    write_identity(carol_file, carol)
    with pytest.raises(secret_files.SecretsError):
        secret_files.decrypt_file(staging, carol_file)
    recipients = project_copy / "secrets" / "recipients.txt"
    recipients.write_text(recipients.read_text() + f"{carol.to_public()} # carol\n")
    result = subprocess.run([sys.executable, "-m", "deploylib.secrets_cli", "recipients"],
                            cwd=project_copy, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "secrets/prod.env.age re-encrypted" in result.stdout
    assert secret_files.decrypt_file(staging, carol_file) == STAGING_TEXT
    assert secret_files.decrypt_file(prod, carol_file) == "HATCHET_DB_PASSWORD=p\n"


def test_bad_recipient_line_is_named(tmp_path):
    path = tmp_path / "recipients.txt"
    path.write_text("# team\nage1notakey # dave\n")
    with pytest.raises(secret_files.SecretsError, match="recipients.txt: line 2: not an age public key"):
        secret_files.read_recipients(path)


def test_identity_command_creates_a_private_identity(tmp_path):
    path = tmp_path / "config" / "hatchet-owlclaw-deploy" / "age-identity.txt"
    public = secret_files.ensure_identity(path)
    assert public.startswith("age1")
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert secret_files.ensure_identity(path) == public  # kept, never replaced
