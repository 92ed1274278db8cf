"""A bounded queue between the connection's reader task and one consumer.

Every subscription and every snapshot stream is one :class:`BoundedQueue`. It is bounded by
*cost*: the number of items for events, the number of bytes for snapshot chunks (a chunk is
100 KiB on Node 20 and 1 MiB on Chromium and Deno, so counting items would not bound
memory). What happens when it is full is the subscriber's explicit choice:

``"block"``
    the reader waits until the consumer makes room. This is backpressure: while the reader
    waits it reads nothing more from the socket, so the kernel's socket buffers fill and the
    peer's writes slow down. Nothing is ever dropped.
``"fail"``
    the event is dropped and the queue is marked overflowed; the consumer receives what was
    queued before the gap, then :class:`~cdp_heap.SubscriptionOverflow`.
``"latest"``
    the oldest queued items are dropped to make room (right for progress-like events where
    only the newest value matters); ``statistics().dropped`` counts them.

An item larger than the whole bound is still accepted when the queue is empty, so a single
oversized item can never deadlock a ``"block"`` queue.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Literal, TypeAlias, TypeVar

import attrs
import trio

from ._errors import SubscriptionOverflow

T = TypeVar("T")

Policy: TypeAlias = Literal["block", "fail", "latest"]


@attrs.frozen
class QueueStatistics:
    """A snapshot of a queue's state, for tests, benchmarks and operators."""

    policy: Policy
    max_cost: int
    queued_items: int
    queued_cost: int
    #: The largest ``queued_cost`` ever seen: at most ``max_cost`` plus one item.
    peak_cost: int
    #: Items accepted in total.
    total_items: int
    #: Cost accepted in total (bytes, for snapshot streams).
    total_cost: int
    #: How many times the producer had to wait for room (``"block"``).
    producer_waits: int
    #: Items dropped (``"fail"`` after overflow, ``"latest"`` when making room).
    dropped: int
    closed: bool


class BoundedQueue(Generic[T]):
    """See the module docstring. One producer (the reader task), one consumer."""

    def __init__(self, max_cost: int, policy: Policy = "block", *, name: str = "queue") -> None:
        if max_cost < 1:
            raise ValueError("max_cost must be at least 1")
        self._items: deque[tuple[T, int]] = deque()
        self._max_cost = max_cost
        self._policy: Policy = policy
        self._name = name
        self._cost = 0
        self._peak = 0
        self._total_items = 0
        self._total_cost = 0
        self._producer_waits = 0
        self._dropped = 0
        self._closed = False
        self._aborted = False
        self._overflowed = False
        self._not_empty = trio.lowlevel.ParkingLot()
        self._not_full = trio.lowlevel.ParkingLot()

    # -- producer side ----------------------------------------------------------------------

    async def put(self, item: T, cost: int = 1) -> None:
        """Add an item, waiting for room if the policy is ``"block"``.

        After :meth:`abort` or :meth:`close`, items are discarded without waiting: the
        consumer is gone and the producer must not stall on it.

        Cancellation: if cancelled while waiting for room, the item was not added.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._policy == "block":
            while self._is_full(cost) and not (self._aborted or self._closed):
                self._producer_waits += 1
                await self._not_full.park()
        try:
            self.put_nowait(item, cost)
        finally:
            await trio.lowlevel.cancel_shielded_checkpoint()

    def put_nowait(self, item: T, cost: int = 1) -> None:
        """Add an item now, applying the policy if the queue is full (``"block"`` queues
        accept it anyway: use :meth:`put` to wait)."""
        if self._aborted or self._closed:
            return
        if self._policy == "fail" and (self._overflowed or self._is_full(cost)):
            self._overflowed = True
            self._dropped += 1
            self._not_empty.unpark_all()
            return
        if self._policy == "latest":
            while self._items and self._is_full(cost):
                _, dropped_cost = self._items.popleft()
                self._cost -= dropped_cost
                self._dropped += 1
        self._items.append((item, cost))
        self._cost += cost
        self._total_items += 1
        self._total_cost += cost
        self._peak = max(self._peak, self._cost)
        self._not_empty.unpark_all()

    def close(self) -> None:
        """No more items will come; the consumer drains what is queued, then sees the end."""
        self._closed = True
        self._not_empty.unpark_all()
        self._not_full.unpark_all()

    def abort(self) -> None:
        """The consumer is gone: drop what is queued and release a waiting producer."""
        self._aborted = True
        self._items.clear()
        self._cost = 0
        self._not_empty.unpark_all()
        self._not_full.unpark_all()

    def _is_full(self, cost: int) -> bool:
        return bool(self._items) and self._cost + cost > self._max_cost

    # -- consumer side ----------------------------------------------------------------------

    async def get(self) -> T:
        """Take the oldest item, waiting for one.

        Raises :class:`trio.EndOfChannel` once the queue is closed and drained,
        :class:`trio.ClosedResourceError` after :meth:`abort`, and
        :class:`~cdp_heap.SubscriptionOverflow` where a ``"fail"`` queue dropped events.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._items and not (self._closed or self._aborted or self._overflowed):
            await self._not_empty.park()
        try:
            return self._get_ready()
        finally:
            await trio.lowlevel.cancel_shielded_checkpoint()

    def get_nowait(self) -> T:
        """Take the oldest item; raises :class:`trio.WouldBlock` if there is none yet."""
        if not self._items and not (self._closed or self._aborted or self._overflowed):
            raise trio.WouldBlock
        return self._get_ready()

    def _get_ready(self) -> T:
        if self._aborted:
            raise trio.ClosedResourceError(f"{self._name} was aborted")
        if self._items:
            item, cost = self._items.popleft()
            self._cost -= cost
            self._not_full.unpark_all()
            return item
        if self._overflowed:
            raise SubscriptionOverflow(
                f"{self._name}: {self._dropped} event(s) dropped because the consumer fell "
                f"more than {self._max_cost} behind; read faster, raise the buffer size or "
                f"choose policy='block' or 'latest'"
            )
        raise trio.EndOfChannel

    def statistics(self) -> QueueStatistics:
        return QueueStatistics(
            policy=self._policy,
            max_cost=self._max_cost,
            queued_items=len(self._items),
            queued_cost=self._cost,
            peak_cost=self._peak,
            total_items=self._total_items,
            total_cost=self._total_cost,
            producer_waits=self._producer_waits,
            dropped=self._dropped,
            closed=self._closed or self._aborted,
        )
