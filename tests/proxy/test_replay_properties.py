"""The replay cache's probing, as a state machine: scripts parsed, probe rounds started, probes
answered (script alive or collected), the domain forgotten, in any order. Never more than
``PROBES_IN_FLIGHT`` probes unanswered, none waiting while there is room, probing ends only
once every script cached when it was asked for was probed after that, and the cache drops
exactly the scripts answered as collected."""

from __future__ import annotations

import json

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cdp_heap._wire import ErrorResponse, Event, Response
from cdp_heap_proxy._replay import PROBES_IN_FLIGHT, SCRIPT_GONE, ReplayCache


class ProbingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cache = ReplayCache()
        self.next_script = 1
        self.alive: set[str] = set()  # what V8 holds
        self.cached: set[str] = set()  # the model of the cache
        self.unanswered: list[str] = []  # probes sent, in order
        # Cached when probing was last asked for, and not probed since: V8 is yet to say.
        self.must_probe: set[str] = set()

    def _sent(self, script_ids: list[str]) -> None:
        self.unanswered += script_ids
        self.must_probe.difference_update(script_ids)

    @rule(many=st.integers(1, 20))
    def parse(self, many: int) -> None:
        for _ in range(many):
            script_id = str(self.next_script)
            self.next_script += 1
            params = {"scriptId": script_id, "executionContextId": 1}
            event = Event("Debugger.scriptParsed", params)
            self.cache.observe(event, json.dumps({"method": event.method, "params": params}))
            self.alive.add(script_id)
            self.cached.add(script_id)

    @rule(data=st.data())
    def collect(self, data: st.DataObject) -> None:
        if self.alive:
            self.alive.discard(data.draw(st.sampled_from(sorted(self.alive))))

    @rule()
    def start_round(self) -> None:
        self.must_probe = set(self.cached)  # also those with a probe out: it may be stale
        self._sent(self.cache.start_probe())

    @precondition(lambda self: bool(self.unanswered))
    @rule(data=st.data(), many=st.integers(1, 2 * PROBES_IN_FLIGHT))
    def answer(self, data: st.DataObject, many: int) -> None:
        """Answer up to ``many`` probes, in any order (those it lets go are answerable too)."""
        for _ in range(many):
            if not self.unanswered:
                return
            script_id = self.unanswered.pop(data.draw(st.integers(0, len(self.unanswered) - 1)))
            reply: Response | ErrorResponse
            if script_id in self.alive:
                reply = Response(1, {"result": []})
            else:
                reply = ErrorResponse(1, -32000, f"{SCRIPT_GONE}: {script_id}")
                self.cached.discard(script_id)
            self._sent(self.cache.probe_answered(script_id, reply))

    @rule()
    def forget(self) -> None:
        self.cache.forget("Debugger")
        self.cached.clear()

    @invariant()
    def window_holds(self) -> None:
        assert len(self.unanswered) <= PROBES_IN_FLIGHT
        # Probes wait only while the window is full.
        assert not self.cache.probing or self.unanswered or not self.cached

    @invariant()
    def probing_ends_only_when_all_was_probed(self) -> None:
        if not self.cache.probing:
            assert not self.must_probe & self.cached

    @invariant()
    def cache_is_the_model(self) -> None:
        # Answered "gone" is dropped at once, answered alive (or not yet probed) is kept.
        replayed = {json.loads(t)["params"]["scriptId"] for t in self.cache.replay("Debugger")}
        assert replayed == self.cached


TestProbing = ProbingMachine.TestCase
TestProbing.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
