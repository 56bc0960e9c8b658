"""Decisions that keep PostgreSQL serving and its managed settings in effect (pure logic).

- :func:`setting_matches` / :func:`expected_setting`: a wanted value against what
  ``pg_settings.setting`` shows (base units: ``'128MB'`` is ``16384`` pages of 8kB).
- :func:`overrides`: managed settings a file read after ours sets again (ALTER SYSTEM's
  postgresql.auto.conf, a later include), from ``pg_file_settings``.
- :func:`restart_blockers`: who, among the environments whose state is on a shared
  server, does not allow a restart.
- :func:`start_problems`: values PostgreSQL could not start with, found before a restart.

No pyinfra, no host access: the facts' data in, decisions and messages out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# --------------------------------------------------------------------------- values

# PostgreSQL's units (guc.c): memory in multiples of 1024, time in milliseconds.
MEMORY_UNITS = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
TRUE_WORDS = frozenset({"on", "true", "yes", "1", "t", "y", "tr", "tru", "ye"})
FALSE_WORDS = frozenset({"off", "false", "no", "0", "f", "n", "fa", "fal", "fals", "of"})
_QUANTITY = re.compile(r"\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*")


def plain_text(value) -> str:
    """A group_data value as PostgreSQL reads it from the file (quotes removed)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ",".join(value)
    return str(value)


def _base_unit(unit: str) -> tuple[dict[str, float], float] | None:
    """(unit table, size of one base unit) for pg_settings.unit ('8kB', 'kB', 'ms', ...)."""
    match = re.fullmatch(r"([0-9]*)([A-Za-z]+)", unit or "")
    if not match:
        return None
    count = int(match[1] or 1)
    for table in (MEMORY_UNITS, TIME_UNITS):
        if match[2] in table:
            return table, count * table[match[2]]
    return None


def to_base_units(text: str, unit: str) -> float | None:
    """A numeric setting's text in the setting's base unit ('128MB' with unit '8kB' -> 16384.0);
    a bare number is already in base units. None when PostgreSQL would not read it so."""
    match = _QUANTITY.fullmatch(text)
    if not match:
        return None
    number, suffix = float(match[1]), match[2]
    if not suffix:
        return number
    base = _base_unit(unit)
    if base is None or suffix not in base[0]:
        return None
    table, size = base
    return number * table[suffix] / size


def expected_setting(value, vartype: str, unit: str) -> str:
    """What ``pg_settings.setting`` shows once ``value`` is in effect (best effort: strings
    are compared as written)."""
    text = plain_text(value)
    if vartype == "bool":
        word = text.strip().lower()
        return "on" if word in TRUE_WORDS else "off" if word in FALSE_WORDS else text
    if vartype in ("integer", "real"):
        number = to_base_units(text, unit)
        if number is None:
            return text
        if vartype == "integer":
            return str(int(round(number)))  # PostgreSQL rounds to the nearest base unit (rint)
        return repr(number)
    if vartype == "enum":
        return text.strip().lower()
    return text


def setting_problems(wanted: Mapping[str, object], known: Mapping, all_names) -> list[str]:
    """What the server would refuse in ``wanted`` (name -> group_data value): a name it does
    not know (with the close one it does), an enum value it does not accept, a number it
    cannot read or out of its range (``known``: name -> PgSetting, ``all_names``: every
    pg_settings name; empty: not asked, nothing judged). Names with a dot are extensions'
    own and not judged."""
    import difflib

    problems = []
    # PostgreSQL's setting names are case-insensitive (pg_settings says "TimeZone").
    names = {n.lower() for n in all_names}
    known = {n.lower(): setting for n, setting in known.items()}
    for name, value in wanted.items():
        if "." in name or not all_names:
            continue
        if name.lower() not in names:
            close = difflib.get_close_matches(name.lower(), sorted(names), n=1)
            problems.append(f"unknown setting {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            continue
        setting = known.get(name.lower())
        if setting is None:
            continue
        text = plain_text(value)
        if setting.vartype == "enum" and setting.enumvals:
            if text.strip().lower() not in {v.lower() for v in setting.enumvals}:
                problems.append(f"{name} = {text!r}: expected one of {', '.join(setting.enumvals)}")
        elif setting.vartype in ("integer", "real"):
            number = to_base_units(text, setting.unit)
            unit = f" {setting.unit}" if setting.unit else ""
            if number is None:
                problems.append(
                    f"{name} = {text!r}: not a number PostgreSQL reads (unit: {setting.unit or 'none'})"
                )
            elif setting.min_val and setting.max_val and not (
                float(setting.min_val) <= number <= float(setting.max_val)
            ):
                problems.append(
                    f"{name} = {text!r}: out of range {setting.min_val}..{setting.max_val}{unit}"
                )
        elif setting.vartype == "bool" and text.strip().lower() not in TRUE_WORDS | FALSE_WORDS:
            problems.append(f"{name} = {text!r}: expected on or off")
    return problems


def _loose(text: str) -> str:
    """Text settings as PostgreSQL may echo them: case and blanks around commas aside
    ('iso, mdy' is shown 'ISO, MDY')."""
    return re.sub(r"\s*,\s*", ",", text.strip()).lower()


def setting_matches(value, actual: str, vartype: str, unit: str) -> bool:
    """Does ``actual`` (pg_settings.setting) mean ``value`` (group_data's)?"""
    expected = expected_setting(value, vartype, unit)
    if vartype == "real":
        try:
            return math.isclose(float(actual), float(expected), rel_tol=1e-5)  # shown with %g
        except ValueError:
            return actual == expected
    if vartype in ("integer", "bool"):
        return actual == expected
    return _loose(actual) == _loose(expected)


def effective_check_sql(wanted: Mapping[str, object], kinds: Mapping[str, tuple[str, str]],
                        skip_pending: bool) -> str:
    """A query printing one line per managed setting whose effective value (pg_settings) is
    not the wanted one: the same comparison as :func:`setting_matches`, done by the server
    after a reload or restart. ``kinds``: name -> (vartype, unit) as the fact reported them.
    ``skip_pending``: leave out settings waiting for a restart that may not happen."""

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    rows = []
    for name in sorted(wanted):
        vartype, unit = kinds.get(name, ("", ""))
        rows.append(f"({literal(name)}, {literal(expected_setting(wanted[name], vartype, unit))})")
    loose = "lower(regexp_replace(btrim({}), '\\s*,\\s*', ',', 'g'))"
    matches = (
        "CASE WHEN s.vartype = 'real' THEN abs(s.setting::float8 - w.wanted::float8) "
        "<= 1e-5 * greatest(abs(w.wanted::float8), 1e-300) "
        "WHEN s.vartype IN ('integer', 'bool') THEN s.setting = w.wanted "
        f"ELSE {loose.format('s.setting')} = {loose.format('w.wanted')} END"
    )
    # A name PostgreSQL does not know (a library's setting before the library is loaded)
    # only counts when a restart was allowed to load it.
    unknown = "false" if skip_pending else "s.name IS NULL"
    pending = " AND NOT s.pending_restart" if skip_pending else ""
    if skip_pending:
        # PostgreSQL shows archive_command as '(disabled)' while archive_mode is off: it is
        # waiting for archive_mode's restart too.
        pending += (" AND NOT (s.name = 'archive_command' AND s.setting = '(disabled)' AND EXISTS "
                    "(SELECT 1 FROM pg_settings m WHERE m.name = 'archive_mode' AND m.pending_restart))")
    return (
        "SELECT w.name || ' is ' || coalesce(quote_literal(s.setting) "
        "|| coalesce(' (' || s.unit || ')', ''), 'unknown to PostgreSQL') "
        "|| ', wanted ' || quote_literal(w.wanted) "
        f"FROM (VALUES {', '.join(rows)}) AS w(name, wanted) "
        # Names are case-insensitive: group_data's timezone is pg_settings' TimeZone.
        "LEFT JOIN pg_settings s ON lower(s.name) = lower(w.name) "
        f"WHERE {unknown} OR (s.name IS NOT NULL AND NOT ({matches}){pending})"
    )


# --------------------------------------------------------------------------- overrides

AUTO_CONF = "postgresql.auto.conf"


@dataclass(frozen=True)
class Override:
    """A managed setting that a file read after ours sets again (and so wins)."""

    name: str
    sourcefile: str
    sourceline: int

    @property
    def by_alter_system(self) -> bool:
        return self.sourcefile.rsplit("/", 1)[-1] == AUTO_CONF

    def describe(self) -> str:
        where = f"{self.sourcefile}:{self.sourceline}"
        if self.by_alter_system:
            return (
                f"{self.name} is set by ALTER SYSTEM in {where}, which wins over the deploy's "
                f"file; fix: psql -c 'ALTER SYSTEM RESET {self.name}' (or set "
                "pg_reset_overrides = True to let the deploy do it)"
            )
        return (
            f"{self.name} is set again in {where}, read after the deploy's file, so it wins; "
            f"fix: remove that line (or move the setting to pg_settings)"
        )


def overrides(
    entries: Iterable,
    names: Iterable[str],
    is_ours: Callable[[object], bool],
    read_after_ours: Callable[[object], bool],
) -> list[Override]:
    """Managed ``names`` whose last ``pg_file_settings`` entry (the one PostgreSQL applies)
    is not ours and comes after our file. ``entries`` have seqno, name, sourcefile,
    sourceline. When our file has entries, "after" is by reading order (seqno); when it
    has none yet, ``read_after_ours`` decides (ALTER SYSTEM's file, a later drop-in)."""
    entries = sorted(entries, key=lambda e: e.seqno)
    ours = [e.seqno for e in entries if is_ours(e)]
    last_ours = max(ours) if ours else None
    found = []
    for name in sorted(set(names)):
        of_name = [e for e in entries if e.name == name]
        if not of_name or is_ours(of_name[-1]):
            continue
        winner = of_name[-1]
        after = winner.seqno > last_ours if last_ours is not None else read_after_ours(winner)
        if after:
            found.append(Override(name, winner.sourcefile, winner.sourceline))
    return found


def read_after_dropin(dropin_path: str | None) -> Callable[[object], bool]:
    """Before our drop-in exists: postgresql.auto.conf and drop-ins of the same directory
    sorting after ours are read after it."""

    def after(entry) -> bool:
        if entry.sourcefile.rsplit("/", 1)[-1] == AUTO_CONF:
            return True
        if not dropin_path:
            return False
        directory, _, name = dropin_path.rpartition("/")
        other_dir, _, other_name = entry.sourcefile.rpartition("/")
        return other_dir == directory and other_name > name

    return after


def who_set(name: str, entries: Iterable, is_ours: Callable[[object], bool], writer: str | None) -> str:
    """Where the value PostgreSQL would apply for ``name`` comes from, for messages."""
    of_name = [e for e in sorted(entries, key=lambda e: e.seqno) if e.name == name]
    if not of_name:
        return "set by no file (a default)"
    last = of_name[-1]
    where = f"{last.sourcefile}:{last.sourceline}"
    if is_ours(last):
        return f"set by {writer or 'this deploy'} in {where}"
    return f"set in {where} (not by this deploy)"


# --------------------------------------------------------------------------- restart policy


def environments_on_server(
    hba_tags: Iterable[str | None], settings_writer: str | None, object_comments: Iterable[str]
) -> set[str]:
    """The environments whose managed state is on this PostgreSQL: pg_hba blocks' tags,
    the environment that wrote the server settings, the ``(env)`` of managed roles' and
    databases' comments."""
    found = {tag for tag in hba_tags if tag}
    if settings_writer:
        found.add(settings_writer)
    for comment in object_comments:
        match = re.search(r"\(([a-z][a-z0-9_-]*)\)\s*$", comment or "")
        if match:
            found.add(match[1])
    return found


def restart_blockers(
    environment: str | None,
    allow_restart: bool,
    present: Iterable[str],
    policies: Mapping[str, bool | None],
) -> list[str]:
    """Why this run may not restart PostgreSQL (empty: it may). Every environment whose
    state is on the server must allow it: this one (``allow_restart``) and each other one
    ``present`` (its ``pg_allow_restart`` in ``policies``; unknown counts as no)."""
    reasons = []
    if not allow_restart:
        reasons.append(f"pg_allow_restart is False for {environment or 'this environment'}")
    for other in sorted(set(present) - {environment}):
        policy = policies.get(other)
        if policy is None:
            reasons.append(f"{other}'s state is on this server and its restart policy is unknown")
        elif not policy:
            reasons.append(
                f"{other}'s state is on this server and {other} does not allow restarts "
                f"(pg_allow_restart = False in group_data/{other}.py)"
            )
    return reasons


# --------------------------------------------------------------------------- before a restart

# Measured on PostgreSQL 17 (postgres -C shared_memory_size): each shared buffer costs
# ~2.7% more than its 8kB (descriptors, hash table), each connection ~48 kB.
BUFFER_OVERHEAD = 1.03
CONNECTION_BYTES = 48 * 1024


def _bytes_of(setting, unit: str) -> float | None:
    number = to_base_units(plain_text(setting), unit)
    base = _base_unit(unit)
    return None if number is None or base is None else number * base[1]


def estimated_shared_memory(current: Mapping[str, tuple[str, str]], wanted: Mapping[str, object]) -> float | None:
    """Bytes of shared memory PostgreSQL would ask for with ``wanted``: what it uses now
    (``shared_memory_size``, PostgreSQL 15+, else shared_buffers) plus the change in
    shared_buffers and max_connections. ``current``: name -> (setting, unit)."""
    if "shared_buffers" not in current:
        return None
    now_buffers = _bytes_of(*current["shared_buffers"])
    if now_buffers is None:
        return None
    size = _bytes_of(*current["shared_memory_size"]) if "shared_memory_size" in current else None
    size = size if size is not None else now_buffers
    if "shared_buffers" in wanted:
        new_buffers = _bytes_of(wanted["shared_buffers"], current["shared_buffers"][1])
        if new_buffers is not None:
            size += (new_buffers - now_buffers) * BUFFER_OVERHEAD
    if "max_connections" in wanted and "max_connections" in current:
        new = to_base_units(plain_text(wanted["max_connections"]), "")
        now = to_base_units(current["max_connections"][0], "")
        if new is not None and now is not None:
            size += (new - now) * CONNECTION_BYTES
    return size


def preload_libraries(value) -> list[str]:
    """The entries of a shared_preload_libraries value (list, or comma-separated text)."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [item.strip().strip('"') for item in items if item.strip().strip('"')]


def start_problems(
    wanted: Mapping[str, object],
    changed: Iterable[str],
    current: Mapping[str, tuple[str, str]],
    mem_total_kb: int | None,
    libraries_found: Mapping[str, str],
) -> list[str]:
    """Values among ``changed`` PostgreSQL could not start with, each naming the setting:
    shared memory (shared_buffers, max_connections) beyond the host's memory, a
    shared_preload_libraries entry without its file."""
    changed = set(changed)
    problems = []
    if changed & {"shared_buffers", "max_connections"} and mem_total_kb:
        size = estimated_shared_memory(current, wanted)
        total = mem_total_kb * 1024
        if size is not None and size >= total:
            names = " and ".join(sorted(changed & {"shared_buffers", "max_connections"}))
            values = ", ".join(f"{n} = {plain_text(wanted[n])}" for n in sorted(changed & set(wanted))
                               if n in ("shared_buffers", "max_connections"))
            problems.append(
                f"{names}: {values} needs about {size / 1024**3:.1f} GiB of shared memory; "
                f"the host has {total / 1024**3:.1f} GiB (MemTotal): PostgreSQL would not start"
            )
    if "shared_preload_libraries" in changed and "shared_preload_libraries" in wanted:
        missing = [
            lib for lib in preload_libraries(wanted["shared_preload_libraries"])
            if not libraries_found.get(lib)
        ]
        if missing:
            problems.append(
                "shared_preload_libraries: no library file for "
                + ", ".join(repr(m) for m in missing)
                + " in the cluster's library directory (pg_config --pkglibdir): PostgreSQL "
                "would not start (install the package that provides it)"
            )
    return problems
