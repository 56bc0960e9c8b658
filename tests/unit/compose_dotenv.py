"""How docker compose reads an --env-file: a Python port of compose-go's dotenv parser
(github.com/compose-spec/compose-go, dotenv/parser.go, and the `$` interpolation of
template/template.go), so tests can read back what compose.env_quote writes.

python-dotenv is not compose's parser (different escapes, no `$$`); this follows compose-go:
- unquoted: up to the newline, cut at " #", right-trimmed, then interpolated;
- single quotes: literal, except that a backslash escapes the next character when that is
  the quote (`\\'` does not end the value) and is kept otherwise;
- double quotes: the same scan, then escapes (\\a \\b \\c \\f \\n \\r \\t \\v \\$ \\" \\\\ \\0nnn)
  and interpolation: `$$` is a literal `$`, `$NAME` / `${NAME}` substitute, `${` unclosed fails.
"""

from __future__ import annotations

import re


class DotenvError(ValueError):
    pass


_ESCAPE_SEQ = re.compile(r'(\\(?:[abcfnrtv$"\\]|0\d{0,3}))')
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   '"': '"', "\\": "\\"}
_INTERPOLATION = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|\{(?:(?P<braced>[_a-z][_a-z0-9]*"
    r"(?::?[-+?](?:.*))?)\}|(?P<invalid>)))"
)
_SPACE = "\t\v\f\r \x85\xa0"


def _expand_escapes(text: str) -> str:
    def one(match: re.Match) -> str:
        seq = match.group(0)
        if seq == "\\$":
            return "$$"
        if seq.startswith("\\0"):  # Go reads "\\0123" as the octal escape "\\123"
            digits = seq[2:]
            ok = len(digits) == 3 and set(digits) <= set("01234567") and int(digits, 8) < 256
            return chr(int(digits, 8)) if ok else seq
        if seq[1] == "c":
            return seq  # Go's UnquoteChar has no \c: kept as written
        return _SIMPLE_ESCAPES[seq[1]]

    return _ESCAPE_SEQ.sub(one, text)


def _interpolate(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("invalid") is not None:
            raise DotenvError(f"invalid interpolation format in {text!r}")
        name = match.group("named") or match.group("braced")
        name = re.match(r"[_A-Za-z][_A-Za-z0-9]*", name).group(0)
        return env.get(name, "")

    return _INTERPOLATION.sub(one, text)


def _value(src: str, env: dict[str, str]) -> tuple[str, str]:
    """(value, rest of the source) for the text right after `KEY=`."""
    if not src or src[0] not in "'\"":
        value, _, rest = src.partition("\n")
        value = value.split(" #", 1)[0].rstrip()
        return _interpolate(value, env), rest
    quote, chars, escaping = src[0], [], False
    for i in range(1, len(src)):
        char = src[i]
        if char != quote:
            if not escaping and char == "\\":
                escaping = True
                continue
            if escaping:
                escaping = False
                chars.append("\\")
            chars.append(char)
            continue
        if escaping:
            escaping = False
            chars.append(char)
            continue
        value = "".join(chars)
        if quote == '"':
            value = _interpolate(_expand_escapes(value), env)
        return value, src[i + 1:]
    raise DotenvError(f"unterminated quoted value {src.splitlines()[0]}")


def parse(text: str) -> dict[str, str]:
    """KEY=VALUE lines as compose reads them (comments and blank lines skipped)."""
    out: dict[str, str] = {}
    src = text
    while True:
        src = src.lstrip(_SPACE + "\n")
        if not src:
            return out
        if src[0] == "#":
            _, _, src = src.partition("\n")
            continue
        if re.match(r"export\s+", src):
            src = src[len("export"):].lstrip(_SPACE)
        match = re.match(r"([A-Za-z0-9_.\-\[\]]+)[" + _SPACE + r"]*([=:\n])", src)
        if not match:
            raise DotenvError(f"unexpected text {src.splitlines()[0]!r}")
        key, sep = match.group(1), match.group(2)
        src = src[match.end():]
        if sep == "\n":
            continue  # inherited from the environment: not in the file
        src = src.lstrip(_SPACE)
        value, src = _value(src, out)
        out[key] = value
