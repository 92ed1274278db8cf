"""Which CDP methods a client may call: ``--allow-methods`` patterns. No I/O.

A pattern is ``Domain.method`` with ``*`` wildcards (``HeapProfiler.*``,
``Runtime.evaluate``, ``*.enable``), or ``*`` alone for everything. A refused command gets a
CDP error naming the policy; an event is delivered only if the policy allows the event's own
name or its domain's ``enable`` (a client that may not enable a domain never hears from it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import translate

import attrs

_PATTERN = re.compile(r"^(\*|[A-Za-z*]+\.[A-Za-z*]+)$")

#: What ``--profiling-token`` clients may call by default: heap snapshots, sampling and
#: tracking, garbage collection; no code execution, no debugger.
PROFILING_PATTERNS = ("HeapProfiler.*",)


@attrs.frozen
class MethodPolicy:
    """An allow-list of CDP methods; ``option`` names where it came from, for messages."""

    patterns: tuple[str, ...] = ("*",)
    option: str = "--allow-methods"
    #: The patterns as one regular expression (every command and event is checked: one
    #: match, not one ``fnmatch`` per pattern).
    _matcher: re.Pattern[str] = attrs.field(init=False, eq=False, repr=False)
    #: ``*`` is among the patterns: no need to match (the default, checked per message).
    _everything: bool = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # No patterns allow nothing ("(?!)" never matches; "" would match everything).
        matcher = re.compile("|".join(translate(p) for p in self.patterns) or "(?!)")
        object.__setattr__(self, "_matcher", matcher)
        object.__setattr__(self, "_everything", "*" in self.patterns)

    @classmethod
    def parse(cls, text: str | Iterable[str], option: str = "--allow-methods") -> MethodPolicy:
        """``"HeapProfiler.*,Runtime.evaluate"`` (or the patterns as a list). Raises
        ``ValueError`` for a pattern that is not ``Domain.method`` or ``*``."""
        items = text.split(",") if isinstance(text, str) else list(text)
        patterns = tuple(p.strip() for p in items if p.strip())
        if not patterns:
            raise ValueError(f"{option}: no patterns given")
        for pattern in patterns:
            if not _PATTERN.match(pattern):
                raise ValueError(
                    f"{option}: {pattern!r} is not a method pattern "
                    "(Domain.method with * wildcards, e.g. HeapProfiler.* or Runtime.evaluate)"
                )
        return cls(patterns, option)

    def allows(self, method: str) -> bool:
        return self._everything or self._matcher.match(method) is not None

    def allows_event(self, method: str) -> bool:
        domain = method.partition(".")[0]
        return self.allows(method) or self.allows(f"{domain}.enable")

    def describe(self) -> str:
        return f"{self.option} {','.join(self.patterns)}"


ALLOW_ALL = MethodPolicy()
