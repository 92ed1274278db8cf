"""One heap snapshot at a time per target, whichever client and session asks. No I/O.

A snapshot can double the target's heap while V8 serializes it; two at once can kill the
target. In front of a whole browser every client has sessions of its own, so the upstream
does not serialize them for us: :class:`SnapshotGates` holds a snapshot command back while
another one runs on the same target, and sends it when that one's reply arrives or its
session goes away.
"""

from __future__ import annotations

from collections import deque

import attrs

from ._actions import Action, ClientId, SendUpstream


@attrs.define
class _Gate:
    in_flight: tuple[ClientId, str, int] | None = None  # (client, session, command id)
    queue: deque[tuple[ClientId, str, int, str]] = attrs.Factory(deque)  # ... and its text


class SnapshotGates:
    """The gate of every target that has a snapshot running or waiting."""

    def __init__(self) -> None:
        self._gates: dict[str, _Gate] = {}
        self.completed = 0

    def submit(
        self, target: str, client: ClientId, session: str, command_id: int, text: str
    ) -> list[Action]:
        """``client`` asks for a snapshot (``text``, upstream) of ``target`` in ``session``:
        sent now if none runs there, else queued."""
        gate = self._gates.setdefault(target, _Gate())
        if gate.in_flight is None:
            gate.in_flight = (client, session, command_id)
            return [SendUpstream(text)]
        gate.queue.append((client, session, command_id, text))
        return []

    def replied(self, target: str, client: ClientId, session: str, reply_id: int) -> list[Action]:
        """A reply in ``session``: if it ends ``target``'s running snapshot, the next one."""
        gate = self._gates.get(target)
        if gate is None or gate.in_flight != (client, session, reply_id):
            return []
        self.completed += 1
        return self._release(target)

    def session_gone(self, session: str) -> list[Action]:
        """``session`` is detached: its snapshot will not be answered, its queue is void."""
        actions: list[Action] = []
        for target, gate in list(self._gates.items()):
            gate.queue = deque(e for e in gate.queue if e[1] != session)
            if gate.in_flight is not None and gate.in_flight[1] == session:
                actions += self._release(target)
            elif gate.in_flight is None and not gate.queue:
                del self._gates[target]
        return actions

    def drop_client(self, client: ClientId) -> None:
        """``client`` left: its queued snapshots are never sent."""
        for gate in self._gates.values():
            gate.queue = deque(e for e in gate.queue if e[0] != client)

    @property
    def in_flight(self) -> int:
        return sum(g.in_flight is not None for g in self._gates.values())

    @property
    def queued(self) -> int:
        return sum(len(g.queue) for g in self._gates.values())

    def _release(self, target: str) -> list[Action]:
        gate = self._gates[target]
        gate.in_flight = None
        if not gate.queue:
            del self._gates[target]
            return []
        client, session, command_id, text = gate.queue.popleft()
        gate.in_flight = (client, session, command_id)
        return [SendUpstream(text)]
