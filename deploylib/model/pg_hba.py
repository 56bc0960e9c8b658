"""pg_hba.conf: read it the way PostgreSQL does, own one marked block in it, find dead rules (pure:
may import deploylib.model.managed_block only).

Pure string logic, no host access. Everything outside the managed block is kept
byte for byte; the block sits between the lines of :func:`markers`. Each
environment (the block's tag) owns its own block: staging and prod may share a
host, and one's block is foreign text to the other.

Parsing follows PostgreSQL's ``hba.c`` (13-17): fields are separated by blanks,
``"`` quotes (``""`` is a literal quote), ``#`` outside quotes starts a comment,
a field may be a comma list, and a line ending in ``\\`` continues on the next
one (PostgreSQL 14+). A quoted token is never a keyword: ``"all"`` is a database
named all. ``include*`` lines (PostgreSQL 16+) are recognised but not followed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .managed_block import (  # noqa: F401 - the block's API, as pg_hba.conf's
    BEGIN_MARKER,
    BEGIN_PREFIX,
    END_MARKER,
    END_PREFIX,
    TAG_RE,
    find_block,
    find_blocks,
    marker_of,
    markers,
    newline_of,
    splice_block,
    split_lines,
)

CONNECTION_TYPES = ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")
INCLUDE_DIRECTIVES = ("include", "include_if_exists", "include_dir")
AUTH_METHODS = frozenset(
    {"trust", "reject", "scram-sha-256", "md5", "password", "gss", "sspi", "ident",
     "peer", "ldap", "radius", "cert", "pam", "bsd"}
)
DATABASE_KEYWORDS = frozenset({"all", "sameuser", "samerole", "samegroup", "replication"})
USER_KEYWORDS = frozenset({"all"})
ADDRESS_KEYWORDS = frozenset({"all", "samehost", "samenet"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Position = Literal["top", "bottom"]

_BLANKS = " \t\r\n"
_NEEDS_QUOTES = re.compile(r'[\s,#"]')
_LOOKS_LIKE_IP = re.compile(r"[0-9./]+|.*:.*")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"\.?{_HOST_LABEL}(?:\.{_HOST_LABEL})*")
RULE_FIELDS = ("type", "database", "user", "address", "method", "options", "comment")
_COLUMN_WIDTHS = (8, 16, 16, 24)  # as in the stock pg_hba.conf: TYPE DATABASE USER ADDRESS


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    """One pg_hba token. ``quoted``: it began with ``"`` (so it is never a keyword)."""

    value: str
    quoted: bool = False

    def is_keyword(self, word: str) -> bool:
        return not self.quoted and self.value == word

    def __str__(self) -> str:
        if self.quoted:
            return '"' + self.value.replace('"', '""') + '"'
        return self.value


def _next_token(line: str, pos: int) -> tuple[Token | None, int, bool]:
    """PostgreSQL's ``next_token``: (token or None at end/comment, new pos, ended by comma)."""
    n = len(line)
    while pos < n and (line[pos] in _BLANKS or line[pos] == ","):
        pos += 1
    buf: list[str] = []
    in_quote = was_quote = saw_quote = initial_quote = comma = False
    while pos < n and (in_quote or line[pos] not in _BLANKS):
        c = line[pos]
        if c == "#" and not in_quote:
            pos = n
            break
        if c == "," and not in_quote:
            comma = True
            break
        if c != '"' or was_quote:
            buf.append(c)
        was_quote = (not was_quote) if (in_quote and c == '"') else False
        if c == '"':
            in_quote = not in_quote
            saw_quote = True
            if not buf:
                initial_quote = True
        pos += 1
    if not (saw_quote or buf):
        return None, pos, comma
    return Token("".join(buf), initial_quote), pos, comma


def tokenize(line: str) -> list[list[Token]]:
    """Split one logical line into fields, each a list of tokens (comma lists)."""
    fields: list[list[Token]] = []
    pos = 0
    while pos < len(line):
        field: list[Token] = []
        while True:
            token, pos, comma = _next_token(line, pos)
            if token is not None:
                field.append(token)
            if token is None or not comma:
                break
        if field:
            fields.append(field)
    return fields


# --------------------------------------------------------------------------- parsed lines


@dataclass(frozen=True)
class HbaLine:
    """An active pg_hba line.

    ``kind`` is "rule" or "include" (``type`` is then the directive and ``target``
    its argument). ``address`` is canonical: a CIDR network (an ``addr mask`` pair
    is converted), a keyword, or a host name (quoted if it spells a keyword);
    ``network`` is the parsed network when it is one. ``options`` are ``name=value``.
    """

    kind: Literal["rule", "include"]
    type: str
    databases: tuple[Token, ...] = ()
    users: tuple[Token, ...] = ()
    address: str | None = None
    network: Network | None = None
    method: str = ""
    options: tuple[str, ...] = ()
    target: str | None = None


def _single(field: list[Token], what: str) -> Token:
    if len(field) != 1:
        raise ValueError(f"multiple values specified for {what}")
    return field[0]


def _field(fields: list[list[Token]], index: int, what: str) -> list[Token]:
    if index >= len(fields):
        raise ValueError(f"end-of-line before {what} specification")
    return fields[index]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _prefix_from_mask(mask: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """Prefix length of a netmask such as 255.255.255.0; non-contiguous masks are refused."""
    host_bits = int(mask) ^ ((1 << mask.max_prefixlen) - 1)
    if host_bits & (host_bits + 1):
        raise ValueError(f"non-contiguous netmask {mask} is not supported")
    return mask.max_prefixlen - host_bits.bit_length()


def _network(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int) -> Network:
    try:
        return ipaddress.ip_network((addr, prefix), strict=False)
    except ValueError as exc:
        raise ValueError(f"invalid IP address {addr}: {exc}")


def _parse_address(fields: list[list[Token]], i: int) -> tuple[str, Network | None, int]:
    """Address field at ``fields[i]`` (and its mask column): (canonical, network, next i)."""
    token = _single(_field(fields, i, "IP address"), "host address")
    value = token.value
    if not token.quoted and value in ADDRESS_KEYWORDS:
        return value, None, i + 1
    addr_text, slash, prefix = value.partition("/")
    addr = _ip(addr_text)
    if addr is None:
        if slash:
            raise ValueError(f"specifying both host name and CIDR mask is invalid: {value!r}")
        return (str(token) if value in ADDRESS_KEYWORDS else value), None, i + 1
    if slash:
        if not (prefix.isascii() and prefix.isdigit()) or int(prefix) > addr.max_prefixlen:
            raise ValueError(f"invalid CIDR mask in address {value!r}")
        net = _network(addr, int(prefix))
        return str(net), net, i + 1
    mask_token = _single(_field(fields, i + 1, "netmask"), "netmask")
    mask = _ip(mask_token.value)
    if mask is None:
        raise ValueError(f"invalid IP mask {mask_token.value!r}")
    if mask.version != addr.version:
        raise ValueError(f"IP address and mask do not match: {value} {mask_token.value}")
    net = _network(addr, _prefix_from_mask(mask))
    return str(net), net, i + 2


@functools.lru_cache(maxsize=4096)  # immutable result; a fleet's pg_hba.conf lines repeat
def parse_line(line: str) -> HbaLine | None:
    """Parse one logical pg_hba line; None for blank and comment lines.

    Raises ValueError for lines PostgreSQL would reject (unknown connection type,
    missing fields, bad address or mask, option without ``=``).
    """
    fields = tokenize(line)
    if not fields:
        return None
    kind = _single(fields[0], "connection type").value
    if kind in INCLUDE_DIRECTIVES:
        if len(fields) != 2:
            raise ValueError(f"{kind} takes exactly one file or directory argument")
        return HbaLine("include", kind, target=_single(fields[1], kind).value)
    if kind not in CONNECTION_TYPES:
        raise ValueError(
            f"invalid connection type {kind!r} (expected one of {', '.join(CONNECTION_TYPES)})"
        )
    databases = tuple(_field(fields, 1, "database"))
    users = tuple(_field(fields, 2, "role"))
    address, network, i = None, None, 3
    if kind != "local":
        address, network, i = _parse_address(fields, 3)
    method = _single(_field(fields, i, "authentication method"), "authentication method").value
    options = tuple(token.value for field in fields[i + 1 :] for token in field)
    for option in options:
        if "=" not in option:
            raise ValueError(f"authentication option not in name=value format: {option!r}")
    return HbaLine("rule", kind, databases, users, address, network, method, options)


@dataclass(frozen=True)
class HbaEntry:
    """An active line of a file: 1-based number of its first physical line, its text."""

    lineno: int
    text: str
    line: HbaLine


def _logical_lines(lines: Sequence[str]) -> list[tuple[int, int, str]]:
    """Join backslash continuations as PostgreSQL does: (first index, end index, text)."""
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(lines):
        start, buf, mark = i, "", 0
        while i < len(lines):
            buf += lines[i].rstrip("\r\n")
            i += 1
            if len(buf) > mark and buf.endswith("\\"):
                buf = buf[:-1]
                mark = len(buf)
                continue
            break
        out.append((start, i, buf))
    return out


def _entries(lines: Sequence[str]) -> list[HbaEntry]:
    entries = []
    for start, _end, text in _logical_lines(lines):
        try:
            parsed = parse_line(text)
        except ValueError as exc:
            raise ValueError(f"pg_hba.conf line {start + 1}: {exc}: {text.strip()!r}")
        if parsed is not None:
            entries.append(HbaEntry(start + 1, text, parsed))
    return entries


def parse_text(text: str) -> list[HbaEntry]:
    """Every active line of a pg_hba.conf, in order. ValueError names the bad line."""
    return _entries(split_lines(text))


# --------------------------------------------------------------------------- managed rules


def _split_names(value: str | Sequence[str], what: str) -> list[str]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    names = []
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"{what}: expected strings, got {part!r}")
        if not part.strip():
            raise ValueError(f"{what}: empty name in {value!r}")
        if "," in part:
            raise ValueError(f"{what}: a name cannot contain a comma: {part!r}")
        names.append(part.strip())
    return names


def _quote_name(name: str) -> str:
    if not name or _NEEDS_QUOTES.search(name):
        return '"' + name.replace('"', '""') + '"'
    return name


def _render_name(name: str, keywords: frozenset[str], what: str) -> str:
    """A database/user name as a pg_hba token. Keywords, ``+group`` and ``@file`` stay bare."""
    if any(c in name for c in "\r\n\0"):
        raise ValueError(f"{what}: control character in {name!r}")
    if name in keywords:
        return name
    if name.startswith("/"):
        raise ValueError(f"{what}: regular expressions are not supported here: {name!r}")
    if name[0] in "+@":
        if len(name) == 1:
            raise ValueError(f"{what}: {name!r} needs a name after {name[0]!r}")
        return name[0] + _quote_name(name[1:])
    return _quote_name(name)


def _normalize_address(address: str) -> str:
    """Canonical address for a managed rule: keyword, host name or exact CIDR network."""
    if address in ADDRESS_KEYWORDS:
        return address
    if _LOOKS_LIKE_IP.fullmatch(address):
        try:
            return str(ipaddress.ip_network(address, strict=True))
        except ValueError:
            pass
        try:
            net = ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise ValueError(f"address {address!r} is not a valid IP address or CIDR network")
        host = address.split("/")[0]
        raise ValueError(
            f"address {address!r} has host bits set: use the network {net}"
            f" (or {host}/{net.max_prefixlen} for that single host)"
        )
    if "/" in address or not _HOSTNAME.fullmatch(address):
        raise ValueError(
            f"address {address!r} is not a CIDR network, 'all', 'samehost', 'samenet' "
            "or a host name"
        )
    return address


@dataclass(frozen=True)
class HbaRule:
    """A pg_hba line the deploy owns. Validated and normalised on construction.

    ``database``/``user`` are comma lists of names; keywords (``all``, ``sameuser``,
    ``replication``...), ``+group`` and ``@file`` keep their special meaning, other
    names are quoted when needed. ``address`` is None for ``local`` rules; a bare IP
    becomes a /32 (/128) network, a network with host bits set is an error.
    """

    type: str
    database: str
    user: str
    address: str | None
    method: str
    options: str = ""
    comment: str = ""

    def __post_init__(self) -> None:
        if self.type not in CONNECTION_TYPES:
            raise ValueError(
                f"invalid type {self.type!r} (expected one of {', '.join(CONNECTION_TYPES)})"
            )
        for name in ("database", "user"):
            names = _split_names(getattr(self, name), name)
            object.__setattr__(self, name, ",".join(names))
        self._check_address()
        if self.method not in AUTH_METHODS:
            known = ", ".join(sorted(AUTH_METHODS))
            raise ValueError(f"unknown method {self.method!r} (expected one of {known})")
        object.__setattr__(self, "options", self.options.strip())
        object.__setattr__(self, "comment", self.comment.strip())
        self._check_options()
        if any(c in self.comment for c in "\r\n\0"):
            raise ValueError(f"comment must be one line: {self.comment!r}")
        if self.render().endswith("\\"):
            raise ValueError("a rule cannot end with '\\' (PostgreSQL would join the next line)")

    def _check_address(self) -> None:
        if self.type == "local":
            if self.address is not None:
                raise ValueError(f"local rules take no address (got {self.address!r})")
            return
        if not self.address:
            raise ValueError(
                f"{self.type} rules need an address: a CIDR network like 10.0.0.0/24, "
                "'samehost', 'samenet', 'all' or a host name"
            )
        object.__setattr__(self, "address", _normalize_address(self.address.strip()))

    def _check_options(self) -> None:
        # Option values are never echoed: ldapbindpasswd and radiussecrets are secrets.
        if any(c in self.options for c in "#\r\n\0"):
            raise ValueError("options cannot contain '#' or line breaks")
        for position, field in enumerate(tokenize(self.options)):
            for token in field:
                if "=" not in token.value:
                    raise ValueError(f"option {position + 1} is not in name=value form")

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> HbaRule:
        """Build from a group_data dict (keys as :data:`RULE_FIELDS`); ValueError says why not."""
        try:
            return cls(**_record_kwargs(record))  # type: ignore[arg-type]
        except TypeError as exc:
            raise ValueError(str(exc))

    def columns(self) -> tuple[str, str, str, str, str]:
        """(type, databases, users, address, method + options) as pg_hba text."""
        databases = ",".join(
            _render_name(n, DATABASE_KEYWORDS, "database") for n in self.database.split(",")
        )
        users = ",".join(_render_name(n, USER_KEYWORDS, "user") for n in self.user.split(","))
        tail = f"{self.method} {self.options}" if self.options else self.method
        return self.type, databases, users, self.address or "", tail

    def render(self) -> str:
        """One pg_hba line, columns aligned like the stock file, `` # comment`` appended."""
        *padded, tail = self.columns()
        line = "".join(text + " " * max(1, width - len(text))
                       for text, width in zip(padded, _COLUMN_WIDTHS, strict=True))
        line += tail
        return f"{line} # {self.comment}" if self.comment else line

    def summary(self) -> str:
        """The rule on one line with single spaces, for messages."""
        return " ".join(part for part in self.columns() if part)


def _record_kwargs(record: Mapping[str, object]) -> dict[str, object]:
    unknown = sorted(set(record) - set(RULE_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(RULE_FIELDS)})"
        )
    missing = [key for key in ("type", "database", "user", "method") if key not in record]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    kwargs: dict[str, object] = {}
    for key, value in record.items():
        if key in ("database", "user") and isinstance(value, list | tuple):
            value = ",".join(_split_names(value, key))
        elif key == "options" and isinstance(value, list | tuple):
            value = " ".join(str(v) for v in value)
        if not (isinstance(value, str) or (key == "address" and value is None)):
            shown = repr(value) if key != "options" else "a " + type(value).__name__
            raise ValueError(f"{key} must be a string, got {shown}")
        kwargs[key] = value
    if kwargs.get("address") == "":
        kwargs["address"] = None
    kwargs.setdefault("address", None)
    return kwargs


# --------------------------------------------------------------------------- the managed block


def render_block(rules: Iterable[HbaRule], tag: str | None = None) -> str:
    """``tag``'s managed block: markers around one line per rule; "" when there are no rules."""
    body = [rule.render() for rule in rules]
    if not body:
        return ""
    return "".join(line + "\n" for line in [*markers(tag)[:1], *body, markers(tag)[1]])


def _is_comment(text: str) -> bool:
    return text.lstrip(_BLANKS).startswith("#")


def top_index(lines: Sequence[str]) -> int:
    """Where a new block goes for position "top".

    Before the first active line that is not a ``local`` rule (a ``host*`` rule or
    an include), so Debian's leading ``local`` lines stay first and managed host
    rules come before the distribution's. Comment lines directly above that line
    stay with it (the block goes above them). End of file if there is none.
    """
    logical = _logical_lines(lines)
    for k, (start, _end, text) in enumerate(logical):
        try:
            parsed = parse_line(text)
        except ValueError as exc:
            raise ValueError(f"pg_hba.conf line {start + 1}: {exc}: {text.strip()!r}")
        if parsed is None or (parsed.kind == "rule" and parsed.type == "local"):
            continue
        while k > 0 and _is_comment(logical[k - 1][2]):
            k -= 1
        return logical[k][0]
    return len(lines)


def apply_block(
    text: str, rules: Sequence[HbaRule], position: Position = "top", tag: str | None = None
) -> str:
    """pg_hba.conf text with ``tag``'s managed block holding ``rules``.

    An existing block is rewritten in place (``position`` only places a new one:
    "top" = see :func:`top_index`, "bottom" = end of file). No rules: the block is
    removed, and text without a block comes back unchanged. Other tags' blocks are
    kept byte for byte (a new block at the top goes above them).
    """
    if position not in ("top", "bottom"):
        raise ValueError(f"position must be 'top' or 'bottom', not {position!r}")
    where = top_index if position == "top" else len
    return splice_block(text, [rule.render() for rule in rules], where, tag)


# --------------------------------------------------------------------------- shadowing


@dataclass(frozen=True)
class Shadow:
    """Managed ``rule`` can never apply: line ``line_number`` matches its connections first."""

    rule: HbaRule
    line_number: int
    line_text: str
    method: str


def _type_covers(earlier: str, managed: str) -> bool:
    return earlier == managed or (earlier == "host" and managed.startswith("host"))


def _name_key(token: Token, keywords: frozenset[str], groups: bool) -> tuple[str, str]:
    if not token.quoted and token.value in keywords:
        return "keyword", token.value
    if not token.quoted and token.value[:1] in ("@", "/"):
        return "special", token.value
    if groups and not token.quoted and token.value.startswith("+"):
        return "group", token.value
    return "name", token.value


def _names_cover(
    earlier: Sequence[Token], managed: Sequence[Token], keywords: frozenset[str], groups: bool
) -> bool:
    """Every name the managed field matches is matched by the earlier field.

    Only ``all`` and identical entries count: ``sameuser``, ``+group``, ``@file``
    and regular expressions depend on things we cannot see here. ``all`` does not
    cover ``replication`` (physical replication only matches that keyword).
    """
    keys = {_name_key(t, keywords, groups) for t in earlier}
    has_all = ("keyword", "all") in keys
    for token in managed:
        key = _name_key(token, keywords, groups)
        if key in keys:
            continue
        if has_all and key != ("keyword", "replication"):
            continue
        return False
    return True


def _address_covers(earlier: HbaLine, managed: HbaLine) -> bool:
    if earlier.type == "local":
        return True
    if earlier.address == "all":
        return True
    if earlier.network is not None and managed.network is not None:
        return (
            earlier.network.version == managed.network.version
            and managed.network.subnet_of(earlier.network)  # type: ignore[arg-type]
        )
    if earlier.network is None and managed.network is None:
        # The same keyword (samehost, samenet) or host name matches the same clients.
        return (earlier.address or "").lower() == (managed.address or "").lower()
    return False


def covers(earlier: HbaLine, managed: HbaLine) -> bool:
    """True if ``earlier`` matches every connection ``managed`` matches (so it wins)."""
    return (
        earlier.kind == "rule"
        and managed.kind == "rule"
        and _type_covers(earlier.type, managed.type)
        and _names_cover(earlier.databases, managed.databases, DATABASE_KEYWORDS, groups=False)
        and _names_cover(earlier.users, managed.users, USER_KEYWORDS, groups=True)
        and _address_covers(earlier, managed)
    )


@functools.lru_cache(maxsize=256)  # a fleet's hosts share pg_hba.conf and rules: once per run
def plan_block(text: str, rules: tuple[HbaRule, ...], tag: str | None = None) -> tuple[tuple[Shadow, ...], str]:
    """(:func:`shadowing`, :func:`apply_block`) of ``tag``'s block holding ``rules`` in ``text``."""
    return tuple(shadowing(text, rules, tag=tag)), apply_block(text, rules, tag=tag)


def shadowing(
    text: str, rules: Sequence[HbaRule], position: Position = "top", tag: str | None = None
) -> list[Shadow]:
    """``tag``'s rules that an earlier line outside its block makes dead, judged on the result.

    The block is placed as :func:`apply_block` would place it; for each rule the
    first earlier line covering it is reported (any method: an earlier ``reject``
    refuses the connections, an earlier ``trust``/``md5`` decides them instead).
    Lines of included files are not looked at; rules in another tag's block count
    like any other line.
    """
    lines = split_lines(apply_block(text, rules, position, tag))
    span = find_block(lines, tag)
    if span is None:
        return []
    earlier = _entries(lines[: span[0]])
    found = []
    for rule in rules:
        managed = parse_line(rule.render())
        assert managed is not None
        for entry in earlier:
            if covers(entry.line, managed):
                found.append(Shadow(rule, entry.lineno, entry.text.strip(), entry.line.method))
                break
    return found


def format_shadow(shadow: Shadow) -> str:
    """An operator message: which line wins, what happens, what to do."""
    if shadow.method == "reject":
        effect = "those connections are rejected"
    else:
        effect = f"those connections use {shadow.method!r} instead of {shadow.rule.method!r}"
    return (
        f"pg_hba.conf line {shadow.line_number} ({shadow.line_text!r}) comes before the managed "
        f"block and matches every connection of the managed rule {shadow.rule.summary()!r}. "
        f"PostgreSQL uses the first matching line, so the managed rule never applies and "
        f"{effect}. Remove or narrow line {shadow.line_number}, or move it below the "
        f"managed block."
    )
