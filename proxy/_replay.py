"""What a fresh CDP session would be told on ``enable``, kept so a late client can be told too.

V8 announces existing state only to the session that enables a domain: ``Runtime.enable``
reports every live execution context, ``Debugger.enable`` every parsed script and, if the
target is paused, the pause. A second ``enable`` on an already enabled session is a no-op
that reports nothing, so behind a shared upstream session a late DevTools would show an
empty Sources panel. :class:`ReplayCache` watches the top-level session's events and hands
back, per domain, the original texts to replay. No I/O, no trio.
"""

from __future__ import annotations

from typing import Any

from cdp_heap._wire import Event

REPLAYED_DOMAINS = frozenset({"Runtime", "Debugger"})


class ReplayCache:
    """The replayable state of the top-level session (``sessionId`` absent)."""

    def __init__(self) -> None:
        # context id -> text of its executionContextCreated, in creation order.
        self._contexts: dict[int, str] = {}
        # script id -> (execution context id, text of its scriptParsed/scriptFailedToParse).
        self._scripts: dict[str, tuple[int | None, str]] = {}
        self._paused: str | None = None

    def observe(self, event: Event, text: str) -> None:
        """Update the cache with one upstream event (``text`` is its original text)."""
        if event.session_id is not None:
            return
        params: Any = event.params
        method = event.method
        if method == "Runtime.executionContextCreated":
            context = params.get("context", {})
            context_id = context.get("id")
            if isinstance(context_id, int):
                self._contexts[context_id] = text
        elif method == "Runtime.executionContextDestroyed":
            context_id = params.get("executionContextId")
            self._contexts.pop(context_id, None)
            self._scripts = {k: v for k, v in self._scripts.items() if v[0] != context_id}
        elif method == "Runtime.executionContextsCleared":
            self._contexts.clear()
            self._scripts.clear()
        elif method in ("Debugger.scriptParsed", "Debugger.scriptFailedToParse"):
            script_id = params.get("scriptId")
            context_id = params.get("executionContextId")
            if isinstance(script_id, str):
                self._scripts[script_id] = (
                    context_id if isinstance(context_id, int) else None,
                    text,
                )
        elif method == "Debugger.paused":
            self._paused = text
        elif method == "Debugger.resumed":
            self._paused = None

    def replay(self, domain: str) -> list[str]:
        """The texts a fresh session enabling ``domain`` would receive, in order."""
        if domain == "Runtime":
            return list(self._contexts.values())
        if domain == "Debugger":
            texts = [text for _, text in self._scripts.values()]
            if self._paused is not None:
                texts.append(self._paused)
            return texts
        return []

    def forget(self, domain: str) -> None:
        """The domain was disabled upstream: V8 will announce everything again on enable."""
        if domain == "Runtime":
            self._contexts.clear()
        elif domain == "Debugger":
            self._scripts.clear()
            self._paused = None

    @property
    def paused(self) -> bool:
        return self._paused is not None

    def __len__(self) -> int:
        return len(self._contexts) + len(self._scripts) + (self._paused is not None)
