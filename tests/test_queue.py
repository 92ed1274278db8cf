"""BoundedQueue: the three full-queue policies and their statistics."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from cdp_heap import SubscriptionOverflow
from cdp_heap._queue import BoundedQueue


async def test_block_policy_waits_for_room_and_bounds_cost(autojump_clock: trio.abc.Clock) -> None:
    queue: BoundedQueue[str] = BoundedQueue(10, "block")
    taken: list[str] = []

    async def producer() -> None:
        for i in range(20):
            await queue.put(f"{i:04d}", 4)
        queue.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.sleep(1)  # the producer fills the queue, then has to wait
        assert queue.statistics().queued_cost == 8
        while True:
            try:
                taken.append(await queue.get())
            except trio.EndOfChannel:
                break
            await trio.sleep(0.1)  # a slow consumer
    stats = queue.statistics()
    assert taken == [f"{i:04d}" for i in range(20)]
    assert stats.peak_cost <= 10
    assert stats.producer_waits > 0
    assert stats.dropped == 0


async def test_an_item_larger_than_the_bound_is_accepted_when_empty() -> None:
    queue: BoundedQueue[str] = BoundedQueue(10, "block")
    with trio.fail_after(1):
        await queue.put("big", 100)
    assert await queue.get() == "big"


async def test_fail_policy_delivers_what_came_before_the_gap_then_raises() -> None:
    queue: BoundedQueue[int] = BoundedQueue(2, "fail", name="subscription to X.y")
    for i in range(5):
        queue.put_nowait(i)
    assert [await queue.get(), await queue.get()] == [0, 1]
    with pytest.raises(SubscriptionOverflow, match="3 event"):
        await queue.get()
    assert queue.statistics().dropped == 3


async def test_latest_policy_keeps_the_newest() -> None:
    queue: BoundedQueue[int] = BoundedQueue(2, "latest")
    for i in range(5):
        queue.put_nowait(i)
    assert [await queue.get(), await queue.get()] == [3, 4]
    assert queue.statistics().dropped == 3


async def test_abort_releases_a_blocked_producer_and_discards() -> None:
    queue: BoundedQueue[str] = BoundedQueue(1, "block")
    queue.put_nowait("a")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(queue.put, "b")
        await trio.testing.wait_all_tasks_blocked()
        queue.abort()
    assert queue.statistics().queued_items == 0
    with pytest.raises(trio.ClosedResourceError):
        await queue.get()


async def test_close_lets_the_consumer_drain_then_ends() -> None:
    queue: BoundedQueue[str] = BoundedQueue(10)
    queue.put_nowait("a")
    queue.close()
    assert await queue.get() == "a"
    with pytest.raises(trio.EndOfChannel):
        await queue.get()
    queue.put_nowait("late")  # ignored: nobody will read it
    assert queue.statistics().queued_items == 0
