"""./run secrets: the encrypted secrets files (deploylib/model/secret_files.py).

    ./run secrets edit <env>     decrypt secrets/<env>.env.age to a private tmpfs file, run
                                 $EDITOR, re-encrypt to every recipient, remove the clear file
    ./run secrets recipients     re-encrypt every secrets/*.env.age after recipients.txt changed
    ./run secrets identity       print your public key (creating your identity if missing)
"""

from __future__ import annotations

import sys
import textwrap

from .model import secret_files
from .model.config import ENVIRONMENTS, ConfigError, _rel, parse_secrets_text, secrets_dir, secrets_file


def _check(text: str, source: str) -> None:
    parse_secrets_text(text, source)


def _initial_text(environment: str) -> str:
    """The plaintext file's content, so that a first edit migrates it."""
    plain = secrets_file(environment)
    return plain.read_text() if plain.is_file() else ""


def main(argv: list[str]) -> int:
    command, *rest = argv or ["help"]
    try:
        if command == "edit" and len(rest) == 1 and rest[0] in ENVIRONMENTS:
            environment = rest[0]
            changed = secret_files.edit(secrets_dir(), environment, _check, _initial_text(environment))
            path = _rel(secret_files.encrypted_file(secrets_dir(), environment))
            print(f"secrets: {path} {'written' if changed else 'unchanged'}")
            if changed and secrets_file(environment).exists():
                print(f"secrets: the plaintext {_rel(secrets_file(environment))} is still read after it; "
                      "remove it once the encrypted file holds everything")
            return 0
        if command == "recipients" and not rest:
            for path in secret_files.reencrypt_all(secrets_dir()):
                print(f"secrets: {_rel(path)} re-encrypted")
            return 0
        if command == "identity" and not rest:
            path = secret_files.identity_file()
            print(f"{secret_files.ensure_identity(path)} # {path}")
            return 0
    except (secret_files.SecretsError, ConfigError) as error:
        print(f"secrets: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("secrets: interrupted; nothing changed", file=sys.stderr)
        return 130
    print(textwrap.dedent(__doc__.split("\n", 2)[2]).strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
