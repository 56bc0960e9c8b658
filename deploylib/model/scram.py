"""PostgreSQL-compatible SCRAM-SHA-256 password verifiers (pure stdlib).

PostgreSQL stores a SCRAM password as::

    SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>

with (RFC 5802 / RFC 7677)::

    SaltedPassword = PBKDF2-HMAC-SHA256(password, salt, iterations)
    ClientKey      = HMAC-SHA256(SaltedPassword, "Client Key")
    StoredKey      = SHA256(ClientKey)
    ServerKey      = HMAC-SHA256(SaltedPassword, "Server Key")

Before hashing, PostgreSQL normalises the password with SASLprep (RFC 4013), but
only when that is possible: if the password is not valid UTF-8, or SASLprep rejects
it, the password's raw bytes are used unchanged (``pg_be_scram_build_secret`` in
``src/backend/libpq/auth-scram.c`` together with ``pg_saslprep`` in
``src/common/saslprep.c``). :func:`saslprep_password` reproduces that behaviour,
including two PostgreSQL specifics:

* a pure-ASCII password is used as-is (no checks at all, control characters
  included);
* the prohibited-character and bidi checks are applied to the string after the
  mapping step but *before* NFKC normalisation, and the NFKC form of that mapped
  string is what gets hashed.

Handing PostgreSQL a pre-computed verifier (``ALTER ROLE ... PASSWORD 'SCRAM-...'``)
keeps the plaintext out of SQL text, server logs and ``pg_stat_statements``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass

__all__ = [
    "DEFAULT_ITERATIONS",
    "DEFAULT_SALT_LENGTH",
    "SCRAM_SHA_256",
    "ScramVerifier",
    "compute_verifier",
    "parse_verifier",
    "saslprep_password",
    "scram_sha256_verifier",
    "verifier_matches",
]

SCRAM_SHA_256 = "SCRAM-SHA-256"
#: PostgreSQL's SCRAM_SHA_256_DEFAULT_ITERATIONS (and the fixed value before PG 16).
DEFAULT_ITERATIONS = 4096
#: PostgreSQL's SCRAM_DEFAULT_SALT_LEN.
DEFAULT_SALT_LENGTH = 16
_KEY_LENGTH = 32  # SHA-256 digest size
_MAX_ITERATIONS = 2**31 - 1  # PostgreSQL keeps the iteration count in a C int

_VERIFIER_RE = re.compile(
    r"SCRAM-SHA-256\$([0-9]+):([A-Za-z0-9+/]+={0,2})"
    r"\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})"
)

# RFC 3454 C.1.2 (non-ASCII space characters): mapped to U+0020. These are
# PostgreSQL's ranges verbatim; note U+200B is also in B.1 but, as in PostgreSQL,
# the space mapping wins.
_NON_ASCII_SPACES = frozenset((0x00A0, 0x1680, *range(0x2000, 0x200C), 0x202F, 0x205F, 0x3000))
# RFC 3454 B.1 (commonly mapped to nothing): removed.
_MAPPED_TO_NOTHING = frozenset(
    (0x00AD, 0x034F, 0x1806, *range(0x180B, 0x180E), *range(0x200B, 0x200E), 0x2060)
    + (*range(0xFE00, 0xFE10), 0xFEFF)
)


def _is_prohibited(ch: str) -> bool:
    """SASLprep prohibited output (RFC 4013 section 2.3) or unassigned in Unicode 3.2.

    C.1.2 is not listed because the mapping step has already turned those
    characters into U+0020.
    """
    return (
        stringprep.in_table_c21_c22(ch)
        or stringprep.in_table_c3(ch)
        or stringprep.in_table_c4(ch)
        or stringprep.in_table_c5(ch)
        or stringprep.in_table_c6(ch)
        or stringprep.in_table_c7(ch)
        or stringprep.in_table_c8(ch)
        or stringprep.in_table_c9(ch)
        or stringprep.in_table_a1(ch)
    )


def _saslprep(text: str) -> str | None:
    """PostgreSQL's pg_saslprep on a non-ASCII string; None means SASLPREP_PROHIBITED."""
    # 1) Map.
    mapped = []
    for ch in text:
        code = ord(ch)
        if code in _NON_ASCII_SPACES:
            mapped.append(" ")
        elif code not in _MAPPED_TO_NOTHING:
            mapped.append(ch)
    if not mapped:
        return None  # PostgreSQL refuses an empty result

    # 3) Prohibit and 4) bidi, checked on the mapped, not yet normalised, characters
    # exactly as PostgreSQL does.
    if any(_is_prohibited(ch) for ch in mapped):
        return None
    if any(stringprep.in_table_d1(ch) for ch in mapped):
        if any(stringprep.in_table_d2(ch) for ch in mapped):
            return None
        if not (stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1])):
            return None

    # 2) Normalise (PostgreSQL uses its current Unicode tables, not 3.2's).
    return unicodedata.normalize("NFKC", "".join(mapped))


def saslprep_password(password: str | bytes) -> bytes:
    """Return the exact bytes PostgreSQL feeds to PBKDF2 for ``password``.

    ``str`` passwords are encoded as UTF-8; ``bytes`` are taken as the raw password
    as the server sees it (i.e. already in the server encoding). SASLprep is applied when
    the bytes are valid UTF-8 and SASLprep succeeds; otherwise the raw bytes are
    returned, as PostgreSQL does. ASCII passwords are returned unchanged.

    Raises ValueError for a password containing NUL (PostgreSQL passwords are C
    strings, so such a password cannot be set) or a ``str`` that is not encodable
    as UTF-8 (lone surrogates).
    """
    if isinstance(password, str):
        raw = password.encode("utf-8")
    elif isinstance(password, bytes | bytearray | memoryview):
        raw = bytes(password)
    else:
        raise TypeError(f"password must be str or bytes, not {type(password).__name__}")
    if b"\x00" in raw:
        raise ValueError("password must not contain NUL characters")
    if raw.isascii():
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # SASLPREP_INVALID_UTF8: use as-is
    prepared = _saslprep(text)
    if prepared is None:
        return raw  # SASLPREP_PROHIBITED: use as-is
    return prepared.encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:8]


@dataclass(frozen=True, repr=False)
class ScramVerifier:
    """A parsed ``SCRAM-SHA-256$...`` verifier.

    ``repr()`` shows only the iteration count, the salt and short fingerprints of
    the keys: StoredKey and ServerKey are password-equivalent for anyone who can
    mount an offline guessing attack, so they should not end up in logs. Use
    :meth:`to_string` to get the PostgreSQL text form.
    """

    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int):
            raise TypeError("iterations must be an int")
        if not 1 <= self.iterations <= _MAX_ITERATIONS:
            raise ValueError(f"iterations must be between 1 and {_MAX_ITERATIONS}")
        if not isinstance(self.salt, bytes) or not self.salt:
            raise ValueError("salt must be non-empty bytes")
        for name in ("stored_key", "server_key"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != _KEY_LENGTH:
                raise ValueError(f"{name} must be {_KEY_LENGTH} bytes")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(iterations={self.iterations}, "
            f"salt={_b64(self.salt)!r}, "
            f"stored_key=<sha256:{_fingerprint(self.stored_key)}...>, "
            f"server_key=<sha256:{_fingerprint(self.server_key)}...>)"
        )

    __str__ = __repr__

    def to_string(self) -> str:
        """The verifier in PostgreSQL's ``pg_authid.rolpassword`` format."""
        return (
            f"{SCRAM_SHA_256}${self.iterations}:{_b64(self.salt)}"
            f"${_b64(self.stored_key)}:{_b64(self.server_key)}"
        )


def compute_verifier(password: str | bytes, salt: bytes, iterations: int) -> ScramVerifier:
    """Derive StoredKey/ServerKey for ``password`` with the given salt and iterations."""
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise TypeError("iterations must be an int")
    if not 1 <= iterations <= _MAX_ITERATIONS:
        raise ValueError(f"iterations must be between 1 and {_MAX_ITERATIONS}")
    if not isinstance(salt, bytes | bytearray) or not salt:
        raise ValueError("salt must be non-empty bytes")
    salt = bytes(salt)
    salted = hashlib.pbkdf2_hmac("sha256", saslprep_password(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return ScramVerifier(iterations, salt, stored_key, server_key)


def scram_sha256_verifier(
    password: str | bytes, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """Build a verifier string exactly as PostgreSQL would store it in ``rolpassword``.

    A random 16-byte salt is used unless ``salt`` is given.
    """
    if salt is None:
        salt = secrets.token_bytes(DEFAULT_SALT_LENGTH)
    return compute_verifier(password, salt, iterations).to_string()


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_verifier(text: object) -> ScramVerifier | None:
    """Parse a ``SCRAM-SHA-256$...`` verifier; None for anything else.

    md5 hashes (``md5...``), plaintext, NULL/empty values and malformed verifiers
    (bad base64, keys that are not 32 bytes, zero or absurd iteration counts) all
    give None. Surrounding whitespace is ignored.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str):
        return None
    match = _VERIFIER_RE.fullmatch(text.strip())
    if match is None:
        return None
    iterations_text, salt_b64, stored_b64, server_b64 = match.groups()
    if len(iterations_text) > 10:
        return None
    iterations = int(iterations_text)
    salt = _b64decode(salt_b64)
    stored_key = _b64decode(stored_b64)
    server_key = _b64decode(server_b64)
    if salt is None or stored_key is None or server_key is None:
        return None
    try:
        return ScramVerifier(iterations, salt, stored_key, server_key)
    except ValueError:
        return None


def verifier_matches(password: str | bytes, stored: str | None) -> bool:
    """True if ``stored`` is a SCRAM-SHA-256 verifier for ``password``.

    Recomputes the keys with the stored salt and iteration count and compares both
    StoredKey and ServerKey in constant time. Returns False for None, md5 hashes,
    plaintext and garbage, and for passwords PostgreSQL could not hold (NUL).
    """
    parsed = parse_verifier(stored)
    if parsed is None:
        return False
    try:
        candidate = compute_verifier(password, parsed.salt, parsed.iterations)
    except ValueError:
        return False
    stored_ok = hmac.compare_digest(candidate.stored_key, parsed.stored_key)
    server_ok = hmac.compare_digest(candidate.server_key, parsed.server_key)
    return stored_ok and server_ok


@functools.lru_cache(maxsize=1024)  # a run asks twice per role and host (plan, then execution)
def verifier_digest_matches(password: str | bytes, head: str, digest_hex: str) -> bool:
    """Does `password` match a stored verifier known only by its head
    ("SCRAM-SHA-256$<iterations>:<base64 salt>") and the SHA-256 hex digest of the
    whole verifier string? Lets a host prove a match without sending its keys."""
    method, _, rest = head.partition("$")
    iterations_text, _, salt_b64 = rest.partition(":")
    if method != SCRAM_SHA_256 or not iterations_text.isdigit() or not salt_b64:
        return False
    try:
        salt = base64.b64decode(salt_b64, validate=True)
        candidate = scram_sha256_verifier(password, salt=salt, iterations=int(iterations_text))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(hashlib.sha256(candidate.encode()).hexdigest(), digest_hex)
