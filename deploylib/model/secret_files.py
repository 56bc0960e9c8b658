"""Encrypted secrets in the repository: `secrets/<env>.env.age` (age format, ASCII-armored).

Encrypted to every public key in `secrets/recipients.txt`; decrypted in memory on the
controller with the operator's identity (AGE_IDENTITY_FILE, default
$XDG_CONFIG_HOME/hatchet-owlclaw-deploy/age-identity.txt). The crypto is pyrage's (the
Rust `age` crate); nothing here writes a secret to disk in clear, except `edit`, into a
private tmpfs file that it removes. Imports nothing of pyinfra.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyrage
from pyrage import ssh, x25519

APP_NAME = "hatchet-owlclaw-deploy"


class SecretsError(Exception):
    """A problem with the encrypted secrets (identity, recipients, file); never holds a secret."""


def default_identity_file() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / APP_NAME / "age-identity.txt"


def identity_file() -> Path:
    return Path(os.environ.get("AGE_IDENTITY_FILE") or default_identity_file())


def encrypted_file(secrets_dir: Path, environment: str) -> Path:
    return secrets_dir / f"{environment}.env.age"


def recipients_file(secrets_dir: Path) -> Path:
    return secrets_dir / "recipients.txt"


def read_identities(path: Path, needed_for: str) -> list:
    """The age identities (AGE-SECRET-KEY-1... lines; '#' comments) in the private file `path`."""
    hint = f"needed to decrypt {needed_for}; set AGE_IDENTITY_FILE or see secrets/README.md"
    if not path.is_file():
        raise SecretsError(f"{path}: no such age identity file ({hint})")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretsError(f"{path}: mode {mode:04o} lets others read the age identity; chmod 600 it")
    identities = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            # The line is (part of) a private key: never shown.
            raise SecretsError(f"{path}: line {number}: not an age identity (AGE-SECRET-KEY-1...)")
    if not identities:
        raise SecretsError(f"{path}: no age identity in the file ({hint})")
    return identities


def read_recipients(path: Path) -> list:
    """Public keys, one per line: `age1... # who` (or an ssh-ed25519/ssh-rsa public key)."""
    if not path.is_file():
        raise SecretsError(f"{path}: no such file (one age public key per line, e.g. 'age1... # alice')")
    recipients = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            if line.startswith("ssh-"):
                recipients.append(ssh.Recipient.from_str(" ".join(line.split()[:2])))
            else:
                recipients.append(x25519.Recipient.from_str(line))
        except pyrage.RecipientError as error:
            raise SecretsError(f"{path}: line {number}: not an age public key ({error})")
    if not recipients:
        raise SecretsError(f"{path}: no recipient (one age public key per line)")
    return recipients


def encrypt_text(text: str, recipients: list) -> bytes:
    return pyrage.encrypt(text.encode(), recipients, armored=True)


def decrypt_file(path: Path, identity_path: Path, label: str | None = None) -> str:
    """The clear text of `path` (shown as `label` in messages), in memory only."""
    label = label or str(path)
    identities = read_identities(identity_path, label)
    try:
        clear = pyrage.decrypt(path.read_bytes(), identities)
    except pyrage.DecryptError as error:
        raise SecretsError(
            f"{label}: cannot be decrypted with the identity in {identity_path} ({error}); "
            "is your public key in secrets/recipients.txt, and was the file re-encrypted since "
            "(./run secrets recipients)?"
        )
    try:
        return clear.decode()
    except UnicodeDecodeError:
        raise SecretsError(f"{label}: the decrypted text is not UTF-8")


def write_encrypted(path: Path, text: str, recipients: list) -> None:
    """Replace `path` atomically (a crash leaves the old file or the new one, never half)."""
    staging = path.with_name(f".{path.name}.new")
    staging.write_bytes(encrypt_text(text, recipients))
    os.replace(staging, path)


def private_tmpfs() -> Path:
    """A memory-backed directory only this user can enter: never a disk for clear text."""
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    raise SecretsError(
        "no tmpfs to edit in ($XDG_RUNTIME_DIR or /dev/shm); refusing to write clear text to disk"
    )


def _wipe(path: Path) -> None:
    if path.exists():
        with open(path, "r+b") as handle:
            handle.write(b"\0" * path.stat().st_size)
        path.unlink()


def edit(secrets_dir: Path, environment: str, check: Callable[[str, str], None],
         initial: str = "") -> bool:
    """Decrypt secrets/<env>.env.age to a private tmpfs file, run $EDITOR on it, re-encrypt to
    every recipient, remove the clear file (also when the editor fails or on Ctrl-C).

    `check(text, source)` validates the edited text (raising on a bad line); `initial` is the
    text to start from when there is no encrypted file yet. True when the file changed.
    """
    path = encrypted_file(secrets_dir, environment)
    recipients = read_recipients(recipients_file(secrets_dir))
    before = decrypt_file(path, identity_file()) if path.exists() else initial
    editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    workdir = Path(tempfile.mkdtemp(prefix=f"{APP_NAME}-", dir=private_tmpfs()))  # mode 0700
    clear = workdir / f"{environment}.env"
    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        descriptor = os.open(clear, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(before)
        status = subprocess.call([*editor, str(clear)])
        if status != 0:
            raise SecretsError(f"editor {editor[0]} exited with status {status}; {path} is unchanged")
        after = clear.read_text()
        check(after, f"{path} (edited)")
        if path.exists() and after == before:
            return False
        write_encrypted(path, after, recipients)
        return True
    finally:
        _wipe(clear)
        os.rmdir(workdir)
        signal.signal(signal.SIGTERM, previous_term)


def reencrypt_all(secrets_dir: Path) -> list[Path]:
    """Every secrets/*.env.age decrypted and encrypted again to the current recipients."""
    recipients = read_recipients(recipients_file(secrets_dir))
    identity_path = identity_file()
    texts = {path: decrypt_file(path, identity_path) for path in sorted(secrets_dir.glob("*.env.age"))}
    for path, text in texts.items():  # all decrypted first: a bad file stops before any write
        write_encrypted(path, text, recipients)
    return list(texts)


def ensure_identity(path: Path) -> str:
    """The public key of the identity in `path`, generated (mode 0600, dir 0700) if missing."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        identity = x25519.Identity.generate()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"# public key: {identity.to_public()}\n{identity}\n")
    return str(read_identities(path, "secrets/*.env.age")[0].to_public())
