"""What the callers of a connection hold: a pending command, a subscription.

Each is one end of a piece of state shared with the connection's reader task, the way
trio's channel ends share one state object: the reader resolves a :class:`PendingCommand`
and fills a :class:`Subscription`'s queue; the holder waits, reads, or gives up. Neither
side reaches into the other's attributes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import attrs
import outcome
import trio

from ._errors import ConnectionClosed
from ._queue import BoundedQueue, QueueStatistics
from ._wire import Command, Event, JSONObject


@attrs.frozen
class SnapshotProgress:
    """A ``reportHeapSnapshotProgress`` event: V8 building the snapshot (``done`` of
    ``total`` objects). Serialization, and so the chunks, start after ``finished``."""

    done: int
    total: int
    finished: bool


class Subscription:
    """Events of some methods, in arrival order. Use as an async iterator.

    Iteration ends when the subscription is closed; it raises the connection's error if the
    connection closed, and :class:`~cdp_heap.SubscriptionOverflow` if a ``"fail"`` policy
    queue had to drop events.

    This is the receiving end of a queue whose sending end the connection's reader holds
    (see :meth:`CDPConnection.subscribe`), the way trio's channel ends share one state object.
    """

    def __init__(
        self,
        methods: frozenset[str],
        queue: BoundedQueue[Event],
        closed: Callable[[], ConnectionClosed | None],
    ):
        self.methods = methods
        self._queue = queue
        self._closed = closed

    async def receive(self) -> Event:
        try:
            return await self._queue.get()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            error = self._closed()
            if error is not None:
                raise error from None
            raise

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            try:
                yield await self.receive()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return

    def statistics(self) -> QueueStatistics:
        return self._queue.statistics()


class PendingCommand:
    """A command sent on a connection and not answered yet, as its sender holds it.

    The sender waits for the reply (:meth:`wait`) or gives up (:meth:`abandon`); the
    connection's reader resolves it when the reply comes, or when the connection or the
    session ends. A snapshot-producing command also has a ``sink``, where the reader puts
    its chunks and progress events; resolving closes it. Internal: :func:`start_command`
    makes one, :class:`~cdp_heap.SnapshotStream` is its one user outside this module.
    """

    def __init__(
        self,
        command: Command,
        forget: Callable[[int], None],
        sink: BoundedQueue[str | SnapshotProgress] | None = None,
    ) -> None:
        self.command = command
        self.sink = sink
        self._forget = forget
        self._done = trio.Event()
        self._result: outcome.Outcome[JSONObject] | None = None

    @property
    def id(self) -> int:
        return self.command.id

    async def wait(self) -> JSONObject:
        """The command's result; raises its :class:`~cdp_heap.CommandError`, or the
        connection's error. Cancelled, the command is abandoned (:meth:`abandon`)."""
        try:
            await self._done.wait()
        except BaseException:
            self.abandon()
            raise
        assert self._result is not None
        return self._result.unwrap()

    def abandon(self) -> None:
        """Give up on the command: its late reply, and the rest of its chunks, are
        discarded as they arrive. Does nothing once the command was answered."""
        self._forget(self.id)

    def resolve(self, result: outcome.Outcome[JSONObject]) -> None:
        """The reader's side: the reply (or the error that ends the wait) is here."""
        self._result = result
        self._done.set()
        if self.sink is not None:
            self.sink.close()
