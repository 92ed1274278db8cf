"""What a fresh CDP session would be told on ``enable``, kept so a late client can be told too.

V8 announces existing state only to the session that enables a domain: ``Runtime.enable``
reports every live execution context, ``Debugger.enable`` every parsed script and, if the
target is paused, the pause. A second ``enable`` on an already enabled session is a no-op
that reports nothing, so behind a shared upstream session a late DevTools would show an
empty Sources panel. :class:`ReplayCache` watches the top-level session's events and hands
back, per domain, the original texts to replay.

A fresh session's ``Debugger.enable`` announces the scripts V8 still holds, not those it
has since collected (20,000 ``eval()``s and a GC leave ~90). CDP has no event for a
collected script, so the cache asks: :data:`PROBE_METHOD` fails with :data:`SCRIPT_GONE`
for a script V8 no longer has. Before a late client's replay, and whenever the cache has
doubled since the last probe, every cached script is probed and the collected ones are
dropped. The router sends the probes and holds the late client's ``enable`` until they are
answered. At most :data:`PROBES_IN_FLIGHT` are unanswered at a time: thousands sent at once
would queue every other client's commands behind them, and a burst of thousands of
pipelined commands now and then crashes Node 20's inspector (SIGSEGV in
``MainThreadSessionState::Dispatch``; decision D31). No I/O, no trio.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from cdp_heap._wire import ErrorResponse, Event, JSONObject, Response

REPLAYED_DOMAINS = frozenset({"Runtime", "Debugger"})
#: Most scripts kept for replay. V8 itself forgets scripts it has collected; the cache learns
#: of it by probing (:meth:`ReplayCache.start_probe`), so this cap is only reached by a target
#: that really holds this many scripts (the oldest are then not replayed).
MAX_SCRIPTS = 50_000
#: The cache is probed when it has grown to twice what was alive at the last probe (and at
#: least this many scripts): the cost of probing stays proportional to the scripts parsed.
MIN_PROBE_AT = 1_000
#: A command that succeeds for every script V8 still has and fails with ``SCRIPT_GONE`` for a
#: collected one, with no effect on the target: a search of the script's source for a
#: string no source holds. (``getPossibleBreakpoints`` answers the same question but creates
#: debug info that keeps the script alive; ``getScriptSource`` still answers for collected
#: scripts from V8's source cache.) V8 tells the two failures apart only by their message.
PROBE_METHOD = "Debugger.searchInContent"
PROBE_QUERY = "\u0000cdp-heap-proxy: is this script still there?"
SCRIPT_GONE = "No script for id"
#: Most probes unanswered at once; each answer lets the next one go.
PROBES_IN_FLIGHT = 32


def probe_params(script_id: str) -> JSONObject:
    return {"scriptId": script_id, "query": PROBE_QUERY}


class ReplayCache:
    """The replayable state of the top-level session (``sessionId`` absent)."""

    def __init__(self) -> None:
        # context id -> text of its executionContextCreated, in creation order.
        self._contexts: dict[int, str] = {}
        # script id -> (execution context id, text of its scriptParsed/scriptFailedToParse).
        self._scripts: dict[str, tuple[int | None, str]] = {}
        self._paused: str | None = None
        # Probes sent and not yet answered. A script can be probed again before the first
        # answer is in (a late client came): that answer may predate what it must know.
        self._unanswered = 0
        self._to_probe: deque[str] = deque()  # to send, in cache order
        self._queued: set[str] = set()  # what _to_probe holds
        self._probe_at = MIN_PROBE_AT

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
                if len(self._scripts) > MAX_SCRIPTS:
                    del self._scripts[next(iter(self._scripts))]
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
            self._to_probe.clear()
            self._queued.clear()
            self._paused = None

    # -- probing for collected scripts -------------------------------------------------------

    def start_probe(self) -> list[str]:
        """Probe every cached script from now on (also one whose probe is out: its answer
        may predate the caller's question): the first probes to send now; the rest go out
        as :meth:`probe_answered` makes room."""
        fresh = [script_id for script_id in self._scripts if script_id not in self._queued]
        self._queued.update(fresh)
        self._to_probe.extend(fresh)
        return self._next_probes()

    def probe_answered(self, script_id: str, reply: Response | ErrorResponse) -> list[str]:
        """A probe of ``script_id`` was answered: a collected script is dropped. Returns
        the probes to send next."""
        self._unanswered -= 1
        if isinstance(reply, ErrorResponse) and reply.message.startswith(SCRIPT_GONE):
            self._scripts.pop(script_id, None)
        following = self._next_probes()
        if not self.probing:
            self._probe_at = max(MIN_PROBE_AT, 2 * len(self._scripts))
        return following

    def _next_probes(self) -> list[str]:
        following: list[str] = []
        while self._to_probe and self._unanswered < PROBES_IN_FLIGHT:
            script_id = self._to_probe.popleft()
            self._queued.discard(script_id)
            if script_id in self._scripts:  # not dropped meanwhile
                self._unanswered += 1
                following.append(script_id)
        return following

    @property
    def probing(self) -> bool:
        """Whether probes are unanswered or still to be sent."""
        return bool(self._unanswered or self._to_probe)

    def needs_probe(self) -> bool:
        """Whether the cache has grown enough since the last probe to probe it again."""
        return not self.probing and len(self._scripts) > self._probe_at

    @property
    def scripts(self) -> int:
        return len(self._scripts)

    @property
    def paused(self) -> bool:
        return self._paused is not None

    def __len__(self) -> int:
        return len(self._contexts) + len(self._scripts) + (self._paused is not None)
