"""Tests for deploylib.model.scram (PostgreSQL SCRAM-SHA-256 verifiers)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from deploylib.model.scram import (
    DEFAULT_ITERATIONS,
    DEFAULT_SALT_LENGTH,
    ScramVerifier,
    compute_verifier,
    parse_verifier,
    saslprep_password,
    scram_sha256_verifier,
    verifier_matches,
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def reference_verifier(password: bytes, salt: bytes, iterations: int) -> str:
    """RFC 5802 / RFC 7677 key derivation, written out independently of the module."""
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


# --------------------------------------------------------------------------- #
# Independent derivations / RFC vectors
# --------------------------------------------------------------------------- #

FIXED_SALT = bytes(range(16))


@pytest.mark.parametrize("password", ["postgres", "pencil", "p@ss w'ord$\\", "x" * 200, ""])
@pytest.mark.parametrize("iterations", [1, 4096, 10000])
def test_matches_inline_rfc5802_derivation(password: str, iterations: int) -> None:
    expected = reference_verifier(password.encode(), FIXED_SALT, iterations)
    assert scram_sha256_verifier(password, salt=FIXED_SALT, iterations=iterations) == expected


def test_known_vector_for_postgres_password() -> None:
    got = scram_sha256_verifier("postgres", salt=FIXED_SALT)
    assert got == reference_verifier(b"postgres", FIXED_SALT, 4096)
    assert got.startswith("SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$")


RFC7677_SALT_B64 = "W22ZaJ0SNY7soEsUEjb6gQ=="
RFC7677_AUTH_MESSAGE = (
    b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
RFC7677_CLIENT_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC7677_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_rfc7677_example_server_signature_and_client_proof() -> None:
    text = scram_sha256_verifier("pencil", salt=base64.b64decode(RFC7677_SALT_B64))
    assert text.startswith(f"SCRAM-SHA-256$4096:{RFC7677_SALT_B64}$")
    v = parse_verifier(text)
    assert v is not None

    # The server proves itself with ServerSignature = HMAC(ServerKey, AuthMessage).
    server_signature = hmac.new(v.server_key, RFC7677_AUTH_MESSAGE, hashlib.sha256).digest()
    assert b64(server_signature) == RFC7677_SERVER_SIGNATURE

    # The server checks the client the way PostgreSQL does, using only StoredKey:
    # ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); SHA256(ClientKey) == StoredKey.
    client_signature = hmac.new(v.stored_key, RFC7677_AUTH_MESSAGE, hashlib.sha256).digest()
    proof = base64.b64decode(RFC7677_CLIENT_PROOF)
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == v.stored_key


# --------------------------------------------------------------------------- #
# Verifiers produced by a real PostgreSQL 15.18 server
#   SET password_encryption = 'scram-sha-256';
#   CREATE ROLE ... PASSWORD '...';
#   SELECT rolpassword FROM pg_authid WHERE rolname = ...;
# --------------------------------------------------------------------------- #

PG15_FIXTURES = {
    # CREATE ROLE fx_ascii PASSWORD 'p@ss w''ord$\';
    "ascii": (
        "p@ss w'ord$\\",
        "SCRAM-SHA-256$4096:YwtlalbV3BYXtUjOGaacaw==$8tUSRtWW3PTst/u07PZEJfqCdQHKstNXYXR0S0NKF3E="
        ":JwzXUoPaLP42u+/khs75/LaU5DsuGTfNSQFQgxRb49o=",
    ),
    # CREATE ROLE fx_umlaut PASSWORD 'pässwörd';
    "umlaut": (
        "p\u00e4ssw\u00f6rd",
        "SCRAM-SHA-256$4096:NeR7p7BTbw0oB9LFpynSOA==$BLDtopUA/idy3adCql75Umt8tp25xf6/2S+Fbdo5AIw="
        ":i/tqHJwI1HZnZV/CyBBi6bFkRmQpB4gVM/yx3gBYxTc=",
    ),
    # CREATE ROLE fx_nbsp PASSWORD E'non\u00a0breaking';  (SASLprep: U+00A0 -> space)
    "nbsp": (
        "non\u00a0breaking",
        "SCRAM-SHA-256$4096:ouqYrQacROnJvQuhg6etlA==$BtRPl7pcthd74qmOulVRiJXTx7iRzAqpz5+vqdAo9oE="
        ":6rxeE95MOnna48S52kf3uaavZaotD5tqnnn15EHnGpc=",
    ),
    # CREATE ROLE fx_lig PASSWORD E'\ufb01\u2168\u00adx';  (NFKC + soft hyphen removed: "fiIXx")
    "ligature": (
        "\ufb01\u2168\u00adx",
        "SCRAM-SHA-256$4096:geznHIenuiG3XXd5jsjZQA==$kffYEGSiWAh8z0iOhCnJCgt2gfK9wHGkFj/g+Q2gdCg="
        ":utPdlGZhEDBs5ru8tsNYLt4OKJ3XMKNJUVJcGBTf6aY=",
    ),
    # CREATE ROLE fx_ctrl PASSWORD E'caf\u00e9\u0007';  (prohibited BEL: raw bytes are hashed)
    "prohibited": (
        "caf\u00e9\u0007",
        "SCRAM-SHA-256$4096:JiRQE5pgn32qPqiapQKprA==$65V4nFOKND6aEcnqQu24dai+KiwsafEymesozIn89dM="
        ":HVPQIFipK19EiGRVY1INWT4gAbmew4FZ45SQjXpOyYw=",
    ),
    # CREATE ROLE fx_alef PASSWORD E'\u2135bc';  (bidi checked before NFKC: hashes "\u05d0bc")
    "bidi_before_nfkc": (
        "\u2135bc",
        "SCRAM-SHA-256$4096:jyWSYXpTybUtlihrouT77A==$AJdk/4cTWhELlZjQzyr/JG10x2PTMTBweQkqkFt/ktQ="
        ":pmsdR2WPMBld0sfilKbzzZIixznsolinP8iwD45BN0A=",
    ),
}


@pytest.mark.parametrize("name", sorted(PG15_FIXTURES))
def test_postgres15_verifier_matches(name: str) -> None:
    password, stored = PG15_FIXTURES[name]
    assert verifier_matches(password, stored)
    assert verifier_matches(password.encode("utf-8"), stored)
    assert not verifier_matches(password + "x", stored)
    assert not verifier_matches(password[:-1], stored)
    assert not verifier_matches(password.upper() + "!", stored)


@pytest.mark.parametrize("name", sorted(PG15_FIXTURES))
def test_postgres15_verifier_reproduced_byte_for_byte(name: str) -> None:
    password, stored = PG15_FIXTURES[name]
    parsed = parse_verifier(stored)
    assert parsed is not None
    assert parsed.iterations == 4096
    assert len(parsed.salt) == DEFAULT_SALT_LENGTH
    assert parsed.to_string() == stored
    assert scram_sha256_verifier(password, salt=parsed.salt, iterations=4096) == stored


def test_postgres15_saslprep_equivalences() -> None:
    assert verifier_matches("non breaking", PG15_FIXTURES["nbsp"][1])
    assert verifier_matches("fiIXx", PG15_FIXTURES["ligature"][1])
    assert verifier_matches("\u05d0bc", PG15_FIXTURES["bidi_before_nfkc"][1])
    # SASLprep was *not* applied to the prohibited one: the NFD spelling differs.
    assert not verifier_matches("cafe\u0301\u0007", PG15_FIXTURES["prohibited"][1])
    # ... while for the umlaut one it was (NFKC composes the NFD spelling).
    assert verifier_matches("pa\u0308sswo\u0308rd", PG15_FIXTURES["umlaut"][1])


# --------------------------------------------------------------------------- #
# SASLprep (PostgreSQL flavour)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "password",
    ["", "postgres", "p@ss w'ord$\\", " lead and trail ", "tab\there", "bell\x07", "del\x7f"],
)
def test_saslprep_leaves_ascii_untouched(password: str) -> None:
    assert saslprep_password(password) == password.encode("ascii")


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("p\u00e4ssw\u00f6rd", "p\u00e4ssw\u00f6rd"),
        ("pa\u0308ss", "p\u00e4ss"),  # NFKC composes
        ("\u2168", "IX"),  # compatibility decomposition
        ("\uff21\uff22", "AB"),  # fullwidth
        ("a\u00a0b\u3000c\u2003d", "a b c d"),  # C.1.2 -> space
        ("a\u200bb", "a b"),  # U+200B is in C.1.2 and B.1; PostgreSQL maps it to space
        ("x\u00ady\u200dz\ufeff\u00e9", "xyz\u00e9"),  # B.1 -> nothing
        ("\u05d0\u05d1", "\u05d0\u05d1"),  # RandAL only, first and last
        ("\u05d01\u05d1", "\u05d01\u05d1"),  # neutral in the middle is fine
    ],
)
def test_saslprep_applied(password: str, expected: str) -> None:
    assert saslprep_password(password) == expected.encode("utf-8")


# Each rejected password also holds a character SASLprep would change (U+00A0 -> space),
# or maps to nothing at all: accepting it would give other bytes, so the test can tell.
@pytest.mark.parametrize(
    "password",
    [
        "\u00ad",  # maps to the empty string
        "\u00ad\ufeff",
        "caf\u00e9\u00a0\x07",  # ASCII control (C.2.1) next to non-ASCII
        "caf\u00e9\u00a0\x85",  # C.2.2
        "\ue000\u00a0\u00e9",  # private use (C.3)
        "\ufdd0\u00a0\u00e9",  # non-character (C.4)
        "\u00e9\u00a0\ufff9",  # C.6
        "\u00e9\u00a0\u2ff0",  # C.7
        "\u00e9\u00a0\u200e",  # C.8
        "\u00e9\u00a0\U000e0041",  # tagging (C.9)
        "\u00e9\u00a0\u0221",  # unassigned in Unicode 3.2 (A.1)
        "\u00e9\u00a0\U0001f600",  # emoji: unassigned in Unicode 3.2
        "\u05d0\u00a0a",  # RandAL together with L
        "\u05d0\u00a01",  # RandAL not last
        "1\u00a0\u05d0",  # RandAL not first
    ],
)
def test_saslprep_rejected_uses_raw_bytes(password: str) -> None:
    import unicodedata

    raw = password.encode("utf-8")
    mapped = password.replace("\u00a0", " ").replace("\u00ad", "").replace("\ufeff", "")
    accepted = unicodedata.normalize("NFKC", mapped).encode("utf-8")
    assert accepted != raw, "the input cannot tell rejection from acceptance"
    assert saslprep_password(password) == raw


def test_saslprep_invalid_utf8_uses_raw_bytes() -> None:
    raw = "p\u00e4ss".encode("latin-1")
    assert saslprep_password(raw) == raw
    salt = FIXED_SALT
    assert scram_sha256_verifier(raw, salt=salt) == reference_verifier(raw, salt, 4096)


def test_bytes_and_str_passwords_agree() -> None:
    salt = FIXED_SALT
    for password in ["plain", "p\u00e4ssw\u00f6rd", "non\u00a0breaking"]:
        assert scram_sha256_verifier(password, salt=salt) == scram_sha256_verifier(
            password.encode("utf-8"), salt=salt
        )


def test_nul_in_password_is_rejected() -> None:
    with pytest.raises(ValueError):
        scram_sha256_verifier("a\x00b")
    stored = scram_sha256_verifier("a")
    assert not verifier_matches("a\x00b", stored)


# --------------------------------------------------------------------------- #
# Generation, parsing, matching
# --------------------------------------------------------------------------- #


def test_default_salt_is_random_16_bytes() -> None:
    first = scram_sha256_verifier("secret")
    second = scram_sha256_verifier("secret")
    assert first != second
    for text in (first, second):
        v = parse_verifier(text)
        assert v is not None
        assert v.iterations == DEFAULT_ITERATIONS == 4096
        assert len(v.salt) == 16
    assert parse_verifier(first).salt != parse_verifier(second).salt


@pytest.mark.parametrize("password", ["secret", "p\u00e4ssw\u00f6rd", "caf\u00e9\x07", "\u05d0a"])
def test_roundtrip(password: str) -> None:
    stored = scram_sha256_verifier(password)
    assert verifier_matches(password, stored)
    assert not verifier_matches(password + " ", stored)
    assert not verifier_matches("", stored)
    parsed = parse_verifier(stored)
    assert parsed is not None
    assert parsed.to_string() == stored
    assert compute_verifier(password, parsed.salt, parsed.iterations) == parsed


def test_custom_iterations_roundtrip() -> None:
    stored = scram_sha256_verifier("secret", iterations=10)
    assert stored.startswith("SCRAM-SHA-256$10:")
    assert verifier_matches("secret", stored)


def test_surrounding_whitespace_is_tolerated() -> None:
    stored = scram_sha256_verifier("secret")
    assert verifier_matches("secret", f"  {stored}\n")


def _replace_field(stored: str, index: int, new: str) -> str:
    # fields: scheme, iterations, salt, stored key, server key
    scheme, rest = stored.split("$", 1)
    it_salt, keys = rest.split("$")
    iterations, salt = it_salt.split(":")
    stored_key, server_key = keys.split(":")
    fields = [scheme, iterations, salt, stored_key, server_key]
    fields[index] = new
    return f"{fields[0]}${fields[1]}:{fields[2]}${fields[3]}:{fields[4]}"


def _flip_b64(value: str) -> str:
    data = bytearray(base64.b64decode(value))
    data[0] ^= 0x01
    return b64(bytes(data))


def test_tampered_verifier_fails() -> None:
    stored = scram_sha256_verifier("secret", salt=FIXED_SALT)
    parts = parse_verifier(stored)
    assert parts is not None
    tampered = [
        _replace_field(stored, 1, "4097"),
        _replace_field(stored, 2, _flip_b64(b64(parts.salt))),
        _replace_field(stored, 3, _flip_b64(b64(parts.stored_key))),
        _replace_field(stored, 4, _flip_b64(b64(parts.server_key))),
        _replace_field(_replace_field(stored, 3, b64(parts.server_key)), 4, b64(parts.stored_key)),
    ]
    for text in tampered:
        assert text != stored
        assert parse_verifier(text) is not None
        assert not verifier_matches("secret", text), text


SALT16 = b64(bytes(range(16)))
KEY32 = b64(bytes(32))


def scram_text(iterations: str, salt: str, stored_key: str, server_key: str) -> str:
    return f"SCRAM-SHA-256${iterations}:{salt}${stored_key}:{server_key}"


def test_scram_text_helper_builds_parseable_verifiers() -> None:
    assert parse_verifier(scram_text("4096", SALT16, KEY32, KEY32)) is not None


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "secret",
        "md5" + hashlib.md5(b"secretpostgres").hexdigest(),  # PostgreSQL md5 format
        "SCRAM-SHA-1$4096:AAAA$AAAA:AAAA",
        "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==",
        scram_text("0", SALT16, KEY32, KEY32),
        scram_text("-1", SALT16, KEY32, KEY32),
        scram_text("99999999999", SALT16, KEY32, KEY32),
        scram_text("4096", "!!!!", KEY32, KEY32),
        scram_text("4096", SALT16[:-1], KEY32, KEY32),  # bad padding
        scram_text("4096", SALT16, b64(bytes(31)), KEY32),
        scram_text("4096", SALT16, KEY32, b64(bytes(33))),
        scram_text("4096", SALT16, KEY32, KEY32) + "x",
        scram_text("4096", "", KEY32, KEY32),
        scram_text("4096", SALT16, KEY32, KEY32).replace("SCRAM-SHA-256", "scram-sha-256"),
        12345,
    ],
)
def test_non_scram_values(text: object) -> None:
    assert parse_verifier(text) is None
    assert verifier_matches("secret", text) is False  # type: ignore[arg-type]


def test_md5_hash_of_the_right_password_is_not_a_match() -> None:
    md5_stored = "md5" + hashlib.md5(b"secret" + b"alice").hexdigest()
    assert verifier_matches("secret", md5_stored) is False


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError):
        scram_sha256_verifier("secret", salt=b"")
    with pytest.raises(ValueError):
        scram_sha256_verifier("secret", iterations=0)
    with pytest.raises(TypeError):
        scram_sha256_verifier("secret", iterations=4096.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        scram_sha256_verifier(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ScramVerifier(4096, FIXED_SALT, bytes(31), bytes(32))


# --------------------------------------------------------------------------- #
# Secrecy
# --------------------------------------------------------------------------- #


def test_repr_does_not_leak_keys_or_password() -> None:
    password = "correct horse battery staple"
    stored = scram_sha256_verifier(password, salt=FIXED_SALT)
    assert password not in stored
    v = parse_verifier(stored)
    assert v is not None
    for text in (repr(v), str(v), f"{v}", repr([v])):
        assert b64(v.stored_key) not in text
        assert b64(v.server_key) not in text
        assert v.stored_key.hex() not in text
        assert v.server_key.hex() not in text
        assert repr(v.stored_key) not in text
        assert password not in text
        assert "iterations=4096" in text
