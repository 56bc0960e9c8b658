"""Custom pyinfra facts (written like pyinfra's own: command() + process()).

pyinfra 3 runs a fact's command every time it is asked for; ``cached_fact``
asks once per host and run, so tasks can share facts without extra round trips.
"""

from __future__ import annotations

_cache: dict = {}


def cached_fact(host, fact_cls, **kwargs):
    """host.get_fact(fact_cls, **kwargs), at most once per host, fact and arguments."""
    key = (id(host.state), host.name, fact_cls, repr(sorted(kwargs.items())))
    if key not in _cache:
        _cache[key] = host.get_fact(fact_cls, **kwargs)
    return _cache[key]
