"""Custom pyinfra facts (host code, written like pyinfra's own: command() + process(); the package
may import pyinfra's public API and the model).

pyinfra 3 runs a fact's command every time it is asked for; ``cached_fact``
asks once per host and run, so tasks can share facts without extra round trips.
``prefetch`` goes further: several facts in one remote command.
"""

from __future__ import annotations

from pyinfra.api import FactBase

_cache: dict = {}

# Ends each fact's output inside a FactBundle's output: "<marker> <index> <exit status>".
BUNDLE_MARKER = "--8<-- hatchet-owlclaw fact bundle"


def _cache_key(host, name, key) -> tuple:
    return (id(host.state), host.name, name, key)


def _key(host, fact_cls, kwargs: dict) -> tuple:
    return _cache_key(host, fact_cls, repr(sorted(kwargs.items())))


def derived(host, name, key, compute):
    """compute(), at most once per host, run, name and key: a value derived from the facts
    alone (they do not change during a run), which a task asks while planning and its
    operation's generator again (once for the plan's announcement, once at execution)."""
    cache_key = _cache_key(host, name, key)
    if cache_key not in _cache:
        _cache[cache_key] = compute()
    return _cache[cache_key]


def cached_fact(host, fact_cls, **kwargs):
    """host.get_fact(fact_cls, **kwargs), at most once per host, fact and arguments."""
    return derived(host, fact_cls, repr(sorted(kwargs.items())), lambda: host.get_fact(fact_cls, **kwargs))


def bundleable(fact_cls, kwargs: dict) -> bool:
    """Facts whose command is a plain string run as is under sh: no precondition,
    no required command, no other shell."""
    fact = fact_cls()
    requires = fact.requires_command
    return (
        (requires(**kwargs) if callable(requires) else requires) is None
        and not fact.shell_executable
        and fact_cls.check_preconditions is FactBase.check_preconditions
        and isinstance(fact.command(**kwargs), str)
    )


class BundledFacts(tuple):
    """((fact class, kwargs), ...), shown by name in pyinfra's log lines."""

    def __str__(self) -> str:
        return ", ".join(fact_cls.__name__ for fact_cls, _ in self)


class FactBundle(FactBase):
    """
    Returns ``[(exit status, output lines)]``, one per fact of ``facts`` (a
    ``BundledFacts``), all their commands run by one remote command, in order.
    """

    def command(self, facts=BundledFacts()) -> str:
        parts = []
        for index, (fact_cls, kwargs) in enumerate(facts):
            # A subshell per fact (its `exit` ends only its part); the newline before
            # the marker ends a last line the fact left unterminated.
            parts.append(
                f"(\n{fact_cls().command(**kwargs)}\n)\n"
                f"printf '\\n%s %s %s\\n' '{BUNDLE_MARKER}' {index} $?"
            )
        return "\n".join(parts) + "\ntrue"

    @staticmethod
    def default() -> list:
        return []

    def process(self, output: list[str]) -> list[tuple[int, list[str]]]:
        return split_bundle(output)


def split_bundle(lines: list[str]) -> list[tuple[int, list[str]]]:
    results = []
    current: list[str] = []
    for line in lines:
        if not line.startswith(BUNDLE_MARKER + " "):
            current.append(line)
            continue
        status = int(line.rsplit(" ", 1)[1])
        # The empty line the marker's own newline made (when the fact's output was
        # newline-terminated, or empty), as pyinfra's line splitting would not have.
        if current and current[-1] == "":
            current.pop()
        results.append((status, current))
        current = []
    return results


def prefetch(host, requests: list[tuple[type, dict]]) -> None:
    """Ask several facts in one remote command; cached_fact then answers from it.

    A fact whose part failed (non-zero exit) is not stored: cached_fact asks it on
    its own later, so pyinfra's usual error handling applies. Facts that need a
    precondition or another shell are not bundled.
    """
    todo = BundledFacts(
        (fact_cls, kwargs)
        for fact_cls, kwargs in requests
        if _key(host, fact_cls, kwargs) not in _cache and bundleable(fact_cls, kwargs)
    )
    if len(todo) < 2:
        return
    results = host.get_fact(FactBundle, facts=todo)
    for (fact_cls, kwargs), (status, lines) in zip(todo, results or []):
        if status != 0:
            continue
        fact = fact_cls()
        # As pyinfra does: no output -> the fact's default.
        _cache[_key(host, fact_cls, kwargs)] = fact.process(lines) if lines else fact.default()
