"""What the proxy does per message, with a real Node behind it: no task is woken that has
nothing to do (docs/decisions.md D30)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio

import cdp_heap
from tests.targets import Target

from .helpers import proxy_in_front

IDLE = "setInterval(() => {}, 1000)"


class StepCounter(trio.abc.Instrument):
    """How many times each task ran a step."""

    def __init__(self) -> None:
        self.steps: dict[trio.lowlevel.Task, int] = {}

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task] = self.steps.get(task, 0) + 1


async def test_a_waiter_is_not_woken_per_message_only_when_its_predicate_holds(
    node: Callable[..., Target],
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(30):
        async with proxy_in_front(target.host, target.port) as proxy:
            counter = StepCounter()
            waiter: list[trio.lowlevel.Task] = []
            done = trio.Event()

            async def wait_for_no_target() -> None:
                waiter.append(trio.lowlevel.current_task())
                await proxy.wait_until(lambda: not proxy.router.upstream_connected)
                done.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(wait_for_no_target)
                async with cdp_heap.open_cdp(proxy.websocket_url) as conn:
                    await trio.testing.wait_all_tasks_blocked()
                    trio.lowlevel.add_instrument(counter)
                    try:
                        for _ in range(50):
                            await conn.send("Runtime.evaluate", {"expression": "1+1"})
                    finally:
                        trio.lowlevel.remove_instrument(counter)
                    # It never ran while 100 messages were routed (it used to run for each).
                    assert counter.steps.get(waiter[0], 0) == 0
                    assert not done.is_set()
                nursery.cancel_scope.cancel()


async def test_a_predicate_that_raises_raises_in_the_waiting_task(
    node: Callable[..., Target],
) -> None:
    target = node(script=IDLE)
    with trio.fail_after(30):
        async with proxy_in_front(target.host, target.port) as proxy:
            armed = False

            def broken() -> bool:
                if armed:
                    raise LookupError("no such statistic")
                return False

            async with cdp_heap.open_cdp(proxy.websocket_url) as conn:
                async with trio.open_nursery() as nursery:

                    async def wait() -> None:
                        with pytest.raises(LookupError, match="no such statistic"):
                            await proxy.wait_until(broken)

                    nursery.start_soon(wait)
                    await trio.testing.wait_all_tasks_blocked()
                    armed = True
                    # The routing goes on; the waiter gets the error.
                    assert (await conn.send("Runtime.evaluate", {"expression": "6*7"}))["result"][
                        "value"
                    ] == 42


async def test_a_round_trip_wakes_none_of_the_proxys_connection_tasks(
    node: Callable[..., Target],
) -> None:
    """The lane reads both sockets and routes each message itself (D32): the client's
    connection task and the upstream reader, waiting in ``get_message``, never run."""
    target = node(script=IDLE)
    with trio.fail_after(30):
        async with proxy_in_front(target.host, target.port) as proxy:
            assert proxy.lane is not None
            async with cdp_heap.open_cdp(proxy.websocket_url) as conn:
                await conn.send("Runtime.evaluate", {"expression": "1+1"})
                await trio.testing.wait_all_tasks_blocked()
                counter = StepCounter()
                trio.lowlevel.add_instrument(counter)
                try:
                    for _ in range(50):
                        await conn.send("Runtime.evaluate", {"expression": "1+1"})
                finally:
                    trio.lowlevel.remove_instrument(counter)
                served = proxy.statistics()["lane"]  # as /json/proxy/stats serves it
                assert served["watched"] == 2  # the client's socket and the upstream's
                # (Whether it then waited, polling or asleep, depends on the machine: on a
                # busy one the reply is often in before the lane has let trio run.)
                assert served["reads"] >= 100 and {"spun", "slept"} <= served.keys()
            # The proxy's tasks: its own, and the connection handlers trio's listener started.
            proxy_tasks = ("cdp_heap_proxy.", "trio._highlevel_serve_listeners.")
            ran = {
                task.name: steps
                for task, steps in counter.steps.items()
                if task.name.startswith(proxy_tasks)
            }
            lane = "cdp_heap_proxy._lane.Lane.run"
            assert ran.get(lane, 0) > 0, ran  # the lane did the work
            assert {name: steps for name, steps in ran.items() if name != lane} == {}
