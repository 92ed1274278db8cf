"""The trio connection against a scripted peer over in-memory streams (no sockets)."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
import trio_websocket

from cdp_heap import (
    CommandError,
    ConnectionClosed,
    MessageTooLarge,
    SubscriptionOverflow,
    TargetDetached,
    open_cdp_stream,
)
from cdp_heap._protocol import CDPProtocol
from tests.fake_target import connected


async def test_concurrent_commands_answered_out_of_order() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, peer):
            results: dict[str, object] = {}

            async def call(expression: str) -> None:
                results[expression] = await conn.send(
                    "Runtime.evaluate", {"expression": expression}
                )

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call, "a")
                nursery.start_soon(call, "b")
                first, second = await peer.command(), await peer.command()
                await peer.reply(second, {"value": second["params"]["expression"]})
                await peer.reply(first, {"value": first["params"]["expression"]})
            assert results == {"a": {"value": "a"}, "b": {"value": "b"}}
            assert conn.statistics().protocol.pending == 0


async def test_error_reply_raises_command_error() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, peer):
            async with trio.open_nursery() as nursery:

                async def answer() -> None:
                    command = await peer.command()
                    await peer.send(
                        {
                            "id": command["id"],
                            "error": {"code": -32601, "message": "'X.y' wasn't found"},
                        }
                    )

                nursery.start_soon(answer)
                with pytest.raises(CommandError, match=r"X\.y failed: 'X\.y' wasn't found") as info:
                    await conn.send("X.y")
            assert info.value.code == -32601


async def test_reply_larger_than_one_mib() -> None:
    big = "x" * (3 * 1024 * 1024)
    with trio.fail_after(10):
        async with connected() as (conn, peer):
            async with trio.open_nursery() as nursery:

                async def answer() -> None:
                    await peer.reply(await peer.command(), {"profile": big})

                nursery.start_soon(answer)
                result = await conn.send("HeapProfiler.stopSampling")
            assert result["profile"] == big


async def test_message_over_the_limit_fails_clearly() -> None:
    with trio.fail_after(5):
        async with connected(max_message_size=1000) as (conn, peer):
            async with trio.open_nursery() as nursery:

                async def answer() -> None:
                    await peer.reply(await peer.command(), {"data": "y" * 5000})

                nursery.start_soon(answer)
                with pytest.raises(MessageTooLarge, match="max_message_size=1000"):
                    await conn.send("A.b")


async def test_malformed_json_fails_pending_commands_with_a_clear_error() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, peer):
            async with trio.open_nursery() as nursery:

                async def answer() -> None:
                    await peer.command()
                    await peer.send("{this is not json")

                nursery.start_soon(answer)
                with pytest.raises(
                    ConnectionClosed, match="invalid CDP message: message is not valid JSON"
                ):
                    await conn.send("A.b")
            assert conn.closed is not None
            with pytest.raises(ConnectionClosed):
                await conn.send("A.c")


async def test_unknown_reply_id_is_logged_and_the_connection_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(5):
        async with connected() as (conn, peer):
            async with trio.open_nursery() as nursery:

                async def answer() -> None:
                    command = await peer.command()
                    await peer.send({"id": 4242, "result": {}})
                    await peer.reply(command, {"ok": True})

                nursery.start_soon(answer)
                with caplog.at_level(logging.WARNING, logger="cdp_heap.connection"):
                    assert await conn.send("A.b") == {"ok": True}
            assert "4242" in caplog.text
            assert conn.statistics().protocol.unknown_replies == 1


async def test_socket_closed_mid_command() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, peer):
            async with trio.open_nursery() as nursery:

                async def hang_up() -> None:
                    await peer.command()
                    await peer.ws.aclose(code=1011, reason="going away")

                nursery.start_soon(hang_up)
                with pytest.raises(ConnectionClosed, match="closed") as info:
                    await conn.send("HeapProfiler.takeHeapSnapshot")
            assert info.value.code == 1011
            assert isinstance(await conn.wait_closed(), ConnectionClosed)


async def test_cancelled_command_ignores_its_late_reply_and_connection_stays_usable() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, peer):
            late: dict[str, object] = {}

            async def cancel_once_sent(scope: trio.CancelScope) -> None:
                late.update(await peer.command())
                scope.cancel()

            async with trio.open_nursery() as nursery:
                with trio.CancelScope() as scope:
                    nursery.start_soon(cancel_once_sent, scope)
                    await conn.send("Runtime.evaluate")
            assert scope.cancelled_caught
            await peer.reply(late, {"late": True})  # arrives after the caller gave up

            async with trio.open_nursery() as nursery:

                async def answer_next() -> None:
                    await peer.reply(await peer.command(), {"next": True})

                nursery.start_soon(answer_next)
                assert await conn.send("Runtime.evaluate") == {"next": True}
            stats = conn.statistics().protocol
            assert (stats.stale_replies, stats.pending, stats.abandoned) == (1, 0, 0)


async def test_inspector_detached_fails_pending_and_reaches_subscribers() -> None:
    with trio.fail_after(5):
        async with (
            connected() as (conn, peer),
            conn.subscribe(["Inspector.detached"]) as events,
            trio.open_nursery() as nursery,
        ):

            async def detach() -> None:
                await peer.command()
                await peer.event("Inspector.detached", reason="Render process gone.")

            nursery.start_soon(detach)
            with pytest.raises(TargetDetached, match="Render process gone"):
                await conn.send("A.b")
            event = await events.receive()
            assert event.params == {"reason": "Render process gone."}
            with pytest.raises(TargetDetached):
                await events.receive()


async def test_fail_policy_subscription_reports_overflow() -> None:
    with trio.fail_after(5):
        async with (
            connected() as (conn, peer),
            conn.subscribe(["X.tick"], max_buffer=3, policy="fail") as ticks,
        ):
            for i in range(5):
                await peer.event("X.tick", n=i)
            await peer.event("X.done")
            # Wait until the reader has taken all six messages.
            while conn.statistics().messages_received < 6:
                await trio.testing.wait_all_tasks_blocked()
            assert [(await ticks.receive()).params["n"] for _ in range(3)] == [0, 1, 2]
            with pytest.raises(SubscriptionOverflow, match="2 event"):
                await ticks.receive()


async def test_block_policy_subscription_pushes_back_on_the_reader() -> None:
    with trio.fail_after(5):
        async with (
            connected() as (conn, peer),
            conn.subscribe(["X.tick"], max_buffer=2, policy="block") as ticks,
        ):
            for i in range(4):
                await peer.event("X.tick", n=i)
            await trio.testing.wait_all_tasks_blocked()
            # The reader holds the third event and waits: two queued, nothing dropped.
            assert ticks.statistics().queued_items == 2
            assert ticks.statistics().producer_waits >= 1
            got = [(await ticks.receive()).params["n"] for _ in range(4)]
            assert got == [0, 1, 2, 3]
            assert ticks.statistics().dropped == 0


async def test_ctrl_c_in_the_reader_comes_out_as_keyboard_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """trio raises Ctrl-C in whatever task runs when it arrives, often the reader (parsing a
    chunk); the caller's command then fails too, but the caller sees the interrupt alone."""

    def interrupted(self: CDPProtocol, text: str | bytes) -> None:
        raise KeyboardInterrupt

    client_stream, server_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def target() -> None:
                request = await trio_websocket.wrap_server_stream(nursery, server_stream)
                ws = await request.accept()
                await ws.get_message()  # the command; Ctrl-C arrives as its reply is read
                monkeypatch.setattr(CDPProtocol, "receive", interrupted)
                await ws.send_message('{"id": 1, "result": {}}')

            nursery.start_soon(target)
            with pytest.raises(KeyboardInterrupt):
                async with open_cdp_stream(client_stream) as conn:
                    await conn.send("Runtime.evaluate", {"expression": "1"})
            nursery.cancel_scope.cancel()
